"""memoize and the dict protocol.

The stampede tests run real processes (multiprocessing, spawn) with bounded
waits; each child is joined with a timeout and killed if it lingers.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import signal
import socket
import threading
import time
from typing import Any

import pytest
from tiny_mp_cache import AsyncTinyCache, TinyCache
from tiny_mp_cache._resp import parse_address


@pytest.fixture
def fresh(cache: TinyCache) -> TinyCache:
    cache.flush()
    return cache


# --- one process ------------------------------------------------------------------


def test_memoize_stores_results_by_arguments_and_pickles_them(fresh):
    calls = []

    @fresh.memoize(ttl=30)
    def area(w: int, h: int = 1) -> dict:
        calls.append((w, h))
        return {"area": w * h, "none": None}

    assert area(2, h=3) == {"area": 6, "none": None}
    assert area(2, h=3) == {"area": 6, "none": None}
    assert area(2) == {"area": 2, "none": None}
    assert calls == [(2, 3), (2, 1)]
    key = area.cache_key(2, h=3)
    assert key.startswith("memoize:test_memoize.") and key in fresh
    assert 0 < fresh.ttl(key) <= 30
    assert area.__name__ == "area"


def test_a_none_result_is_cached_too(fresh):
    calls = []

    @fresh.memoize()
    def nothing() -> None:
        calls.append(1)

    assert nothing() is None and nothing() is None
    assert calls == [1]


def test_key_and_serializer_are_replaceable(fresh):
    @fresh.memoize(key=lambda user: f"user:{user}", serializer=json)
    def profile(user: str) -> dict:
        return {"name": user}

    assert profile("ada") == {"name": "ada"}
    assert fresh.get("user:ada").endswith(b'{"name": "ada"}')  # after its 32-byte signature
    assert profile("ada") == {"name": "ada"}

    @fresh.memoize(key="named")
    def double(x: int) -> int:
        return 2 * x

    assert double(4) == 8 and double.cache_key(4).startswith("memoize:named:")


def test_an_exception_is_not_cached_and_frees_the_lock(fresh):
    calls = []

    @fresh.memoize(lease=30)
    def flaky() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("first call fails")
        return "ok"

    with pytest.raises(RuntimeError, match="first call fails"):
        flaky()
    assert fresh.keys("*:lock") == []
    start = time.monotonic()
    assert flaky() == "ok"  # at once: no lease to wait out
    assert time.monotonic() - start < 5
    assert len(calls) == 2


def test_a_waiter_computes_itself_when_the_wait_bound_passes(fresh):
    @fresh.memoize(lease=60, wait=0.3)
    def value() -> str:
        return "computed"

    fresh.set(value.cache_key() + ":lock", b"someone else, forever", ttl=60)
    start = time.monotonic()
    assert value() == "computed"
    assert 0.25 < time.monotonic() - start < 5


def test_bad_options_are_refused(fresh):
    with pytest.raises(ValueError, match="ttl"):
        fresh.memoize(ttl=0)
    with pytest.raises(ValueError, match="lease"):
        fresh.memoize(lease=-1)
    with pytest.raises(TypeError, match="serializer"):
        fresh.memoize(serializer=object())


def test_async_functions_are_memoized_over_both_clients(server_addr, fresh):
    calls = []

    @fresh.memoize(ttl=30)
    async def sync_cache(x: int) -> int:
        calls.append(x)
        await asyncio.sleep(0.2)
        return x * 10

    acache = AsyncTinyCache(server_addr)

    @acache.memoize(ttl=30)
    async def async_cache(x: int) -> int:
        calls.append(-x)
        await asyncio.sleep(0.2)
        return x * 100

    @acache.memoize(ttl=30)
    def plain(x: int) -> int:
        calls.append(x + 1000)
        return x

    async def body():
        # Twenty tasks miss at once: one computes, the others wait for it.
        assert await asyncio.gather(*(async_cache(7) for _ in range(20))) == [700] * 20
        assert await asyncio.gather(*(sync_cache(7) for _ in range(3))) == [70] * 3
        assert await plain(1) == 1 and await plain(1) == 1
        await acache.close()

    asyncio.run(asyncio.wait_for(body(), 30))
    assert sorted(calls) == [-7, 7, 1001]


class HoldDel:
    """A TCP proxy to a server that holds back the first write that contains a DEL until release() (at most 30 s)."""

    def __init__(self, upstream: str):
        self.upstream = parse_address(upstream).sockaddr
        self.held = threading.Event()
        self._go = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._sockets.append(self._listener)
        self.addr = "127.0.0.1:%d" % self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def release(self) -> None:
        self._go.set()

    def close(self) -> None:
        self._go.set()
        for s in self._sockets:
            s.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream, timeout=30)
            server.settimeout(None)
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, to_server: bool) -> None:
        try:
            while chunk := source.recv(65536):
                if to_server and b"\r\nDEL\r\n" in chunk and not self.held.is_set():
                    self.held.set()
                    self._go.wait(30)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            sink.close()


@pytest.mark.parametrize("client", [TinyCache, AsyncTinyCache])
@pytest.mark.parametrize("kind", ["tcp", "redis"])
def test_a_computer_whose_lease_ran_out_leaves_the_next_computers_lock_alone(request, kind, client):
    # The first computer's release has checked that the lock is its own and
    # is on its way to delete it; its lease runs out, and a second computer
    # takes the lock. The first one's delete must not remove the second's lock.
    direct = TinyCache(request.getfixturevalue(f"{kind}_server").addr)
    proxy = HoldDel(direct.addr)
    try:
        cache = client(proxy.addr)

        @cache.memoize(lease=1.0)
        def value() -> str:
            return "v"

        lock = value.cache_key() + ":lock"
        direct.delete(value.cache_key())
        run = value if client is TinyCache else lambda: asyncio.run(asyncio.wait_for(value(), 30))
        first = threading.Thread(target=run, daemon=True)
        first.start()
        assert proxy.held.wait(30), "the first computer sent no DEL"
        assert _wait_for(lambda: direct.get(lock) is None, 10), "the first lease did not run out"
        assert direct.execute_command("SET", lock, "second", "NX", "PX", 60000) == "OK"
        proxy.release()
        first.join(30)
        assert not first.is_alive()
        assert direct.get(lock) == b"second"
        assert direct.get(value.cache_key()) is not None  # the first computer's result was stored
        direct.delete(lock)
        if client is TinyCache:
            cache.close()
    finally:
        proxy.close()
        direct.close()


# --- many processes -------------------------------------------------------------


def _body(addr: str, hang_first: bool) -> str:
    """The memoized function: counts its runs in the server; the first run may hang until killed."""
    with TinyCache(addr) as c:
        n = c.incr("runs")
        if hang_first and n == 1:
            c.set("started", b"1")
            time.sleep(60)
        time.sleep(0.5)
    return f"result-{n}"


def _worker(addr: str, i: int, gate: bool, hang_first: bool, lease: float) -> None:
    cache = TinyCache(addr)
    cache.incr("ready")
    if gate:
        assert cache.bpop("go", 30) is not None
    f = cache.memoize(key="stampede", lease=lease, wait=30)(_body)
    cache.set(f"result:{i}", f(addr, hang_first).encode())


def _spawn(*args: Any) -> multiprocessing.process.BaseProcess:
    p = multiprocessing.get_context("spawn").Process(target=_worker, args=args, daemon=True)
    p.start()
    return p


def _reap(procs: list) -> None:
    for p in procs:
        p.join(30)
        if p.is_alive():
            p.kill()
            p.join(10)


def _wait_for(check, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def test_processes_that_miss_together_run_the_function_once(tcp_server):
    n = 6
    with TinyCache(tcp_server.addr) as cache:
        cache.flush()
        procs = [_spawn(tcp_server.addr, i, True, False, 30.0) for i in range(n)]
        try:
            assert _wait_for(lambda: cache.get("ready") == b"%d" % n, 60), "the children did not start"
            assert _wait_for(lambda: cache.info("clients")["blocked_clients"] == n, 10)
            cache.push("go", *[b"go"] * n)  # all of them miss at once
            assert _wait_for(lambda: len(cache.keys("result:*")) == n, 60)
        finally:
            _reap(procs)
        assert [p.exitcode for p in procs] == [0] * n
        assert cache.get("runs") == b"1"
        assert cache.mget([f"result:{i}" for i in range(n)]) == [b"result-1"] * n


def test_a_waiter_takes_over_within_the_lease_when_the_computer_is_killed(tcp_server):
    lease = 2.0
    with TinyCache(tcp_server.addr) as cache:
        cache.flush()
        computer = _spawn(tcp_server.addr, 0, False, True, lease)
        waiter = None
        try:
            assert _wait_for(lambda: cache.get("started") is not None, 60), "the computer did not start"
            waiter = _spawn(tcp_server.addr, 1, False, True, lease)
            assert _wait_for(lambda: cache.get("ready") == b"2", 60), "the waiter did not start"
            time.sleep(0.3)  # it is waiting on the lock now
            os.kill(computer.pid, signal.SIGKILL)
            killed = time.monotonic()
            assert _wait_for(lambda: cache.get("result:1") is not None, lease + 10)
            took = time.monotonic() - killed
        finally:
            _reap([p for p in (computer, waiter) if p is not None])
        assert computer.exitcode == -signal.SIGKILL
        assert waiter.exitcode == 0
        assert cache.get("runs") == b"2"
        assert cache.get("result:1") == b"result-2"
        assert took < lease + 5  # the lease, the body's 0.5 s, and a loaded machine's slack


# --- the dict protocol ------------------------------------------------------------


def test_the_dict_protocol(fresh):
    fresh["a"] = b"1"
    assert fresh["a"] == b"1"
    assert "a" in fresh and "b" not in fresh
    with pytest.raises(KeyError):
        fresh["b"]
    fresh.push("list", b"x")
    assert "list" in fresh  # a list is a key too
    assert len(fresh) == 2 and bool(fresh)
    assert sorted(fresh) == ["a", "list"]
    del fresh["a"]
    with pytest.raises(KeyError):
        del fresh["a"]
    assert len(fresh) == 1
    fresh.flush()
    assert len(fresh) == 0 and bool(fresh)  # an empty cache is still a true object
    with pytest.raises(TypeError, match="key must be str"):
        fresh[b"bytes"]
