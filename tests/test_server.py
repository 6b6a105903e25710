"""serve(), serve_unix() and `python -m tiny_mp_cache serve`: signals, options, errors, redis-cli."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest
import tiny_mp_cache
from conftest import (
    ROOT,
    ServerProcess,
    answers_ping,
    free_port,
    listen_place,
    need_go,
    near_tables,
    need_tool,
    run_python,
    short_tmpdir,
    start_tcp_server,
    start_unix_server,
    tmc_server_argv,
)
from tiny_mp_cache import TinyCache



def start(transport: str, *extra: str) -> ServerProcess:
    return start_tcp_server(*extra) if transport == "tcp" else start_unix_server(*extra)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_cli_server_cleanly(transport, sig):
    server = start(transport)
    cache = TinyCache(server.addr, _pure=True)
    cache.set("k", b"v")
    start_time = time.monotonic()
    _, err = server.stop(sig, timeout=10)
    assert server.proc.returncode == 0, err
    assert time.monotonic() - start_time < 3
    assert b"Traceback" not in err
    if transport == "unix":
        path = server.addr[len("unix://"):]
        assert not os.path.exists(path), "the socket file was left behind"
    else:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(server.addr.rsplit(":", 1)[1])), timeout=2).close()


SERVE_THEN_PRINT = """
import sys
from tiny_mp_cache import serve, serve_unix
if sys.argv[1] == "tcp":
    result = serve(int(sys.argv[2]))
else:
    result = serve_unix(sys.argv[2])
print("serve returned", result, flush=True)
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_functions_return_none_on_a_signal(transport, sig):
    need_go()
    where, addr = listen_place(transport)
    server = ServerProcess([sys.executable, "-c", SERVE_THEN_PRINT, transport, where], addr)
    out, err = server.stop(sig, timeout=10)
    assert server.proc.returncode == 0, err
    assert out == b"serve returned None\n"
    assert b"Traceback" not in err
    if transport == "unix":
        assert not os.path.exists(where)


SERVE_IN_A_THREAD = """
import sys, threading
from tiny_mp_cache import serve, serve_unix
if sys.argv[1] == "tcp":
    thread = threading.Thread(target=serve, args=(int(sys.argv[2]),))
else:
    thread = threading.Thread(target=serve_unix, args=(sys.argv[2],))
thread.start()
thread.join()
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_sigterm_stops_a_server_run_outside_the_main_thread_cleanly(transport):
    # Python runs signal handlers on the main thread only, so a server run by
    # another thread was killed by SIGTERM's default action: its unix socket
    # file was left behind, its clients cut off. Now the server is stopped
    # (replies flushed, socket file removed), then SIGTERM ends the process
    # as it would have.
    need_go()
    where, addr = listen_place(transport)
    server = ServerProcess([sys.executable, "-c", SERVE_IN_A_THREAD, transport, where], addr)
    TinyCache(addr, _pure=True).set("k", b"v")
    _, err = server.stop(signal.SIGTERM, timeout=10)
    assert server.proc.returncode == -signal.SIGTERM, err
    assert b"Traceback" not in err
    if transport == "unix":
        assert not os.path.exists(where), "the socket file was left behind"


SERVE_IN_A_DAEMON_THREAD_THEN_EXIT = """
import sys, threading, time
from tiny_mp_cache import TinyCache, serve_unix
path = sys.argv[1]
threading.Thread(target=serve_unix, args=(path,), daemon=True).start()
deadline = time.monotonic() + 10
while True:
    try:
        TinyCache("unix://" + path, _pure=True).close()
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.02)
print("served", flush=True)
"""


@pytest.mark.timeout(60)
def test_a_server_in_a_daemon_thread_removes_its_socket_and_table_at_exit():
    # The interpreter does not wait for a daemon thread, nor end its
    # serve_unix: the server is stopped at exit all the same.
    need_go()
    path = os.path.join(short_tmpdir(), "d.sock")
    result = run_python(SERVE_IN_A_DAEMON_THREAD_THEN_EXIT, path, timeout=30)
    assert (result.returncode, result.stdout) == (0, b"served\n"), result.stderr
    assert not os.path.exists(path), "the socket file was left behind"
    assert near_tables(path) == [], "the near cache's table was left behind"


SERVE_IN_A_THREAD_WITH_OWN_HANDLER = """
import os, signal, sys, threading, time
from tiny_mp_cache import TinyCache, serve_unix
path = sys.argv[1]
caught = []
signal.signal(signal.SIGTERM, lambda signum, frame: caught.append(signum))
threading.Thread(target=serve_unix, args=(path,), daemon=True).start()
deadline = time.monotonic() + 10
while True:
    try:
        cache = TinyCache("unix://" + path, _pure=True)
        break
    except Exception:
        if time.monotonic() > deadline:
            raise
        time.sleep(0.02)
os.kill(os.getpid(), signal.SIGTERM)
while not caught and time.monotonic() < deadline:
    time.sleep(0.01)
cache.set("k", b"v")
print(caught == [signal.SIGTERM], cache.get("k") == b"v", flush=True)
"""


@pytest.mark.timeout(60)
def test_a_program_that_handles_sigterm_itself_keeps_its_handler_and_its_thread_server():
    need_go()
    path = os.path.join(short_tmpdir(), "s.sock")
    result = run_python(SERVE_IN_A_THREAD_WITH_OWN_HANDLER, path, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"True True\n", result.stderr


FORK_WHILE_SERVING_IN_A_THREAD = """
import os, signal, sys, threading, time
from tiny_mp_cache import serve_unix
path = sys.argv[1]
threading.Thread(target=serve_unix, args=(path,), daemon=True).start()
deadline = time.monotonic() + 10
while not os.path.exists(path) and time.monotonic() < deadline:
    time.sleep(0.01)
pid = os.fork()
if pid == 0:
    time.sleep(20)
    os._exit(0)
os.kill(pid, signal.SIGTERM)
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("child ended by signal", os.WTERMSIG(status) if os.WIFSIGNALED(status) else None, flush=True)
        break
    time.sleep(0.01)
else:
    print("SIGTERM did not end the child", flush=True)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(10)
"""


@pytest.mark.timeout(60)
def test_a_child_forked_while_a_thread_serves_still_dies_on_sigterm():
    # The parent's SIGTERM handler is then the Go library's; a forked child
    # inherits it without the Go runtime behind it, and ignored SIGTERM.
    need_go()
    path = os.path.join(short_tmpdir(), "s.sock")
    result = run_python(FORK_WHILE_SERVING_IN_A_THREAD, path, timeout=30)
    assert result.stdout == b"child ended by signal 15\n", result.stderr
    assert result.returncode == -signal.SIGTERM, result.stderr
    assert not os.path.exists(path), "the socket file was left behind"


def test_sigterm_handler_is_restored_after_serve():
    need_go()
    code = """
import os, signal, socket, sys, threading, time
from tiny_mp_cache import serve
port = int(sys.argv[1])
def mine(signum, frame):
    pass
def interrupt_once_serving():
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.02)
    os.kill(os.getpid(), signal.SIGINT)
signal.signal(signal.SIGTERM, mine)
threading.Thread(target=interrupt_once_serving, daemon=True).start()
serve(port)
print(signal.getsignal(signal.SIGTERM) is mine)
"""
    result = run_python(code, str(free_port()), timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout == b"True\n"


def test_bind_conflict_is_an_os_error():
    need_go()
    code = """
import socket, sys
from tiny_mp_cache import serve
busy = socket.socket()
busy.bind(("127.0.0.1", 0))
busy.listen()
try:
    serve(busy.getsockname()[1])
except OSError as e:
    print("OSError:", e)
except Exception as e:
    print("other:", type(e).__name__, e)
"""
    result = run_python(code, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"OSError:"), result.stdout
    assert b"in use" in result.stdout


def test_cli_reports_a_bind_conflict_and_exits_1():
    need_go()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(tmc_server_argv("--port", str(port)), capture_output=True, timeout=30)
    assert result.returncode == 1
    assert b"tiny-mp-cache: error:" in result.stderr
    assert b"in use" in result.stderr
    assert b"Traceback" not in result.stderr


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda: tiny_mp_cache.serve(5002, no_such_option=1), "serve"),
        (lambda: tiny_mp_cache.serve_unix("/tmp/x.sock", no_such_option=1), "serve_unix"),
        (lambda: tiny_mp_cache.start_server(no_such_option=1), "start_server"),
    ],
)
def test_an_unknown_option_is_a_type_error_like_any_unexpected_keyword(call, name):
    # Raised before anything starts (start_server: before the child), as Python says it.
    with pytest.raises(TypeError, match=rf"^{name}\(\) got an unexpected keyword argument 'no_such_option'$"):
        call()


def test_a_misspelled_option_is_told_the_right_name():
    with pytest.raises(TypeError, match=r"unexpected keyword argument 'max_memroy'\. Did you mean 'max_memory'\?"):
        tiny_mp_cache.serve(5002, max_memroy="64MB")


def test_0_1s_wal_dir_is_said_to_be_gone():
    with pytest.raises(TypeError, match=r"^serve_unix\(\) got an unexpected keyword argument 'wal_dir': 0\.1\.x's write-ahead log is gone"):
        tiny_mp_cache.serve_unix("/tmp/x.sock", wal_dir="/tmp/wal")


def test_the_options_are_those_of_the_go_servers_config():
    from tiny_mp_cache._server import SERVER_OPTIONS

    with open(os.path.join(ROOT, "go", "server", "config.go"), encoding="utf-8") as f:
        config = f.read()
    fields = set(re.findall(r'`json:"(\w+)"`', config)) - {"network", "addr", "log_fd"}
    assert SERVER_OPTIONS == fields


@pytest.mark.parametrize("args", [[], ["serve"], ["serve", "--port", "1", "--unix", "/tmp/x.sock"], ["serve", "--port", "x"]])
def test_cli_usage_errors_exit_2(args):
    result = subprocess.run([sys.executable, "-m", "tiny_mp_cache", *args], capture_output=True, timeout=30)
    assert result.returncode == 2
    assert b"usage:" in result.stderr


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_password_option(transport, client_path):
    server = start(transport, "--password", "s3cret")
    try:
        pure = client_path == "pure"
        plain = TinyCache(server.addr, _pure=pure)
        with pytest.raises(tiny_mp_cache.ServerError, match="NOAUTH"):
            plain.set("k", b"v")
        plain.close()
        if transport == "tcp":
            good, bad = f"redis://:s3cret@{server.addr}/0", f"redis://:wrong@{server.addr}/0"
        else:
            path = server.addr[len("unix://"):]
            good, bad = f"unix://:s3cret@{path}", f"unix://:wrong@{path}"
        with pytest.raises(tiny_mp_cache.ServerError):
            TinyCache(bad, _pure=pure)
        with TinyCache(good, _pure=pure) as cache:
            cache.set("k", b"v")
            assert cache.get("k") == b"v"
    finally:
        server.stop()


def test_serve_passes_keyword_options_through():
    need_go()
    path = os.path.join(short_tmpdir(), "opt.sock")
    code = """
import sys
from tiny_mp_cache import serve_unix
serve_unix(sys.argv[1], password="pw", unix_mode=0o640)
"""
    server = ServerProcess([sys.executable, "-c", code, path], f"unix://{path}")
    try:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        with pytest.raises(tiny_mp_cache.ServerError, match="NOAUTH"):
            TinyCache(f"unix://{path}", _pure=True).len()
        assert TinyCache(f"unix://:pw@{path}", _pure=True).len() == 0
    finally:
        server.stop()


def test_unix_socket_mode_defaults_to_0600_and_can_be_set():
    server = start_unix_server()
    try:
        assert stat.S_IMODE(os.stat(server.addr[len("unix://"):]).st_mode) == 0o600
    finally:
        server.stop()
    server = start_unix_server("--unix-mode", "660")
    try:
        assert stat.S_IMODE(os.stat(server.addr[len("unix://"):]).st_mode) == 0o660
    finally:
        server.stop()


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_redis_cli_can_set_and_get(transport):
    redis_cli = need_tool("redis-cli")
    server = start(transport)
    try:
        if transport == "tcp":
            host, port = server.addr.rsplit(":", 1)
            where = ["-h", host, "-p", port]
        else:
            where = ["-s", server.addr[len("unix://"):]]

        def cli(*args):
            result = subprocess.run([redis_cli, *where, *args], capture_output=True, timeout=30)
            assert result.returncode == 0, result.stderr
            return result.stdout.strip()

        assert cli("PING") == b"PONG"
        assert cli("SET", "from-cli", "hello") == b"OK"
        assert cli("GET", "from-cli") == b"hello"
        assert cli("DBSIZE") == b"1"
        assert TinyCache(server.addr, _pure=True).get("from-cli") == b"hello"
        TinyCache(server.addr, _pure=True).set("from-python", b"world")
        assert cli("GET", "from-python") == b"world"
        assert cli("GETDEL", "from-python") == b"world"
        assert TinyCache(server.addr, _pure=True).get("from-python") is None
        assert cli("DEL", "from-cli") == b"1"
        assert cli("DBSIZE") == b"0"
    finally:
        server.stop()


def test_servers_answer_ping():
    server = start_tcp_server()
    try:
        host, port = server.addr.rsplit(":", 1)
        assert answers_ping(socket.AF_INET, (host, int(port)))
    finally:
        server.stop()


@pytest.mark.parametrize("protocol", [2, 3])
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_redis_py_can_talk_to_our_server(transport, protocol):
    redis = pytest.importorskip("redis")
    server = start(transport)
    try:
        if transport == "tcp":
            host, port = server.addr.rsplit(":", 1)
            r = redis.Redis(host=host, port=int(port), protocol=protocol, socket_timeout=5)
        else:
            r = redis.Redis(unix_socket_path=server.addr[len("unix://"):], protocol=protocol, socket_timeout=5)
        with r:
            assert r.ping() is True
            assert r.set("from-redis-py", b"\x00binary\r\n") is True
            assert r.get("from-redis-py") == b"\x00binary\r\n"
            assert r.get("missing") is None
            cache = TinyCache(server.addr, _pure=True)
            assert cache.get("from-redis-py") == b"\x00binary\r\n"
            cache.set("from-tiny", b"hello")
            assert sorted(r.keys("from-*")) == [b"from-redis-py", b"from-tiny"]
            assert r.dbsize() == 2
            assert r.getdel("from-tiny") == b"hello"
            assert r.getdel("from-tiny") is None
            assert r.delete("from-redis-py") == 1
            assert r.delete("from-redis-py") == 0
            assert cache.len() == 0
    finally:
        server.stop()


def test_a_non_loopback_bind_without_password_is_refused():
    need_go()
    code = """
import sys
from tiny_mp_cache import serve
try:
    serve(int(sys.argv[1]), host="0.0.0.0")
except ValueError as e:
    print("ValueError:", e)
"""
    result = run_python(code, str(free_port()), timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(b"ValueError:")
    assert b"password" in result.stdout


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: tiny_mp_cache.serve("5002"), TypeError),
        (lambda: tiny_mp_cache.serve(5002.0), TypeError),
        (lambda: tiny_mp_cache.serve(0), ValueError),
        (lambda: tiny_mp_cache.serve(70000), ValueError),
        (lambda: tiny_mp_cache.serve(5002, host=""), TypeError),
        (lambda: tiny_mp_cache.serve(5002, network="unix"), TypeError),
        (lambda: tiny_mp_cache.serve_unix(""), TypeError),
        (lambda: tiny_mp_cache.serve_unix(b"/tmp/x.sock"), TypeError),
        (lambda: tiny_mp_cache.serve_unix("/tmp/x.sock", addr="/tmp/y.sock"), TypeError),
    ],
)
def test_serve_arguments_are_checked_before_anything_starts(call, error):
    # Each of these must raise at once; a serve() that started would block.
    with pytest.raises(error):
        call()


def test_an_ipv6_loopback_server(client_path):
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback here")
    port = free_port()
    server = ServerProcess(tmc_server_argv("--port", str(port), "--host", "::1"), f"[::1]:{port}")
    try:
        pure = client_path == "pure"
        with TinyCache(f"[::1]:{port}", _pure=pure) as cache:
            cache.set("v6", b"yes")
        # "localhost" may resolve to 127.0.0.1 first; the client must try ::1 too.
        if any(info[0] == socket.AF_INET6 for info in socket.getaddrinfo("localhost", port)):
            with TinyCache(f"localhost:{port}", _pure=pure) as cache:
                assert cache.get("v6") == b"yes"
    finally:
        server.stop()
