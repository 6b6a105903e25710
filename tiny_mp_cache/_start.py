"""start_server(): a server in a child process, returned once it answers.

    with start_server(max_memory="64MB") as srv:   # port 0: a free port, no race
        cache = TinyCache(srv.addr)

The child is `python -m tiny_mp_cache serve` (server_argv: this very copy
of the package, whatever the current directory) started with subprocess (fork
and exec), so this process never loads the Go library for it, and the child
has a Go runtime of its own. The child writes the address it listens on to
a pipe once it listens (`serve --ready-fd`); the parent reads it, bounded by
timeout, and sees the pipe close at once if the child dies first. On
Windows, which passes no descriptor but the standard ones to a child and
has select() for sockets only, that pipe is the child's standard output,
read by a thread.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import secrets
import select
import signal
import subprocess
import tempfile
import threading
import time
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

from ._errors import TimeoutError, TinyCacheError
from ._server import OPTIONS_ENV, check_options, server_argv

_STDERR_TAIL = 4000  # bytes of the child's stderr quoted in an error
_running: set[ServerProcess] = set()  # started here and not stopped yet: atexit stops them
_WINDOWS = os.name == "nt"


def start_server(
    port: int | None = None,
    *,
    unix: str | os.PathLike[str] | None = None,
    host: str = "127.0.0.1",
    timeout: float = 10.0,
    **options: Any,
) -> ServerProcess:
    """Start a server in a child process and return it once it answers PING.

    With neither port nor unix, it listens on a free TCP port (port=0): the
    server binds it and reports it back, so no other process can take it
    in between. unix=PATH serves on a unix socket instead. options are
    serve()'s (max_memory, password, eviction_policy, ...); they reach the
    child through its environment, so a password does not show in `ps`.

    Any local user (and any container sharing the network namespace) can
    connect to a loopback port, so a TCP server gets a random password
    unless password= is given: password=False (or "") serves without one.
    A unix socket is guarded by its file mode instead (unix_mode, 0o600 by
    default: this user only) and gets a password only when given one.

    Returns a ServerProcess: .addr (for TinyCache, with the password in
    it), .pid, .stop(). As a context manager it stops the server on exit.
    A child that exits before it is ready raises TinyCacheError with its
    error output; one not ready within timeout seconds is killed and
    raises TimeoutError. On Windows, stop() ends the server at once
    (TerminateProcess: Windows has no SIGTERM to send).
    """
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
    if unix is not None and port is not None:
        raise TypeError("give port or unix, not both")
    check_options("start_server", options)  # here, not from the child after it started
    if unix is not None:
        where = ["--unix", os.fspath(unix)]
    else:
        if port is None:
            port = 0
        if isinstance(port, bool) or not isinstance(port, int):
            raise TypeError(f"port must be int, not {type(port).__name__}")
        where = ["--port", str(port), "--host", host]
        if options.get("password") is None:
            options["password"] = secrets.token_urlsafe(24)
    if options.get("password") is False or options.get("password") == "":
        del options["password"]
    return ServerProcess(where, options, timeout)


class ServerProcess:
    """A server running in a child process; see start_server().

    Only the process that started it stops it: in a child forked from
    there (a gunicorn or multiprocessing worker), stop() does nothing. If
    the starting process dies without stopping it (SIGKILL), the server
    stops by itself once that process and the children it forked are
    gone: its standard input is a pipe they hold open.
    """

    def __init__(self, where: list[str], options: dict[str, Any], timeout: float):
        self._owner = os.getpid()
        self._lock = threading.Lock()  # guards the stop
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        env = dict(os.environ)
        env.pop(OPTIONS_ENV, None)
        if options:
            env[OPTIONS_ENV] = json.dumps(options)
        read_fd, write_fd = (None, None) if _WINDOWS else os.pipe()
        try:
            self._proc = subprocess.Popen(
                server_argv(*where, "--ready-fd", "1" if write_fd is None else str(write_fd), "--stop-on-stdin-eof"),
                stdin=subprocess.PIPE,  # never written: it closes when this process (and its forks) are gone
                stdout=subprocess.PIPE if write_fd is None else subprocess.DEVNULL,
                stderr=self._stderr,
                env=env,
                pass_fds=() if write_fd is None else (write_fd,),
            )
        except BaseException:
            if read_fd is not None:
                os.close(read_fd)
            self._stderr.close()
            raise
        finally:
            if write_fd is not None:
                os.close(write_fd)
        _running.add(self)
        try:
            with self._proc.stdout if read_fd is None else os.fdopen(read_fd, "rb") as ready:
                deadline = time.monotonic() + timeout
                line = self._read_ready(ready, deadline, timeout)
            addr = self._where = line.decode("utf-8", "surrogateescape")
            password = options.get("password")
            if password:
                addr = _with_password(addr, str(password))
            self.addr = addr
            """The address to give TinyCache: "127.0.0.1:PORT", "unix:///path", or with the password in it."""
            from ._client import TinyCache

            # The pure-Python client: this process need not load the Go library.
            with TinyCache(addr, max(deadline - time.monotonic(), 0.5), _pure=True) as c:
                reply = c.execute_command("PING")
            if reply != "PONG":
                raise TinyCacheError(f"the server at {addr} answered PING with {reply!r}")
        except BaseException:
            self.stop()
            raise

    def _read_ready(self, ready: IO[bytes], deadline: float, timeout: float) -> bytes:
        """The ready line, or an error once the child exits or the deadline passes."""
        line = _read_line(ready, deadline)
        if line is None:
            tail = self._stderr_tail()
            self.stop()
            raise TimeoutError(f"the server did not start within {timeout}s{tail}")
        if not line.endswith(b"\n"):  # the child closed the pipe: it exited
            self._proc.wait(timeout=max(deadline - time.monotonic(), 1.0))
            raise TinyCacheError(
                f"the server exited (status {self._proc.returncode}) before it was ready{self._stderr_tail()}"
            )
        return line.rstrip(b"\n")

    @property
    def pid(self) -> int:
        """The server process's pid."""
        return self._proc.pid

    @property
    def returncode(self) -> int | None:
        """None while the server runs; its exit status once stopped (-15: SIGTERM, as Popen says)."""
        return self._proc.poll()

    def stop(self, timeout: float = 5.0) -> int | None:
        """Stop the server: SIGTERM, then SIGKILL after timeout seconds; reap it and return its exit status.

        The server finishes the commands it has read before it exits.
        Idempotent; does nothing (and returns None) in a process other than
        the one that started it.
        """
        if os.getpid() != self._owner:
            return None
        with self._lock:
            if self._proc.poll() is None:
                self._proc.send_signal(signal.SIGTERM)
                try:
                    self._proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            if not self._stderr.closed:
                self._stderr.close()
            if self._proc.stdin is not None and not self._proc.stdin.closed:
                self._proc.stdin.close()
            _running.discard(self)
            return self._proc.returncode

    def _stderr_tail(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - _STDERR_TAIL))
            text = self._stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""
        return f": {text}" if text else ""

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        addr = getattr(self, "_where", "?")  # without the password: a repr ends up in logs
        state = "running" if self._proc.poll() is None else f"exited {self._proc.returncode}"
        return f"<ServerProcess {addr!r} pid {self._proc.pid} {state}>"


def _read_line(ready: IO[bytes], deadline: float) -> bytes | None:
    """A line from the pipe, or what came before its end; None once the deadline passes."""
    if _WINDOWS:  # select() takes sockets only: a thread reads, and ends once stop() has ended the child
        got: list[bytes] = []
        reader = threading.Thread(target=lambda: got.append(ready.readline()), daemon=True)
        reader.start()
        reader.join(max(deadline - time.monotonic(), 0))
        return got[0] if got else None
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        readable, _, _ = select.select([ready], [], [], left)
        if readable:
            chunk = os.read(ready.fileno(), 4096)
            if not chunk:
                return line
            line += chunk
    return line


def _with_password(addr: str, password: str) -> str:
    if addr.startswith("unix://"):  # the password runs up to "@/", as it is, in this form
        return f"unix://:{password}@{addr[len('unix://'):]}"
    return f"redis://:{quote(password, safe='')}@{addr}/0"


@atexit.register
def _stop_all() -> None:
    # At interpreter exit, stop the servers this process started and left running.
    for server in list(_running):
        server.stop()
