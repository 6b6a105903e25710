"""The examples (copied from the product doc) run and print what the doc promises.

They fork their server with multiprocessing and use the fixed port 5002, so
runs are serialised with a file lock and skipped if something else holds the
port.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from conftest import ROOT, need_go, run_isolated

EXAMPLES = os.path.join(ROOT, "examples")
PORT = 5002


def port_is_free(port: int) -> bool:
    """Whether a server could listen on the port now: nothing listens there.

    SO_REUSEADDR, as Go's listeners set it: connections to a server that has
    stopped linger in TIME_WAIT for a minute, and do not keep a new server
    from binding (the README's snippets and the examples all use 5002).
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_port_free(port: int, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while not port_is_free(port):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextlib.contextmanager
def port_5002() -> Iterator[None]:
    """Hold the machine-wide lock on port 5002, and skip if the port is taken."""
    with open("/tmp/tiny-mp-cache-port-5002.lock", "w") as lock:
        deadline = time.monotonic() + 120
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    pytest.skip("another run holds the port 5002 lock")
                time.sleep(0.1)
        try:
            if not wait_port_free(PORT, 5):
                pytest.skip(f"port {PORT} is in use by something else")
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run_example(name: str, cwd: str, timeout: float = 120) -> subprocess.CompletedProcess:
    need_go()
    result = run_isolated([sys.executable, os.path.join(EXAMPLES, name)], timeout=timeout, cwd=cwd)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    for crash in (b"Traceback", b"panic:", b"fatal error:", b"SIGSEGV"):
        assert crash not in result.stderr, result.stderr.decode(errors="replace")
    return result


@pytest.mark.timeout(180)
def test_quickstart_tcp(tmp_path):
    with port_5002():
        result = run_example("quickstart_tcp.py", str(tmp_path))
        assert result.stdout.splitlines() == [b"b'bar'"]
        assert wait_port_free(PORT), "the example's daemon server outlived it"


@pytest.mark.timeout(180)
def test_quickstart_unix(tmp_path):
    result = run_example("quickstart_unix.py", str(tmp_path))
    assert result.stdout.splitlines() == [b"b'bar'"]
    deadline = time.monotonic() + 10
    while (tmp_path / "tiny-mp-cache-test.sock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not (tmp_path / "tiny-mp-cache-test.sock").exists(), "the server did not remove its socket"


@pytest.mark.timeout(300)
def test_producer_workers(tmp_path):
    with port_5002():
        result = run_example("producer_workers.py", str(tmp_path), timeout=240)
        out = result.stdout.decode()
        lines = out.splitlines()
        assert "[PRODUCER] queued 1000 jobs" in lines
        # Workers print concurrently to one pipe, so their lines may interleave.
        per_worker = re.findall(r"\[WORKER (\d+)\] processed (\d+) jobs", out)
        assert sorted(int(w) for w, _ in per_worker) == list(range(8))
        assert sum(int(n) for _, n in per_worker) == 1000
        assert "processed  : total=1000, unique=1000, duplicates=0" in lines
        assert "OK: no duplicate processing detected" in lines
        assert lines[-1] == "ALL DONE"
        assert not any(line.startswith(("WARNING", "ERROR")) for line in lines)
        assert wait_port_free(PORT), "the example's daemon server outlived it"
