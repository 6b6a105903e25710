"""An installation with the standalone server and no Go library: what a musllinux wheel holds (musl cannot load the library).

The package's Python files are copied, without the library, next to
go/cmd/tiny-mp-cache-server built with CGO_ENABLED=0 (a static program, as
in that wheel), and every check runs in a fresh interpreter that imports
that copy. .ci/platforms runs the musllinux wheel itself the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT, free_port, need_tool, run_isolated, run_python, short_tmpdir

from tiny_mp_cache import TinyCache
from tiny_mp_cache._platform import library_name
from tiny_mp_cache._standalone import BINARY_NAME

# Each snippet imports the copy given as its first argument, whatever sys.path holds.
PRELUDE = "import sys; sys.path.insert(0, sys.argv.pop(1)); import os, tiny_mp_cache as t\n"


def copy_package(dest: str, binary: str | None) -> str:
    """The package's source files in dest/tiny_mp_cache, without the library, with binary as its server if given; dest."""
    shutil.copytree(os.path.join(ROOT, "tiny_mp_cache"), os.path.join(dest, "tiny_mp_cache"),
                    ignore=shutil.ignore_patterns("__pycache__", library_name(), "*.h", BINARY_NAME))  # fmt: skip
    if binary is not None:
        shutil.copy2(binary, os.path.join(dest, "tiny_mp_cache", BINARY_NAME))
    return dest


@pytest.fixture(scope="module")
def server_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    go = need_tool("go")
    binary = str(tmp_path_factory.mktemp("bin") / BINARY_NAME)
    env = dict(os.environ, CGO_ENABLED="0")
    result = subprocess.run([go, "build", "-o", binary, "./cmd/" + BINARY_NAME], cwd=os.path.join(ROOT, "go"),
                            env=env, capture_output=True, timeout=280)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return binary


@pytest.fixture(scope="module")
def standalone(server_binary: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The directory holding the copy (for sys.path)."""
    return copy_package(str(tmp_path_factory.mktemp("standalone")), server_binary)


def run_in(where: str, code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for name in ("TINY_MP_CACHE_PURE", "TINY_MP_CACHE_LIB"):
        env.pop(name, None)
    return run_python(PRELUDE + code, where, *args, timeout=timeout, env=env)


@pytest.mark.timeout(300)
def test_the_client_is_pure_and_start_server_runs_the_binary_with_every_option(standalone: str) -> None:
    result = run_in(standalone, """
from tiny_mp_cache import _bindings, _standalone
binary = _standalone.server_binary()
assert binary == os.path.join(sys.path[0], "tiny_mp_cache", "tiny-mp-cache-server"), binary
with t.start_server(max_bulk=1000, busy_reply_threshold=99, max_memory="10MB") as srv:
    assert os.readlink(f"/proc/{srv.pid}/exe") == binary
    with t.TinyCache(srv.addr) as cache:
        assert cache._pure
        cache.set("k", b"v")
        assert cache.get("k") == b"v" and cache.pop("k") == b"v" and len(cache) == 0
        got = {name: cache.execute_command("CONFIG", "GET", name)[1]
               for name in ("proto-max-bulk-len", "busy-reply-threshold", "maxmemory")}
        assert got == {"proto-max-bulk-len": b"1000", "busy-reply-threshold": b"99", "maxmemory": b"10485760"}, got
assert _bindings._lib is None  # the Go library was never loaded
print("ok")
""")
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == b"ok\n"


@pytest.mark.timeout(300)
def test_serve_unix_serves_in_the_call_until_sigterm_and_logs_through_logging(standalone: str) -> None:
    path = os.path.join(short_tmpdir(), "s.sock")
    env = {k: v for k, v in os.environ.items() if k not in ("TINY_MP_CACHE_PURE", "TINY_MP_CACHE_LIB")}
    code = PRELUDE + "t.serve_unix(sys.argv[1], password='pw', max_clients=7, log_level='info'); print('returned')"
    proc = subprocess.Popen([sys.executable, "-c", code, standalone, path], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        with TinyCache(f"unix://:pw@{path}", wait=20, near_cache=10, _pure=True) as cache:
            assert cache.execute_command("CONFIG", "GET", "maxclients")[1] == b"7"
            server_pid = int(cache.info("server")["process_id"])
            assert server_pid != proc.pid  # a child of the serving process
            cache.set("a", b"1")
            assert cache.get("a") == b"1" and cache.get("a") == b"1"
            assert cache.near_cache_stats()["mode"] == "shared-memory"  # the server program offers it too
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 0, err.decode()
    assert out == b"returned\n"
    assert "INFO tiny_mp_cache.server: listening network=unix" in err.decode()
    assert not os.path.exists(path)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{server_pid}") and time.monotonic() < deadline:
        time.sleep(0.05)  # reaped by serve_unix before it returned; gone from /proc shortly
    assert not os.path.exists(f"/proc/{server_pid}")


@pytest.mark.timeout(300)
def test_serve_raises_as_with_the_library(standalone: str) -> None:
    result = run_in(standalone, """
import socket
def error(**options):
    try:
        t.serve(int(sys.argv[1]), **options)
    except Exception as e:
        return type(e).__name__, str(e)
taken = socket.socket(); taken.bind(("127.0.0.1", 0)); taken.listen()
print(error(max_clients=-1))
print(error(bogus=1))
try:
    t.serve(taken.getsockname()[1])
except t.ConnectionError as e:
    print("ConnectionError", isinstance(e, OSError), "address already in use" in str(e))
""", str(free_port()))
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().splitlines() == [
        "('ValueError', 'max_clients must not be negative')",
        "('TypeError', \"serve() got an unexpected keyword argument 'bogus'\")",
        "ConnectionError True True",
    ]


@pytest.mark.timeout(300)
def test_cache_api_test_passes_against_the_standalone_server(standalone: str) -> None:
    # server_argv() is the program itself there; the client is the pure one.
    env = {k: v for k, v in os.environ.items() if k not in ("TINY_MP_CACHE_PURE", "TINY_MP_CACHE_LIB")}
    env["PYTHONPATH"] = standalone
    result = run_isolated([sys.executable, os.path.join(ROOT, "tests", "cache_api_test.py")], timeout=120,
                          env=env, cwd=standalone)  # fmt: skip
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_without_library_or_server_the_error_says_so(tmp_path) -> None:
    where = copy_package(str(tmp_path), None)
    result = run_in(where, """
try:
    t.TinyCache("127.0.0.1:1")
except OSError as e:
    print(e)
""")
    assert result.returncode == 0, result.stderr.decode()
    assert "neither the Go library nor the standalone server tiny-mp-cache-server" in result.stdout.decode()
