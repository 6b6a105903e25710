"""What differs on macOS and Windows (issue 9): the library's name, fork, spawn, unix sockets.

Only Linux is tested on this project's machine. The decisions are pure
functions of the platform facts (tiny_mp_cache/_platform.py), checked here
for every platform's values; the rest of this file runs as is on macOS and
Windows too, in the wheels workflow (.github/workflows/wheels.yml).
"""

from __future__ import annotations

import ast
import errno
import json
import os
import socket
import sys
import textwrap
import types

import pytest
from conftest import ROOT, free_port, need_go, run_isolated

import tiny_mp_cache
from tiny_mp_cache import TinyCache, serve_unix
from tiny_mp_cache.__main__ import main as cli_main
from tiny_mp_cache._bindings import library_path
from tiny_mp_cache._platform import at_fork, library_name, unix_sockets

# What `go build -buildmode=c-shared` makes, and what the build must name it.
NATIVE_NAME = {"linux": "libtinympcache.so", "darwin": "libtinympcache.dylib", "win32": "libtinympcache.dll"}


@pytest.mark.parametrize(
    "platform, name",
    [*NATIVE_NAME.items(), ("freebsd14", "libtinympcache.so")],
)
def test_library_name_per_platform(platform: str, name: str) -> None:
    assert library_name(platform) == name


def test_the_build_names_the_library_as_the_bindings_load_it() -> None:
    """setup.py's LIB_NAME (the file the build writes) equals library_name (the file loaded), per platform.

    setup.py names it for $GOOS when that is set (a cross build), else for
    the platform it runs on.
    """
    with open(os.path.join(ROOT, "setup.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())

    def assignment(name: str):
        assigned = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets)
        ]
        assert len(assigned) == 1, f"setup.py should assign {name} once"
        return compile(ast.Expression(assigned[0]), "setup.py", "eval")

    goos, lib_name = assignment("GOOS"), assignment("LIB_NAME")

    def built(platform: str, environ: dict) -> str:
        names = {"sys": types.SimpleNamespace(platform=platform), "os": types.SimpleNamespace(environ=environ)}
        names["GOOS"] = eval(goos, names)
        return eval(lib_name, names)

    for platform in [*NATIVE_NAME, "freebsd14"]:
        assert built(platform, {}) == library_name(platform), platform
    # a cross build names the library for its target, not for the machine
    assert built("linux", {"GOOS": "windows"}) == library_name("win32")
    assert built("linux", {"GOOS": "darwin"}) == library_name("darwin")


def test_library_is_loaded_from_this_platforms_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TINY_MP_CACHE_LIB", raising=False)
    path = library_path()
    assert os.path.basename(path) == NATIVE_NAME[sys.platform]
    assert os.path.dirname(path) == os.path.dirname(os.path.abspath(tiny_mp_cache.__file__))


def test_built_library_is_found_and_loads() -> None:
    need_go()  # under TINY_MP_CACHE_REQUIRE_GO=1 (CI, the wheels workflow): fails if the build misnamed it
    from tiny_mp_cache import _bindings

    assert _bindings.library() is not None


@pytest.mark.parametrize(
    "platform, has_af_unix, supported",
    [
        ("linux", True, True),
        ("darwin", True, True),
        ("win32", True, False),  # newer Windows Pythons may have AF_UNIX: still refused
        ("win32", False, False),
        ("linux", False, False),
    ],
)
def test_unix_sockets_where_the_platform_has_them(platform: str, has_af_unix: bool, supported: bool) -> None:
    assert unix_sockets(platform, has_af_unix) is supported


def test_unix_sockets_are_supported_here_unless_windows() -> None:
    assert unix_sockets() is (sys.platform != "win32")


def _assert_unsupported(err: OSError) -> None:
    assert err.errno == errno.EAFNOSUPPORT
    assert "unix sockets are not supported" in str(err)
    assert "127.0.0.1" in str(err)  # the way out


def test_without_af_unix_unix_addresses_fail_clearly(monkeypatch: pytest.MonkeyPatch, tmp_path, capsys) -> None:
    """As on a Python without AF_UNIX: a clear OSError from every entry point, before any socket."""
    monkeypatch.delattr(socket, "AF_UNIX", raising=False)
    path = str(tmp_path / "x.sock")
    for pure in (False, True):
        with pytest.raises(OSError) as info:
            TinyCache(f"unix://{path}", _pure=pure)
        _assert_unsupported(info.value)
    with pytest.raises(OSError) as info:
        serve_unix(path)
    _assert_unsupported(info.value)
    assert not os.path.exists(path)
    assert cli_main(["serve", "--unix", path]) == 1
    assert "unix sockets are not supported" in capsys.readouterr().err
    with pytest.raises(ValueError, match="invalid address"):  # malformed is malformed everywhere
        TinyCache("unix://relative.sock")


def test_at_fork_is_a_no_op_without_fork(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "register_at_fork", raising=False)
    at_fork(after_in_child=lambda: None)  # Windows has no os.register_at_fork


def test_the_package_imports_without_fcntl() -> None:
    """Windows has no fcntl module: the package imports, and big values simply do not go through memfds."""
    code = (
        "import sys; sys.modules['fcntl'] = None\n"  # `import fcntl` raises ImportError, as on Windows
        "import tiny_mp_cache, tiny_mp_cache._shared as shared\n"
        "assert not shared.available()\n"
    )
    proc = run_isolated([sys.executable, "-c", code], timeout=60, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")


def test_sigterm_off_the_main_thread_needs_no_fork_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve() off the main thread asks Go to stop on SIGTERM and guards fork(), where there is fork."""
    from tiny_mp_cache import _server

    monkeypatch.delattr(os, "register_at_fork", raising=False)
    monkeypatch.setattr(_server, "_at_fork_registered", False)
    asked = []
    _server._stop_on_sigterm_in_go(lambda: asked.append(True))
    assert asked == [True]


# A program as a Windows or macOS user writes it: no fork API at all (as on
# Windows), processes started with spawn (the default on both), a server in
# a child process, workers that get the cache by pickling.
SPAWN_PROGRAM = textwrap.dedent(
    """
    import json
    import os
    import random  # registers its fork hook now: on Windows it has none to register
    import sys
    import time

    if hasattr(os, "register_at_fork"):
        del os.register_at_fork  # as on Windows

    import multiprocessing

    from tiny_mp_cache import ConnectionError, TinyCache, serve


    def worker(cache, n):
        cache.set(f"from-worker-{n}", str(os.getpid()).encode())


    if __name__ == "__main__":
        port = int(sys.argv[1])
        ctx = multiprocessing.get_context("spawn")
        server = ctx.Process(target=serve, args=(port,), daemon=True)
        server.start()
        deadline = time.monotonic() + 60
        while True:
            try:
                cache = TinyCache(f"127.0.0.1:{port}")
                break
            except ConnectionError:
                if time.monotonic() > deadline or not server.is_alive():
                    raise
                time.sleep(0.05)
        workers = [ctx.Process(target=worker, args=(cache, n)) for n in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        pids = [(cache.get(f"from-worker-{n}") or b"").decode() for n in range(2)]
        server.terminate()
        server.join(30)
        print(json.dumps({"exitcodes": [w.exitcode for w in workers], "pids": pids, "parent": str(os.getpid())}))
    """
)


@pytest.mark.timeout(180)
def test_spawn_without_fork_api(tmp_path) -> None:
    need_go()
    script = tmp_path / "app.py"
    script.write_text(SPAWN_PROGRAM)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(tiny_mp_cache.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p))
    proc = run_isolated([sys.executable, str(script), str(free_port())], timeout=150, env=env, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    result = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    assert result["exitcodes"] == [0, 0]
    pids = result["pids"]
    assert all(p.isdigit() for p in pids) and len(set(pids)) == 2, f"each worker sets its own key from its own process: {pids}"
    assert result["parent"] not in pids
