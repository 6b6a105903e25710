"""Real gunicorn: workers forked from a --preload master share one tiny-mp-cache server.

The recipe is examples/gunicorn/ (gunicorn.conf.py starts the server in the
master with start_server(); app.py opens a TinyCache per worker on first
use). Each test sends thousands of requests from concurrent client threads,
each with a key of its own, and checks that every response is exactly the
one its request asked for: no crossed replies, no lost writes, no hang.
gunicorn, its workers and the cache server are reaped at the end.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import HAVE_GO, ROOT, free_port, need_go
from tiny_mp_cache import TinyCache

RECIPE = os.path.join(ROOT, "examples", "gunicorn")
REQUESTS = 2000
CLIENTS = 16
READY_TIMEOUT = 30.0


def need_module(name: str) -> None:
    try:
        __import__(name)
    except ImportError:
        if os.environ.get("TINY_MP_CACHE_REQUIRE_TOOLS") == "1":
            pytest.fail(f"{name} is needed for the gunicorn tests")
        pytest.skip(f"{name} is not installed")


def get(port: int, path: str, timeout: float = 10.0) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, body
        return json.loads(body)
    finally:
        conn.close()


class Gunicorn:
    """gunicorn in a session of its own; stop() ends it and whatever it left, and reaps them."""

    def __init__(self, *args: str):
        self.port = free_port()
        self.err = tempfile.TemporaryFile()
        argv = [sys.executable, "-m", "gunicorn", "-c", os.path.join(RECIPE, "gunicorn.conf.py"),
                "--chdir", RECIPE, "--bind", f"127.0.0.1:{self.port}", "--graceful-timeout", "5", *args]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.err, stderr=self.err,
                                     start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            try:
                self.info = get(self.port, "/info", timeout=2)
                return
            except (OSError, http.client.HTTPException):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn did not start (rc={self.proc.returncode}): {self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        self.err.seek(0)
        return self.err.read().decode(errors="replace")[-4000:]

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # anything left in its session
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        return self.proc.returncode


@pytest.fixture
def gunicorn() -> Iterator:
    need_module("gunicorn")
    started: list[Gunicorn] = []

    def start(*args: str) -> Gunicorn:
        g = Gunicorn(*args)
        started.append(g)
        return g

    yield start
    for g in started:
        g.stop()


def maps(pid: int) -> str:
    with open(f"/proc/{pid}/maps") as f:
        return f.read()


def hammer(port: int) -> set[int]:
    """REQUESTS requests from CLIENTS threads, each checked; returns the worker pids that answered."""

    def one(i: int) -> int:
        key, value, n = f"req:{i}:{os.urandom(4).hex()}", f"value-{i}", i + 1
        reply = get(port, f"/?key={key}&value={value}&n={n}")
        assert reply == {"key": key, "got": value, "count": n, "popped": value, "pid": reply["pid"]}
        return reply["pid"]

    with ThreadPoolExecutor(CLIENTS) as pool:
        return set(pool.map(one, range(REQUESTS), timeout=300))


def check_shared_server(g: Gunicorn, pids: set[int], go_in_workers: bool = True) -> None:
    assert len(pids) >= 2, pids  # several workers answered, all on one server
    with TinyCache(g.info["addr"], _pure=True) as cache:
        assert cache.get("requests") == b"%d" % REQUESTS  # every worker's writes landed there
        assert cache.len() == 1  # and each request cleaned up its own keys
    master = g.proc.pid
    assert "libtinympcache" not in maps(master)  # the master forks with no Go runtime in it
    if go_in_workers and HAVE_GO:
        assert all("libtinympcache" in maps(pid) for pid in pids)  # workers take the Go path
    server_pid = g.info["server_pid"]
    assert g.stop() == 0
    with pytest.raises(ProcessLookupError):  # on_exit stopped the server, and it was reaped
        os.kill(server_pid, 0)


@pytest.mark.timeout(300)
def test_preload_sync_workers_share_one_server(gunicorn):
    need_go()
    g = gunicorn("--preload", "-w", "3", "-k", "sync", "app:app")
    check_shared_server(g, hammer(g.port))


@pytest.mark.timeout(300)
def test_preload_gthread_workers_share_one_server(gunicorn):
    need_go()
    g = gunicorn("--preload", "-w", "2", "-k", "gthread", "--threads", "8", "app:app")
    check_shared_server(g, hammer(g.port))


@pytest.mark.timeout(300)
def test_asgi_app_under_uvicorn_workers_shares_one_server(gunicorn):
    need_go()
    need_module("uvicorn")
    import tiny_mp_cache

    if not hasattr(tiny_mp_cache, "AsyncTinyCache"):
        pytest.skip("tiny_mp_cache.AsyncTinyCache does not exist yet (issue 12, point 2)")
    g = gunicorn("-w", "2", "-k", "uvicorn.workers.UvicornWorker", "asgi_app:app")
    check_shared_server(g, hammer(g.port), go_in_workers=False)  # AsyncTinyCache runs on asyncio streams
