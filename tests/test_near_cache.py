"""The near cache (TinyCache(addr, near_cache=N)): hits never leave the process, and never return a stale value.

Writes come from another process (a Writer, with its own connection), so
nothing in this process can tell the near cache about them: only the
server's shared table of versions can.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import pwd
import re
import select
import shutil
import struct
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Iterator

import pytest

from conftest import need_go, near_tables, short_tmpdir, socket_digest, start_tcp_server, start_unix_server
from tiny_mp_cache import AsyncTinyCache, ConnectionError, ServerError, TinyCache, _near

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the near cache needs /dev/shm and the epoll loop (Linux)")

ROOT = Path(__file__).resolve().parent.parent

_WRITER = r"""
import sys
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1], _pure=True)
for line in sys.stdin:
    args = eval(line)
    try:
        result = cache.execute_command(*args)
    except Exception as e:
        result = f"error: {e}"
    print(repr(result), flush=True)
"""


class Writer:
    """Another process with its own connection: execute_command() there, and wait for the server's acknowledgement."""

    def __init__(self, addr: str):
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _WRITER, addr],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
        )

    def __call__(self, *args: Any, timeout: float = 10.0) -> Any:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(repr(args) + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        assert ready, f"the writer did not answer {args} within {timeout}s"
        line = self.proc.stdout.readline()
        assert line, "the writer died"
        return eval(line)

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


def portable(addr: str) -> bool:
    """Whether the server at addr runs the portable loop (-tags tmc_portable), which has no near cache."""
    with TinyCache(addr, _pure=True) as cache:
        return cache.info("server")["multiplexing_api"] == "goroutines"


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    need_go()
    srv = start_unix_server()
    if portable(srv.addr):
        srv.stop()
        pytest.skip("the portable loop has no near cache (see test_the_portable_loop_refuses)")
    yield srv
    srv.stop()


@pytest.fixture
def writer(server: Any) -> Iterator[Writer]:
    w = Writer(server.addr)
    w("FLUSHALL")
    yield w
    w.close()


@pytest.fixture(params=["go", "pure"])
def near(request: pytest.FixtureRequest, server: Any) -> Iterator[Any]:
    """A factory of TinyCaches with a near cache on the module's server; closed afterwards."""
    made: list[TinyCache] = []

    def make(n: int = 100, addr: str | None = None, **kwargs: Any) -> TinyCache:
        cache = TinyCache(addr or server.addr, near_cache=n, _pure=request.param == "pure", **kwargs)
        made.append(cache)
        return cache

    yield make
    for cache in made:
        cache.close()


def get_calls(cache: TinyCache, command: str = "get") -> int:
    stats = cache.info("commandstats").get(f"cmdstat_{command}", "calls=0")
    return int(re.match(r"calls=(\d+)", stats).group(1))  # type: ignore[union-attr]


# --- hits ----------------------------------------------------------------------


def test_hits_are_served_without_the_server(near: Any, writer: Writer) -> None:
    cache = near()
    writer("SET", "k", "v")
    before = get_calls(cache)
    assert [cache.get("k") for _ in range(100)] == [b"v"] * 100
    assert cache.mget(["k", "k"]) == [b"v", b"v"]
    assert get_calls(cache) == before + 1  # the one fill
    stats = cache.near_cache_stats()
    assert stats["mode"] == "shared-memory" and stats["reason"] == ""
    assert (stats["hits"], stats["misses"], stats["entries"]) == (101, 1, 1)


def test_missing_keys_are_cached_too(near: Any, writer: Writer) -> None:
    cache = near()
    assert cache.get("nothing") is None
    assert cache.get("nothing") is None
    assert cache.near_cache_stats()["hits"] == 1
    writer("SET", "nothing", "now")
    assert cache.get("nothing") == b"now"


def test_mget_fetches_only_the_misses_in_one_call(near: Any, writer: Writer) -> None:
    cache = near()
    writer("MSET", "a", "1", "b", "2")
    assert cache.get("a") == b"1"
    mgets = get_calls(cache, "mget")
    assert cache.mget(["a", "b", "c", "a"]) == [b"1", b"2", None, b"1"]
    assert get_calls(cache, "mget") == mgets + 1
    assert cache.mget(iter(["b", "c"])) == [b"2", None]
    assert get_calls(cache, "mget") == mgets + 1
    stats = cache.near_cache_stats()
    assert (stats["hits"], stats["misses"]) == (4, 3)
    assert cache.mget([]) == []
    with pytest.raises(TypeError):
        cache.mget("a")
    with pytest.raises(TypeError):
        cache.get(b"a")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        cache.get(["a"])  # type: ignore[arg-type]


# --- every change from another process is seen by the next read ------------------

# (what the writer does after "k" = "old" was read into the near cache, what get("k") must then give)
CHANGES = {
    "set": ([("SET", "k", "new")], b"new"),
    "set with ttl": ([("SET", "k", "new", "PX", "100000")], b"new"),
    "mset": ([("MSET", "x", "1", "k", "new")], b"new"),
    "delete": ([("DEL", "k")], None),
    "pop": ([("GETDEL", "k")], None),
    "incr": ([("SET", "k", "1"), ("INCRBY", "k", "41")], b"42"),
    "expire": ([("PEXPIRE", "k", "1")], None),
    "flush": ([("FLUSHDB",)], None),
    "flushall": ([("FLUSHALL",)], None),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_a_write_from_another_process_is_seen(near: Any, writer: Writer, change: str) -> None:
    cache = near()
    writer("SET", "k", "old")
    assert cache.get("k") == b"old"
    assert cache.get("k") == b"old"
    assert cache.near_cache_stats()["hits"] == 1
    commands, want = CHANGES[change]
    for args in commands:
        writer(*args)
    time.sleep(0.005)  # PEXPIRE k 1: let its millisecond pass
    assert cache.get("k") == want
    assert cache.mget(["k"]) == [want]


def test_persist_invalidates(near: Any, writer: Writer) -> None:
    # PERSIST changes no value, only the deadline the near cache keeps:
    # the next read must go to the server (and keep the key for good).
    cache = near()
    writer("SET", "k", "v", "PX", "100000")
    assert cache.get("k") == b"v"
    writer("PERSIST", "k")
    misses = cache.near_cache_stats()["misses"]
    assert cache.get("k") == b"v"
    assert cache.near_cache_stats()["misses"] == misses + 1


def test_list_changes_are_seen(near: Any, writer: Writer) -> None:
    cache = near()
    assert cache.get("l") is None  # cached: no such key
    writer("RPUSH", "l", "a")
    with pytest.raises(ServerError, match="WRONGTYPE"):
        cache.get("l")
    assert cache.mget(["l"]) == [None]  # MGET gives None for a list
    writer("LPOP", "l")  # the list goes with its last value
    assert cache.get("l") is None
    writer("SET", "l", "s")
    assert cache.get("l") == b"s"


def test_ttl_expiry_needs_no_server_change(near: Any, writer: Writer) -> None:
    cache = near()
    before = time.time()
    writer("SET", "t", "v", "PX", "1000")
    acked = time.time()
    assert cache.get("t") == b"v"
    while time.time() < acked + 0.5:  # well before the deadline, whatever the writer's delay
        assert cache.get("t") == b"v"
    deadline = time.monotonic() + 5
    while cache.get("t") is not None:
        assert time.monotonic() < deadline, "an expired key is still served"
    # Not given up early either (the near cache's deadline is at most 2 ms early).
    assert time.time() >= before + 0.997


def test_a_key_past_its_deadline_is_never_a_hit(near: Any, writer: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    # The server would still have the key (its TTL is long); only the
    # near cache's own clock says it is past: the read must go there.
    clock = [time.time()]
    monkeypatch.setattr(_near.time, "time", lambda: clock[0])
    cache = near()
    writer("SET", "t", "v", "PX", "100000")
    assert cache.get("t") == b"v"
    assert cache.get("t") == b"v"
    assert cache.near_cache_stats()["hits"] == 1
    clock[0] += 200.0  # past the deadline (set 100 s after a moment later than clock was read)
    assert cache.get("t") == b"v"
    assert cache.near_cache_stats()["hits"] == 1  # a miss: the deadline had passed


def test_eviction_under_max_memory_is_seen(near: Any) -> None:
    srv = start_unix_server("--max-memory", "20000")
    writer = Writer(srv.addr)
    try:
        cache = near(addr=srv.addr)
        writer("SET", "victim", "v")
        assert cache.get("victim") == b"v"
        for i in range(300):
            # Every key read, as victim was: SIEVE's hand then goes round
            # and evicts victim (it keeps the one unread key otherwise).
            writer("SET", f"fill{i}", "x" * 200)
            writer("GET", f"fill{i}")
            if writer("EXISTS", "victim") == 0:
                break
        assert writer("EXISTS", "victim") == 0, "the server never evicted the key"
        assert cache.get("victim") is None
    finally:
        writer.close()
        srv.stop()


def test_own_writes_drop_the_entry(near: Any, writer: Writer) -> None:
    cache = near()
    for key in ("a", "b", "c"):
        writer("SET", key, "1")
        cache.get(key)
    cache.set("a", b"2")
    cache.delete("b")
    assert cache.near_cache_stats()["entries"] == 1
    assert cache.get("a") == b"2" and cache.get("b") is None
    with cache.pipeline() as p:
        p.set("a", b"3").incr("n")
    assert cache.get("a") == b"3"
    cache.flush()
    assert cache.near_cache_stats()["entries"] == 0


# --- the bound -------------------------------------------------------------------


def test_never_more_than_n_entries_least_recently_used_out(near: Any, writer: Writer) -> None:
    cache = near(3)
    for i in range(5):
        writer("SET", f"k{i}", str(i))
    for key in ("k0", "k1", "k2"):
        cache.get(key)
    cache.get("k0")  # k1 is now the least recently used
    cache.get("k3")
    assert cache.near_cache_stats()["entries"] == 3
    hits = cache.near_cache_stats()["hits"]
    cache.get("k0")
    cache.get("k2")
    assert cache.near_cache_stats()["hits"] == hits + 2
    cache.get("k1")  # evicted: a miss, which evicts k3
    assert cache.near_cache_stats()["hits"] == hits + 2
    for i in range(5):
        cache.mget([f"k{j}" for j in range(5)])
        assert cache.near_cache_stats()["entries"] <= 3


def test_byte_bound(near: Any, writer: Writer) -> None:
    cache = near(100, near_cache_bytes=100)
    for i in range(10):
        writer("SET", f"k{i}", "x" * 30)  # 32 bytes with the key
        assert cache.get(f"k{i}") == b"x" * 30
        stats = cache.near_cache_stats()
        assert stats["bytes"] <= 100 and stats["entries"] <= 3
    assert cache.near_cache_stats()["entries"] == 3
    writer("SET", "big", "x" * 200)
    assert cache.get("big") == b"x" * 200
    assert cache.get("big") == b"x" * 200
    stats = cache.near_cache_stats()
    assert stats["bytes"] <= 100 and stats["capacity_bytes"] == 100


def test_bad_options() -> None:
    with pytest.raises(TypeError):
        TinyCache("127.0.0.1:1", near_cache="10")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TinyCache("127.0.0.1:1", near_cache=-1)
    with pytest.raises(ValueError):
        AsyncTinyCache("127.0.0.1:1", near_cache=1, near_cache_bytes=0)


# --- fills that race with writes ---------------------------------------------------


def test_a_write_acknowledged_after_the_fill_read_is_not_served_stale(
    near: Any, writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The fill's GET sees "old"; then, as soon as its reply is in and
    # before the fill does anything else, another process's write of "new"
    # is acknowledged. A read after that must not return "old": what the
    # fill keeps must date from before its GET, not from after it.
    cache = near()
    writer("SET", "k", "old")
    backend = cache._client()
    fetch = backend.run  # the fill's one round trip

    def fetch_then_write(command: Any, args: Any) -> Any:
        reply = fetch(command, args)
        assert writer("SET", "k", "new") == "OK"
        return reply

    monkeypatch.setattr(backend, "run", fetch_then_write)
    assert cache.get("k") == b"old"  # the read began before the write
    assert cache.get("k") == b"new"
    assert cache.get("k") == b"new"
    writer("SET", "m", "old")
    assert cache.mget(["m", "k"]) == [b"old", b"new"]  # mget's fill, k written right after its MGET
    assert cache.mget(["m", "k"]) == [b"old", b"new"]


def test_a_write_between_stamp_and_read_is_not_served_stale(
    near: Any, writer: Writer, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = near()
    writer("SET", "k", "old")
    stamp = _near.NearCache.stamp
    writes = iter(["mid"])

    def stamp_then_write(self: Any, key: bytes) -> Any:
        got = stamp(self, key)
        for value in writes:
            writer("SET", "k", value)
        return got

    monkeypatch.setattr(_near.NearCache, "stamp", stamp_then_write)
    assert cache.get("k") == b"mid"
    writer("SET", "k", "new")
    assert cache.get("k") == b"new"


def test_the_validity_seam_breaks_the_near_cache(near: Any, writer: Writer, monkeypatch: pytest.MonkeyPatch) -> None:
    # _near.VALIDATE = False before the TinyCache is made: a near cache
    # that ignores invalidation, which these tests (and the consistency
    # checker) must catch.
    monkeypatch.setattr(_near, "VALIDATE", False)
    cache = near()
    writer("SET", "k", "old")
    assert cache.get("k") == b"old"
    writer("SET", "k", "new")
    assert cache.get("k") == b"old"  # stale: the seam works


# --- restart, fork ------------------------------------------------------------------


def test_nothing_cached_is_served_after_a_killed_server_restarts(near: Any) -> None:
    path = os.path.join(short_tmpdir(), "r.sock")
    srv = start_unix_server(path=path)
    try:
        cache = near(addr=srv.addr)
        w = Writer(srv.addr)
        w("SET", "k", "before")
        w("SET", "gone", "before")
        w.close()
        assert cache.get("k") == b"before" and cache.get("gone") == b"before"
        assert cache.get("k") == b"before"
        import signal

        srv.stop(signal.SIGKILL)
        srv = start_unix_server(path=path)
        w = Writer(srv.addr)
        w("SET", "k", "after")
        w.close()
        assert cache.get("k") == b"after"
        assert cache.get("gone") is None
        assert cache.near_cache_stats()["mode"] == "shared-memory"  # the new server's table
        assert cache.get("k") == b"after"
        assert cache.near_cache_stats()["hits"] >= 2
    finally:
        srv.stop()


def test_a_stopped_server_is_not_served_from(near: Any) -> None:
    path = os.path.join(short_tmpdir(), "r.sock")
    srv = start_unix_server(path=path)
    try:
        cache = near(addr=srv.addr)
        w = Writer(srv.addr)
        w("SET", "k", "v")
        w.close()
        assert cache.get("k") == b"v"
    finally:
        srv.stop()
    with pytest.raises(ConnectionError):  # nothing is served from a dead server's table
        cache.get("k")


# --- the table in /dev/shm, a directory every local user can write to ------------------

TABLE_SIZE = (_near.HEADER + (1 << 16)) * 8


def planted_names(socket_path: str) -> list[str]:
    """Names in /dev/shm that anyone can work out from a socket path: the table's name before
    this check existed (the servers of then opened it, following links), and one of today's form."""
    digest = socket_digest(socket_path)
    return [f"/dev/shm/tiny-mp-cache-near-{digest[:24]}", f"/dev/shm/tiny-mp-cache-near-{digest[:32]}-{'0' * 16}"]


def assert_serves_with_a_near_cache(addr: str) -> None:
    w = Writer(addr)
    w("SET", "k", "v")
    w.close()
    with TinyCache(addr, near_cache=10) as cache:
        assert cache.get("k") == b"v" and cache.get("k") == b"v"
        stats = cache.near_cache_stats()
        assert stats["mode"] == "shared-memory", stats["reason"]
        assert stats["hits"] == 1


def remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        os.rmdir(path)
    elif os.path.lexists(path):
        os.unlink(path)


def test_a_link_planted_at_the_tables_name_is_not_followed(server: Any) -> None:
    # Another user plants links, at names worked out from the socket path,
    # to a file the server's user can write, that even looks like a table.
    path = os.path.join(short_tmpdir(), "p.sock")
    victim = os.path.join(short_tmpdir(), "victim")
    content = struct.pack("=4Q", _near.MAGIC, _near.LAYOUT, 0, 1 << 16).ljust(TABLE_SIZE, b"\0")
    Path(victim).write_bytes(content)
    links = planted_names(path)
    for link in links:
        os.symlink(victim, link)
    srv = None
    try:
        srv = start_unix_server(path=path)
        assert Path(victim).read_bytes() == content, "the server wrote through a planted link"
        assert_serves_with_a_near_cache(srv.addr)
        srv.stop()
        srv = None
        assert Path(victim).read_bytes() == content
        assert all(os.path.islink(link) for link in links), "a link that is not the server's was removed"
    finally:
        if srv is not None:
            srv.stop()
        for link in links:
            remove(link)


@pytest.fixture
def other_user() -> Iterator[tuple[int, int]]:
    """(uid, gid) of a throwaway system user, removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("making another user needs root")
    if shutil.which("useradd") is None:
        pytest.skip("no useradd")
    name = f"tmcplant{os.getpid()}"
    subprocess.run(["useradd", "-r", "-M", "-s", "/usr/sbin/nologin", name], check=True, capture_output=True, timeout=30)
    try:
        entry = pwd.getpwnam(name)
        yield entry.pw_uid, entry.pw_gid
    finally:
        subprocess.run(["userdel", name], check=True, capture_output=True, timeout=30)


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_what_another_user_plants_at_the_tables_name_changes_nothing(server: Any, other_user: Any, kind: str) -> None:
    # A file of a table's size, or a directory, made by another user at the
    # names anyone can work out: the server neither writes to it nor removes
    # it, and its near cache is on all the same.
    uid, gid = other_user
    path = os.path.join(short_tmpdir(), "p.sock")
    planted = planted_names(path)
    make = ["mkdir", "--"] if kind == "directory" else ["sh", "-c", f'head -c {TABLE_SIZE} /dev/zero > "$1"', "sh"]
    for name in planted:
        subprocess.run([*make, name], user=uid, group=gid, extra_groups=[], check=True, timeout=30)
    srv = None
    try:
        srv = start_unix_server(path=path)
        assert_serves_with_a_near_cache(srv.addr)
        for name in planted:
            assert os.lstat(name).st_uid == uid, f"{name} was replaced"
            if kind == "file":
                assert Path(name).read_bytes() == bytes(TABLE_SIZE), f"the server wrote to another user's {name}"
    finally:
        if srv is not None:
            srv.stop()
        for name in planted:
            remove(name)


def test_a_stopped_server_leaves_no_table() -> None:
    path = os.path.join(short_tmpdir(), "t.sock")
    srv = start_unix_server(path=path)
    assert len(near_tables(path)) == 1
    srv.stop()
    assert near_tables(path) == []


def _child_reads(cache: TinyCache, ready: Any, written: Any, out: Any) -> None:
    try:
        first = cache.get("k")
        hits = cache.near_cache_stats()["hits"]
        ready.set()
        if not written.wait(10):
            out.put("timeout")
            return
        out.put((first, hits, cache.get("k"), cache.mget(["k"])))
    except BaseException as e:  # reported, not lost in the child
        out.put(repr(e))


def test_a_forked_child_reads_correct_and_fresh_values(near: Any, writer: Writer) -> None:
    cache = near()
    writer("SET", "k", "old")
    assert cache.get("k") == b"old"
    hits = cache.near_cache_stats()["hits"]
    ctx = multiprocessing.get_context("fork")
    ready, written, out = ctx.Event(), ctx.Event(), ctx.Queue()
    child = ctx.Process(target=_child_reads, args=(cache, ready, written, out))
    child.start()
    try:
        assert ready.wait(10), "the child did not start"
        writer("SET", "k", "new")
        written.set()
        result = out.get(timeout=10)
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
            child.join(10)
    # The child's first read was a hit from the inherited entry; after the
    # write, it read the new value.
    assert result == (b"old", hits + 1, b"new", [b"new"])
    assert cache.get("k") == b"new"


# --- where there is no near cache --------------------------------------------------------


def test_off_over_tcp_says_why() -> None:
    need_go()
    srv = start_tcp_server()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _near._warned.clear()
            cache = TinyCache(srv.addr, near_cache=10)
        stats = cache.near_cache_stats()
        assert stats["mode"] == "off" and "tcp" in stats["reason"] and "unix socket" in stats["reason"]
        assert any("near cache off" in str(w.message) for w in caught)
        assert "get" not in vars(cache)  # the plain get
        cache.set("k", b"v")
        assert cache.get("k") == b"v"
        cache.close()
    finally:
        srv.stop()


def test_off_for_redis(redis_server: Any) -> None:
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        cache = TinyCache(redis_server.addr, near_cache=10)
    stats = cache.near_cache_stats()
    assert stats["mode"] == "off" and stats["reason"].startswith("redis://") and "disabled" in stats["reason"]
    cache.set("near:k", b"v")
    assert cache.get("near:k") == b"v"
    cache.delete("near:k")
    cache.close()
    assert "redis+cluster://" in _near.off_reason("redis+cluster://127.0.0.1:7000")


def test_near_cache_zero_changes_nothing(server: Any) -> None:
    for n in (0, None):
        cache = TinyCache(server.addr, near_cache=n)
        assert not {"get", "mget", "_execute", "_execute_all"} & set(vars(cache))
        assert cache.near_cache_stats()["mode"] == "off"
        cache.close()


def test_closed_cache_serves_nothing(near: Any, writer: Writer) -> None:
    cache = near()
    writer("SET", "k", "v")
    assert cache.get("k") == b"v"
    cache.close()
    with pytest.raises(ValueError):
        cache.get("k")


def test_pickle_keeps_the_option(near: Any) -> None:
    cache = near(7, near_cache_bytes=1000)
    copy = pickle.loads(pickle.dumps(cache))
    try:
        stats = copy.near_cache_stats()
        assert (stats["mode"], stats["capacity"], stats["capacity_bytes"]) == ("shared-memory", 7, 1000)
    finally:
        copy.close()


def test_async(server: Any, writer: Writer) -> None:
    async def main() -> None:
        cache = AsyncTinyCache(server.addr, near_cache=10)
        writer("SET", "k", "old")
        assert await cache.get("k") == b"old"
        assert await cache.mget(["k", "x"]) == [b"old", None]
        assert cache.near_cache_stats()["hits"] == 1
        writer("SET", "k", "new")
        assert await cache.get("k") == b"new"
        await cache.set("k", b"own")
        assert await cache.get("k") == b"own"
        await cache.close()

    asyncio.run(main())


def test_the_fill_commands_read_values_and_deadlines_alike_in_every_client(server: Any, writer: Writer) -> None:
    # GET_DEADLINE and mget_deadline_command: the Go fast paths (TMC_GET_DEADLINE,
    # TMC_MGET_DEADLINE), the pure client and the async client must agree.
    from tiny_mp_cache import _commands

    writer("SET", "ttl", "a", "PX", "60000")
    writer("SET", "plain", "b")
    writer("RPUSH", "list", "x")
    now_ms = time.time() * 1000
    mget = _commands.mget_deadline_command(4)
    names = [b"MGET", b"ttl", b"plain", b"missing", b"list"]

    def check(results: list[Any]) -> None:
        ttl, plain, missing, values = results
        assert ttl[0] == b"a" and now_ms < ttl[1] < now_ms + 61000, ttl
        assert plain == (b"b", -1) and missing == (None, -2)
        assert values[0] == [b"a", b"b", None, None]  # MGET answers a list with None; its deadline tells
        assert values[1][0] == ttl[1] and values[1][1:] == [-1, -2, -1]

    def run(cache: Any) -> list[Any]:
        return [cache._execute(_commands.GET_DEADLINE, [b"GET", k]) for k in (b"ttl", b"plain", b"missing")] + [
            cache._execute(mget, names)
        ]

    for pure in (False, True):
        with TinyCache(server.addr, _pure=pure) as cache:
            check(run(cache))
            with pytest.raises(ServerError, match="WRONGTYPE"):  # GET's error, with both replies read
                cache._execute(_commands.GET_DEADLINE, [b"GET", b"list"])
            assert cache._execute(_commands.GET_DEADLINE, [b"GET", b"plain"]) == (b"b", -1)  # still in step

    async def main() -> list[Any]:
        cache = AsyncTinyCache(server.addr)
        try:
            results = [await cache._execute(_commands.GET_DEADLINE, [b"GET", k]) for k in (b"ttl", b"plain", b"missing")]
            with pytest.raises(ServerError, match="WRONGTYPE"):
                await cache._execute(_commands.GET_DEADLINE, [b"GET", b"list"])
            return results + [await cache._execute(mget, names)]
        finally:
            await cache.close()

    check(asyncio.run(main()))


def test_layout_constants_match_the_server() -> None:
    go = (ROOT / "go" / "server" / "near.go").read_text()

    def const(name: str) -> int:
        return int(re.search(rf"\b{name}\s*=\s*(\S+)", go).group(1), 0)  # type: ignore[union-attr]

    assert const("nearMagic") == _near.MAGIC
    assert const("nearLayout") == _near.LAYOUT
    assert const("nearHeader") == _near.HEADER
    assert const("nearWordEpoch") == _near.EPOCH
    assert const("nearWordSlots") == _near.WORD_SLOTS
    assert const("nearWordMagic") == _near.WORD_MAGIC
    assert const("nearWordLayout") == _near.WORD_LAYOUT


def test_off_when_the_server_has_none() -> None:
    # A real Redis on a unix socket: CLIENT NEARCACHE is unknown there.
    from conftest import ServerProcess, need_tool

    redis = need_tool("redis-server")
    path = os.path.join(short_tmpdir(), "redis.sock")
    srv = ServerProcess([redis, "--port", "0", "--unixsocket", path, "--save", "", "--appendonly", "no"], f"unix://{path}")
    try:
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            cache = TinyCache(srv.addr, near_cache=10)
        stats = cache.near_cache_stats()
        assert stats["mode"] == "off" and stats["reason"].startswith("the server offers no near cache:")
        assert "get" not in vars(cache)
        cache.set("k", b"v")
        assert cache.get("k") == b"v"
        cache.close()
    finally:
        srv.stop()


def test_handover_with_a_password(server: Any) -> None:  # server: skips on the portable loop
    path = os.path.join(short_tmpdir(), "pw.sock")
    srv = start_unix_server("--password", "sekret", path=path)
    try:
        cache = TinyCache(f"unix://:sekret@{path}", near_cache=10)
        assert cache.near_cache_stats()["mode"] == "shared-memory"
        cache.set("k", b"v")
        assert cache.get("k") == b"v" and cache.get("k") == b"v"
        assert cache.near_cache_stats()["hits"] == 1
        cache.close()
    finally:
        srv.stop()


def test_the_portable_loop_refuses() -> None:
    # Runs where the library is the portable one (bash .ci/portable, or
    # TINY_MP_CACHE_LIB set to a -tags tmc_portable build).
    need_go()
    srv = start_unix_server()
    try:
        if not portable(srv.addr):
            pytest.skip("the server runs the epoll loop")
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            cache = TinyCache(srv.addr, near_cache=10)
        stats = cache.near_cache_stats()
        assert stats["mode"] == "off" and "portable loop" in stats["reason"]
        cache.set("k", b"v")
        assert cache.get("k") == b"v"
        cache.close()
    finally:
        srv.stop()


# --- a server that hands over nothing usable ------------------------------------------


def _fake_handover(reply: bytes, fd: int | None = None) -> tuple[str, Any]:
    """A unix socket that answers one connection with reply (and fd, SCM_RIGHTS), then waits for it to close."""
    import socket
    import threading

    path = os.path.join(short_tmpdir(), "fake.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(1)
    listener.settimeout(10)

    def serve() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            conn.recv(4096)
            fds = [fd] if fd is not None else []
            socket.send_fds(conn, [reply], fds) if fds else conn.sendall(reply)
            try:
                conn.recv(1)  # until the client closes
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()

    def done() -> None:
        listener.close()
        thread.join(10)

    return f"unix://{path}", done


@pytest.mark.parametrize("owner, mode", [(None, 0o666), (None, 0o620), (65534, 0o600)])
def test_handover_refuses_a_table_others_could_shrink(owner: int | None, mode: int, tmp_path: Path) -> None:
    # A table in a file another user can write could be truncated under the
    # mapping, and the next hit would kill this process with SIGBUS.
    if owner is not None and os.getuid() != 0:
        pytest.skip("giving a file to another user needs root")
    table = tmp_path / "table"
    table.write_bytes(b"\0" * 8 * (_near.HEADER + 16))
    os.chmod(table, mode)
    if owner is not None:
        os.chown(table, owner, -1)
    fd = os.open(table, os.O_RDONLY)
    addr, done = _fake_handover(b"+OK\r\n", fd)
    try:
        with pytest.raises(_near.Refused, match="others could shrink"):
            _near.handover(addr, 5)
    finally:
        done()
        os.close(fd)


@pytest.mark.parametrize(
    "reply, with_fd, error",
    [
        (b"+OK\r\n", False, "no descriptor"),
        (b"+OK\r\n", True, "wrong size"),
        (b"-ERR nope\r\n", False, "ERR nope"),
        (b"+", False, "timed out"),
        (b":1\r\n", False, "unexpected reply"),
    ],
)
def test_handover_refuses_what_is_not_a_table(reply: bytes, with_fd: bool, error: str, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"x" * 12)
    fd = os.open(small, os.O_RDONLY) if with_fd else None
    addr, done = _fake_handover(reply, fd)
    try:
        start = time.monotonic()
        with pytest.raises((_near.Refused, OSError, _near.ProtocolError), match=error):
            _near.handover(addr, 0.5)
        assert time.monotonic() - start < 5
    finally:
        done()
        if fd is not None:
            os.close(fd)
