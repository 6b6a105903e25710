"""The start-method matrix of issue 3: fork, forkserver and spawn, with and without the Go library loaded.

A Go runtime does not survive fork(): a process that inherited the loaded
library hangs on its first call into it. tiny_mp_cache loads the library on
first use, stamps it with the loading pid, and in a process that inherited it
uses the pure-Python client (TinyCache) or re-executes a fresh interpreter in
place (serve/serve_unix). These tests prove it under multiprocessing, for
every combination of

    start method     fork | forkserver | spawn
    parent's library lib_not_loaded               nothing loaded it
                     lib_loaded_by_cache          a TinyCache was created and used
                     lib_loaded_by_server_thread  a Go server runs in a thread of the parent
    the TinyCache    cache_from_parent            made by the parent, used by the child
                     cache_made_in_child          made by the child itself

Each scenario runs in a fresh interpreter, the "parent" (this pytest process
may have loaded the Go library, and must not fork after that), driven by
tests/_matrix_child.py: the children are joined with a deadline and killed if
they hang, the parent checks byte for byte what they left on the server, and
everything is reaped (run_isolated kills the scenario's whole process group).

What the cells show (and assert):
* fork after the library was loaded: the child's TinyCache, whether inherited
  or made there, is the pure-Python client on a connection of its own (a
  distinct CLIENT ID); the parent's own connection is untouched.
* fork before anything loaded it: a TinyCache made in the child loads a Go
  runtime of its own. A TinyCache made in the parent without loading the
  library is necessarily a pure-Python one (a Go-backed TinyCache connects,
  and so loads the library, in its constructor); the cell uses _pure=True.
* spawn, forkserver: children are fresh interpreters (forkserver's server
  process is one too), so a TinyCache made there uses Go.
* cache_from_parent under spawn/forkserver pickles the TinyCache into the
  child. It must either arrive working (a connection of its own) or fail at
  Process.start() with a clear TypeError that names TinyCache.

Python >= 3.12 emits "DeprecationWarning: This process ... is multi-threaded,
use of fork() may lead to deadlocks in the child" from os.fork() when the
process has other threads; once loaded, the Go runtime always has some. The
scenarios record what Process.start() emitted (see `fork_warnings` in the
test report's user_properties) and assert nothing about it. Observed: none on Python 3.11
(the check does not exist there); on 3.12.1 the warning was emitted for every
fork start with the library loaded (lib_loaded_by_cache and
lib_loaded_by_server_thread) and for none with lib_not_loaded. It is harmless
here, because a child that inherited the runtime never calls into it.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

import pytest
from conftest import TESTS, ServerProcess, need_go, run_python, start_tcp_server, start_unix_server

METHODS = ["fork", "forkserver", "spawn"]
LOADS = ["lib_not_loaded", "lib_loaded_by_cache", "lib_loaded_by_server_thread"]
WHERE = ["cache_from_parent", "cache_made_in_child"]

DRIVER = (
    f"import sys; sys.path.insert(0, {TESTS!r}); import _matrix_child; sys.exit(_matrix_child.main(sys.argv[1]))"
)


def record(request: pytest.FixtureRequest, name: str, value: object) -> None:
    """Keep an observation in the test report (user_properties; junit xml shows them) and in its output."""
    request.node.user_properties.append((name, value))
    print(f"{name}: {value!r}")


def run_scenario(spec: dict, timeout: float = 75) -> dict:
    """Run one scenario in a fresh interpreter and return what it observed; fail with its stderr."""
    result = run_python(DRIVER, json.dumps(spec), timeout=timeout)
    stderr = result.stderr.decode("utf-8", "replace")
    if len(stderr) > 12_000:  # an error message may quote a 200 kB value
        stderr = f"{stderr[:6000]}\n[... {len(stderr) - 12_000} characters ...]\n{stderr[-6000:]}"
    assert result.returncode == 0, f"the scenario failed (exit {result.returncode}):\n{stderr}"
    lines = [line for line in result.stdout.decode().splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"no result: stdout={result.stdout!r} stderr={stderr}"
    return json.loads(lines[0][len("RESULT "):])


@pytest.fixture
def own_server(request: pytest.FixtureRequest) -> Iterator[ServerProcess | None]:
    """A server for this scenario alone (so the parent can check the exact key count), unless the parent serves."""
    need_go()
    load = request.node.callspec.params["load"]
    if load == "lib_loaded_by_server_thread":
        yield None
        return
    server = start_tcp_server()
    try:
        yield server
    finally:
        server.stop()


def expected_child_kind(method: str, load: str, where: str) -> str:
    """Which client a child's TinyCache must be using."""
    if method != "fork":
        return "go"  # a fresh interpreter loads its own Go runtime
    if load != "lib_not_loaded":
        return "pure"  # the inherited Go runtime must never be called
    # Nothing was loaded before the fork: a cache made in the child loads Go;
    # the parent's cache was made pure (to leave the library unloaded).
    return "pure" if where == "cache_from_parent" else "go"


@pytest.mark.timeout(90)
@pytest.mark.parametrize("where", WHERE)
@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("method", METHODS)
def test_children_get_correct_results(method, load, where, own_server, request):
    """2 children at once do set/get/pop/keys/len round trips on their own keys; the parent verifies."""
    spec = {"mode": "matrix", "method": method, "load": load, "where": where}
    if own_server is not None:
        spec["addr"] = own_server.addr
    result = run_scenario(spec)
    record(request, "fork_warnings", result["fork_warnings"])

    if "start_error" in result:
        # Only sending a TinyCache through pickle (spawn, forkserver) may fail to start.
        assert method != "fork" and where == "cache_from_parent", result["start_error"]
        assert result["start_error_type"] == "TypeError" and "TinyCache" in result["start_error"], (
            f"a TinyCache made in the parent cannot be sent to a {method} child, and the error does not "
            f"say so: {result['start_error']!r}. Either it should pickle (and reconnect in the child) "
            "or raise a TypeError that names TinyCache."
        )
        return

    reports = result["reports"]
    assert len(reports) == 2
    assert len({r["pid"] for r in reports}) == 2
    if method == "fork" or where == "cache_made_in_child":
        want = expected_child_kind(method, load, where)
        assert [r["kind"] for r in reports] == [want, want], reports
    # Every child had a connection of its own, distinct from the parent's.
    ids = [r["client_id"] for r in reports] + [result.get("parent_client_id")]
    ids = [i for i in ids if i is not None]
    assert len(set(ids)) == len(ids), f"a connection was shared: {result}"
    if where == "cache_from_parent":
        # The parent's cache kept its own client and connection (checked by CLIENT ID in the driver).
        assert result["parent_kind_after"] == result["parent_kind"]
        assert result["parent_kind"] == ("pure" if load == "lib_not_loaded" else "go")


@pytest.mark.timeout(90)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_fork_children_share_one_parent_cache_concurrently(transport, request):
    """fork, library loaded: 4 children and the parent hammer one parent-made TinyCache at the same time.

    Replies would cross if a child used the parent's socket; every value is
    checked byte for byte, and the 5 CLIENT IDs must be distinct.
    """
    need_go()
    server = start_tcp_server() if transport == "tcp" else start_unix_server()
    try:
        result = run_scenario({"mode": "concurrent", "addr": server.addr})
    finally:
        server.stop()
    record(request, "fork_warnings", result["fork_warnings"])
    reports = result["reports"]
    assert len(reports) == 4
    assert [r["kind"] for r in reports] == ["pure"] * 4
    ids = [r["client_id"] for r in reports] + [result["parent_client_id"]]
    assert len(set(ids)) == 5, ids
    assert result["parent_kind"] == "go"
    assert result["parent_rounds"] >= 20


@pytest.mark.timeout(90)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
@pytest.mark.parametrize("load", LOADS)
@pytest.mark.parametrize("method", METHODS)
def test_serve_in_a_child_process(method, load, transport, request):
    """serve()/serve_unix() as a multiprocessing.Process target: it serves, terminate() stops it, join() returns.

    Under fork with the library loaded the child cannot use the inherited Go
    runtime and re-executes `python -m tiny_mp_cache serve` in place, so the
    pid (and multiprocessing's handle on it) stays the same. serve() returns
    None on SIGTERM, so the documented exit code is 0 either way; the unix
    socket file is removed.
    """
    need_go()
    spec = {"mode": "serving", "method": method, "load": load, "transport": transport}
    if load == "lib_loaded_by_cache":
        spec["addr"] = request.getfixturevalue("tcp_server").addr
    result = run_scenario(spec)
    record(request, "fork_warnings", result["fork_warnings"])
    record(request, "server_argv", result["argv"])

    want_reexec = method == "fork" and load != "lib_not_loaded"
    assert result["reexeced"] == want_reexec, result["argv"]
    assert result["client_kind"] == "go"
    assert result["joined"], "join(10) returned with the server still alive"
    assert result["exitcode"] == 0, result
    assert not result["still_answers"]
    if transport == "unix":
        assert not result["socket_file_left"], "the unix socket file was left behind"



NO_MAIN_GUARD = """
import multiprocessing, sys
from tiny_mp_cache import TinyCache, serve

port = int(sys.argv[1])
server = multiprocessing.get_context("spawn").Process(target=serve, args=(port,))
server.start()  # no main guard: the child, importing this script again, fails here
try:
    TinyCache(f"127.0.0.1:{port}", wait=2)
except ConnectionError as e:
    print(e)
server.join(30)
print("child exit code", server.exitcode)
"""


def test_a_wait_that_runs_out_says_a_spawned_server_needs_the_main_guard(tmp_path):
    from conftest import free_port, run_isolated

    need_go()
    script = tmp_path / "no_main_guard.py"
    script.write_text(NO_MAIN_GUARD)
    result = run_isolated([sys.executable, str(script), str(free_port())], timeout=60)
    out = result.stdout.decode()
    assert "child exit code 1" in out, (out, result.stderr.decode())
    assert "within wait=2s" in out and "spawn" in out and 'if __name__ == "__main__":' in out
