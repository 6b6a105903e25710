"""AsyncTinyCache: the API of TinyCache with await, against our server (tcp, unix) and a real redis-server.

Each test runs its coroutine with asyncio.run, bounded by asyncio.wait_for,
so no test depends on an asyncio plugin and none can hang.
"""

from __future__ import annotations

import asyncio
import pickle
import socket
import threading
import time
from typing import Any, Awaitable, Callable

import pytest
import tiny_mp_cache
from tiny_mp_cache import AsyncTinyCache, TinyCache

LIMIT = 30.0  # seconds any one test's coroutine may take


def run(body: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    return asyncio.run(asyncio.wait_for(body(*args), LIMIT))


@pytest.fixture
def addr(server_addr: str) -> str:
    """A server (ours over tcp and unix, or redis) with an empty database."""
    with TinyCache(server_addr, _pure=True) as c:
        c.flush()
    return server_addr


# Every call shape, as (method, args): run on TinyCache and on AsyncTinyCache, the results must agree.
SCRIPT = [
    ("set", ("a", b"1")),
    ("set", ("t", b"x"), {"ttl": 100}),
    ("get", ("a",)),
    ("get", ("missing",)),
    ("mget", (["a", "missing", "t"],)),
    ("mget", ([],)),
    ("mset", ({"b": b"2", "c": bytearray(b"3")},)),
    ("mset", ({},)),
    ("incr", ("n",)),
    ("incr", ("n", 5)),
    ("decr", ("n", 2)),
    ("exists", ("a", "b", "missing")),
    ("type", ("a",)),
    ("expire", ("a", 50)),
    ("persist", ("a",)),
    ("ttl", ("a",)),
    ("push", ("q", b"x", b"y")),
    ("push", ("q", b"w"), {"left": True}),
    ("llen", ("q",)),
    ("bpop", ("q", 1)),
    ("bpop", (["empty", "q"], 0.05)),
    ("bpop", ("empty", 0.05)),
    ("pop", ("b",)),
    ("pop", ("b",)),
    ("delete", ("c",)),
    ("delete", ("c",)),
    ("keys", ("*",)),
    ("len", ()),
    ("execute_command", ("ECHO", "hi")),
    ("execute_command", ("SET", "num", 7)),
    ("execute_command", (b"GET", bytearray(b"num"))),
]


def _results(cache: Any) -> list[Any]:
    out = []
    for method, args, *kw in SCRIPT:
        out.append(getattr(cache, method)(*args, **(kw[0] if kw else {})))
    return out


def _normal(results: list[Any]) -> list[Any]:
    return [sorted(r) if isinstance(r, list) and all(isinstance(k, str) for k in r) else r for r in results]


def test_every_command_gives_what_tinycache_gives(addr):
    with TinyCache(addr, _pure=True) as sync:
        expected = _normal(_results(sync))
        sync.flush()

    async def body():
        async with AsyncTinyCache(addr) as cache:
            out = []
            for method, args, *kw in SCRIPT:
                out.append(await getattr(cache, method)(*args, **(kw[0] if kw else {})))
            return _normal(out)

    assert run(body) == expected


def test_scan_iter_stats_and_info(addr):
    async def body():
        async with AsyncTinyCache(addr) as cache:
            await cache.mset({f"s:{i}": b"v" for i in range(250)})
            keys = {k async for k in cache.scan_iter("s:*", count=30)}
            assert keys == {f"s:{i}" for i in range(250)}
            assert (await cache.stats())["keys"] == 250
            assert "redis_version" in await cache.info("server")

    run(body)


def test_pipeline_sends_the_queue_and_raises_the_first_error_after_reading_all(addr):
    async def body():
        async with AsyncTinyCache(addr) as cache:
            async with cache.pipeline() as p:
                p.set("a", b"1").incr("n").get("a")
            assert len(p) == 0
            assert await cache.pipeline().get("a").mget([]).incr("n").execute() == [b"1", [], 2]
            p = cache.pipeline().set("before", b"x").incr("before").set("after", b"2")
            with pytest.raises(tiny_mp_cache.ServerError):
                await p.execute()
            assert await cache.mget(["before", "after"]) == [b"x", b"2"]
            with pytest.raises(TypeError, match="cannot be pipelined"):
                cache.pipeline().bpop("q", 1)
            with pytest.raises(TypeError, match="async with"):
                with cache.pipeline():
                    pass

    run(body)


def test_concurrent_tasks_never_get_each_others_replies(addr):
    async def body():
        async with AsyncTinyCache(addr) as cache:
            await cache.mset({f"k{i}": b"%d" % i * (i % 50 + 1) for i in range(200)})

            async def reader(i: int) -> bool:
                for _ in range(20):
                    if await cache.get(f"k{i}") != b"%d" % i * (i % 50 + 1):
                        return False
                    await asyncio.sleep(0)
                return True

            assert all(await asyncio.gather(*(reader(i) for i in range(200))))
            assert len(cache._idle) <= 8  # the pool keeps at most max_idle

    run(body)


def test_a_cancelled_bpop_leaves_no_pending_reply_for_later_calls(addr):
    async def body():
        async with AsyncTinyCache(addr, max_idle=1) as cache:
            waiter = asyncio.ensure_future(cache.bpop("jobs", 0))
            await asyncio.sleep(0.2)  # it is blocked on the server now
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
            # Had its connection gone back to the pool, the next call there
            # would read BLPOP's reply to this push.
            await cache.push("jobs", b"job-1")
            for _ in range(5):
                assert await cache.get("missing") is None
            assert await cache.bpop("jobs", 2) == ("jobs", b"job-1")

    run(body)


def test_bpop_waits_past_the_client_timeout(addr):
    async def body():
        async with AsyncTinyCache(addr, timeout=0.3) as cache:
            start = time.monotonic()
            assert await cache.bpop("empty", 0.6) is None
            assert 0.5 < time.monotonic() - start < 5

    run(body)


def test_a_silent_server_times_out_each_call(make_cache):
    from conftest import FakeServer

    async def body(fake_addr: str):
        cache = AsyncTinyCache(fake_addr, timeout=0.4)
        start = time.monotonic()
        with pytest.raises(tiny_mp_cache.TimeoutError, match="timed out"):
            await cache.get("k")
        assert 0.3 < time.monotonic() - start < 3
        await cache.close()

    with FakeServer("silent") as fake:
        run(body, fake.addr)
        assert [name for _, name in fake.names()] == ["GET"]


def test_an_idempotent_call_is_retried_once_on_a_stale_connection_and_a_write_is_not():
    from conftest import FakeServer

    async def body(fake_addr: str, method: str, args: tuple) -> Any:
        async with AsyncTinyCache(fake_addr, timeout=2) as cache:  # opens connection 0 and keeps it
            return await getattr(cache, method)(*args)

    with FakeServer("drop_first") as fake:
        assert run(body, fake.addr, "get", ("k",)) == b"value"
        assert fake.names() == [(0, "GET"), (1, "GET")]
    with FakeServer("drop_first") as fake:
        with pytest.raises(tiny_mp_cache.ConnectionError, match="connection lost"):
            run(body, fake.addr, "set", ("k", b"v"))
        assert fake.names() == [(0, "SET")]


def test_errors_are_the_same_as_tinycache():
    from conftest import free_port

    async def body():
        cache = AsyncTinyCache(f"127.0.0.1:{free_port()}", timeout=1)
        with pytest.raises(tiny_mp_cache.ConnectionError, match="cannot connect"):
            await cache.get("k")
        with pytest.raises(TypeError, match="key must be str"):
            cache.get(b"k")  # checked when called, before anything is sent
        with pytest.raises(ValueError, match="ttl must be > 0"):
            cache.set("k", b"v", ttl=0)
        await cache.close()
        with pytest.raises(ValueError, match="closed"):
            await cache.get("k")

    run(body)
    with pytest.raises(ValueError, match="invalid address"):
        AsyncTinyCache("nowhere")
    with pytest.raises(ValueError, match="timeout"):
        AsyncTinyCache("127.0.0.1:1", timeout=0)


def test_it_logs_in_and_selects_the_database_of_its_address():
    from conftest import start_redis_server

    server = start_redis_server("--requirepass", "s3cret")
    port = server.addr.rsplit(":", 1)[1].split("/")[0]

    async def body():
        async with AsyncTinyCache(f"redis://:s3cret@127.0.0.1:{port}/2") as cache:
            await cache.set("k", b"in db 2")
            assert (await cache.execute_command("CLIENT", "INFO")).count(b"db=2") == 1
        with pytest.raises(tiny_mp_cache.ServerError, match="WRONGPASS|invalid"):
            await AsyncTinyCache(f"redis://:wrong@127.0.0.1:{port}/0").get("k")

    try:
        run(body)
    finally:
        server.stop()


def test_error_replies_raise_server_error_and_keep_the_connection(addr):
    async def body():
        async with AsyncTinyCache(addr) as cache:
            await cache.push("list", b"x")
            with pytest.raises(tiny_mp_cache.ServerError, match="WRONGTYPE"):
                await cache.get("list")
            assert len(cache._idle) == 1
            assert await cache.llen("list") == 1

    run(body)


def test_it_pickles_and_works_across_event_loops(addr):
    cache = pickle.loads(pickle.dumps(AsyncTinyCache(addr, timeout=3)))
    assert cache.timeout == 3.0
    run(cache.set, "k", b"v")  # one event loop
    assert run(cache.get, "k") == b"v"  # another: the first loop's connection is not reused
    run(cache.close)


# --- a hostile server: the limits of the shared reply parser ------------------


class _OneReply:
    """Answers every command with the same bytes (or a stream of them, forever)."""

    def __init__(self, reply: bytes, forever: bytes = b""):
        self.reply, self.forever = reply, forever
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.socks: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        self.socks.append(sock)
        try:
            sock.recv(65536)
            sock.sendall(self.reply)
            while self.forever:
                sock.sendall(self.forever)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()
        for s in self.socks:
            s.close()


@pytest.mark.parametrize(
    "reply, forever, message",
    [
        (b"$1099511627776\r\n", b"", "max_reply_size"),  # a 1 TiB bulk string, declared
        (b"*100000000\r\n", b"$1000\r\n" + b"x" * 1000 + b"\r\n", "max_reply_size"),  # endless, 1 KB at a time
        (b"*1\r\n" * 65 + b":1\r\n", b"", "nested deeper than 64"),
        (b"+" + b"x" * 70000, b"", "line too long"),
        (b"!weird\r\n", b"", "unknown reply type"),
    ],
)
def test_hostile_replies_get_protocol_error_within_the_limits(reply, forever, message):
    server = _OneReply(reply, forever)

    async def body():
        cache = AsyncTinyCache(server.addr, timeout=10, max_reply_size=1 << 20)
        with pytest.raises(tiny_mp_cache.ProtocolError, match=message):
            await cache.get("k")
        assert cache._idle == []  # that connection is not reused
        await cache.close()

    try:
        run(body)
    finally:
        server.close()
