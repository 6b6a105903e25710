"""Drivers and child targets for tests/test_start_methods.py.

Each scenario of the start-method matrix runs in a fresh interpreter (the
"parent"), started by the test with conftest.run_python:

    import _matrix_child; _matrix_child.main('{"mode": "matrix", ...}')

The parent sets up the Go library state the scenario asks for, starts
multiprocessing children with the scenario's start method, joins each with a
deadline (killing it if it hangs), verifies byte for byte what the children
left on the server, and prints one line "RESULT {json}" with what it observed.
A failed check raises, so the parent exits non-zero with the reason on stderr.

The child targets are top-level functions of this importable module, so the
spawn and forkserver start methods can find them (the test puts tests/ on
sys.path, which multiprocessing passes on to its children).

Only the standard library and tiny_mp_cache are used here.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import shutil
import socket
import tempfile
import threading
import time
import warnings
from typing import Any, Callable

from tiny_mp_cache import TinyCache, serve, serve_unix
from tiny_mp_cache._server import server_argv

LIB_NAME = b"libtinympcache"
JOIN_SECONDS = 30.0  # a child still alive after this is hung: it is killed and the scenario fails

# Value sizes cycle through these: empty, tiny, and values larger than any
# single socket read, so a reply cut or crossed in the wrong place shows.
SIZES = [0, 1, 2, 17, 255, 1024, 4096, 65537, 200_003]


# --- values -------------------------------------------------------------------


def value_for(prefix: str, i: int) -> bytes:
    """The value a child stores under key i of prefix: deterministic, binary, full of RESP framing bytes."""
    size = SIZES[i % len(SIZES)]
    if size == 0:
        return b""
    head = f"{prefix}{i}\r\n$-1\r\n*2\r\n:0\r\n+OK\r\n-ERR\r\n\x00".encode()
    body = random.Random(f"{prefix}/{i}").randbytes(size)
    return (head + body)[:size]


def keys_for(prefix: str, n: int) -> dict[str, bytes]:
    return {f"{prefix}{i:04d}": value_for(prefix, i) for i in range(n)}


def popped_by_child(keys: list[str]) -> list[str]:
    """The keys a child pops again; the others stay for the parent to check."""
    return keys[::2]


def kind_of(cache: TinyCache) -> str:
    """Which client a TinyCache is using in this process: "go" or "pure" (from its repr)."""
    return repr(cache).rsplit(" ", 1)[-1].rstrip(">")


def lib_mapped() -> bool:
    with open("/proc/self/maps", "rb") as f:
        return LIB_NAME in f.read()


def check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def same_bytes(got: Any, want: bytes, what: str) -> None:
    if got != want:
        got_text = repr(got) if not isinstance(got, bytes) else f"{len(got)} bytes starting {got[:40]!r}"
        raise AssertionError(f"{what}: got {got_text}, want {len(want)} bytes starting {want[:40]!r}")


# --- the child ------------------------------------------------------------------


def exercise(cache: TinyCache, prefix: str, n: int) -> None:
    """set/get/keys/len/pop round trips on this prefix's own keys; leaves every other key for the parent."""
    values = keys_for(prefix, n)
    for key, value in values.items():
        cache.set(key, value)
        same_bytes(cache.get(key), value, f"get({key!r}) right after set")
    listed = cache.keys(prefix + "*")
    check(listed == sorted(values), f"keys({prefix!r}*) = {listed}, want {sorted(values)}")
    size = cache.len()
    check(size >= n, f"len() = {size} while this child alone holds {n} keys")
    popped = popped_by_child(list(values))
    for key in popped:
        same_bytes(cache.pop(key), values[key], f"pop({key!r})")
        check(cache.get(key) is None, f"get({key!r}) after pop is not None")
        check(cache.pop(key) is None, f"a second pop({key!r}) is not None")
    left = sorted(set(values) - set(popped))
    listed = cache.keys(prefix + "*")
    check(listed == left, f"keys({prefix!r}*) after the pops = {listed}, want {left}")


def run_child(target: TinyCache | str, prefix: str, n: int, report_key: str) -> None:
    """A child's work. target is a TinyCache made by the parent, or the address to make one here."""
    cache = target if isinstance(target, TinyCache) else TinyCache(target)
    client_id = cache.execute_command("CLIENT", "ID")
    exercise(cache, prefix, n)
    check(cache.execute_command("CLIENT", "ID") == client_id, "the child's connection changed while it worked")
    report = {"pid": os.getpid(), "kind": kind_of(cache), "client_id": client_id}
    cache.set(report_key, json.dumps(report).encode())


# --- the parent: loading the Go library --------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers_ping(family: int, sockaddr: Any) -> bool:
    try:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(1.0)
            s.connect(sockaddr)
            s.sendall(b"*1\r\n$4\r\nPING\r\n")
            return s.recv(64) == b"+PONG\r\n"
    except OSError:
        return False


class ServerThread:
    """A Go server run by tiny_mp_cache's serve loop in a daemon thread of this process.

    serve() itself only stops on a signal, which a non-main thread cannot
    take, so this uses the same internals serve() uses (_server._serve with
    a Go Server, and SIGTERM caught in Go as serve() in a thread has it) and
    keeps the Server to stop it.
    """

    def __init__(self) -> None:
        from tiny_mp_cache import _bindings, _server

        lib = _bindings.library()
        check(lib is not None, "the parent has no usable Go library")
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        self._servers: list[Any] = []
        ready = threading.Event()

        def start() -> Any:
            server = _bindings.Server(lib, {"network": "tcp", "addr": self.addr})
            self._servers.append(server)
            return server

        args = (start, lambda addr: ready.set(), lib.tmc_server_stop_on_sigterm)
        self.thread = threading.Thread(target=_server._serve, args=args, daemon=True, name="tmc-server")
        self.thread.start()
        check(ready.wait(15), "the server thread did not start")

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
        self.thread.join(10)
        check(not self.thread.is_alive(), "the server thread did not stop")


class Parent:
    """This process's Go library state before it starts children.

    load is one of
        lib_not_loaded               nothing has loaded the Go library
        lib_loaded_by_cache          a TinyCache was created and used (Go client)
        lib_loaded_by_server_thread  a Go server runs in a thread of this process
    addr is the server that the matrix's children use and the cache loads
    from; with a server thread, the children use that server instead.
    """

    def __init__(self, load: str, addr: str | None):
        self.load = load
        self.server: ServerThread | None = None
        self.cache: TinyCache | None = None
        check(not lib_mapped(), "the Go library was loaded before the scenario began")
        if load == "lib_not_loaded":
            self.addr = addr
        elif load == "lib_loaded_by_cache":
            check(addr is not None, "no server address")
            self.addr = addr
            self.cache = TinyCache(addr)
            self.cache.set("parent:warmup", b"w")
            same_bytes(self.cache.pop("parent:warmup"), b"w", "the parent's warm-up pop")
            check(kind_of(self.cache) == "go", f"the parent's cache is {self.cache!r}")
        elif load == "lib_loaded_by_server_thread":
            self.server = ServerThread()
            self.addr = self.server.addr
        else:
            raise ValueError(load)
        check(lib_mapped() == (load != "lib_not_loaded"), "the Go library's load state is not the scenario's")

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        if self.server is not None:
            self.server.stop()


def start_recording(proc: Any, record: list[str]) -> None:
    """proc.start(), recording the fork-with-threads DeprecationWarning (Python >= 3.12) if one is emitted."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        proc.start()
    record.extend(f"{w.category.__name__}: {w.message}" for w in caught)


def join_all(procs: list[Any]) -> list[str]:
    """Join every child within JOIN_SECONDS; kill the hung ones. Returns what went wrong."""
    problems = []
    deadline = time.monotonic() + JOIN_SECONDS
    for i, proc in enumerate(procs):
        proc.join(max(0.1, deadline - time.monotonic()))
        if proc.is_alive():
            problems.append(f"child {i} (pid {proc.pid}) hung: killed after {JOIN_SECONDS}s")
            proc.kill()
            proc.join(10)
        elif proc.exitcode != 0:
            problems.append(f"child {i} (pid {proc.pid}) exited with {proc.exitcode}")
    return problems


def reap(procs: list[Any]) -> None:
    for proc in procs:
        if proc.pid is not None and proc.exitcode is None:
            proc.kill()
            proc.join(10)


def verify(cache: TinyCache, prefixes: list[str], n: int, report_keys: list[str]) -> list[dict[str, Any]]:
    """Check, byte for byte, what each child left; take its report; remove everything. Returns the reports."""
    reports = []
    for prefix, report_key in zip(prefixes, report_keys):
        raw = cache.pop(report_key)
        check(raw is not None, f"no report under {report_key!r}")
        reports.append(json.loads(raw))
        values = keys_for(prefix, n)
        popped = popped_by_child(list(values))
        left = sorted(set(values) - set(popped))
        listed = cache.keys(prefix + "*")
        check(listed == left, f"the parent sees keys({prefix!r}*) = {listed}, want {left}")
        for key in popped:
            check(cache.get(key) is None, f"{key!r}, popped by the child, is back")
        for key in left:
            same_bytes(cache.pop(key), values[key], f"the parent's pop({key!r})")
    return reports


# --- scenarios -----------------------------------------------------------------


def matrix(spec: dict[str, Any]) -> dict[str, Any]:
    """One cell: 2 children at once, each doing round trips on its own keys; the parent verifies."""
    method, where, n = spec["method"], spec["where"], spec.get("n", 40)
    ctx = mp.get_context(method)
    parent = Parent(spec["load"], spec.get("addr"))
    check(parent.addr is not None, "no server address")
    procs: list[Any] = []
    result: dict[str, Any] = {"fork_warnings": [], "parent_lib_mapped": lib_mapped()}
    try:
        shared: TinyCache | None = None
        if where == "cache_from_parent":
            if parent.cache is not None:
                shared = parent.cache
            else:
                # Creating a Go-backed TinyCache loads the library. Without
                # it loaded, a cache made in the parent is a pure-Python one.
                pure = parent.load == "lib_not_loaded"
                shared = TinyCache(parent.addr, _pure=pure)
                shared.set("parent:warmup", b"w")
                shared.delete("parent:warmup")
            result["parent_kind"] = kind_of(shared)
            result["parent_client_id"] = shared.execute_command("CLIENT", "ID")
        check(lib_mapped() == (parent.load != "lib_not_loaded"), "the Go library's load state changed")
        prefixes = [f"{method}/{parent.load}/{where}/child{i}/" for i in range(2)]
        report_keys = [f"report/{p}" for p in prefixes]
        for prefix, report_key in zip(prefixes, report_keys):
            target = shared if shared is not None else parent.addr
            proc = ctx.Process(target=run_child, args=(target, prefix, n, report_key), daemon=True)
            procs.append(proc)
            try:
                start_recording(proc, result["fork_warnings"])
            except Exception as e:
                # Only a cache that must be pickled (spawn, forkserver) can get here.
                result["start_error"] = f"{type(e).__name__}: {e}"
                result["start_error_type"] = type(e).__name__
                return result
        problems = join_all(procs)
        check(not problems, "; ".join(problems))
        checker = shared if shared is not None else parent.cache or TinyCache(parent.addr)
        result["parent_kind_checking"] = kind_of(checker)
        result["reports"] = verify(checker, prefixes, n, report_keys)
        if shared is not None:
            # The parent's own connection was never touched by the children.
            same = shared.execute_command("CLIENT", "ID")
            check(same == result["parent_client_id"], "the parent's connection changed while the children worked")
            result["parent_kind_after"] = kind_of(shared)
        # Every cell has a server of its own, so nothing else is on it.
        left = checker.len()
        check(left == 0, f"{left} keys left on the server after the parent took everything")
        if checker is not shared and checker is not parent.cache:
            checker.close()
        return result
    finally:
        reap(procs)
        parent.close()


def concurrent(spec: dict[str, Any]) -> dict[str, Any]:
    """fork: 4 children and the parent hammer one parent-created TinyCache at once."""
    n, children = spec.get("n", 120), spec.get("children", 4)
    ctx = mp.get_context("fork")
    parent = Parent("lib_loaded_by_cache", spec["addr"])
    procs: list[Any] = []
    result: dict[str, Any] = {"fork_warnings": []}
    try:
        cache = parent.cache
        assert cache is not None
        parent_id = cache.execute_command("CLIENT", "ID")
        prefixes = [f"concurrent/child{i}/" for i in range(children)]
        report_keys = [f"report/{p}" for p in prefixes]
        for prefix, report_key in zip(prefixes, report_keys):
            proc = ctx.Process(target=run_child, args=(cache, prefix, n, report_key), daemon=True)
            procs.append(proc)
            start_recording(proc, result["fork_warnings"])
        # The parent keeps using the same object, and so its own socket, meanwhile.
        rounds = 0
        while rounds < 20 or any(p.is_alive() for p in procs):
            prefix = f"concurrent/parent/{rounds}/"
            values = keys_for(prefix, len(SIZES))
            for key, value in values.items():
                cache.set(key, value)
            for key, value in values.items():
                same_bytes(cache.pop(key), value, f"the parent's pop({key!r}) while the children ran")
            rounds += 1
            check(rounds < 10_000, "the children never finished")
        problems = join_all(procs)
        check(not problems, "; ".join(problems))
        reports = verify(cache, prefixes, n, report_keys)
        ids = [r["client_id"] for r in reports]
        check(len(set(ids + [parent_id])) == children + 1, f"connections shared: parent {parent_id}, children {ids}")
        check(cache.execute_command("CLIENT", "ID") == parent_id, "the parent's connection changed")
        check(cache.len() == 0, "keys left over")
        result.update(reports=reports, parent_client_id=parent_id, parent_rounds=rounds, parent_kind=kind_of(cache))
        return result
    finally:
        reap(procs)
        parent.close()


def serving(spec: dict[str, Any]) -> dict[str, Any]:
    """serve()/serve_unix() as the target of a multiprocessing.Process; terminate() and join() it."""
    method, transport = spec["method"], spec["transport"]
    ctx = mp.get_context(method)
    parent = Parent(spec["load"], spec.get("addr"))
    tmpdir = tempfile.mkdtemp(prefix="tmc-sm-", dir="/tmp")
    proc: Any = None
    result: dict[str, Any] = {"fork_warnings": []}
    try:
        if transport == "tcp":
            port = free_port()
            addr, family, sockaddr = f"127.0.0.1:{port}", socket.AF_INET, ("127.0.0.1", port)
            proc = ctx.Process(target=serve, args=(port,), daemon=True)
        else:
            path = os.path.join(tmpdir, "s.sock")
            addr, family, sockaddr = f"unix://{path}", socket.AF_UNIX, path
            proc = ctx.Process(target=serve_unix, args=(path,), daemon=True)
        start_recording(proc, result["fork_warnings"])
        deadline = time.monotonic() + 20
        while not answers_ping(family, sockaddr):
            check(proc.exitcode is None, f"the server exited with {proc.exitcode} before it answered")
            check(time.monotonic() < deadline, "the server never answered PING")
            time.sleep(0.02)
        with open(f"/proc/{proc.pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
        result["reexeced"] = [a.decode() for a in argv[1:5]] == server_argv()[1:5]
        result["argv"] = [a.decode("utf-8", "replace") for a in argv if a][:8]
        with TinyCache(addr) as cache:
            for i in range(len(SIZES)):
                key, value = f"served/{i}", value_for("served/", i)
                cache.set(key, value)
                same_bytes(cache.get(key), value, f"get({key!r})")
                same_bytes(cache.pop(key), value, f"pop({key!r})")
            check(cache.keys("served/*") == [], "keys left")
            result["client_kind"] = kind_of(cache)
        proc.terminate()
        proc.join(10)
        result["joined"] = not proc.is_alive()
        result["exitcode"] = proc.exitcode
        if transport == "unix":
            result["socket_file_left"] = os.path.exists(sockaddr)
        result["still_answers"] = answers_ping(family, sockaddr)
        return result
    finally:
        if proc is not None:
            reap([proc])
        parent.close()
        shutil.rmtree(tmpdir, ignore_errors=True)


SCENARIOS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "matrix": matrix,
    "concurrent": concurrent,
    "serving": serving,
}


def main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    result = SCENARIOS[spec["mode"]](spec)
    print("RESULT " + json.dumps(result), flush=True)
    return 0
