"""Fork safety: the Go library is loaded lazily, and never called in a process that inherited it.

Each scenario runs in a fresh interpreter (this pytest process must not fork
after it may have loaded the Go library). A child that wrongly called into an
inherited Go runtime would hang, so every wait in the scripts has a deadline.
"""

from __future__ import annotations

import os

import pytest
from conftest import free_port, need_go, run_python

LIB_NAME = b"libtinympcache"

# Waits for a forked child with a deadline; kills it if it hangs.
WAIT_CHILD = """
import os, signal, sys, time
def wait_child(pid, seconds=20):
    deadline = time.monotonic() + seconds
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            sys.exit("the forked child hung")
        time.sleep(0.02)
"""


def test_import_does_not_load_the_library():
    code = """
import sys
import tiny_mp_cache
from tiny_mp_cache import TinyCache, serve, serve_unix
maps = open("/proc/self/maps", "rb").read()
sys.exit(1 if b"libtinympcache" in maps else 0)
"""
    result = run_python(code, timeout=30)
    assert result.returncode == 0, "import tiny_mp_cache loaded the Go library"


def test_the_first_go_call_loads_the_library(tcp_server):
    need_go()
    code = """
import sys
from tiny_mp_cache import TinyCache
maps = lambda: open("/proc/self/maps", "rb").read()
assert b"libtinympcache" not in maps()
cache = TinyCache(sys.argv[1])
assert "go" in repr(cache), repr(cache)
assert b"libtinympcache" in maps()
print("ok")
"""
    result = run_python(code, tcp_server.addr, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"


def test_pure_env_var_selects_the_pure_client_and_never_loads_the_library(tcp_server):
    code = """
import sys
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1])
cache.set("pure", b"1")
assert cache.get("pure") == b"1"
assert "pure" in repr(cache), repr(cache)
assert b"libtinympcache" not in open("/proc/self/maps", "rb").read()
cache.delete("pure")
print("ok")
"""
    result = run_python(code, tcp_server.addr, timeout=30, env={**os.environ, "TINY_MP_CACHE_PURE": "1"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"


@pytest.mark.parametrize("pure", [False, True], ids=["go", "pure"])
def test_a_forked_child_uses_its_own_connection(tcp_server, pure):
    """Parent and child hammer the same TinyCache object at once: replies must not cross."""
    if not pure:
        need_go()
    code = WAIT_CHILD + """
from tiny_mp_cache import TinyCache
addr, pure = sys.argv[1], sys.argv[2] == "1"
cache = TinyCache(addr, _pure=pure)
cache.set("fork:parent", b"p")
expected_parent_kind = "pure" if pure else "go"
assert expected_parent_kind in repr(cache), repr(cache)

def hammer(who, n=2000):
    for i in range(n):
        key, value = f"fork:{who}:{i}", f"{who}-{i}".encode() * (1 + i % 5)
        cache.set(key, value)
        got = cache.get(key)
        assert got == value, (key, got)
        assert cache.pop(key) == value

pid = os.fork()
if pid == 0:
    try:
        # The parent loaded Go (on the go path): here it is inherited, so pure.
        assert cache.get("fork:parent") == b"p"
        assert "pure" in repr(cache), repr(cache)
        hammer("child")
        fresh = TinyCache(addr)
        # A new cache loads Go here only if the parent never had.
        assert ("go" if pure else "pure") in repr(fresh), repr(fresh)
        fresh.set("fork:child", b"c")
        os._exit(0)
    except BaseException as e:
        print("child failed:", repr(e), file=sys.stderr, flush=True)
        os._exit(1)
hammer("parent")
assert wait_child(pid) == 0, "the child failed"
assert expected_parent_kind in repr(cache), repr(cache)
assert cache.pop("fork:child") == b"c"
assert cache.pop("fork:parent") == b"p"
print("ok")
"""
    result = run_python(code, tcp_server.addr, "1" if pure else "0", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"


@pytest.mark.parametrize("pure", [False, True], ids=["go", "pure"])
def test_a_call_does_not_ask_for_the_pid(tcp_server, pure):
    """os.getpid() is a system call: the fork check costs calls none (the at-fork hook does it)."""
    if not pure:
        need_go()
    code = """
import os, sys
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1], _pure=sys.argv[2] == "1")
asked = 0
real_getpid = os.getpid
def counting_getpid():
    global asked
    asked += 1
    return real_getpid()
os.getpid = counting_getpid
for i in range(100):
    cache.set("fork:pid", b"v")
    assert cache.get("fork:pid") == b"v"
    cache.delete("fork:pid")
print(asked)
"""
    result = run_python(code, tcp_server.addr, "1" if pure else "0", timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"0\n", "calls asked for the pid"


def test_a_child_forked_before_loading_uses_go(tcp_server):
    need_go()
    code = WAIT_CHILD + """
from tiny_mp_cache import TinyCache
pid = os.fork()
if pid == 0:
    try:
        cache = TinyCache(sys.argv[1])
        assert "go" in repr(cache), repr(cache)
        cache.set("fork:early", b"go")
        os._exit(0)
    except BaseException as e:
        print("child failed:", repr(e), file=sys.stderr, flush=True)
        os._exit(1)
assert wait_child(pid) == 0
assert b"libtinympcache" not in open("/proc/self/maps", "rb").read()
cache = TinyCache(sys.argv[1])
assert cache.pop("fork:early") == b"go"
print("ok")
"""
    result = run_python(code, tcp_server.addr, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"


def test_serve_in_a_child_that_inherited_the_library_reexecs_in_place(tcp_server):
    """multiprocessing fork + serve() after the parent loaded Go: same pid, fresh interpreter."""
    need_go()
    code = """
import multiprocessing as mp, sys, time
from tiny_mp_cache import TinyCache, serve
import tiny_mp_cache
existing, port = sys.argv[1], int(sys.argv[2])
TinyCache(existing).len()  # loads Go in this process
mp.set_start_method("fork", force=True)
server = mp.Process(target=serve, args=(port,), kwargs={"max_clients": 50}, daemon=True)
server.start()
deadline = time.monotonic() + 20
while True:
    try:
        cache = TinyCache(f"127.0.0.1:{port}", timeout=1)
        break
    except tiny_mp_cache.ConnectionError:
        assert server.exitcode is None, f"the server exited with {server.exitcode}"
        assert time.monotonic() < deadline, "the server never came up"
        time.sleep(0.05)
argv = open(f"/proc/{server.pid}/cmdline", "rb").read().split(b"\\0")
from tiny_mp_cache._server import server_argv  # `python -m tiny_mp_cache serve`, whatever the cwd
assert argv[:5] == [a.encode() for a in server_argv()[:5]], argv
cache.set("k", b"v")
assert cache.get("k") == b"v"
server.terminate()
server.join(10)
assert server.exitcode == 0, server.exitcode
print("ok")
"""
    result = run_python(code, tcp_server.addr, str(free_port()), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"ok\n"
