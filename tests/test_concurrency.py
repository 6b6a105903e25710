"""pop() is exactly-once: many processes popping the same keys, each key goes to one of them.

Half the processes use the Go client and half the pure-Python one, so both
client paths are covered, racing each other, in one run per transport.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import random

import pytest
from tiny_mp_cache import TinyCache

N_PROCESSES = 8
N_KEYS = 10_000


def value_of(i: int) -> bytes:
    return f"payload-{i}".encode()


def pop_everything(addr: str, pure: bool, seed: int, ready, go, results) -> None:
    """Try to pop every key, in a shuffled order; report the ids this process got."""
    try:
        cache = TinyCache(addr, _pure=pure)
        order = list(range(N_KEYS))
        random.Random(seed).shuffle(order)
        got = []
        ready.put(seed)
        if not go.wait(120):
            raise RuntimeError("never told to start")
        for i in order:
            value = cache.pop(f"job:{i}")
            if value is not None:
                assert value == value_of(i), (i, value)
                got.append(i)
    except BaseException as e:
        results.put((seed, f"worker {seed} failed: {e!r}"))
        raise
    results.put((seed, got))


@pytest.mark.timeout(300)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_each_key_is_popped_by_exactly_one_process(request, transport):
    addr = request.getfixturevalue(f"{transport}_server").addr
    cache = TinyCache(addr)
    for key in cache.keys("job:*"):
        cache.delete(key)
    for i in range(N_KEYS):
        cache.set(f"job:{i}", value_of(i))
    assert cache.len() >= N_KEYS

    ctx = mp.get_context("spawn")
    ready, go, results = ctx.Queue(), ctx.Event(), ctx.Queue()
    workers = [
        ctx.Process(target=pop_everything, args=(addr, seed % 2 == 1, seed, ready, go, results))
        for seed in range(N_PROCESSES)
    ]
    try:
        for w in workers:
            w.start()
        # Start popping only when every worker is connected, so they race.
        for _ in workers:
            try:
                ready.get(timeout=120)
            except queue.Empty:
                pytest.fail(f"workers did not start; exit codes {[w.exitcode for w in workers]}")
        go.set()
        per_worker = {}
        for _ in workers:
            try:
                seed, got = results.get(timeout=240)
            except queue.Empty:
                pytest.fail(f"workers did not report; exit codes {[w.exitcode for w in workers]}")
            assert isinstance(got, list), got
            per_worker[seed] = got
        for w in workers:
            w.join(30)
            assert w.exitcode == 0
    finally:
        for w in workers:
            if w.is_alive():
                w.kill()
                w.join(10)
        for q in (ready, results):
            q.close()
            q.join_thread()

    popped = [i for got in per_worker.values() for i in got]
    assert len(popped) == N_KEYS, f"{len(popped) - N_KEYS:+d} pops compared with keys"
    assert sorted(popped) == list(range(N_KEYS))  # no key twice, none missing
    assert cache.keys("job:*") == []
    # Every worker ran concurrently with the others, not one after another,
    # and both client paths won some keys.
    assert sum(1 for got in per_worker.values() if got) > 1
    assert any(per_worker[seed] for seed in range(0, N_PROCESSES, 2)), "the Go client popped nothing"
    assert any(per_worker[seed] for seed in range(1, N_PROCESSES, 2)), "the pure client popped nothing"
