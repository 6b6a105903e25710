"""TTL, mget/mset, pipelines, list queues with a blocking pop, counters, SCAN, INFO and stats.

Every test that takes `cache` runs against our server (tcp, unix) and a real
redis-server, over the Go and the pure-Python client: the same calls must give
the same results against both servers.
"""

from __future__ import annotations

import ast
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import tiny_mp_cache
from conftest import FakeServer


def wait_until(predicate, timeout: float = 5.0, interval: float = 0.01):
    """Poll predicate until it returns something true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"still false after {timeout}s")
        time.sleep(interval)


# --- TTL ------------------------------------------------------------------------


def test_set_with_a_ttl_gives_the_key_that_long_to_live(cache):
    cache.set("k", b"v", ttl=10)
    assert cache.get("k") == b"v"
    assert 9.0 < cache.ttl("k") <= 10.0


def test_ttl_is_in_seconds_with_millisecond_precision(cache):
    cache.set("k", b"v", ttl=2.5)
    left = cache.ttl("k")
    assert type(left) is float
    assert 2.0 < left <= 2.5
    assert round(left, 3) == left


def test_an_expired_key_is_never_returned(cache):
    ttl = 0.05
    cache.set("short", b"lived", ttl=ttl)
    stored = time.monotonic()  # the server's deadline is at most stored + ttl
    seen_gone = None
    deadline = stored + 5
    while time.monotonic() < deadline:
        sent = time.monotonic()
        got = cache.get("short")
        if sent > stored + ttl + 0.002:
            assert got is None, f"got the value {sent - stored:.3f}s after a {ttl}s TTL"
        if got is None:
            seen_gone = seen_gone or sent
            if sent - seen_gone > 0.1:
                break
        else:
            assert got == b"lived"
    assert seen_gone is not None, "the key never expired"
    assert cache.mget(["short"]) == [None]
    assert cache.exists("short") == 0
    assert cache.ttl("short") == -2.0
    assert cache.type("short") == "none"
    assert "short" not in cache.keys("*")
    assert "short" not in list(cache.scan_iter())
    assert cache.len() == 0


def test_a_tiny_ttl_is_rounded_up_to_a_millisecond_not_down_to_zero(cache):
    cache.set("k", b"v", ttl=1e-9)  # 0 ms would be refused by the server
    wait_until(lambda: cache.get("k") is None, timeout=2)


def test_set_without_a_ttl_removes_the_ttl(cache):
    cache.set("k", b"v", ttl=100)
    cache.set("k", b"w")
    assert cache.ttl("k") == -1.0
    assert cache.get("k") == b"w"


def test_expire_ttl_and_persist(cache):
    assert cache.ttl("missing") == -2.0
    assert cache.expire("missing", 10) is False
    assert cache.persist("missing") is False

    cache.set("k", b"v")
    assert cache.ttl("k") == -1.0
    assert cache.persist("k") is False  # no TTL to remove

    assert cache.expire("k", 100) is True
    assert 99.0 < cache.ttl("k") <= 100.0
    assert cache.persist("k") is True
    assert cache.ttl("k") == -1.0

    assert cache.expire("k", 0.05) is True
    wait_until(lambda: cache.get("k") is None, timeout=2)
    assert cache.ttl("k") == -2.0


def test_expire_works_on_lists_too(cache):
    cache.push("q", b"a")
    assert cache.expire("q", 0.05) is True
    wait_until(lambda: cache.llen("q") == 0, timeout=2)
    assert cache.type("q") == "none"


BAD_TTLS = [
    (0, ValueError, "> 0"),
    (-1, ValueError, "> 0"),
    (-0.5, ValueError, "> 0"),
    (float("nan"), ValueError, "finite"),
    (float("inf"), ValueError, "finite"),
    (10**30, ValueError, "too large"),
    ("10", TypeError, "number of seconds"),
    (True, TypeError, "number of seconds"),
    (b"1", TypeError, "number of seconds"),
]


@pytest.mark.parametrize("ttl, error, message", BAD_TTLS)
def test_bad_ttls_raise_before_sending(cache, ttl, error, message):
    cache.set("k", b"old")
    with pytest.raises(error, match=message):
        cache.set("k", b"new", ttl=ttl)
    with pytest.raises(error, match=message):
        cache.expire("k", ttl)
    with pytest.raises(error, match=message):
        cache.pipeline().set("k", b"new", ttl=ttl)
    assert cache.get("k") == b"old"
    assert cache.ttl("k") == -1.0


# --- mget / mset ------------------------------------------------------------------


def test_mset_then_mget(cache):
    assert cache.mset({"a": b"1", "b": bytearray(b"2"), "c": memoryview(b"33")[1:]}) is None
    assert cache.mget(["a", "missing", "b", "c", "a"]) == [b"1", None, b"2", b"3", b"1"]
    assert cache.len() == 3


def test_mget_tells_an_empty_value_from_a_missing_key(cache):
    cache.set("empty", b"")
    assert cache.mget(["empty", "missing", "empty"]) == [b"", None, b""]
    assert cache.pipeline().mget(["empty", "missing"]).execute() == [[b"", None]]


def test_mget_of_many_keys(cache):
    cache.mset({f"k{i}": b"%d" % i * (i % 50) for i in range(1000)})
    keys = [f"k{i}" for i in range(1000)] + ["missing"]
    assert cache.mget(keys) == [b"%d" % i * (i % 50) for i in range(1000)] + [None]


def test_mget_accepts_any_iterable_of_keys(cache):
    cache.mset({"k1": b"x", "k2": b"y"})
    assert cache.mget(k for k in ("k1", "k2")) == [b"x", b"y"]
    assert cache.mget(("k2",)) == [b"y"]


def test_mset_overwrites_and_removes_ttls(cache):
    cache.set("a", b"old", ttl=100)
    cache.mset({"a": b"new"})
    assert cache.get("a") == b"new"
    assert cache.ttl("a") == -1.0


def test_empty_mget_and_mset_need_no_server(cache):
    assert cache.mget([]) == []
    assert cache.mset({}) is None
    assert cache.len() == 0


def test_mget_gives_none_for_a_list(cache):
    cache.push("q", b"x")
    cache.set("s", b"y")
    assert cache.mget(["q", "s"]) == [None, b"y"]


# --- pipelines ----------------------------------------------------------------------


def test_pipeline_results_come_in_order(cache):
    p = cache.pipeline()
    assert p.set("a", b"1") is p  # calls chain
    p.get("a").set("t", b"x", ttl=100).ttl("t").incr("n").incr("n", 10).decr("n", 2)
    p.mset({"m1": b"x", "m2": b"y"}).mget(["m1", "missing", "m2"]).mget([])
    p.push("q", b"1", b"2").llen("q").exists("a", "q", "missing").type("q")
    p.expire("a", 100).persist("a").pop("m1").delete("m2").keys("m*").len()
    p.execute_command("ECHO", "hi")
    assert len(p) == 21
    results = p.execute()
    assert results[:4] == [None, b"1", None, results[3]]
    assert 99.0 < results[3] <= 100.0
    assert results[4:] == [
        1, 11, 9,
        None, [b"x", None, b"y"], [],
        2, 2, 2, "list",
        True, True, b"x", 1, [], 4,
        b"hi",
    ]  # fmt: skip
    assert len(p) == 0


def test_pipeline_sends_every_command_before_reading_a_reply(make_cache):
    # A server that never answers: a client that waited for each reply
    # before sending the next command would have sent only one.
    with FakeServer("silent") as fake:
        cache = make_cache(fake.addr, timeout=1.0)
        p = cache.pipeline().set("a", b"1").get("a").incr("n").mget(["a", "b"]).push("q", b"x")
        with pytest.raises(tiny_mp_cache.TimeoutError):
            p.execute()
        assert fake.names() == [(0, "SET"), (0, "GET"), (0, "INCRBY"), (0, "MGET"), (0, "RPUSH")]


def test_pipeline_commands_are_counted_by_the_server(cache):
    before = cache.stats()["commands_processed"]
    cache.pipeline().set("a", b"1").get("a").get("b").incr("n").execute()
    after = cache.stats()["commands_processed"]
    assert after - before == 5  # four, plus the INFO of the first stats()


def test_pipeline_raises_the_first_server_error_after_running_everything(cache):
    cache.set("text", b"not a number")
    p = cache.pipeline().set("before", b"1").incr("text").push("text", b"x").set("after", b"2")
    with pytest.raises(tiny_mp_cache.ServerError, match="not an integer"):
        p.execute()
    # Not a transaction: the commands around the failed ones ran.
    assert cache.mget(["before", "after"]) == [b"1", b"2"]
    assert cache.get("text") == b"not a number"
    # And the connection is still in step.
    assert cache.pipeline().get("before").get("after").execute() == [b"1", b"2"]


def test_pipeline_as_a_context_manager_executes_on_exit(cache):
    with cache.pipeline() as p:
        p.set("a", b"1")
        p.incr("n")
        assert cache.get("a") is None  # nothing sent yet
    assert cache.get("a") == b"1"
    assert cache.get("n") == b"1"


def test_pipeline_context_manager_sends_nothing_when_the_block_raises(cache):
    with pytest.raises(RuntimeError):
        with cache.pipeline() as p:
            p.set("a", b"1")
            raise RuntimeError("changed my mind")
    assert len(p) == 0
    assert cache.get("a") is None


def test_an_empty_pipeline_sends_nothing(make_cache):
    with FakeServer("silent") as fake:
        cache = make_cache(fake.addr, timeout=1.0)
        assert cache.pipeline().execute() == []
        assert cache.pipeline().mget([]).mset({}).execute() == [[], None]
        time.sleep(0.1)
        assert fake.names() == []


def test_a_pipeline_can_be_reused(cache):
    p = cache.pipeline()
    assert p.incr("n").execute() == [1]
    assert p.execute() == []
    assert p.incr("n").incr("n").execute() == [2, 3]


def test_a_big_pipeline(cache):
    p = cache.pipeline()
    for i in range(2000):
        p.set(f"k{i}", b"%d" % i)
    p.len()
    results = p.execute()
    assert results == [None] * 2000 + [2000]
    assert cache.mget([f"k{i}" for i in (0, 999, 1999)]) == [b"0", b"999", b"1999"]


def test_big_values_in_a_pipeline(cache):
    big = os.urandom(3 << 20)
    results = cache.pipeline().set("big", big).get("big").set("small", b"s").mget(["small", "big"]).execute()
    assert results == [None, big, None, [b"s", big]]


def test_pipeline_arguments_are_checked_when_queued(cache):
    p = cache.pipeline().set("ok", b"1")
    with pytest.raises(TypeError, match="key must be str"):
        p.set(1, b"x")
    with pytest.raises(TypeError, match="value must be bytes"):
        p.push("q", "text")
    assert len(p) == 1
    assert p.execute() == [None]


def test_pipeline_of_a_closed_cache_raises_value_error(server_addr, make_cache):
    cache = make_cache(server_addr)
    p = cache.pipeline().set("k", b"v")
    cache.close()
    with pytest.raises(ValueError, match="closed"):
        p.execute()


# --- lists and the blocking pop --------------------------------------------------------


def test_push_returns_the_length_and_llen_counts(cache):
    assert cache.llen("q") == 0
    assert cache.push("q", b"a") == 1
    assert cache.push("q", b"b", bytearray(b"c")) == 3
    assert cache.llen("q") == 3
    assert cache.type("q") == "list"
    assert cache.execute_command("LRANGE", "q", 0, -1) == [b"a", b"b", b"c"]


def test_push_left_prepends_each_value_in_turn(cache):
    cache.push("q", b"m")
    assert cache.push("q", b"b", b"a", left=True) == 3
    assert cache.execute_command("LRANGE", "q", 0, -1) == [b"a", b"b", b"m"]


def test_push_and_bpop_make_a_fifo_queue(cache):
    cache.push("q", b"1", b"2")
    cache.push("q", b"3")
    assert [cache.bpop("q", 1) for _ in range(3)] == [("q", b"1"), ("q", b"2"), ("q", b"3")]
    assert cache.llen("q") == 0
    assert cache.type("q") == "none"  # an emptied list is removed


def test_bpop_takes_from_the_first_non_empty_key(cache):
    cache.push("second", b"2")
    cache.push("third", b"3")
    assert cache.bpop(["first", "second", "third"], 1) == ("second", b"2")
    assert cache.bpop(("first", "second", "third"), 1) == ("third", b"3")


def test_bpop_returns_none_when_the_timeout_passes(cache):
    start = time.monotonic()
    assert cache.bpop("empty", 0.2) is None
    assert 0.15 <= time.monotonic() - start < 3


def test_bpop_may_wait_longer_than_the_client_timeout(server_addr, make_cache):
    cache = make_cache(server_addr, timeout=0.3)
    start = time.monotonic()
    assert cache.bpop("empty", 1.0) is None
    assert 0.9 <= time.monotonic() - start < 4
    cache.set("after", b"ok")  # the connection is still in step
    assert cache.get("after") == b"ok"


@pytest.mark.timeout(30)
def test_bpop_with_timeout_zero_waits_until_a_value_arrives(server_addr, make_cache):
    waiter = make_cache(server_addr, timeout=0.3)
    pusher = make_cache(server_addr)
    pusher.delete("q")
    timer = threading.Timer(1.0, pusher.push, args=("q", b"late"))
    timer.start()
    try:
        start = time.monotonic()
        assert waiter.bpop("q", 0) == ("q", b"late")
        assert time.monotonic() - start >= 0.9
    finally:
        timer.cancel()
        timer.join(10)


@pytest.mark.timeout(30)
def test_a_waiting_bpop_does_not_hold_up_other_threads(server_addr, make_cache):
    cache = make_cache(server_addr)
    cache.delete("idle")
    cache.set("k", b"v")
    popped = []
    waiting = threading.Thread(target=lambda: popped.append(cache.bpop("idle", 20.0)), daemon=True)
    waiting.start()
    try:
        time.sleep(0.2)  # let the bpop block on the server
        start = time.monotonic()
        assert cache.get("k") == b"v"
        assert time.monotonic() - start < 1.0, "get waited for the blocked bpop"
        assert waiting.is_alive()
    finally:
        cache.push("idle", b"wake")  # end the wait rather than sit out its timeout
        waiting.join(10)
    assert not waiting.is_alive()
    assert popped == [("idle", b"wake")]


BAD_BPOPS = [
    (([], 1), ValueError, "at least one key"),
    (("q", -1), ValueError, ">= 0"),
    (("q", float("nan")), ValueError, "finite"),
    (("q", "1"), TypeError, "number of seconds"),
    ((b"q", 1), TypeError, "list of str"),
    ((["q", 2], 1), TypeError, "each key must be str"),
]


@pytest.mark.parametrize("args, error, message", BAD_BPOPS)
def test_bad_bpop_arguments_raise(cache, args, error, message):
    cache.push("q", b"kept")
    with pytest.raises(error, match=message):
        cache.bpop(*args)
    assert cache.llen("q") == 1


def test_push_needs_bytes_like_values(cache):
    with pytest.raises(TypeError, match="at least one value"):
        cache.push("q")
    with pytest.raises(TypeError, match="value must be bytes"):
        cache.push("q", b"ok", "text")
    with pytest.raises(TypeError, match="key must be str"):
        cache.push(b"q", b"x")
    assert cache.llen("q") == 0


def test_list_and_string_commands_on_the_wrong_type_raise_wrongtype(cache):
    cache.set("s", b"text")
    cache.push("q", b"x")
    for call in (lambda: cache.push("s", b"x"), lambda: cache.llen("s"), lambda: cache.get("q"),
                 lambda: cache.pop("q"), lambda: cache.incr("q")):  # fmt: skip
        with pytest.raises(tiny_mp_cache.ServerError, match="WRONGTYPE"):
            call()
    assert cache.get("s") == b"text"
    assert cache.llen("q") == 1


WAITER = r"""
import sys, time
from tiny_mp_cache import TinyCache
addr, pure, key = sys.argv[1], sys.argv[2] == "pure", sys.argv[3]
cache = TinyCache(addr, _pure=pure)
print("ready", flush=True)
start = time.time()
got = cache.bpop(key, 30)
print(repr((start, time.time(), got)), flush=True)
"""

WORKER = r"""
import sys
from tiny_mp_cache import TinyCache
addr, pure, key = sys.argv[1], sys.argv[2] == "pure", sys.argv[3]
cache = TinyCache(addr, _pure=pure)
print("ready", flush=True)
got = []
while True:
    item = cache.bpop(key, 30)
    if item is None or item[1] == b"stop":
        break
    got.append(item[1].decode())
print(repr(got), flush=True)
"""


@contextmanager
def pythons(code: str, argvs: list[list[str]]) -> Iterator[list[subprocess.Popen]]:
    """Start one Python process per argv running code; on exit, kill and reap them all."""
    # The children import tiny_mp_cache the way this process did (the
    # installed package in CI; $PYTHONPATH when testing a checkout).
    env = dict(os.environ)
    procs: list[subprocess.Popen] = []
    try:
        for argv in argvs:
            procs.append(subprocess.Popen(
                [sys.executable, "-c", code, *argv], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env
            ))  # fmt: skip
        yield procs
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            proc.stdout.close()


def read_line(proc: subprocess.Popen, timeout: float) -> str:
    """The next line the process prints; fail after timeout seconds."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    if not ready:
        pytest.fail(f"no output from {proc.args[-3:]} within {timeout}s")
    line = proc.stdout.readline().decode()
    if not line:
        pytest.fail(f"process exited (rc={proc.wait(timeout=10)}) without output")
    return line.strip()


@pytest.mark.timeout(60)
def test_a_blocked_bpop_in_another_process_wakes_soon_after_a_push(cache, server_addr, client_path):
    with pythons(WAITER, [[server_addr, client_path, "jobs"]]) as (proc,):
        assert read_line(proc, 20) == "ready"
        time.sleep(0.5)  # let it block on the server
        pushed = time.time()
        cache.push("jobs", b"work")
        started, woke, got = ast.literal_eval(read_line(proc, 20))
        assert proc.wait(timeout=10) == 0
    assert got == ("jobs", b"work")
    assert woke - started >= 0.4, "the pop did not block"
    assert woke - pushed < 1.0, f"woke {woke - pushed:.3f}s after the push"
    assert cache.llen("jobs") == 0


@pytest.mark.timeout(90)
def test_each_value_goes_to_exactly_one_of_several_blocked_waiters(cache, server_addr, client_path):
    n_workers, n_values = 4, 300
    values = [f"v{i}" for i in range(n_values)]
    with pythons(WORKER, [[server_addr, client_path, "jobs"]] * n_workers) as procs:
        for proc in procs:
            assert read_line(proc, 20) == "ready"
        time.sleep(0.3)
        for i in range(0, n_values, 3):  # one value at a time, and some in threes
            if i % 2:
                cache.push("jobs", *(v.encode() for v in values[i:i + 3]))
            else:
                for v in values[i:i + 3]:
                    cache.push("jobs", v.encode())
        wait_until(lambda: cache.llen("jobs") == 0, timeout=30)
        cache.push("jobs", *[b"stop"] * n_workers)  # one each: a worker stops popping after its stop
        got = [ast.literal_eval(read_line(proc, 30)) for proc in procs]
        assert [proc.wait(timeout=10) for proc in procs] == [0] * n_workers
    everything = [v for worker in got for v in worker]
    assert len(everything) == n_values, "a value was lost or delivered twice"
    assert sorted(everything) == sorted(values)
    assert cache.llen("jobs") == 0


# --- counters, keys, the database ---------------------------------------------------


def test_incr_and_decr(cache):
    assert cache.incr("n") == 1
    assert cache.incr("n", 10) == 11
    assert cache.decr("n") == 10
    assert cache.decr("n", 15) == -5
    assert cache.incr("n", -5) == -10
    assert cache.get("n") == b"-10"
    cache.set("m", b"41")
    assert cache.incr("m") == 42


def test_incr_keeps_the_ttl(cache):
    cache.set("n", b"1", ttl=100)
    assert cache.incr("n") == 2
    assert 99.0 < cache.ttl("n") <= 100.0


def test_incr_of_a_non_integer_raises_server_error(cache):
    cache.set("s", b"1.5")
    with pytest.raises(tiny_mp_cache.ServerError, match="not an integer"):
        cache.incr("s")
    cache.set("big", b"%d" % (2**63 - 1))
    with pytest.raises(tiny_mp_cache.ServerError, match="overflow"):
        cache.incr("big")
    assert cache.get("big") == b"%d" % (2**63 - 1)


@pytest.mark.parametrize(
    "amount, error",
    [(1.5, TypeError), (True, TypeError), ("1", TypeError), (2**63, ValueError), (-(2**63) - 1, ValueError)],
)
def test_bad_incr_amounts_raise_before_sending(cache, amount, error):
    with pytest.raises(error, match="amount"):
        cache.incr("n", amount)
    with pytest.raises(error, match="amount"):
        cache.decr("n", amount)
    assert cache.get("n") is None


def test_exists_counts_the_keys_that_exist(cache):
    cache.set("a", b"1")
    cache.push("q", b"x")
    assert cache.exists("a") == 1
    assert cache.exists("missing") == 0
    assert cache.exists("a", "q", "missing") == 2
    assert cache.exists("a", "a") == 2  # as in Redis
    with pytest.raises(TypeError, match="at least one key"):
        cache.exists()
    with pytest.raises(TypeError, match="key must be str"):
        cache.exists(["a"])


def test_type_names_the_kind_of_value(cache):
    cache.set("s", b"1")
    cache.push("q", b"x")
    assert cache.type("s") == "string"
    assert cache.type("q") == "list"
    assert cache.type("missing") == "none"


def test_flush_deletes_every_key(cache):
    cache.mset({f"k{i}": b"x" for i in range(50)})
    cache.set("t", b"x", ttl=100)
    cache.push("q", b"x")
    assert cache.flush() is None
    assert cache.len() == 0
    assert cache.keys("*") == []
    assert cache.mget(["k1", "t"]) == [None, None]
    assert cache.llen("q") == 0


def test_scan_iter_visits_every_matching_key(cache):
    jobs = {f"job:{i}" for i in range(300)}
    cache.mset({k: b"x" for k in jobs})
    cache.mset({f"other:{i}": b"x" for i in range(50)})
    cache.push("job:list", b"x")
    seen = list(cache.scan_iter("job:*", count=7))
    assert set(seen) == jobs | {"job:list"}
    assert len(set(cache.scan_iter())) == 351
    assert list(cache.scan_iter("nothing:*")) == []


def test_scan_iter_is_not_disturbed_by_other_scanners(cache, make_cache, server_addr):
    # Cursors were server state, of which the last 1024 were kept: another
    # client's 1,100 SCAN calls made this scan start over and return keys twice.
    keys = {f"k{i}" for i in range(100)}
    cache.mset({k: b"x" for k in keys})
    scan = cache.scan_iter(count=10)
    seen = [next(scan)]
    other = make_cache(server_addr)
    for _ in range(1100):
        other.execute_command("SCAN", "0", "COUNT", "1")
    seen.extend(scan)
    assert sorted(seen) == sorted(keys)


def test_scan_with_few_matches_examines_a_bounded_part_of_the_keyspace(cache):
    # One SCAN ... MATCH call walked every key when few matched. Like Redis,
    # a call now examines about COUNT keys (we: at most 10 * COUNT) and may
    # return none with a cursor to go on.
    cache.mset({f"k{i}": b"x" for i in range(5000)})
    cache.set("needle", b"x")
    cursor, found = cache.execute_command("SCAN", "0", "MATCH", "*needle", "COUNT", "10")
    assert int(cursor) != 0 and len(found) <= 1
    assert list(cache.scan_iter("*needle", count=10)) == ["needle"]


def test_scan_iter_checks_its_arguments_when_called(cache):
    with pytest.raises(ValueError, match="count"):
        cache.scan_iter(count=0)
    with pytest.raises(TypeError, match="count"):
        cache.scan_iter(count=1.5)
    with pytest.raises(TypeError, match="match"):
        cache.scan_iter(b"*")


def test_scan_iter_is_lazy(cache):
    cache.mset({f"k{i}": b"x" for i in range(100)})
    keys = cache.scan_iter(count=10)
    first = next(keys)
    assert first.startswith("k")
    assert len({first, *keys}) == 100


# --- INFO and stats -------------------------------------------------------------------


def test_info_parses_fields_into_python_values(cache):
    info = cache.info()
    assert isinstance(info["redis_version"], str)
    assert int(info["redis_version"].split(".")[0]) >= 6
    assert isinstance(info["connected_clients"], int) and info["connected_clients"] >= 1
    assert isinstance(info["used_memory"], int)
    assert isinstance(info["keyspace_hits"], int)


def test_info_of_one_section(cache):
    memory = cache.info("memory")
    assert isinstance(memory["used_memory"], int)
    assert "redis_version" not in memory
    assert "redis_version" in cache.info("server")
    with pytest.raises(TypeError, match="section"):
        cache.info(b"memory")


def test_parse_info():
    from tiny_mp_cache._commands import parse_info

    text = (
        "# Server\r\nredis_version:7.2\r\nuptime:12\r\nratio:1.25\r\nneg:-3\r\nname:a:b\r\n"
        "\r\n# Keyspace\r\ndb0:keys=1,expires=0\r\n"
    )
    assert parse_info(text) == {
        "redis_version": "7.2",
        "uptime": 12,
        "ratio": 1.25,
        "neg": -3,
        "name": "a:b",
        "db0": "keys=1,expires=0",
    }


STATS_KEYS = {"keys", "used_memory", "max_memory", "hits", "misses", "evictions",
              "expirations", "connected_clients", "commands_processed"}  # fmt: skip


def test_stats_count_keys_hits_and_misses(cache):
    empty = cache.stats()
    assert set(empty) == STATS_KEYS
    assert all(type(v) is int for v in empty.values())
    assert empty["keys"] == 0
    assert empty["connected_clients"] >= 1

    cache.set("a", b"1")
    cache.set("b", b"2")
    before = cache.stats()
    assert before["keys"] == 2
    assert before["used_memory"] > 0
    assert cache.get("a") == b"1"
    assert cache.get("missing") is None
    after = cache.stats()
    assert after["hits"] - before["hits"] == 1
    assert after["misses"] - before["misses"] == 1
    assert after["commands_processed"] - before["commands_processed"] == 3


def test_stats_count_expirations(cache):
    before = cache.stats()["expirations"]
    cache.set("k", b"v", ttl=0.01)
    wait_until(lambda: cache.get("k") is None, timeout=2)
    assert cache.stats()["expirations"] - before >= 1


@pytest.mark.tmc_only
def test_info_has_our_own_fields(cache):
    info = cache.info()
    assert info["tiny_mp_cache_version"] == tiny_mp_cache.__version__
    assert info["maxmemory"] == 0
    assert info["maxmemory_policy"] == "noeviction"  # nothing to evict without a bound
    assert cache.stats()["max_memory"] == 0


# --- execute_command ------------------------------------------------------------------


def test_execute_command_returns_parsed_replies(cache):
    assert cache.execute_command("SET", "k", b"v") == "OK"
    assert cache.execute_command("GET", "k") == b"v"
    assert cache.execute_command("GET", "missing") is None
    assert cache.execute_command("INCRBY", "n", 5) == 5
    assert cache.execute_command("RPUSH", "q", "é", memoryview(b"x")) == 2
    assert cache.execute_command("LRANGE", "q", 0, -1) == ["é".encode(), b"x"]
    assert cache.execute_command("EXPIRE", "k", 100) == 1
    assert cache.execute_command("SET", "k", "v", "NX") is None
    assert cache.execute_command("SET", "k", "v", "XX", "KEEPTTL") == "OK"
    assert 99 <= cache.execute_command("TTL", "k") <= 100
    assert cache.execute_command("BLPOP", "empty", 0.05) is None
    with pytest.raises(tiny_mp_cache.ServerError, match="unknown command"):
        cache.execute_command("NO-SUCH-COMMAND")
    assert cache.get("k") == b"v"  # in step after an error


@pytest.mark.parametrize(
    "args, error", [((), TypeError), (("GET", None), TypeError), (("SET", "k", True), TypeError),
                    (("SET", "k", ["v"]), TypeError), (("INCRBYFLOAT", "k", float("inf")), ValueError)]
)  # fmt: skip
def test_execute_command_checks_its_arguments(cache, args, error):
    with pytest.raises(error):
        cache.execute_command(*args)
    assert cache.len() == 0


# --- pickling ---------------------------------------------------------------------------


def test_a_pickled_cache_opens_a_connection_of_its_own(cache):
    import pickle

    cache.set("k", b"v")
    copy = pickle.loads(pickle.dumps(cache))
    try:
        assert copy is not cache
        assert (copy.addr, copy.timeout) == (cache.addr, cache.timeout)
        assert repr(copy).split()[-1] == repr(cache).split()[-1]  # the same client path: go or pure
        assert copy.get("k") == b"v"
        assert copy.execute_command("CLIENT", "ID") != cache.execute_command("CLIENT", "ID")
    finally:
        copy.close()
