"""The Python package on Windows: run by a Windows CPython under wine (.ci/platforms, windows).

    wine python.exe .ci/wine/py_test.py

The package (the win_amd64 wheel) and cffi come from PYTHONPATH. Checks,
each an assert: the package loads its DLL; start_server() serves on a free
TCP port (wine 8.0 has no AF_UNIX), with the Go client (cffi) and the pure
one: set, get, pop, delete, keys, len; stop() ends it; serve() in a
spawn-started process, as a Windows program runs it without start_server;
a connection to a refused port raises ConnectionError, within seconds, from
either client. Prints what it checked and how long the refused connect took.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
import time

import tiny_mp_cache
from tiny_mp_cache import ConnectionError, TinyCache, serve, start_server
from tiny_mp_cache import _bindings

REFUSED_TIMEOUT = 30.0  # the refused connects' timeout: they must fail on the refusal, long before it


def check_commands(addr: str, pure: bool) -> None:
    with TinyCache(addr, _pure=pure) as cache:
        cache.set("a", b"1")
        cache.set("b", b"2", ttl=60)
        assert cache.get("a") == b"1" and cache.get("missing") is None
        assert sorted(cache.keys("*")) == ["a", "b"] and cache.keys("z*") == [], cache.keys("*")
        assert len(cache) == 2 and cache.len() == 2
        assert cache.pop("a") == b"1" and cache.pop("a") is None
        cache.delete("b")
        assert len(cache) == 0 and cache.get("b") is None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refused_in(pure: bool) -> float:
    """Seconds until connecting to a closed port raises ConnectionError saying it was refused."""
    port = free_port()  # nothing listens there once the socket is closed
    start = time.monotonic()
    try:
        TinyCache(f"127.0.0.1:{port}", timeout=REFUSED_TIMEOUT, _pure=pure)
    except ConnectionError as e:
        seconds = time.monotonic() - start
        assert "refused" in str(e).lower() or "10061" in str(e), e  # WSAECONNREFUSED, not a timeout
        return seconds
    raise AssertionError(f"connecting to the closed port {port} did not raise ConnectionError")


def main() -> None:
    assert sys.platform == "win32" and os.name == "nt", sys.platform
    assert not tiny_mp_cache._platform.unix_sockets()
    _bindings.library()
    path = _bindings.library_path()
    assert path.endswith("libtinympcache.dll") and os.path.dirname(path) == os.path.dirname(tiny_mp_cache.__file__), path
    print(sys.version.split()[0], sys.platform, "loaded", path)

    server = start_server(max_memory="16MB")
    try:
        assert server.returncode is None
        for pure in (False, True):
            check_commands(server.addr, pure)
        print("start_server:", repr(server), "set/get/pop/delete/keys/len ok, Go and pure clients")
    finally:
        status = server.stop()
    assert server.returncode is not None, "stop() returned with the server still running"
    try:
        TinyCache(server.addr, timeout=2)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the stopped server still answers")
    print("stopped, status", status)

    port = free_port()
    proc = multiprocessing.get_context("spawn").Process(target=serve, args=(port,), daemon=True)
    proc.start()
    try:
        TinyCache(f"127.0.0.1:{port}", wait=60).close()  # the child imports the package first: slow under wine
        check_commands(f"127.0.0.1:{port}", pure=False)
        print("serve() in a spawned process on port", port, "ok")
    finally:
        proc.terminate()
        proc.join(30)
    assert proc.exitcode is not None, "the serve() process did not end"

    for pure in (False, True):
        seconds = refused_in(pure)
        print(f"refused connect ({'pure' if pure else 'Go'} client): ConnectionError in {seconds:.3f}s")
        assert seconds < REFUSED_TIMEOUT, f"the refused connect waited for its timeout ({seconds:.1f}s)"
    print("py_test: ok")


if __name__ == "__main__":
    main()
