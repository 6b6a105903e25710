"""A broken or hostile server never crashes or hangs the client's interpreter.

A fake server, a thread of this process on loopback, answers the first
command of each connection with one hostile reply, and every later command
on that connection with silence; a command naming the key __good__ gets a
normal answer on any connection. The client under test runs in a child
process (subprocess, with a timeout), so a client that aborts (SIGABRT from
the Go runtime) or hangs fails its test instead of killing pytest.

For each hostile reply, both clients (the Go library and the pure-Python
one) and every call shape (get, pop, keys, mget, execute_command and a
pipeline), the call must raise the expected TinyCacheError subclass within
the timeout plus some slack, the child's memory must stay small, and the
next call on the same TinyCache must get a clean answer: the connection
that carried the hostile reply was dropped.

Ctrl-C (SIGINT) during a call that waits ends it with KeyboardInterrupt at
once; a signal whose handler returns lets the call go on.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Callable, Dict, Iterator, List

import pytest

from conftest import need_go, parse_commands, run_python

TIMEOUT = 0.75  # the client's timeout in these tests, seconds
SLACK = 2.0  # how much longer than TIMEOUT a call may take on a busy machine
TiB = 1 << 40
MiB = 1 << 20
GOOD_REPLY = b"$4\r\nfine\r\n"

SHAPES = ["get", "pop", "keys", "mget", "execute_command", "pipeline", "get_deadline", "mget_deadline"]
ARRAY_SHAPES = {"keys", "mget"}  # whose reply is an array of bulk strings


# --- the fake server ------------------------------------------------------------


class HostileServer:
    """A loopback TCP server whose first reply on each connection is hostile(sock, command, stop).

    Its threads end when close() is called (the fixture does), so its
    lifetime is the test's.
    """

    def __init__(self, hostile: Callable[[socket.socket, bytes, threading.Event], None]):
        self.hostile = hostile
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.commands: List[bytes] = []  # names of the commands received, guarded by lock
        self._socks: List[socket.socket] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        with self.lock:
            socks = list(self._socks)
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def received(self, name: bytes) -> int:
        with self.lock:
            return self.commands.count(name)

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        buf = bytearray()
        hostile_done = False
        try:
            while not self.stop.is_set():
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buf += chunk
                for args in parse_commands(buf):
                    with self.lock:
                        self.commands.append(args[0].upper())
                    if b"__good__" in args:
                        sock.sendall(GOOD_REPLY)
                    elif not hostile_done:
                        hostile_done = True
                        self.hostile(sock, args[0].upper(), self.stop)
        except OSError:
            return  # the client dropped the connection, as it should


@pytest.fixture
def hostile_server() -> Iterator[Callable[..., HostileServer]]:
    made: List[HostileServer] = []

    def make(hostile: Callable[[socket.socket, bytes, threading.Event], None]) -> HostileServer:
        server = HostileServer(hostile)
        made.append(server)
        return server

    yield make
    for server in made:
        server.close()


# --- hostile replies --------------------------------------------------------------


def array_head(command: bytes) -> bytes:
    """What a reply to command starts with before its first bulk string: KEYS and MGET (of 2 keys) answer arrays."""
    return {b"KEYS": b"*1\r\n", b"MGET": b"*2\r\n"}.get(command, b"")


def huge_length(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """A bulk string header that declares 1 TiB, and nothing after it."""
    head = array_head(command)
    sock.sendall(head + b"$%d\r\n" % TiB)


def deep_nesting(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """About 7 MB of "*1\\r\\n": an array in an array in an array..."""
    sock.sendall(b"*1\r\n" * (7 * MiB // 4))


def endless_array(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """An array of 10^8 elements that keep coming, a thousand every 10 ms."""
    element = b"$1\r\nk\r\n" if array_head(command) else b":1\r\n"
    sock.sendall(b"*100000000\r\n")
    batch = element * 1000
    while not stop.wait(0.01):
        sock.sendall(batch)


def one_byte_at_a_time(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """A valid reply, a byte every 0.1 s: each read is quick, the whole reply takes 10 s."""
    head = array_head(command)
    reply = head + b"$90\r\n" + b"x" * 90 + b"\r\n"
    for i in range(len(reply)):
        if stop.wait(0.1):
            return
        sock.sendall(reply[i:i + 1])


def garbage(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """A line of an unknown reply type."""
    sock.sendall(b"?this is not RESP\r\n")


def garbage_without_newline(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """200 KB of bytes with no line end."""
    sock.sendall(b"x" * 200_000)


def close_mid_reply(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """Half a reply, then the connection closes."""
    head = array_head(command)
    sock.sendall(head + b"$10\r\nabc")
    sock.shutdown(socket.SHUT_RDWR)


def never_reply(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """Accept the command and say nothing."""


def oversized(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """A well-formed reply of 2 MiB, for a client whose max_reply_size is 1 MiB."""
    if array_head(command):
        sock.sendall(b"*2\r\n" + (b"$%d\r\n" % MiB + b"v" * MiB + b"\r\n") * 2)
    else:
        sock.sendall(b"$%d\r\n" % (2 * MiB) + b"v" * (2 * MiB) + b"\r\n")


def fast_endless_array(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """An array of 10^8 1 KB strings sent as fast as the client reads, for a client whose max_reply_size is 1 MiB."""
    sock.sendall(b"*100000000\r\n")
    batch = (b"$1000\r\n" + b"k" * 1000 + b"\r\n") * 100
    while not stop.is_set():
        sock.sendall(batch)


P, T, C = "ProtocolError", "TimeoutError", "ConnectionError"


def every_shape(expected: str) -> Dict[str, object]:
    return {shape: expected for shape in SHAPES}


def near_fills_as(expected: Dict[str, object]) -> Dict[str, object]:
    """The near cache's fills (GET and MGET, each with PEXPIRETIME in the same write) fail as get and mget do."""
    return {**expected, "get_deadline": expected["get"], "mget_deadline": expected["mget"]}


# hostile reply -> (its max_reply_size, or None for the default; the expected error of each call shape)
CASES = {
    "huge_length": (huge_length, None, every_shape(P)),
    "deep_nesting": (deep_nesting, None, every_shape(P)),
    # The Go client's get and pop want a bulk string, and mget as many values
    # as keys: they refuse the array at once. The pure client reads a whole
    # reply before it looks at its type; it and the others read on until
    # the deadline.
    "endless_array": (endless_array, None, near_fills_as({**every_shape(T), "get": {"go": P, "pure": T}, "pop": {"go": P, "pure": T}, "mget": {"go": P, "pure": T}})),
    "one_byte_at_a_time": (one_byte_at_a_time, None, every_shape(T)),
    "garbage": (garbage, None, every_shape(P)),
    "garbage_without_newline": (garbage_without_newline, None, every_shape(P)),
    "close_mid_reply": (close_mid_reply, None, every_shape(C)),
    "never_reply": (never_reply, None, every_shape(T)),
    "oversized": (oversized, MiB, every_shape(P)),
    "fast_endless_array": (fast_endless_array, MiB, every_shape(P)),
}


# --- the client, in a child process ----------------------------------------------------

CHILD = r"""
import json, sys, time
import tiny_mp_cache
from tiny_mp_cache import TinyCache, _commands

spec = json.loads(sys.argv[1])
options = {} if spec["max_reply_size"] is None else {"max_reply_size": spec["max_reply_size"]}
cache = TinyCache(spec["addr"], spec["timeout"], _pure=spec["pure"], **options)

CALLS = {
    "get": lambda: cache.get("k"),
    "pop": lambda: cache.pop("k"),
    "keys": lambda: cache.keys("*"),
    "mget": lambda: cache.mget(["a", "b"]),
    "execute_command": lambda: cache.execute_command("ECHO", "x"),
    "pipeline": lambda: cache.pipeline().get("a").set("b", b"1").execute(),
    # the near cache's fills, which it sends only over a unix socket: called here through the command layer
    "get_deadline": lambda: cache._execute(_commands.GET_DEADLINE, [b"GET", b"k"]),
    "mget_deadline": lambda: cache._execute(_commands.mget_deadline_command(2), [b"MGET", b"a", b"b"]),
}
for shape in spec["shapes"]:
    start = time.monotonic()
    try:
        result = CALLS[shape]()
        raised, message = None, repr(result)[:200]
    except tiny_mp_cache.TinyCacheError as e:
        raised, message = type(e).__name__, str(e)[:300]
    except BaseException as e:
        raised, message = "not a TinyCacheError: " + type(e).__name__, str(e)[:300]
    elapsed = time.monotonic() - start
    try:
        after = repr(cache.get("__good__"))
    except BaseException as e:
        after = type(e).__name__ + ": " + str(e)[:200]
    print(json.dumps({"shape": shape, "raised": raised, "message": message, "elapsed": elapsed, "after": after}), flush=True)
# The peak RSS of this interpreter (ru_maxrss would count the parent's, from before exec).
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
print(json.dumps({"maxrss_kib": peak}), flush=True)
"""


def run_client(addr: str, client: str, shapes: List[str], max_reply_size=None, timeout: float = TIMEOUT):
    """Run the calls in a child; return (one result per shape, the child's peak RSS in MiB)."""
    if client == "go":
        need_go()
    spec = {"addr": addr, "pure": client == "pure", "timeout": timeout, "max_reply_size": max_reply_size, "shapes": shapes}
    bound = 20 + len(shapes) * 2 * (timeout + SLACK)  # each call and its check, and the interpreter's start
    proc = run_python(CHILD, json.dumps(spec), timeout=bound)
    assert proc.returncode == 0, (
        f"the client's interpreter died (rc={proc.returncode}):\n{proc.stderr.decode(errors='replace')[-3000:]}"
    )
    lines = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    return lines[:-1], lines[-1]["maxrss_kib"] / 1024


@pytest.mark.parametrize("client", ["go", "pure"])
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.timeout(180)
def test_a_hostile_reply_raises_a_tiny_cache_error_in_time(hostile_server, case, client):
    hostile, max_reply_size, expected = CASES[case]
    server = hostile_server(hostile)
    results, maxrss_mib = run_client(server.addr, client, SHAPES, max_reply_size)
    assert [r["shape"] for r in results] == SHAPES
    for r in results:
        where = f"{case} / {client} / {r['shape']}: {r['message']}"
        want = expected[r["shape"]]
        assert r["raised"] == (want if isinstance(want, str) else want[client]), where
        assert r["elapsed"] < TIMEOUT + SLACK, where
        # The connection that carried the hostile reply was dropped: the
        # next call got a clean one.
        assert r["after"] == "b'fine'", where
    assert maxrss_mib < 200, f"the client grew to {maxrss_mib:.0f} MiB"


@pytest.mark.parametrize("client", ["go", "pure"])
def test_hostile_replies_name_what_was_wrong(hostile_server, client):
    for hostile, words in [
        (huge_length, "max_reply_size"),
        (deep_nesting, "nested deeper than 64"),
        (oversized, "max_reply_size"),
    ]:
        server = hostile_server(hostile)
        max_reply = MiB if hostile is oversized else None
        [result], _ = run_client(server.addr, client, ["execute_command"], max_reply)
        assert result["raised"] == "ProtocolError" and words in result["message"], result


@pytest.mark.parametrize("client", ["go", "pure"])
def test_a_declared_length_within_the_limit_that_cannot_be_held_is_an_error_not_an_abort(hostile_server, client):
    # With the limit raised to 2 TiB, the declared 1 TiB is admitted: the Go
    # client asks malloc for it (which may refuse: an error, not an abort),
    # the other paths grow memory only as bytes come, and none do.
    server = hostile_server(huge_length)
    results, maxrss_mib = run_client(server.addr, client, SHAPES, max_reply_size=2 * TiB)
    for r in results:
        assert r["raised"] in ("ProtocolError", "TimeoutError"), r
        assert r["elapsed"] < TIMEOUT + SLACK, r
        assert r["after"] == "b'fine'", r
    assert maxrss_mib < 200, f"the client grew to {maxrss_mib:.0f} MiB"


def big_value(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """A well-formed 9 MiB value, sent in 64 KiB pieces."""
    if command == b"GET":
        reply = b"$%d\r\n" % (9 * MiB) + b"v" * (9 * MiB) + b"\r\n"
        for i in range(0, len(reply), 65536):
            sock.sendall(reply[i:i + 65536])


@pytest.mark.parametrize("client", ["go", "pure"])
def test_a_big_value_within_the_limit_still_arrives(hostile_server, client):
    server = hostile_server(big_value)
    [result], _ = run_client(server.addr, client, ["get"], timeout=10.0)
    assert result["raised"] is None and result["message"].startswith("b'vvvv"), result


# --- one deadline per call ------------------------------------------------------------

DEADLINE_CHILD = r"""
import asyncio, json, sys, time
import tiny_mp_cache
from tiny_mp_cache import AsyncTinyCache, TinyCache

addr, client, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])


async def get_async():
    async with AsyncTinyCache(addr, timeout) as cache:  # leaves an idle connection, as TinyCache does
        start = time.monotonic()
        try:
            await cache.get("k")
            return None, time.monotonic() - start
        except tiny_mp_cache.TinyCacheError as e:
            return type(e).__name__, time.monotonic() - start


if client == "async":
    raised, elapsed = asyncio.run(get_async())
else:
    cache = TinyCache(addr, timeout, _pure=client == "pure")
    start = time.monotonic()
    try:
        cache.get("k")
        raised = None
    except tiny_mp_cache.TinyCacheError as e:
        raised = type(e).__name__
    elapsed = time.monotonic() - start
print(json.dumps({"raised": raised, "elapsed": elapsed}), flush=True)
"""


def stale_then_silent() -> Callable[[socket.socket, bytes, threading.Event], None]:
    """The first connection holds its first command for 0.8 s, then closes; later connections never answer."""
    connections = []
    lock = threading.Lock()

    def hostile(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
        with lock:
            first = not connections
            connections.append(command)
        if first and not stop.wait(0.8):
            sock.shutdown(socket.SHUT_RDWR)

    return hostile


@pytest.mark.parametrize("client", ["go", "pure", "async"])
def test_one_deadline_covers_a_call_with_its_redial_and_retry(hostile_server, client):
    """A get retried on a fresh connection still returns within its timeout, not timeout more after the retry.

    The bound is correctness, not speed: a call's timeout is the whole call's.
    """
    if client == "go":
        need_go()
    timeout = 1.0
    server = hostile_server(stale_then_silent())
    proc = run_python(DEADLINE_CHILD, server.addr, client, str(timeout), timeout=30)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    result = json.loads(proc.stdout)
    assert result["raised"] == "TimeoutError", result
    assert server.received(b"GET") == 2, "the get was not retried on a fresh connection"
    assert result["elapsed"] < timeout + 0.3, result


# --- signals ----------------------------------------------------------------------------

WAITER = r"""
import signal, sys, time
from tiny_mp_cache import TinyCache

handled = []
if sys.argv[3] == "count":
    signal.signal(signal.SIGUSR1, lambda *_: handled.append(time.monotonic() - start))
elif sys.argv[3] == "reenter":
    signal.signal(signal.SIGUSR1, lambda *_: handled.append(cache.get("__good__")))
cache = TinyCache(sys.argv[1], 60.0, _pure=sys.argv[2] == "pure")
start = time.monotonic()
try:
    result = cache.get("k")
    print("returned", repr(result), time.monotonic() - start, min(handled, default=-1), flush=True)
except KeyboardInterrupt:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the test may send another
    print("KeyboardInterrupt", time.monotonic() - start, flush=True)
except ValueError as e:
    signal.signal(signal.SIGUSR1, signal.SIG_IGN)
    print("ValueError", time.monotonic() - start, "|", e, flush=True)
print("after", repr(cache.get("__good__")), flush=True)
"""


def start_waiter(addr: str, client: str, mode: str) -> subprocess.Popen:
    if client == "go":
        need_go()
    out = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-c", WAITER, addr, client, mode], stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    proc.out = out  # type: ignore[attr-defined]
    return proc


def finish(proc: subprocess.Popen, timeout: float) -> List[str]:
    try:
        proc.wait(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    proc.out.seek(0)  # type: ignore[attr-defined]
    return proc.out.read().decode(errors="replace").splitlines()  # type: ignore[attr-defined]


def wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


@pytest.mark.parametrize("client", ["go", "pure"])
def test_sigint_ends_a_waiting_call_with_keyboard_interrupt(hostile_server, client):
    server = hostile_server(never_reply)
    proc = start_waiter(server.addr, client, "plain")
    try:
        wait_for(lambda: server.received(b"GET") == 1, 30)
        time.sleep(0.3)  # into its wait for the reply
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        # Should the first signal come before the wait began, more follow.
        while proc.poll() is None and time.monotonic() - sent < 10:
            time.sleep(0.5)
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
    finally:
        lines = finish(proc, 10)
    assert proc.returncode == 0, lines
    kind, took = lines[0].split()
    assert kind == "KeyboardInterrupt", lines
    assert float(took) < 3.0, lines  # not the 60 s timeout
    assert lines[1] == "after b'fine'", lines  # and the next call starts clean


def late_reply(sock: socket.socket, command: bytes, stop: threading.Event) -> None:
    """A normal reply, 1.5 s late."""
    if not stop.wait(1.5):
        sock.sendall(b"$5\r\nvalue\r\n")


@pytest.mark.parametrize("client", ["go", "pure"])
def test_a_signal_whose_handler_returns_lets_the_call_go_on(hostile_server, client):
    server = hostile_server(late_reply)
    proc = start_waiter(server.addr, client, "count")
    try:
        wait_for(lambda: server.received(b"GET") == 1, 30)
        for _ in range(3):
            time.sleep(0.2)
            proc.send_signal(signal.SIGUSR1)
    finally:
        lines = finish(proc, 30)
    assert proc.returncode == 0, lines
    kind, value, took, first_handled = lines[0].split()
    assert (kind, value) == ("returned", "b'value'"), lines
    assert float(took) >= 1.4, lines  # it waited for the reply
    # The handler ran during the wait, not once the call was over.
    assert 0 <= float(first_handled) < 1.2, lines
    assert lines[1] == "after b'fine'", lines


@pytest.mark.parametrize("client", ["go", "pure"])
def test_a_signal_handler_that_uses_the_interrupted_cache_gets_an_error_not_a_deadlock(hostile_server, client):
    server = hostile_server(never_reply)
    proc = start_waiter(server.addr, client, "reenter")
    try:
        wait_for(lambda: server.received(b"GET") == 1, 30)
        time.sleep(0.3)  # into its wait for the reply
        proc.send_signal(signal.SIGUSR1)
    finally:
        lines = finish(proc, 10)
    assert proc.returncode == 0, lines
    kind, took, _, message = lines[0].split(" ", 3)
    assert kind == "ValueError" and "signal handler" in message, lines
    assert float(took) < 3.0, lines
    assert lines[1] == "after b'fine'", lines
