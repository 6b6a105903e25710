"""CLIENT TRACKING and redis-py's built-in client-side cache against our server.

The raw-protocol tests run against our server (tcp and unix) and, as the
reference, a real redis-server: the same pushes in the same order. redis-py's
cache refuses servers whose HELLO reports a version below 7.4.0, and
Debian's redis-server is 7.0, so the redis-py tests run against ours only
(and against a real Redis only if the installed one is 7.4 or later).
"""

from __future__ import annotations

import socket
import subprocess
import time
from typing import Any, Iterator

import pytest
from conftest import need_tool, start_redis_server, start_tcp_server, start_unix_server

redis = pytest.importorskip("redis")
from redis.cache import CacheConfig  # noqa: E402  (after the importorskip)

WAIT = 5.0  # the bound on every wait


@pytest.fixture(scope="module", params=["tcp", "unix", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[Any]:
    """A server of this module's own, as FLUSHALL is among the tests."""
    start = {"tcp": start_tcp_server, "unix": start_unix_server, "redis": start_redis_server}[request.param]
    srv = start()
    srv.kind = request.param
    yield srv
    srv.stop()


def redis_version() -> tuple[int, ...]:
    out = subprocess.run([need_tool("redis-server"), "--version"], capture_output=True, text=True, timeout=10).stdout
    return tuple(int(x) for x in out.split("v=")[1].split()[0].split("."))


# --- the protocol, byte for byte -----------------------------------------------


class Raw:
    """A RESP3 client on a plain socket that shows each value as text."""

    def __init__(self, addr: str) -> None:
        if addr.startswith("unix://"):
            self.sock = socket.socket(socket.AF_UNIX)
            self.sock.settimeout(WAIT)
            self.sock.connect(addr[len("unix://"):])
        else:
            host, port = addr.removeprefix("redis://").split("/")[0].rsplit(":", 1)
            self.sock = socket.create_connection((host, int(port)), timeout=WAIT)
        self.f = self.sock.makefile("rb")
        self.do("HELLO", "3")

    def close(self) -> None:
        self.f.close()
        self.sock.close()

    def send(self, *args: str) -> None:
        out = [f"*{len(args)}\r\n".encode()]
        for a in args:
            b = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(b), b))
        self.sock.sendall(b"".join(out))

    def do(self, *args: str) -> Any:
        self.send(*args)
        return self.read()

    def read(self) -> Any:
        line = self.f.readline()
        assert line.endswith(b"\r\n"), f"short reply {line!r}"
        kind, body = line[:1], line[1:-2].decode()
        if kind in b"+-:":
            return body
        if kind == b"_":
            return None
        if kind == b"$":
            data = self.f.read(int(body) + 2)
            return data[:-2].decode()
        if kind in b"*>%~":
            n = int(body) * (2 if kind == b"%" else 1)
            items = [self.read() for _ in range(n)]
            return ("push", items) if kind == b">" else items
        raise AssertionError(f"unexpected reply {line!r}")

    def quiet(self) -> None:
        """Nothing waits to be read: a PING's reply comes next."""
        assert self.do("PING") == "PONG"


def invalidate(*keys: str) -> tuple[str, Any]:
    return ("push", ["invalidate", list(keys) if keys else None])


@pytest.fixture
def raw(server) -> Iterator[Any]:
    conns: list[Raw] = []

    def connect() -> Raw:
        conns.append(Raw(server.addr))
        return conns[-1]

    yield connect
    for c in conns:
        c.close()


def test_own_write_is_invalidated_after_its_reply(raw) -> None:
    a = raw()
    assert a.do("CLIENT", "TRACKING", "ON") == "OK"
    a.do("DEL", "own")
    assert a.do("GET", "own") is None
    assert a.do("SET", "own", "v") == "OK"  # the reply first ...
    assert a.read() == invalidate("own")  # ... then the push
    a.do("SET", "own", "w")  # told once, until it reads the key again
    a.quiet()


def test_other_clients_writes_and_flush(raw) -> None:
    a, w = raw(), raw()
    a.do("CLIENT", "TRACKING", "ON")
    w.do("SET", "s", "1")
    w.do("DEL", "l")
    w.do("RPUSH", "l", "x")
    a.do("GET", "s")
    a.do("LRANGE", "l", "0", "-1")
    for write, key in [(("INCR", "s"), "s"), (("RPUSH", "l", "y"), "l")]:
        w.do(*write)
        assert a.read() == invalidate(key)
        a.do("GET" if key == "s" else "LLEN", key)
    w.do("FLUSHALL")
    assert a.read() == invalidate()  # null: drop everything
    a.quiet()


def test_expiry_is_pushed_without_a_command(raw) -> None:
    a, w = raw(), raw()
    a.do("CLIENT", "TRACKING", "ON")
    w.do("SET", "ttl", "v", "PX", "30")
    a.do("GET", "ttl")
    assert a.read() == invalidate("ttl")  # read() waits at most WAIT


# --- redis-py's cache ----------------------------------------------------------


def cached_client(addr: str, **kwargs: Any):
    """redis-py with its client-side cache, which needs RESP3 (and TCP: see clients)."""
    kwargs.update(protocol=3, socket_timeout=WAIT, decode_responses=True)
    host, port = addr.removeprefix("redis://").split("/")[0].rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), **kwargs)


@pytest.fixture(scope="module")
def tcp_server() -> Iterator[Any]:
    """Our server over TCP: redis-py 8.1 passes cache_config on for TCP
    connections only (its cache reads the port), and the real redis-server
    here is older than the 7.4 its cache requires."""
    srv = start_tcp_server()
    yield srv
    srv.stop()


@pytest.fixture
def clients(tcp_server):
    cached = cached_client(tcp_server.addr, cache_config=CacheConfig())
    plain = cached_client(tcp_server.addr)
    plain.flushall()
    yield cached, plain
    cached.close()
    plain.close()


def get_calls(r) -> int:
    return int(r.info("commandstats").get("cmdstat_get", {}).get("calls", 0))


def eventually(f, want) -> Any:
    """f() once it returns want, or its last value after WAIT."""
    deadline = time.monotonic() + WAIT
    while (got := f()) != want and time.monotonic() < deadline:
        time.sleep(0.005)
    return got


def test_redis_py_cache_hits_stay_in_the_process(clients) -> None:
    cached, plain = clients
    plain.set("hit", "v")
    before = get_calls(plain)
    assert cached.get("hit") == "v"  # a miss fills the cache
    for _ in range(50):
        assert cached.get("hit") == "v"
    assert get_calls(plain) - before == 1
    assert cached.get_cache().size >= 1


def test_redis_py_cache_sees_other_clients_writes(clients) -> None:
    cached, plain = clients
    plain.set("k", "1")
    assert cached.get("k") == "1"
    plain.set("k", "2")
    assert eventually(lambda: cached.get("k"), "2") == "2"
    plain.delete("k")
    assert eventually(lambda: cached.get("k"), None) is None
    plain.set("k", "3")
    assert eventually(lambda: cached.get("k"), "3") == "3"
    plain.flushall()
    assert eventually(lambda: cached.get("k"), None) is None


def test_redis_py_cache_sees_its_own_writes(clients) -> None:
    cached, _ = clients
    cached.set("mine", "1")
    assert cached.get("mine") == "1"
    cached.set("mine", "2")  # its invalidation follows the reply to SET
    assert cached.get("mine") == "2"
    cached.incr("mine")
    assert cached.get("mine") == "3"


def test_redis_py_cache_refuses_redis_below_7_4() -> None:
    """What the version in HELLO is for: redis-py checks it on connect. A
    real redis-server older than 7.4 is refused; on a machine with a newer
    one, the same check shows that it is accepted."""
    srv = start_redis_server()
    try:
        r = cached_client(srv.addr, cache_config=CacheConfig())
        if redis_version() < (7, 4):
            with pytest.raises(redis.ConnectionError, match="7.4"):
                r.ping()
        else:
            assert r.ping()
        r.close()
    finally:
        srv.stop()
