"""The standalone server binary, for an installation that ships it instead of the Go library (musllinux wheels).

musl's loader refuses a Go c-shared library ("initial-exec TLS resolves to
dynamic definition", golang/go#54805), so a musllinux wheel holds
tiny_mp_cache/tiny-mp-cache-server (go/cmd/tiny-mp-cache-server, a static
program: no dlopen) and no library. There TinyCache uses the pure-Python
client, and serve(), serve_unix(), start_server() and `python -m
tiny_mp_cache serve` run that program as a child process (Server below):
it takes the same --long-flags as `tiny-mp-cache serve`, and every other
option as JSON in $TINY_MP_CACHE_SERVE_OPTIONS.
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from typing import IO

from ._errors import ConnectionError
from ._platform import library_name

BINARY_NAME = "tiny-mp-cache-server"
_HERE = os.path.dirname(os.path.abspath(__file__))
_STDERR_TAIL = 4000  # bytes of the child's stderr quoted in an error


def server_binary() -> str | None:
    """The standalone server's path when this installation runs it instead of the Go library, else None.

    That is when the package holds the binary and not the library, and
    $TINY_MP_CACHE_LIB names no library elsewhere.
    """
    if os.environ.get("TINY_MP_CACHE_LIB") or os.path.exists(os.path.join(_HERE, library_name())):
        return None
    path = os.path.join(_HERE, BINARY_NAME)
    return path if os.path.exists(path) else None


class Server:
    """The binary serving in a child process, with _bindings.Server's interface: addr(), wait(), stop().

    The child stops at the end of its standard input, a pipe this process
    holds: if this process dies without stopping it (SIGKILL, or a SIGTERM
    that a thread other than the main one cannot catch), so does the server.
    argv is server_argv()'s; env holds the options (log_fd among them, which
    the child inherits), and its log records come on log_fd, as the library's do.
    """

    def __init__(self, argv: list[str], env: dict[str, str], log_fd: int):
        self._stderr: IO[bytes] = tempfile.TemporaryFile()
        read_fd, write_fd = os.pipe()
        try:
            self._proc = subprocess.Popen(
                [*argv, "--ready-fd", str(write_fd), "--stop-on-stdin-eof"],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
                pass_fds=(write_fd, log_fd),
            )  # fmt: skip
        except BaseException:
            os.close(read_fd)
            self._stderr.close()
            raise
        finally:
            os.close(write_fd)
        try:
            with os.fdopen(read_fd, "rb") as ready:
                line = ready.readline()  # "" once the child exits before it listens
        except BaseException:  # Ctrl-C or SIGTERM meanwhile
            self.stop()
            raise
        if not line.endswith(b"\n"):
            self._proc.wait()
            message = self._stderr_tail() or f"the server exited with status {self._proc.returncode}"
            self._stderr.close()
            # 2: an option's value is refused; 1: the address cannot be bound.
            raise (ValueError if self._proc.returncode == 2 else ConnectionError)(message)
        self._addr = line.decode("utf-8", "surrogateescape").strip().removeprefix("unix://")

    def addr(self) -> str:
        """The address it listens on: "HOST:PORT" (the real port after port 0) or the socket path."""
        return self._addr

    def wait(self, timeout: float) -> bool:
        """Wait up to timeout seconds; True once the server has stopped."""
        try:
            self._proc.wait(timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (the server finishes the commands it has read), SIGKILL after timeout seconds; reap it."""
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        if not self._stderr.closed:
            self._stderr.close()

    def _stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, self._stderr.tell() - _STDERR_TAIL))
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return text.removeprefix(BINARY_NAME + ": ")
