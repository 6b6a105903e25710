"""The command line: `python -m tiny_mp_cache serve ...` and the `tiny-mp-cache` console script."""

from __future__ import annotations

import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time

import pytest
import tiny_mp_cache
from conftest import ROOT, ServerProcess, free_port, near_tables, need_go, need_tool, short_tmpdir
from tiny_mp_cache import TinyCache

MiB = 1 << 20


def cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "tiny_mp_cache", *args]


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def config(cache: TinyCache, name: str) -> str:
    reply = cache.execute_command("CONFIG", "GET", name)
    assert reply[0] == name.encode()
    return reply[1].decode()


@pytest.mark.timeout(60)
def test_serve_over_tcp_with_every_option_then_sigterm():
    need_go()
    port = free_port()
    server = ServerProcess(
        cli("serve", "--port", str(port), "--host", "127.0.0.1", "--password", "pw", "--max-memory", "10MB",
            "--eviction-policy", "noeviction", "--max-clients", "5", "--log-level", "info", "--loops", "1",
            "--max-output", str(256 * MiB), "--max-output-soft", str(32 * MiB), "--max-output-soft-seconds", "10"),  # fmt: skip
        f"127.0.0.1:{port}",
    )
    try:
        with TinyCache(f"127.0.0.1:{port}", _pure=True) as anonymous:
            with pytest.raises(tiny_mp_cache.ServerError, match="NOAUTH"):
                anonymous.get("k")
        with TinyCache(f"redis://:pw@127.0.0.1:{port}/0") as cache:
            cache.set("k", b"v")
            assert cache.get("k") == b"v"
            assert config(cache, "maxmemory") == str(10 * MiB)
            assert config(cache, "maxmemory-policy") == "noeviction"
            assert config(cache, "maxclients") == "5"
            assert config(cache, "client-output-buffer-limit") == f"normal {256 * MiB} {32 * MiB} 10 pubsub {32 * MiB} {8 * MiB} 60"
            assert cache.stats()["max_memory"] == 10 * MiB
            with pytest.raises(tiny_mp_cache.ServerError, match="OOM"):
                cache.set("big", b"x" * (11 * MiB))
    finally:
        _, err = server.stop(signal.SIGTERM)
    assert server.proc.returncode == 0, err
    text = err.decode()
    assert "Traceback" not in text
    # --log-level info: the startup address and the shutdown are logged, through Python's logging.
    assert f" INFO tiny_mp_cache.server: listening network=tcp addr=127.0.0.1:{port}\n" in text
    assert f" INFO tiny_mp_cache.server: stopped addr=127.0.0.1:{port}\n" in text
    assert f"serving on 127.0.0.1:{port}" in text


@pytest.mark.timeout(60)
def test_serve_on_a_unix_socket_then_sigterm_removes_it():
    need_go()
    path = os.path.join(short_tmpdir(), "cli.sock")
    server = ServerProcess(cli("serve", "--unix", path, "--max-memory", "1048576", "--unix-mode", "660"), f"unix://{path}")
    try:
        assert oct(os.stat(path).st_mode & 0o777) == oct(0o660)
        with TinyCache(f"unix://{path}") as cache:
            assert config(cache, "maxmemory") == str(MiB)
            assert config(cache, "maxmemory-policy") == "allkeys-sieve"
            for i in range(2000):  # 2 MiB of values into a 1 MiB bound: evicted, not refused
                cache.set(f"k{i}", b"x" * 1024)
            assert cache.stats()["evictions"] > 0
    finally:
        _, err = server.stop(signal.SIGTERM)
    assert server.proc.returncode == 0, err
    assert not os.path.exists(path)
    assert f"serving on unix://{path} " in err.decode()  # the address a client is given


@pytest.mark.timeout(60)
@pytest.mark.skipif(sys.platform != "linux", reason="the near cache's tables live in /dev/shm (Linux)")
def test_clean_shm_removes_a_killed_servers_table_and_leaves_a_live_ones():
    need_go()
    killed_path, live_path = (os.path.join(short_tmpdir(), "c.sock") for _ in range(2))
    killed = ServerProcess(cli("serve", "--unix", killed_path), f"unix://{killed_path}")
    live = ServerProcess(cli("serve", "--unix", live_path), f"unix://{live_path}")
    try:
        with TinyCache(f"unix://{killed_path}", near_cache=10) as cache:
            cache.set("k", b"v")
            assert cache.get("k") == b"v"
            killed.stop(signal.SIGKILL)
            (table,) = near_tables(killed_path)
            live_tables = near_tables(live_path)
            assert len(live_tables) == 1
            result = run_cli("clean-shm")
            assert result.returncode == 0, result.stderr
            assert table in result.stdout.decode()
            assert near_tables(killed_path) == [], "the killed server's table is still there"
            assert near_tables(live_path) == live_tables, "the live server's table was removed"
            # The table was marked dead before it went: its clients serve nothing from it.
            with pytest.raises(tiny_mp_cache.ConnectionError):
                cache.get("k")
        with TinyCache(f"unix://{live_path}", near_cache=10) as cache:
            cache.set("k", b"v")
            assert cache.get("k") == b"v" and cache.get("k") == b"v"
            assert cache.near_cache_stats()["hits"] == 1
    finally:
        killed.stop()
        live.stop()


@pytest.mark.timeout(60)
def test_logs_are_quiet_by_default():
    need_go()
    port = free_port()
    server = ServerProcess(cli("serve", "--port", str(port), "--quiet"), f"127.0.0.1:{port}")
    try:
        with TinyCache(f"127.0.0.1:{port}") as cache:
            cache.set("k", b"v")
            assert cache.get("k") == b"v"
    finally:
        out, err = server.stop(signal.SIGTERM)
    assert server.proc.returncode == 0
    assert (out, err) == (b"", b"")


def first_client(addr: str, timeout: float = 10) -> TinyCache:
    """The first client of a server with --max-clients 1, once the readiness probe's connection is gone.

    The probe (a PING on a connection of its own) may still hold the only
    slot for a moment after it hung up.
    """
    deadline = time.monotonic() + timeout
    while True:
        cache = TinyCache(addr, _pure=True)
        try:
            cache.execute_command("PING")
            return cache
        except tiny_mp_cache.ServerError:
            cache.close()
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@pytest.mark.timeout(60)
def test_refused_clients_are_logged_at_the_default_level():
    need_go()
    port = free_port()
    server = ServerProcess(cli("serve", "--port", str(port), "--quiet", "--max-clients", "1"), f"127.0.0.1:{port}")
    try:
        with first_client(f"127.0.0.1:{port}") as first:
            first.set("k", b"v")
            with TinyCache(f"127.0.0.1:{port}", _pure=True) as second:
                with pytest.raises(tiny_mp_cache.ServerError, match="max number of clients"):
                    second.get("k")
            assert first.get("k") == b"v"
    finally:
        _, err = server.stop(signal.SIGTERM)
    assert " WARNING tiny_mp_cache.server: refused client: too many clients max_clients=1\n" in err.decode()
    assert " INFO " not in err.decode()


def test_help_lists_the_options():
    result = run_cli("serve", "--help")
    assert result.returncode == 0
    text = result.stdout.decode()
    for flag in ("--port", "--host", "--unix", "--password", "--max-memory", "--eviction-policy",
                 "--max-clients", "--log-level", "--unix-mode", "--allow-remote", "--quiet", "--loops",
                 "--max-output", "--max-output-soft", "--max-output-soft-seconds"):  # fmt: skip
        assert flag in text, flag
    assert "sieve" in text and "noeviction" in text
    top = run_cli("--help")
    assert top.returncode == 0
    assert b"serve" in top.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["serve", "--port", "{port}", "--bogus"], "unrecognized arguments: --bogus"),
        (["serve", "--port", "{port}", "--eviction-policy", "lru"], "invalid choice: 'lru'"),
        (["serve", "--port", "{port}", "--log-level", "loud"], "invalid choice: 'loud'"),
        (["serve", "--port", "{port}", "--max-clients", "many"], "invalid int value"),
        (["serve"], "one of the arguments --port --unix is required"),
        (["start"], "invalid choice: 'start'"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(args, message):
    result = run_cli(*(a.format(port=free_port()) for a in args))
    assert result.returncode == 2
    assert b"usage: tiny-mp-cache" in result.stderr
    assert message in result.stderr.decode()


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-memory", "lots"], '"lots" is not a size'),
        (["--max-clients", "-1"], "max_clients must not be negative"),
        (["--loops", "-1"], "loops must not be negative"),
        (["--max-output-soft-seconds", "-1"], "max_output_soft_seconds must not be negative"),
        (["--host", "0.0.0.0"], "without a password"),
    ],
)
def test_bad_option_values_exit_1_with_a_clear_message(args, message):
    need_go()
    result = run_cli("serve", "--port", str(free_port()), *args)
    assert result.returncode == 1
    text = result.stderr.decode()
    assert text.startswith("tiny-mp-cache: error:")
    assert message in text
    assert "Traceback" not in text


def test_version_prints_the_packages_version():
    result = run_cli("--version")
    assert result.returncode == 0
    assert result.stdout.decode() == f"tiny-mp-cache {tiny_mp_cache.__version__}\n"


@pytest.mark.timeout(300)
def test_the_standalone_go_server_prints_the_same_version():
    go = need_tool("go")
    result = subprocess.run([go, "run", "./cmd/tiny-mp-cache-server", "--version"], cwd=os.path.join(ROOT, "go"),
                            capture_output=True, timeout=280)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == f"tiny-mp-cache-server {tiny_mp_cache.__version__}\n"


def test_the_console_script_is_declared():
    tomllib = pytest.importorskip("tomllib")
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        project = tomllib.load(f)["project"]
    assert project["scripts"]["tiny-mp-cache"] == "tiny_mp_cache.__main__:main"
    from tiny_mp_cache.__main__ import main

    with pytest.raises(SystemExit) as info:
        main(["serve", "--help"])
    assert info.value.code == 0


def test_the_installed_console_script_runs():
    script = shutil.which("tiny-mp-cache")
    if script is None:
        pytest.skip("tiny-mp-cache is not installed on PATH")
    result = subprocess.run([script, "serve", "--help"], capture_output=True, timeout=30)
    assert result.returncode == 0
    assert b"--max-memory" in result.stdout


# --- the standalone Go server takes the same options ---------------------------------


@pytest.fixture(scope="module")
def go_server_binary(tmp_path_factory: pytest.TempPathFactory) -> str:
    """go/cmd/tiny-mp-cache-server, built into a temporary directory."""
    go = need_tool("go")
    binary = str(tmp_path_factory.mktemp("bin") / "tiny-mp-cache-server")
    result = subprocess.run([go, "build", "-o", binary, "./cmd/tiny-mp-cache-server"], cwd=os.path.join(ROOT, "go"),
                            capture_output=True, timeout=280)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return binary


def listed_options(help_text: str) -> set[str]:
    """The --long-flags a --help output lists as options (not those its descriptions mention)."""
    return set(re.findall(r"^  (?:-\w, )?(--[a-z][a-z-]*)", help_text, re.MULTILINE))


@pytest.mark.timeout(300)
def test_the_go_server_lists_the_options_of_serve(go_server_binary: str) -> None:
    go = subprocess.run([go_server_binary, "--help"], capture_output=True, timeout=30)
    assert go.returncode == 0, go.stderr
    python = listed_options(run_cli("serve", "--help").stdout.decode()) | listed_options(run_cli("--help").stdout.decode())
    assert "--port" in python and "--ready-fd" in python and "--version" in python
    assert listed_options(go.stdout.decode()) == python


def serve_with(argv: list[str], ready_r: int, ready_w: int) -> tuple[str, subprocess.Popen]:
    """Start a server that writes its address to ready_w (--ready-fd) and stops at the end of its stdin; (address, process)."""
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(ready_w,))
    os.close(ready_w)
    try:
        with os.fdopen(ready_r, "r") as ready:
            return ready.readline().strip(), proc  # "" if it exits first
    except BaseException:
        proc.kill()
        proc.wait(10)
        raise


@pytest.mark.timeout(300)
@pytest.mark.parametrize("program", ["python", "go"])
def test_both_command_lines_serve_with_the_same_options(program: str, go_server_binary: str) -> None:
    need_go()
    path = os.path.join(short_tmpdir(), "s.sock")
    ready_r, ready_w = os.pipe()
    options = ["--unix", path, "--unix-mode", "640", "--password", "pw", "--max-memory", "10MB",
               "--eviction-policy", "noeviction", "--max-clients", "5", "--log-level", "warn", "--loops", "1",
               "--max-query", str(64 * MiB), "--max-output", str(256 * MiB), "--max-output-soft", str(32 * MiB),
               "--max-output-soft-seconds", "10", "--ready-fd", str(ready_w), "--stop-on-stdin-eof"]  # fmt: skip
    argv = cli("serve", *options) if program == "python" else [go_server_binary, *options]
    addr, proc = serve_with(argv, ready_r, ready_w)
    try:
        assert addr == f"unix://{path}"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
        with TinyCache(addr, _pure=True) as anonymous:
            with pytest.raises(tiny_mp_cache.ServerError, match="NOAUTH"):
                anonymous.get("k")
        with TinyCache(addr, _pure=True) as cache:
            cache.execute_command("AUTH", "pw")
            assert config(cache, "maxmemory") == str(10 * MiB)
            assert config(cache, "maxmemory-policy") == "noeviction"
            assert config(cache, "maxclients") == "5"
            assert config(cache, "client-query-buffer-limit") == str(64 * MiB)
            assert config(cache, "client-output-buffer-limit") == f"normal {256 * MiB} {32 * MiB} 10 pubsub {32 * MiB} {8 * MiB} 60"
        proc.stdin.close()  # --stop-on-stdin-eof
        proc.wait(20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == 0, err
    assert err.startswith(("tiny-mp-cache: serving on", "tiny-mp-cache-server: serving on"))  # not --quiet
    assert f"serving on unix://{path} (pid {proc.pid}); Ctrl-C to stop" in err
    assert not os.path.exists(path)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("program", ["python", "go"])
def test_both_command_lines_are_silent_with_quiet(program: str, go_server_binary: str) -> None:
    need_go()
    port = free_port()
    argv = cli("serve", "--port", str(port), "--quiet") if program == "python" else [go_server_binary, "--port", str(port), "--quiet"]
    server = ServerProcess(argv, f"127.0.0.1:{port}")
    try:
        with TinyCache(f"127.0.0.1:{port}", _pure=True) as cache:
            cache.set("k", b"v")
    finally:
        out, err = server.stop(signal.SIGTERM)
    assert server.proc.returncode == 0
    assert (out, err) == (b"", b"")  # the log's default level, warn, is quiet in normal operation
