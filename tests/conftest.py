"""Fixtures: real servers in subprocesses, and the client suite's parametrisation.

Servers always run in child processes started with subprocess (fork+exec),
never with fork() alone: this pytest process may have loaded the Go library,
and a Go runtime does not survive fork().

Every client test that takes `cache` runs over
    transports: tcp, unix (our Go server) and redis (a real redis-server)
    client paths: go (the cffi bindings) and pure (the pure-Python client)
A test marked @pytest.mark.tmc_only checks behaviour of tiny-mp-cache's own
server (its eviction, error texts, INFO fields) and skips the redis transport.

Without the Go library, tests that need it are skipped, unless
TINY_MP_CACHE_REQUIRE_GO=1 (set it in CI) turns those skips into failures.
"""

from __future__ import annotations

import atexit
import glob
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Callable, Tuple

import pytest
from tiny_mp_cache import TinyCache
from tiny_mp_cache._bindings import library_path
from tiny_mp_cache._server import server_argv
from tiny_mp_cache._platform import unix_sockets

# These two are scripts (python tests/full_test.py), run by test_scripts.py.
collect_ignore = ["cache_api_test.py", "full_test.py"]

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
DEFAULT_TIMEOUT = 120  # seconds, for tests without their own timeout marker


def pytest_configure(config: pytest.Config) -> None:
    # Every test picks its client path itself (the `client_path` fixture, or
    # _pure=...); an inherited TINY_MP_CACHE_PURE=1 would silently change
    # what the subprocess-based tests exercise.
    os.environ.pop("TINY_MP_CACHE_PURE", None)
    # A shell starts background jobs (and some CI runners start their jobs)
    # with SIGINT ignored, and children inherit that, so Ctrl-C tests would
    # test nothing. What they check is the default behaviour: restore it
    # here, so every child started from this process gets it too.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    config.addinivalue_line("markers", "tmc_only: checks our server's own behaviour; skipped against real Redis")
    if not config.pluginmanager.hasplugin("timeout"):
        config.addinivalue_line("markers", "timeout(seconds): limit a test's run time (pytest-timeout)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(DEFAULT_TIMEOUT))


# --- the Go library ---------------------------------------------------------

HAVE_GO = os.path.exists(library_path())


def need_go() -> None:
    """Skip (or, under TINY_MP_CACHE_REQUIRE_GO=1, fail) without the Go library."""
    if HAVE_GO:
        return
    message = f"the Go library is not built ({library_path()})"
    if os.environ.get("TINY_MP_CACHE_REQUIRE_GO") == "1":
        pytest.fail(message)
    pytest.skip(message)


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


# --- processes and sockets ----------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def short_tmpdir() -> str:
    """A fresh directory with a short path: unix socket paths are limited to ~107 bytes.

    It is removed when the test session ends.
    """
    path = tempfile.mkdtemp(prefix="tmc-", dir="/tmp")
    atexit.register(shutil.rmtree, path, True)
    return path


def socket_digest(socket_path: str) -> str:
    """sha256, in hex, of a socket's real path (its directory's links resolved): what names its near cache's tables."""
    real = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(socket_path))), os.path.basename(socket_path))
    return hashlib.sha256(real.encode()).hexdigest()


def near_tables(socket_path: str) -> list[str]:
    """The near cache's tables in /dev/shm made by servers at socket_path: tiny-mp-cache-near-ID-RANDOM.

    ID is the first 32 hex digits of socket_digest(); RANDOM differs for every server.
    """
    return sorted(glob.glob(f"/dev/shm/tiny-mp-cache-near-{socket_digest(socket_path)[:32]}-*"))


def listen_place(transport: str, sock_name: str = "s.sock") -> Tuple[str, str]:
    """(what serve()/serve_unix() take, the client address) for a new server:
    a free loopback port, or a socket path in a short temporary directory."""
    if transport == "tcp":
        port = str(free_port())
        return port, f"127.0.0.1:{port}"
    path = os.path.join(short_tmpdir(), sock_name)
    return path, f"unix://{path}"


def answers_ping(family: int, sockaddr, timeout: float = 1.0) -> bool:
    """Whether a RESP server answers PING at sockaddr. Independent of the code under test."""
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(timeout)
            s.connect(sockaddr)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            reply = b""
            while not reply.endswith(b"\r\n"):
                chunk = s.recv(64)
                if not chunk:
                    break
                reply += chunk
            # A server that wants AUTH first answers -NOAUTH: it is up, too.
            return reply == b"+PONG\r\n" or reply.startswith(b"-NOAUTH")
    except OSError:
        return False


def sockaddr_of(addr: str):
    """(family, sockaddr) of a "HOST:PORT", "unix:///path" or "redis://[:PASSWORD@]HOST:PORT/0" address."""
    if addr.startswith("unix://"):
        path = addr[len("unix://"):]
        if path.startswith(":") and "@/" in path:  # "unix://:PASSWORD@/path": the password runs up to "@/"
            path = "/" + path.split("@/", 1)[1]
        return socket.AF_UNIX, path
    if addr.startswith("redis://"):
        addr = addr[len("redis://"):].split("/")[0].rpartition("@")[2]
    host, port = addr.rsplit(":", 1)
    if host.startswith("["):
        return socket.AF_INET6, (host[1:-1], int(port))
    return socket.AF_INET, (host, int(port))


def read_until_closed(s: socket.socket, timeout: float) -> Tuple[bytes, str]:
    """Read until the peer closes: (everything read, "eof" | "reset" | "timeout")."""
    deadline = time.monotonic() + timeout
    got = bytearray()
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return bytes(got), "timeout"
        s.settimeout(left)
        try:
            chunk = s.recv(256 * 1024)
        except socket.timeout:
            return bytes(got), "timeout"
        except ConnectionResetError:
            return bytes(got), "reset"
        if not chunk:
            return bytes(got), "eof"
        got += chunk


class ServerProcess:
    """A server in a subprocess; stop() always reaps it.

    Its output goes to temporary files, not pipes: a pipe nobody reads would
    fill up and block a chatty server.
    """

    def __init__(self, argv: list[str], addr: str, ready_timeout: float = 15.0, env: dict | None = None):
        self.argv = argv
        self.addr = addr
        self._out = tempfile.TemporaryFile()
        self._err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL, env=env)
        family, sockaddr = sockaddr_of(addr)
        deadline = time.monotonic() + ready_timeout
        while not answers_ping(family, sockaddr):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                _, err = self.stop()
                raise RuntimeError(f"server {argv} did not start (rc={self.proc.returncode}): {err!r}")
            time.sleep(0.02)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0):
        """Signal the server, wait for it (kill it if it lingers) and return (stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=timeout)
        return self._read(self._out), self._read(self._err)

    @staticmethod
    def _read(f) -> bytes:
        f.seek(0)
        return f.read()


def tmc_server_argv(*args: str) -> list[str]:
    """`python -m tiny_mp_cache serve --quiet ARGS`, importing the package this process imported."""
    return server_argv(*args)


def start_tcp_server(*extra: str) -> ServerProcess:
    need_go()
    port = free_port()
    return ServerProcess(tmc_server_argv("--port", str(port), *extra), f"127.0.0.1:{port}")


def start_unix_server(*extra: str, path: str | None = None) -> ServerProcess:
    need_go()
    path = path or os.path.join(short_tmpdir(), "tmc.sock")
    return ServerProcess(tmc_server_argv("--unix", path, *extra), f"unix://{path}")


def start_redis_server(*extra: str) -> ServerProcess:
    redis = need_tool("redis-server")
    port = free_port()
    argv = [redis, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *extra]
    return ServerProcess(argv, f"redis://127.0.0.1:{port}/0")


@pytest.fixture(scope="session")
def tcp_server() -> Iterator[ServerProcess]:
    server = start_tcp_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def unix_server() -> Iterator[ServerProcess]:
    server = start_unix_server()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server() -> Iterator[ServerProcess]:
    server = start_redis_server()
    yield server
    server.stop()


# --- the client suite's parametrisation ---------------------------------------


@pytest.fixture(params=["tcp", "unix", "redis"])
def server_kind(request: pytest.FixtureRequest) -> str:
    """Which server the test talks to: ours over "tcp" or "unix", or a real redis-server ("redis")."""
    if request.param == "redis" and request.node.get_closest_marker("tmc_only"):
        pytest.skip("checks tiny-mp-cache's own server, not Redis")
    if request.param == "unix" and not unix_sockets():
        pytest.skip(f"unix sockets are not supported on {sys.platform}")
    return request.param


@pytest.fixture
def server_addr(request: pytest.FixtureRequest, server_kind: str) -> str:
    """The address of a running server: ours over tcp and unix, or a real redis-server."""
    return request.getfixturevalue(f"{server_kind}_server").addr


@pytest.fixture(params=["go", "pure"])
def client_path(request: pytest.FixtureRequest) -> str:
    """Which client TinyCache uses: the Go library or the pure-Python fallback."""
    if request.param == "go":
        need_go()
    return request.param


@pytest.fixture
def make_cache(client_path: str) -> Iterator[Callable[..., TinyCache]]:
    """A factory of TinyCaches on the current client path; all are closed afterwards."""
    made: list[TinyCache] = []

    def make(addr: str, timeout: float = 5.0, **kwargs) -> TinyCache:
        cache = TinyCache(addr, timeout, _pure=(client_path == "pure"), **kwargs)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


@pytest.fixture
def cache(server_addr: str, make_cache: Callable[..., TinyCache]) -> TinyCache:
    """A TinyCache on an empty server."""
    cache = make_cache(server_addr)
    for key in cache.keys("*"):
        cache.delete(key)
    assert cache.len() == 0
    return cache


# --- a scripted fake server -----------------------------------------------------


def parse_commands(buf: bytearray) -> list[list[bytes]]:
    """Remove and return the complete RESP commands at the start of buf."""
    commands = []
    while True:
        pos = 0
        end = buf.find(b"\r\n", pos)
        if end < 0 or buf[:1] != b"*":
            return commands
        n = int(buf[1:end])
        pos = end + 2
        args = []
        for _ in range(n):
            end = buf.find(b"\r\n", pos)
            if end < 0:
                return commands
            size = int(buf[pos + 1:end])
            start = end + 2
            if len(buf) < start + size + 2:
                return commands
            args.append(bytes(buf[start:start + size]))
            pos = start + size + 2
        del buf[:pos]
        commands.append(args)


REPLIES = {
    b"PING": b"+PONG\r\n",
    b"SET": b"+OK\r\n",
    b"GET": b"$5\r\nvalue\r\n",
    b"GETDEL": b"$5\r\nvalue\r\n",
    b"DEL": b":1\r\n",
    b"DBSIZE": b":0\r\n",
    b"KEYS": b"*0\r\n",
    b"MGET": b"*2\r\n$5\r\nvalue\r\n$-1\r\n",
    b"PTTL": b":-2\r\n",
    b"EXISTS": b":0\r\n",
    b"TYPE": b"+none\r\n",
    b"LLEN": b":0\r\n",
}


class FakeServer:
    """A TCP server that records what clients send and misbehaves on purpose.

    mode "silent": never replies.
    mode "drop_first": closes the first connection as soon as it has received
    one command, without replying; later connections reply normally.
    """

    def __init__(self, mode: str):
        self.mode = mode
        self.lock = threading.Lock()
        self.received = bytearray()  # every byte from every connection; guarded by lock
        self.commands: list[tuple] = []  # (connection number, args); guarded by lock
        self.connections = 0  # guarded by lock
        self._socks: list[socket.socket] = []
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.addr = f"127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.listener.close()
        for s in self._socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                number = self.connections
                self.connections += 1
                self._socks.append(sock)
            threading.Thread(target=self._serve, args=(sock, number), daemon=True).start()

    def _serve(self, sock: socket.socket, number: int) -> None:
        buf = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.received += chunk
            buf += chunk
            for args in parse_commands(buf):
                with self.lock:
                    self.commands.append((number, args))
                if self.mode == "silent":
                    continue
                if self.mode == "drop_first" and number == 0:
                    sock.close()
                    return
                sock.sendall(REPLIES.get(args[0].upper(), b"-ERR unknown command\r\n"))

    def names(self) -> list[tuple]:
        """(connection number, command name) of every command received so far."""
        with self.lock:
            return [(n, args[0].decode()) for n, args in self.commands]


def run_python(code: str, *args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run a Python snippet in a fresh interpreter; see run_isolated."""
    return run_isolated([sys.executable, "-c", code, *args], timeout=timeout, env=env)


def run_isolated(
    argv: list[str], timeout: float, env: dict | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess:
    """Run a command to completion and return the finished process, with its output.

    It runs in its own process group. Once it exits (or on timeout, which
    raises subprocess.TimeoutExpired) whatever is left of the group is
    killed, so processes it forked cannot outlive the test (on Windows,
    which has no process groups, only the process itself is). Output goes
    through files, so a leftover child holding them open blocks nothing.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, cwd=cwd, start_new_session=True
        )
        try:
            proc.wait(timeout=timeout)
        finally:
            try:
                if hasattr(os, "killpg"):
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
