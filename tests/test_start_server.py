"""start_server(): a server in a child process, returned once it answers, stopped and reaped on exit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from conftest import answers_ping, need_go, run_python, short_tmpdir, sockaddr_of
from tiny_mp_cache import ServerError, ServerProcess, TimeoutError, TinyCache, TinyCacheError, start_server
from tiny_mp_cache import _start


@pytest.fixture(autouse=True)
def _go() -> None:
    need_go()  # the child server needs the library


def gone(pid: int) -> bool:
    """Whether pid no longer exists (a reaped child)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_port_0_serves_on_the_free_port_the_server_reports_and_stops_on_exit():
    with start_server(password=False) as a, start_server(password="") as b:
        assert isinstance(a, ServerProcess)
        assert a.addr.startswith("127.0.0.1:") and b.addr.startswith("127.0.0.1:")
        assert a.addr != b.addr
        assert a.returncode is None
        with TinyCache(a.addr, _pure=True) as ca, TinyCache(b.addr, _pure=True) as cb:
            ca.set("k", b"a")
            cb.set("k", b"b")
            assert (ca.get("k"), cb.get("k")) == (b"a", b"b")
    for srv in (a, b):
        assert srv.returncode == 0  # SIGTERM: a clean stop
        assert gone(srv.pid)
        assert not answers_ping(*sockaddr_of(srv.addr))


def test_a_unix_socket_server_with_options_and_a_password():
    path = os.path.join(short_tmpdir(), "s.sock")
    with start_server(unix=path, password="p@ss word", max_memory="8MB") as srv:
        assert srv.addr == f"unix://:p@ss word@{path}"
        with TinyCache(srv.addr, _pure=True) as cache:
            cache.set("k", b"v")
            assert cache.info("memory")["maxmemory"] == 8 * 1024 * 1024
        with pytest.raises(ServerError, match="NOAUTH"):
            TinyCache(f"unix://{path}", _pure=True).get("k")
        assert str(srv.pid) in repr(srv)
    assert not os.path.exists(path)  # the server removed its socket file


def test_a_tcp_server_gets_a_random_password_unless_told_otherwise():
    with start_server() as a, start_server() as b:
        for srv in (a, b):
            assert re.fullmatch(r"redis://:[A-Za-z0-9_-]{32}@127\.0\.0\.1:[0-9]+/0", srv.addr)
            with TinyCache(srv.addr, _pure=True) as cache:
                cache.set("k", b"v")
            host, port = sockaddr_of(srv.addr)[1]
            with pytest.raises(ServerError, match="NOAUTH"):
                TinyCache(f"{host}:{port}", _pure=True).get("k")
            password = srv.addr.split("@")[0][len("redis://:"):]
            assert password not in repr(srv)
        assert a.addr.split("@")[0] != b.addr.split("@")[0]
    path = os.path.join(short_tmpdir(), "s.sock")
    with start_server(unix=path) as srv:  # the socket's mode (0600) guards it instead
        assert srv.addr == f"unix://{path}"


def test_the_password_does_not_show_on_the_command_line():
    with start_server(password="hunter2") as srv:
        with open(f"/proc/{srv.pid}/cmdline", "rb") as f:
            assert b"hunter2" not in f.read()


def test_a_server_that_cannot_start_raises_with_its_error_output():
    started = time.monotonic()
    with pytest.raises(TinyCacheError, match=r"exited \(status 1\).*bad server options"):
        start_server(max_memory="lots")
    with start_server() as srv:
        port = sockaddr_of(srv.addr)[1][1]
        with pytest.raises(TinyCacheError, match="address already in use"):
            start_server(port)
    assert time.monotonic() - started < 10  # no wait for a timeout: the pipe closes as the child dies


def test_a_server_not_ready_in_time_is_killed_and_raises_timeout(monkeypatch, tmp_path):
    pidfile = tmp_path / "pid"
    code = (f"import os, sys, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); "
            "print('still loading', file=sys.stderr, flush=True); time.sleep(60)")
    monkeypatch.setattr(_start, "server_argv", lambda *args: [sys.executable, "-c", code])
    started = time.monotonic()
    with pytest.raises(TimeoutError, match="did not start within 1s: still loading"):
        start_server(timeout=1)
    assert time.monotonic() - started < 8
    assert gone(int(pidfile.read_text()))


def test_windows_way_the_ready_line_on_the_childs_stdout_read_by_a_thread(monkeypatch, tmp_path):
    """Windows passes a child no descriptor but the standard ones, and select() takes no pipe there.

    The same path runs here: it serves, a child that dies is seen at once,
    and one that never gets ready is killed at the timeout. (.ci/platforms
    runs start_server() under wine, with a Windows CPython.)
    """
    monkeypatch.setattr(_start, "_WINDOWS", True)
    with start_server(max_memory="8MB") as srv:
        with TinyCache(srv.addr, _pure=True) as cache:
            cache.set("k", b"v")
            assert cache.get("k") == b"v"
        with pytest.raises(TinyCacheError, match="address already in use"):
            start_server(sockaddr_of(srv.addr)[1][1])
    assert srv.returncode == 0 and gone(srv.pid)
    pidfile = tmp_path / "pid"
    code = f"import os, time; open({str(pidfile)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    monkeypatch.setattr(_start, "server_argv", lambda *args: [sys.executable, "-c", code])
    with pytest.raises(TimeoutError, match="did not start within 1s"):
        start_server(timeout=1)
    assert gone(int(pidfile.read_text()))


def test_stop_kills_a_server_that_does_not_stop_on_sigterm():
    srv = start_server()
    os.kill(srv.pid, signal.SIGSTOP)  # SIGTERM stays pending; SIGKILL still ends it
    try:
        started = time.monotonic()
        assert srv.stop(timeout=0.5) == -signal.SIGKILL
        assert time.monotonic() - started < 5
    finally:
        if not gone(srv.pid):
            os.kill(srv.pid, signal.SIGKILL)
    assert srv.stop() == -signal.SIGKILL  # idempotent


def test_the_starting_process_does_not_load_the_go_library_and_stops_its_servers_at_exit():
    # A fresh interpreter: start_server, then a forked child that exits
    # normally (its atexit must not stop its parent's server), then exit
    # without stop(): atexit stops and reaps the server.
    code = """
import os, sys
from tiny_mp_cache import start_server, TinyCache, _bindings
srv = start_server()
assert _bindings._lib is None, "the Go library was loaded"
pid = os.fork()
if pid == 0:
    srv.stop()          # not this process's server: nothing happens
    sys.exit(0)         # runs atexit in the child
os.waitpid(pid, 0)
assert srv.returncode is None, "the fork child stopped the server"
TinyCache(srv.addr, _pure=True).set("k", b"v")
dropped = start_server().pid  # no reference kept: it still runs, and is stopped at exit
print(srv.pid, srv.addr, dropped)
"""
    result = run_python(code, timeout=60)
    assert result.returncode == 0, result.stderr.decode()
    pid, addr, dropped = result.stdout.decode().split()
    assert gone(int(pid)) and gone(int(dropped))
    assert not answers_ping(*sockaddr_of(addr))


def test_arguments_are_checked():
    with pytest.raises(TypeError):
        start_server(5002, unix="/tmp/x.sock")
    with pytest.raises(TypeError):
        start_server("5002")
    with pytest.raises(ValueError):
        start_server(timeout=0)


def test_serve_still_refuses_port_0():
    from tiny_mp_cache import serve

    with pytest.raises(ValueError, match="start_server"):
        serve(0)


def test_the_command_line_writes_the_address_to_ready_fd():
    from conftest import tmc_server_argv

    r, w = os.pipe()
    proc = subprocess.Popen(tmc_server_argv("--port", "0", "--ready-fd", str(w)), pass_fds=(w,))
    os.close(w)
    try:
        with os.fdopen(r, "rb") as f:
            line = f.readline()  # bounded by the test timeout; the child writes one line and closes
        addr = line.decode().strip()
        assert addr.startswith("127.0.0.1:") and int(addr.rsplit(":", 1)[1]) > 0
        assert answers_ping(*sockaddr_of(addr))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_server_stops_by_itself_when_the_starting_process_is_killed():
    code = """
import os, signal, sys
from tiny_mp_cache import start_server
srv = start_server()
print(srv.pid, srv.addr, flush=True)
os.kill(os.getpid(), signal.SIGKILL)   # no atexit, no stop()
"""
    # Not run_isolated: it would kill the orphan along with its process group.
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    pid, addr = int(result.stdout.split()[0]), result.stdout.split()[1].decode()
    try:
        deadline = time.monotonic() + 10
        while not (gone(pid) or zombie(pid)):  # reparented: init reaps it, or not
            assert time.monotonic() < deadline, "the orphaned server still runs"
            time.sleep(0.05)
        assert not answers_ping(*sockaddr_of(addr))
    finally:
        if not gone(pid):
            os.kill(pid, signal.SIGKILL)


def zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True
