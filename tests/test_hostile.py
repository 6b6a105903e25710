"""Hostile input: the server survives abuse while another client keeps being served.

Every test abuses a real server (a subprocess, real sockets on loopback) and
then checks, with a set/get/pop round trip on a separate TinyCache, that the
server still answers other clients correctly and promptly. The checking
client runs on both client paths (the Go library and the pure-Python one).

Covered: garbage bytes, truncated frames, huge declared lengths, the request
limits (max_bulk, max_args, max_inline, max_query, max_output, also for a
transaction's reply, with a bound on RSS), slow clients that never
finish a command, 10,000 connections opened and dropped (with a bound on the
server's RSS), clients SIGKILLed mid-request, max_clients, and a 100 MB bulk
sent slowly against a small max_query.
"""

from __future__ import annotations

import json
import os
import random
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from typing import Callable, Dict, Iterator, List, Tuple

import pytest

import tiny_mp_cache
from conftest import ServerProcess, free_port, listen_place, need_go, read_until_closed, sockaddr_of, tmc_server_argv
from tiny_mp_cache import TinyCache

MiB = 1 << 20
LINGER_0 = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends a reset

# serve()/serve_unix() with keyword options given as JSON: the public API,
# in a fresh interpreter (the CLI has flags for only a few options).
SERVE = """
import json, sys
from tiny_mp_cache import serve, serve_unix
transport, where, options = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if transport == "tcp":
    serve(int(where), **options)
else:
    serve_unix(where, **options)
"""


def start_server(transport: str = "tcp", **options) -> ServerProcess:
    """A server in a subprocess, started by serve()/serve_unix(**options)."""
    need_go()
    where, addr = listen_place(transport, "h.sock")
    return ServerProcess([sys.executable, "-c", SERVE, transport, where, json.dumps(options)], addr)


# --- raw sockets, independent of the client under test ------------------------


def raw_connect(addr: str, timeout: float = 5.0) -> socket.socket:
    family, sockaddr = sockaddr_of(addr)
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(sockaddr)
    if family == socket.AF_INET:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_exactly(s: socket.socket, n: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    got = bytearray()
    while len(got) < n:
        left = deadline - time.monotonic()
        assert left > 0, f"only {len(got)} of {n} reply bytes within {timeout}s: {bytes(got[:200])!r}"
        s.settimeout(left)
        chunk = s.recv(n - len(got))
        assert chunk, f"connection closed after {len(got)} of {n} reply bytes: {bytes(got[:200])!r}"
        got += chunk
    return bytes(got)


def exchange(addr: str, data: bytes, timeout: float = 10.0, half_close: bool = True) -> Tuple[bytes, str]:
    """Send data (from a thread, so replies never back up) and read until the server closes.

    With half_close, our side's write end is shut once everything is sent, so
    a server waiting for the rest of a command sees end of input.
    """
    s = raw_connect(addr)
    try:

        def send() -> None:
            try:
                s.sendall(data)
                if half_close:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                pass  # the server may close on us mid-way: that is what we test

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        reply = read_until_closed(s, timeout)
        sender.join(timeout)
        return reply
    finally:
        s.close()


def command(*args: bytes) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class InfoConnection:
    """One raw connection kept open for INFO queries (it counts as one client)."""

    def __init__(self, addr: str):
        self.sock = raw_connect(addr)

    def fields(self) -> Dict[str, str]:
        self.sock.sendall(command(b"INFO"))
        head = b""
        while not head.endswith(b"\r\n"):
            chunk = self.sock.recv(1)
            assert chunk, "connection closed while reading INFO"
            head += chunk
        assert head.startswith(b"$"), head
        body = read_exactly(self.sock, int(head[1:-2]) + 2, 10)
        fields = {}
        for line in body.decode().splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                fields[k] = v
        return fields

    def close(self) -> None:
        self.sock.close()


def info(addr: str) -> Dict[str, str]:
    """INFO over a fresh raw socket, as a dict of its key:value lines."""
    conn = InfoConnection(addr)
    try:
        return conn.fields()
    finally:
        conn.close()


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")


def wait_for(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)


def assert_served(server: ServerProcess, cache: TinyCache, max_seconds: float = 2.0) -> None:
    """The server is alive and serves this other client correctly and promptly."""
    assert server.proc.poll() is None, f"the server died (rc={server.proc.returncode}): {server.stop()[1][-2000:]!r}"
    key = f"check:{uuid.uuid4().hex}"
    value = os.urandom(100)
    start = time.monotonic()
    cache.set(key, value)
    assert cache.get(key) == value
    assert cache.pop(key) == value
    assert cache.get(key) is None
    elapsed = time.monotonic() - start
    assert elapsed < max_seconds, f"a set/get/pop round trip took {elapsed:.2f}s"


def assert_protocol_error_then_closed(reply: Tuple[bytes, str], detail: str = "", what: str = "") -> None:
    data, how = reply
    assert data.startswith(b"-ERR Protocol error"), f"{what} answered {data[:200]!r}, then {how}"
    assert data.endswith(b"\r\n") and data.count(b"\r\n") == 1, f"more than one reply: {data[:300]!r}"
    if detail:
        assert detail.encode() in data, data
    assert how in ("eof", "reset"), f"the server did not disconnect the client ({how})"


@pytest.fixture(scope="module", params=["tcp", "unix"])
def victim(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """One server per transport with default options, shared by the abuse tests here."""
    server = start_server(request.param)
    yield server
    server.stop()


# --- garbage, truncated frames, huge lengths ----------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("size", [1, 2, 3, 7, 31, 100, 1000, 4096, 65_536, 65_537, 1_000_000])
def test_garbage_bytes(victim, make_cache, size):
    cache = make_cache(victim.addr)
    rng = random.Random(size)
    for prefix in (b"", b"*", b"$", b"*2\r\n", b"*1\r\n$4\r\n"):
        data = prefix + rng.randbytes(size)
        reply, how = exchange(victim.addr, data, timeout=15)
        # We closed our side after the garbage, so the server must have
        # finished with it and hung up; whatever it answered is RESP replies.
        assert how in ("eof", "reset"), f"server still holding the connection after {len(data)} garbage bytes"
        if reply:
            assert reply[:1] in (b"-", b"+", b":", b"$", b"*"), reply[:100]
            assert reply.endswith(b"\r\n"), reply[-100:]
        if prefix == b"*" and size >= 32:
            # An array header that is not a number: an error reply, not a guess.
            assert reply.startswith(b"-ERR Protocol error"), reply[:200]
            assert reply.count(b"\r\n") == 1, reply[:300]
        assert_served(victim, cache)


TRUNCATED = [
    b"*3\r\n$3\r\nSET\r\n$11\r\ntrunc:value\r\n$5\r\nval",
    b"*3\r\n$3\r\nSET\r\n$11\r\ntrunc:value\r\n$5\r\nvalue",
    b"*3\r\n$3\r\nSET\r\n$11\r\ntrunc:value\r\n$5\r\nvalue\r",
    b"*3\r\n$3\r\nSET\r\n$11\r\ntrunc:value\r\n$5\r\n",
    b"*3\r\n$3\r\nSET\r\n$11\r\ntrunc:value\r\n$5",
    b"*3\r\n$3\r\nSET\r\n$11\r\ntrunc:value\r\n",
    b"*3\r\n$3\r\nSET\r\n$11\r\ntrunc:va",
    b"*3\r\n$3\r\nSET\r\n$1",
    b"*3\r\n$3\r\nSE",
    b"*3\r\n$",
    b"*3\r\n",
    b"*3\r",
    b"*3",
    b"*",
    b"SET trunc:value inline",
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("frame", TRUNCATED, ids=[f"cut{i:02d}" for i in range(len(TRUNCATED))])
def test_truncated_frame_is_never_applied(victim, make_cache, frame):
    cache = make_cache(victim.addr)
    cache.delete("trunc:value")
    # Variant 1: the client shuts its write side after the partial command.
    reply, how = exchange(victim.addr, frame, timeout=10, half_close=True)
    assert reply == b"", f"a reply to an incomplete command: {reply!r}"
    assert how in ("eof", "reset"), "the server kept a half-closed connection with a partial command"
    # Variant 2: the client just goes away.
    s = raw_connect(victim.addr)
    s.sendall(frame)
    s.close()
    # Variant 3: the client resets the connection (SO_LINGER 0).
    s = raw_connect(victim.addr)
    s.sendall(frame)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
    s.close()
    assert_served(victim, cache)
    assert cache.get("trunc:value") is None, "a truncated SET was applied"


@pytest.mark.timeout(60)
def test_a_command_split_at_every_byte_is_parsed_correctly(victim, make_cache):
    """The other side of truncation: a frame completed later must work, wherever it was cut."""
    cache = make_cache(victim.addr)
    frame = command(b"SET", b"split:key", b"split\r\nvalue")
    s = raw_connect(victim.addr)
    try:
        for cut in range(1, len(frame)):
            s.sendall(frame[:cut])
            time.sleep(0.002)
            s.sendall(frame[cut:])
            assert read_exactly(s, 5, 5) == b"+OK\r\n", f"cut at {cut}"
    finally:
        s.close()
    assert cache.get("split:key") == b"split\r\nvalue"
    assert_served(victim, cache)


HUGE = [
    pytest.param(b"*1\r\n$9999999999\r\n", "invalid bulk length", id="bulk-10GB"),
    pytest.param(b"*99999999\r\n", "invalid multibulk length", id="array-100M"),
    pytest.param(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$9999999999\r\n", "invalid bulk length", id="set-value-10GB"),
    pytest.param(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870913\r\n", "invalid bulk length", id="max-bulk-plus-1"),
    pytest.param(b"*1048577\r\n", "invalid multibulk length", id="max-args-plus-1"),
    pytest.param(b"*2\r\n$3\r\nGET\r\n$999999999999999999999999999\r\n", "", id="bulk-27-digits"),
    pytest.param(b"*9223372036854775808\r\n", "", id="array-2to63"),
    pytest.param(b"*2\r\n$3\r\nGET\r\n$-2\r\n", "", id="bulk-negative"),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("frame, detail", HUGE)
def test_huge_declared_lengths_get_a_protocol_error_and_a_disconnect(victim, make_cache, frame, detail):
    cache = make_cache(victim.addr)
    before = rss_bytes(victim.pid)
    start = time.monotonic()
    # No half-close: the server must answer and hang up on its own, without
    # waiting for (or allocating) the declared gigabytes.
    reply = exchange(victim.addr, frame, timeout=5, half_close=False)
    assert_protocol_error_then_closed(reply, detail)
    assert time.monotonic() - start < 3
    assert rss_bytes(victim.pid) - before < 50 * MiB
    assert_served(victim, cache)


# --- configurable limits --------------------------------------------------------

SMALL_LIMITS = {"max_bulk": 1000, "max_args": 8, "max_inline": 300}


@pytest.fixture(scope="module")
def limited() -> Iterator[ServerProcess]:
    server = start_server("tcp", **SMALL_LIMITS)
    yield server
    server.stop()


def ok_reply(addr: str, frame: bytes, expect: bytes) -> None:
    s = raw_connect(addr)
    try:
        s.sendall(frame)
        assert read_exactly(s, len(expect), 5) == expect
    finally:
        s.close()


@pytest.mark.timeout(60)
def test_max_bulk(limited, make_cache):
    cache = make_cache(limited.addr)
    limit = SMALL_LIMITS["max_bulk"]
    ok_reply(limited.addr, command(b"SET", b"bulk:key", b"v" * limit), b"+OK\r\n")
    assert cache.get("bulk:key") == b"v" * limit
    over = exchange(limited.addr, command(b"SET", b"bulk:key", b"w" * (limit + 1)), half_close=False)
    assert_protocol_error_then_closed(over, "invalid bulk length")
    assert cache.get("bulk:key") == b"v" * limit, "an oversized SET changed the value"
    # The key is a bulk string too.
    over = exchange(limited.addr, command(b"SET", b"k" * (limit + 1), b"v"), half_close=False)
    assert_protocol_error_then_closed(over, "invalid bulk length")
    # Through TinyCache: a clear error, and the next call works.
    with pytest.raises(tiny_mp_cache.TinyCacheError) as err:
        cache.set("bulk:key", b"x" * (limit + 1))
    if isinstance(err.value, tiny_mp_cache.ServerError):
        assert "Protocol error" in str(err.value)
    assert cache.get("bulk:key") == b"v" * limit
    assert_served(limited, cache)


@pytest.mark.timeout(60)
def test_max_args(limited, make_cache):
    cache = make_cache(limited.addr)
    limit = SMALL_LIMITS["max_args"]
    cache.set("args:1", b"x")
    keys = [b"args:%d" % i for i in range(1, limit)]
    ok_reply(limited.addr, command(b"DEL", *keys), b":1\r\n")  # exactly max_args arguments
    cache.set("args:1", b"x")
    over = exchange(limited.addr, command(b"DEL", *keys, b"args:more"), half_close=False)
    assert_protocol_error_then_closed(over, "invalid multibulk length")
    assert cache.get("args:1") == b"x", "a command over max_args was run"
    # The same limit for inline commands.
    ok_reply(limited.addr, b"DEL " + b" ".join(keys) + b"\r\n", b":1\r\n")
    cache.set("args:1", b"x")
    over = exchange(limited.addr, b"DEL " + b" ".join(keys) + b" args:more\r\n", half_close=False)
    assert_protocol_error_then_closed(over)
    assert cache.get("args:1") == b"x"
    assert_served(limited, cache)


@pytest.mark.timeout(60)
def test_max_inline(limited, make_cache):
    cache = make_cache(limited.addr)
    limit = SMALL_LIMITS["max_inline"]
    # A whole line (CRLF included) of max_inline bytes works.
    word = b"w" * (limit - len(b"ECHO \r\n"))
    ok_reply(limited.addr, b"ECHO " + word + b"\r\n", b"$%d\r\n%s\r\n" % (len(word), word))
    # A line longer than max_inline is refused...
    word = b"w" * (limit + 1 - len(b"ECHO "))
    assert_protocol_error_then_closed(exchange(limited.addr, b"ECHO " + word + b"\r\n", half_close=False))
    # ... and so is one that has no end yet: the server does not wait for it.
    start = time.monotonic()
    reply = exchange(limited.addr, b"ECHO " + b"w" * (limit + 50), timeout=5, half_close=False)
    assert_protocol_error_then_closed(reply, "too big inline request")
    assert time.monotonic() - start < 3
    assert_served(limited, cache)


def frame_of_size(total: int, key: bytes = b"query:key") -> Tuple[bytes, int]:
    """A SET command of exactly total bytes on the wire, and the length of its value."""
    n = total - len(command(b"SET", key, b""))
    while len(command(b"SET", key, b"q" * n)) > total:
        n -= 1
    frame = command(b"SET", key, b"q" * n)
    assert len(frame) == total
    return frame, n


@pytest.mark.timeout(60)
@pytest.mark.parametrize("limit", [4096, 100_000])
def test_max_query(make_cache, limit):
    server = start_server("tcp", max_query=limit)
    try:
        cache = make_cache(server.addr)
        frame, n = frame_of_size(limit)
        ok_reply(server.addr, frame, b"+OK\r\n")
        assert cache.get("query:key") == b"q" * n
        cache.delete("query:key")
        over = exchange(server.addr, frame_of_size(limit + 1)[0], timeout=5, half_close=False)
        assert_protocol_error_then_closed(over, "too big request", f"a {limit + 1}-byte SET with max_query={limit}")
        assert cache.get("query:key") is None, f"a {limit + 1}-byte command was run with max_query={limit}"
        # The limit is per command: pipelined commands may add up to more.
        third = frame_of_size(limit * 6 // 10)[0]
        ok_reply(server.addr, third * 3, b"+OK\r\n" * 3)
        assert_served(server, cache)
    finally:
        server.stop()


# --- slow clients -----------------------------------------------------------------


@pytest.mark.timeout(120)
def test_200_slow_clients_do_not_delay_others(victim, make_cache):
    cache = make_cache(victim.addr)
    frame = command(b"SET", b"slow:key", b"v" * 1000)
    slow: List[socket.socket] = []
    stop = threading.Event()
    try:
        for i in range(200):
            s = raw_connect(victim.addr)
            s.sendall(frame[: i % (len(frame) - 1)])  # from nothing at all to all but the last byte
            slow.append(s)

        def trickle() -> None:
            # A quarter of them keep sending a byte at a time, never finishing.
            pos = {i: i % (len(frame) - 1) for i in range(0, 200, 4)}
            while not stop.is_set():
                for i in pos:
                    if pos[i] < len(frame) - 2:
                        try:
                            slow[i].send(frame[pos[i]: pos[i] + 1])
                        except OSError:
                            pass
                        pos[i] += 1
                stop.wait(0.05)

        trickler = threading.Thread(target=trickle, daemon=True)
        trickler.start()
        assert wait_for(lambda: int(info(victim.addr)["connected_clients"]) >= 201, 10), info(victim.addr)
        worst = 0.0
        start = time.monotonic()
        for _ in range(200):
            t = time.monotonic()
            assert_served(victim, cache)
            worst = max(worst, time.monotonic() - t)
        total = time.monotonic() - start
        assert worst < 1.0, f"the slowest round trip took {worst:.3f}s"
        assert total < 20, f"200 round trips took {total:.1f}s"
        assert int(info(victim.addr)["connected_clients"]) >= 201, "slow clients were dropped during the test"
    finally:
        stop.set()
        for s in slow:
            s.close()
    assert wait_for(lambda: int(info(victim.addr)["connected_clients"]) <= 3, 10), info(victim.addr)
    assert cache.get("slow:key") is None
    assert_served(victim, cache)


# --- many connections -------------------------------------------------------------

CONNECTIONS = 10_000
BATCH = 1_000


def raise_nofile(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= needed:
        return
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"needs {needed} file descriptors, but RLIMIT_NOFILE's hard limit is {hard}")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))
    except (ValueError, OSError) as e:
        pytest.skip(f"cannot raise RLIMIT_NOFILE to {needed}: {e}")


@pytest.mark.timeout(240)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_10000_connections_opened_and_dropped(make_cache, transport):
    raise_nofile(BATCH + 512)  # before the server starts: it inherits the limit
    server = start_server(transport)
    try:
        cache = make_cache(server.addr)
        assert_served(server, cache)
        baseline_rss = rss_bytes(server.pid)
        received_before = int(info(server.addr)["total_connections_received"])
        ping = command(b"PING")
        partial = command(b"SET", b"conn:key", b"v" * 100)[:-20]
        opened = 0
        peak_rss = baseline_rss
        while opened < CONNECTIONS:
            batch = []
            for _ in range(BATCH):
                batch.append(raw_connect(server.addr))
                opened += 1
            for i, s in enumerate(batch):
                kind = i % 4
                if kind == 1:
                    s.sendall(ping)
                elif kind == 2:
                    s.sendall(partial)
                elif kind == 3:
                    s.sendall(partial)
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_0)
            for i, s in enumerate(batch):
                if i % 4 == 1:
                    assert read_exactly(s, 7, 10) == b"+PONG\r\n"
            peak_rss = max(peak_rss, rss_bytes(server.pid))
            for s in batch:
                s.close()
            assert_served(server, cache)
        # Every connection reached the server, and every one was let go.
        received = int(info(server.addr)["total_connections_received"]) - received_before
        assert received >= CONNECTIONS, f"only {received} connections reached the server"
        assert wait_for(lambda: int(info(server.addr)["connected_clients"]) <= 2, 20), info(server.addr)
        assert_served(server, cache)
        grown = rss_bytes(server.pid) - baseline_rss
        assert grown < 100 * MiB, f"RSS grew by {grown / MiB:.0f} MiB (peak {(peak_rss - baseline_rss) / MiB:.0f} MiB)"
        assert cache.get("conn:key") is None
    finally:
        out, err = server.stop()
    assert server.proc.returncode == 0, err[-2000:]


# --- clients killed mid-request ------------------------------------------------------

HALF_A_SET = """
import socket, sys, time
family = socket.AF_UNIX if sys.argv[1].startswith("/") else socket.AF_INET
where = sys.argv[1] if family == socket.AF_UNIX else ("127.0.0.1", int(sys.argv[1]))
key, size = sys.argv[2].encode(), int(sys.argv[3])
s = socket.socket(family, socket.SOCK_STREAM)
s.connect(where)
s.sendall(b"*3\\r\\n$3\\r\\nSET\\r\\n$%d\\r\\n%s\\r\\n$%d\\r\\n" % (len(key), key, size))
chunk = b"x" * 65536
sent = 0
while sent < size // 2:
    s.sendall(chunk)
    sent += len(chunk)
print("half", flush=True)
while True:  # trickle the rest, never finishing, until SIGKILL
    s.sendall(b"x" * 1024)
    time.sleep(0.01)
"""


def wait_line(proc: subprocess.Popen, timeout: float) -> bytes:
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "the child did not report in time"
    return proc.stdout.readline()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_clients_killed_mid_request(make_cache, transport):
    server = start_server(transport)
    children: List[subprocess.Popen] = []
    try:
        cache = make_cache(server.addr)
        where = server.addr[len("unix://"):] if transport == "unix" else server.addr.rsplit(":", 1)[1]
        rng = random.Random(7)
        for round_ in range(3):
            batch = []
            for i in range(6):
                key = f"killed:{round_}:{i}"
                p = subprocess.Popen(
                    [sys.executable, "-c", HALF_A_SET, where, key, str(8 * MiB)],
                    stdout=subprocess.PIPE,
                    stdin=subprocess.DEVNULL,
                )
                children.append(p)
                batch.append(p)
            for p in batch:
                assert wait_line(p, 30) == b"half\n"
            assert int(info(server.addr)["connected_clients"]) >= 1 + len(batch)
            assert_served(server, cache)
            for p in batch:
                time.sleep(rng.uniform(0, 0.05))
                p.send_signal(signal.SIGKILL)
            for p in batch:
                assert p.wait(10) == -signal.SIGKILL
            assert_served(server, cache)
        assert cache.keys("killed:*") == [], "a half-sent SET was applied"
        assert wait_for(lambda: int(info(server.addr)["connected_clients"]) <= 2, 10), info(server.addr)
        assert_served(server, cache)
    finally:
        for p in children:
            if p.poll() is None:
                p.kill()
            p.wait(10)
            if p.stdout:
                p.stdout.close()
        out, err = server.stop()
    assert server.proc.returncode == 0, err[-2000:]


# --- max_clients ---------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_max_clients_refuses_extra_clients_with_a_clear_error(make_cache):
    limit = 10
    server = start_server("tcp", max_clients=limit)
    monitor = None
    try:
        # Every connection here is one we hold: the monitor, then the caches.
        # Wait for ServerProcess's readiness probe to be gone from the count.
        monitor = InfoConnection(server.addr)
        assert wait_for(lambda: int(monitor.fields()["connected_clients"]) == 1, 5)
        caches = [make_cache(server.addr) for _ in range(limit - 1)]
        for i, c in enumerate(caches):
            c.set(f"client:{i}", b"%d" % i)
        # A raw client gets an error reply, then is disconnected.
        data, how = read_until_closed(raw_connect(server.addr), 5)
        assert data == b"-ERR max number of clients reached\r\n"
        assert how in ("eof", "reset")
        # So does TinyCache, as a ServerError that says why.
        with pytest.raises(tiny_mp_cache.TinyCacheError, match="max number of clients"):
            extra = make_cache(server.addr)
            extra.set("extra", b"x")
        # The clients already connected are still served.
        for i, c in enumerate(caches):
            assert c.get(f"client:{i}") == b"%d" % i
        assert_served(server, caches[0])
        # A freed slot is given to the next client.
        caches[-1].close()

        def new_client_works() -> bool:
            try:
                c = make_cache(server.addr, timeout=1.0)
                c.set("late", b"ok")
                return c.get("late") == b"ok"
            except tiny_mp_cache.TinyCacheError:
                return False

        assert wait_for(new_client_works, 5)
        for c in caches[:-1]:
            assert_served(server, c)
        assert int(monitor.fields()["rejected_connections"]) >= 2
    finally:
        if monitor is not None:
            monitor.close()
        server.stop()


# --- pipelining behind big replies ----------------------------------------------------


@pytest.mark.timeout(60)
def test_a_command_pipelined_behind_a_big_reply_is_answered(victim):
    """GET of a value bigger than the socket buffers, then PING, in one write, round after round.

    The server once wrote the last of the big reply while the client read
    concurrently, went back to waiting for input, and never ran the PING
    already in its buffer: the client waited forever. Over a unix socket
    that took a few thousand rounds at most (a second or two); over TCP
    loopback, which buffers more, it hardly ever showed.
    """
    key = b"pipelined:%s" % uuid.uuid4().hex.encode()
    value = os.urandom(300 * 1024)
    assert exchange(victim.addr, command(b"SET", key, value) + command(b"QUIT"))[0] == b"+OK\r\n+OK\r\n"
    want = b"$%d\r\n%s\r\n+PONG\r\n" % (len(value), value)
    request = command(b"GET", key) + command(b"PING")
    s = raw_connect(victim.addr)
    rounds = 0
    try:
        deadline = time.monotonic() + (8 if victim.addr.startswith("unix://") else 2)
        while time.monotonic() < deadline:
            s.sendall(request)
            try:
                got = read_exactly(s, len(want), 5)
            except socket.timeout:
                pytest.fail(f"round {rounds}: no reply to the PING behind GET within 5 s")
            assert got == want, f"round {rounds}: the replies differ from GET's and PING's"
            rounds += 1
    finally:
        s.close()
    assert rounds > 0
    with TinyCache(victim.addr, _pure=True) as cache:
        assert_served(victim, cache)


# --- clients that have not authenticated, and client buffer limits -----------------------


@pytest.mark.timeout(60)
def test_unauthenticated_clients_cannot_make_the_server_buffer_much():
    """Before AUTH only Redis's small commands are read; bigger ones get Redis's error and a hang-up.

    Two connections that never authenticated once each streamed part of a
    declared 512 MiB bulk into a server with max_memory=64MB: RSS 20 -> 886 MiB.
    """
    server = start_server("tcp", password="pw", max_memory="64MB")
    try:
        base = rss_bytes(server.pid)
        results: List[Tuple[int, bytes, str]] = []

        def stream(header: bytes) -> None:
            s = raw_connect(server.addr, timeout=10)
            sent = 0
            try:
                s.sendall(header)
                chunk = b"x" * (256 * 1024)
                while sent < 64 * MiB:
                    s.sendall(chunk)
                    sent += len(chunk)
            except OSError:
                pass  # the server hung up on us: expected
            reply, how = read_until_closed(s, 10)
            s.close()
            results.append((sent, reply, how))

        big_bulk = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n"
        threads = [threading.Thread(target=stream, args=(big_bulk,), daemon=True) for _ in range(2)]
        threads.append(threading.Thread(target=stream, args=(b"*11\r\n",), daemon=True))
        peak = base
        for t in threads:
            t.start()
        while any(t.is_alive() for t in threads):
            peak = max(peak, rss_bytes(server.pid))
            time.sleep(0.01)
        assert len(results) == 3
        grown = peak - base
        assert grown < 16 * MiB, f"server RSS grew by {grown / MiB:.0f} MiB for clients that never authenticated"
        for sent, reply, how in results:
            assert reply in (
                b"-ERR Protocol error: unauthenticated bulk length\r\n",
                b"-ERR Protocol error: unauthenticated multibulk length\r\n",
            ), reply[:200]
            assert how in ("eof", "reset")
            assert sent < 32 * MiB, f"the server read {sent / MiB:.0f} MiB from a client that had not authenticated"
        replies = [reply for _, reply, _ in results]
        assert replies.count(b"-ERR Protocol error: unauthenticated bulk length\r\n") == 2, replies
        with TinyCache(f"redis://:pw@{server.addr}/0", _pure=True) as cache:
            value = os.urandom(MiB)  # after AUTH, big values are fine
            cache.set("after-auth", value)
            assert cache.get("after-auth") == value
    finally:
        server.stop()


@pytest.mark.timeout(60)
def test_max_output_disconnects_a_client_whose_reply_is_too_big(make_cache):
    """--max-output BYTES: a reply over it closes that client; replies under it, and others, are served."""
    need_go()
    port = free_port()
    server = ServerProcess(tmc_server_argv("--port", str(port), "--max-output", str(MiB)), f"127.0.0.1:{port}")
    try:
        cache = make_cache(server.addr)
        value = os.urandom(600 * 1024)
        cache.set("big", value)
        assert cache.get("big") == value
        reply, how = exchange(server.addr, command(b"MGET", b"big", b"big") + command(b"PING"))
        assert reply == b"" and how in ("eof", "reset"), f"a 1.2 MB reply over a 1 MiB max_output: {reply[:100]!r}, {how}"
        assert_served(server, cache)
    finally:
        server.stop()


def peak_rss_bytes(pid: int) -> int:
    """The server's peak RSS so far (VmHWM)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for pid {pid}")


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "queued",
    [command(b"GET", b"big"), command(b"LRANGE", b"list", b"0", b"-1"), command(b"KEYS", b"*")],
    ids=["GET", "LRANGE", "KEYS"],
)
def test_a_transaction_past_max_output_costs_the_server_no_more_than_the_bound(make_cache, queued):
    """MULTI, 10,000 x GET of a 60,000 B value, EXEC, against max_output=16 MiB: a 600 MB reply.

    The reply stops growing at the bound and the client is closed, none of
    it sent, as for any reply past max_output; the server's peak RSS grows
    by a small multiple of the bound. It once built the whole reply first:
    its RSS went from 30 MiB to 2.2 GiB. LRANGE and KEYS, whose replies
    are as big as the data, are bounded the same way.
    """
    max_output = 16 * MiB
    server = start_server("tcp", max_output=max_output)
    try:
        cache = make_cache(server.addr)
        value = os.urandom(60_000)
        cache.set("big", value)
        cache.push("list", value)
        cache.mset({f"{i:0300d}": b"" for i in range(200)})  # 60 kB for each KEYS
        assert_served(server, cache)
        base = rss_bytes(server.pid)
        reply, how = exchange(server.addr, command(b"MULTI") + queued * 10_000 + command(b"EXEC"), timeout=60)
        grew = peak_rss_bytes(server.pid) - base
        assert how in ("eof", "reset")
        assert (b"+OK\r\n" + b"+QUEUED\r\n" * 10_000).startswith(reply), f"{reply[-100:]!r}: EXEC's reply was sent"
        print(f"\nEXEC of 10,000 x {queued.split()[2].decode()} past max_output=16 MiB: peak RSS +{grew / MiB:.0f} MiB")
        # The reply's buffer, grown by append, and the garbage it leaves
        # until the collector runs: measured +62..96 MiB.
        assert grew < 8 * max_output, f"the server's peak RSS grew by {grew / MiB:.0f} MiB for a max_output of 16 MiB"
        assert_served(server, cache)
    finally:
        server.stop()


# --- memory for big replies is given back ----------------------------------------------


def settled_rss(pid: int, seconds: float = 4.0) -> int:
    """The server's RSS after it has had `seconds` to give back what it dropped."""
    time.sleep(seconds)
    return rss_bytes(pid)


@pytest.mark.timeout(120)
def test_memory_for_big_replies_and_requests_is_given_back():
    """A 128 MiB MGET reply and a 32 MiB SET cost memory only while they are in flight.

    The server once kept the memory of its biggest replies: after KEYS, MGET
    and LRANGE over 1M keys its RSS stayed at 640 MiB (Redis: 136 MiB).
    """
    server = start_server("tcp")
    try:
        value = os.urandom(32 * MiB)
        assert exchange(server.addr, command(b"SET", b"big", value))[0] == b"+OK\r\n"
        base = settled_rss(server.pid)
        s = raw_connect(server.addr, timeout=30)
        try:
            for round_ in range(2):
                s.sendall(command(b"MGET", *[b"big"] * 4))
                head = read_exactly(s, 4, 30)
                assert head == b"*4\r\n", head
                one = b"$%d\r\n%s\r\n" % (len(value), value)
                for _ in range(4):
                    assert read_exactly(s, len(one), 30) == one
                peak = rss_bytes(server.pid)
                after = settled_rss(server.pid)
                assert after < base + 48 * MiB, (
                    f"round {round_}: RSS {base / MiB:.0f} MiB before a 128 MiB reply, "
                    f"{peak / MiB:.0f} MiB right after, still {after / MiB:.0f} MiB 4 s later"
                )
                s.sendall(command(b"SET", b"big2", value))
                assert read_exactly(s, 5, 30) == b"+OK\r\n"
                s.sendall(command(b"DEL", b"big2"))
                assert read_exactly(s, 4, 30) == b":1\r\n"
                after = settled_rss(server.pid)
                assert after < base + 48 * MiB, (
                    f"round {round_}: RSS {base / MiB:.0f} MiB before a 32 MiB SET (deleted since), "
                    f"still {after / MiB:.0f} MiB 4 s later"
                )
        finally:
            s.close()
    finally:
        server.stop()


# --- a huge bulk against a small max_query ---------------------------------------------


@pytest.mark.timeout(120)
def test_100mb_bulk_sent_slowly_against_a_small_max_query_keeps_memory_bounded(make_cache):
    max_query = 1 * MiB
    server = start_server("tcp", max_query=max_query)
    try:
        cache = make_cache(server.addr)
        assert_served(server, cache)
        baseline = rss_bytes(server.pid)
        size = 100 * MiB
        senders = 4
        results: List[Tuple[int, bytes, str]] = [None] * senders  # type: ignore[list-item]

        def send_slowly(n: int) -> None:
            s = raw_connect(server.addr, timeout=10)
            sent = 0
            try:
                s.sendall(b"*3\r\n$3\r\nSET\r\n$7\r\nbig:%03d\r\n$%d\r\n" % (n, size))
                chunk = b"b" * (64 * 1024)
                while sent < size:
                    s.sendall(chunk)
                    sent += len(chunk)
                    time.sleep(0.002)
            except OSError:
                pass  # the server hung up on us: expected
            reply, how = read_until_closed(s, 10)
            s.close()
            results[n] = (sent, reply, how)

        threads = [threading.Thread(target=send_slowly, args=(n,), daemon=True) for n in range(senders)]
        for t in threads:
            t.start()
        peak = baseline
        while any(t.is_alive() for t in threads):
            peak = max(peak, rss_bytes(server.pid))
            time.sleep(0.01)
        for t in threads:
            t.join()
        for sent, reply, how in results:
            assert sent < 32 * MiB, f"the server took {sent / MiB:.0f} MiB of a command over max_query"
            assert reply.startswith(b"-ERR Protocol error: too big request"), reply[:200]
            assert how in ("eof", "reset")
        grown = peak - baseline
        assert grown < 64 * MiB, f"server RSS grew by {grown / MiB:.0f} MiB for {senders} x 100 MiB bulks"
        assert cache.keys("big:*") == []
        assert_served(server, cache)
    finally:
        server.stop()
