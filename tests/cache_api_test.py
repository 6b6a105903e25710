"""Basic API check in one process: set/get/pop/delete/keys/len over TCP and a unix socket.

    python tests/cache_api_test.py

Starts its own servers (`python -m tiny_mp_cache serve`, through
server_argv: they import the same package as this script, whatever the
current directory) on a free port and a temporary socket, stops and reaps
them, and exits non-zero on any failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

from tiny_mp_cache import TinyCache
from tiny_mp_cache._server import server_argv

failures = []


def check(condition: bool, what: str) -> None:
    if condition:
        print(f"  ok   {what}")
    else:
        print(f"  FAIL {what}")
        failures.append(what)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(args: list, addr: str) -> subprocess.Popen:
    proc = subprocess.Popen(server_argv(*args))
    deadline = time.monotonic() + 15
    while True:
        try:
            TinyCache(addr, timeout=1.0).close()
            return proc
        except ConnectionError:
            if proc.poll() is not None or time.monotonic() > deadline:
                stop_server(proc)
                raise RuntimeError(f"the server {args} did not start")
            time.sleep(0.05)


def stop_server(proc: subprocess.Popen) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        return -9


def check_api(cache: TinyCache) -> None:
    check(cache.len() == 0, "a new server is empty")

    cache.set("user:1", b"payload")
    check(cache.get("user:1") == b"payload", "get returns what set stored")
    check(cache.get("user:404") is None, "get of a missing key is None")

    cache.set("user:1", b"changed")
    check(cache.get("user:1") == b"changed", "set overwrites")

    cache.set("job:123", b"work")
    check(cache.pop("job:123") == b"work", "pop returns the value")
    check(cache.get("job:123") is None, "pop removes the key")
    check(cache.pop("job:123") is None, "pop of a missing key is None")

    check(cache.delete("user:1") == 1, "delete of an existing key is 1")
    check(cache.delete("user:1") == 0, "delete of a missing key is 0")

    for i in range(5):
        cache.set(f"job:{i}", f"job-{i}".encode())
    cache.set("other", b"x")
    check(sorted(cache.keys("job:*")) == [f"job:{i}" for i in range(5)], 'keys("job:*") lists the jobs')
    check(sorted(cache.keys("*")) == sorted([f"job:{i}" for i in range(5)] + ["other"]), 'keys("*") lists all')
    check(cache.keys("nothing:*") == [], "keys with no match is []")
    check(cache.len() == 6, "len counts the keys")

    cache.set("empty", b"")
    check(cache.get("empty") == b"", "an empty value is b'' not None")

    cache.set("ключ", "значение".encode())
    check(cache.get("ключ").decode("utf-8") == "значение", "non-ASCII keys and values")

    big = os.urandom(1 << 20) * 16
    cache.set("big", big)
    check(cache.get("big") == big, "a 16 MiB value round-trips")

    try:
        cache.set("k", "not bytes")  # type: ignore[arg-type]
        check(False, "a str value raises TypeError")
    except TypeError:
        check(True, "a str value raises TypeError")
    try:
        cache.get(b"k")  # type: ignore[arg-type]
        check(False, "a bytes key raises TypeError")
    except TypeError:
        check(True, "a bytes key raises TypeError")

    for key in cache.keys("*"):
        cache.delete(key)
    check(cache.len() == 0, "everything deleted")


def main() -> int:
    tmpdir = tempfile.mkdtemp(prefix="tmc-api-")
    port = free_port()
    sock_path = os.path.join(tmpdir, "cache.sock")
    try:
        for name, args, addr in [
            ("tcp", ["--port", str(port)], f"127.0.0.1:{port}"),
            ("unix", ["--unix", sock_path], f"unix://{sock_path}"),
        ]:
            print(f"{name}: {addr}")
            proc = start_server(args, addr)
            try:
                with TinyCache(addr) as cache:
                    check_api(cache)
            except Exception:
                traceback.print_exc()
                failures.append(f"{name}: exception")
            finally:
                rc = stop_server(proc)
                check(rc == 0, f"{name}: the server exits 0 on SIGTERM")
            if name == "unix":
                check(not os.path.exists(sock_path), "unix: the server removed its socket file")
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    if failures:
        print(f"FAILED: {len(failures)} check(s)")
        return 1
    print("ALL OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
