"""Big values through shared memory (tiny_mp_cache/_shared.py, go/server/shared.go): sealed memfds, not bytes through the socket.

What must hold: a value is immutable once stored, and a reader's buffer
keeps its bytes whatever happens to the key; pop is exactly-once;
max_memory counts shared values and eviction frees them; no process's
death leaves shared memory behind; a hostile peer on either side gets a
clear error and cannot crash or wedge the other; fork keeps a held buffer
readable. Every process here is real, bounded in time and reaped.
"""

from __future__ import annotations

import array
import fcntl
import gc
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest
from tiny_mp_cache import ProtocolError, ServerError, TinyCache, _shared

from conftest import short_tmpdir, start_redis_server, start_tcp_server, start_unix_server

pytestmark = [
    pytest.mark.skipif(not _shared.available(), reason="shared values need Linux's sealed memfds"),
    pytest.mark.timeout(120),
]

MIB = 1 << 20
SEALED = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def memfds(pid: int) -> int:
    """How many descriptors of values' memfds process pid holds: a server's slabs, a client's sealed memfds.

    A client's staging memfd (one per connection, the copy's way in) is
    not a value: _staging counts it.
    """
    n = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except FileNotFoundError:
            continue
        n += link.startswith("/memfd:") and "staging" not in link
    return n


def mappings(pid: int) -> int:
    """How many mappings of values' memfds process pid has (not its staging memfd's)."""
    with open(f"/proc/{pid}/maps") as f:
        return sum("/memfd:" in line and "staging" not in line for line in f)


def _staging(pid: int) -> int:
    """How many mappings of staging memfds process pid has."""
    with open(f"/proc/{pid}/maps") as f:
        return sum("/memfd:tiny-mp-cache staging" in line for line in f)


def slabs(cache: TinyCache) -> tuple[int, int]:
    """The server's slabs, in bytes: in use (stored or mapped by a reader), and free (kept for reuse)."""
    info = cache.info()
    return info["shared_slabs_used"], info["shared_slabs_free"]


def staged(cache: TinyCache, size: int) -> TinyCache:
    """cache, once its connection has a staging memfd for values of size, so that the next of them go into slabs.

    The first value of a size a connection sets goes in a memfd of its own,
    sealed (one new memfd, not a staging memfd and a slab); the second makes
    the staging memfd.
    """
    for _ in range(2):
        cache.set("staged", bytes(size))
    cache.delete("staged")
    return cache


def wait_for(check, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def shm_entries() -> set[str]:
    """What of ours is in /dev/shm, but the near cache's tables (fenced by the next server, see near.go).

    Other programs on the machine come and go there (multiprocessing's semaphores): only names of
    ours count. A memfd has no name there at all; the descriptor and mapping counts carry the test.
    """
    return {n for n in os.listdir("/dev/shm") if "tiny-mp-cache" in n and not n.startswith("tiny-mp-cache-near-")}


def spawn(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def reap(*procs: subprocess.Popen, timeout: float = 60) -> list[tuple[int, str, str]]:
    """Wait for procs (killing any left at timeout) and return (returncode, stdout, stderr) of each."""
    done = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            out, err = p.communicate(timeout=10)
        done.append((p.returncode, out, err))
    return done


@pytest.fixture
def server():
    s = start_unix_server()
    yield s
    s.stop()


@pytest.fixture
def cache(server):
    c = TinyCache(server.addr)
    yield c
    c.close()


def test_a_big_value_travels_into_a_slab_the_server_writes_and_reuses_once_it_is_gone(server, cache):
    value = os.urandom(2 * MIB)
    assert memfds(server.pid) == 0
    cache.set("first", value)  # the connection's first of its size: a memfd of its own, sealed
    assert memfds(server.pid) == 1 and slabs(cache) == (0, 0) and _staging(os.getpid()) == 0
    cache.delete("first")
    assert memfds(server.pid) == 0  # not a slab: freed, not kept
    cache.set("big", value)  # the second: copied into the staging memfd, and from there into a slab
    assert memfds(server.pid) == 1 and slabs(cache) == (2 * MIB, 0)  # a memfd, not the server's heap
    assert cache.get("big") == value
    cache.set("small", b"abc")  # below shared_from: as before
    assert memfds(server.pid) == 1 and cache.get("small") == b"abc"
    cache.set("big", b"x" * (2 * MIB))  # a new value is a new slab; the old one is kept for the next
    assert memfds(server.pid) == 2 and slabs(cache) == (2 * MIB, 2 * MIB) and cache.get("big") == b"x" * (2 * MIB)
    for fill in b"yz":
        cache.set("big", bytes([fill]) * (2 * MIB))  # the kept one, rewritten: no new memory
        assert memfds(server.pid) == 2 and cache.get("big") == bytes([fill]) * (2 * MIB)
    cache.set("big", b"w" * MIB)  # another size: another slab
    assert memfds(server.pid) == 3 and slabs(cache) == (MIB, 4 * MIB)
    cache.delete("big")
    assert slabs(cache) == (0, 5 * MIB)
    # get() copied each value out, and kept the mapping of each of the two slabs it read (an mmap
    # keeps a descriptor of its file): the rewritten slab's later values showed through them.
    assert memfds(os.getpid()) == mappings(os.getpid()) == 2
    assert _staging(os.getpid()) == 1  # the way in, kept: its pages are in place for the next value
    cache.close()
    assert memfds(os.getpid()) == mappings(os.getpid()) == _staging(os.getpid()) == 0


def test_a_slab_is_freed_after_it_has_been_free_for_a_while(server, cache):
    staged(cache, MIB).set("big", bytes(MIB))
    cache.delete("big")
    assert memfds(server.pid) == 1 and slabs(cache) == (0, MIB)
    assert wait_for(lambda: memfds(server.pid) == 0, timeout=30)  # slabDecay, 10 s, and at most as long again
    assert slabs(cache) == (0, 0)


def test_a_slab_a_reader_maps_is_not_rewritten_until_the_reader_gives_it_back(server, cache):
    staged(cache, MIB).set("k", b"a" * MIB)
    view = cache.get_buffer("k")
    for fill in b"bcdef":  # each set frees the slab before: only the leased one must not be reused
        cache.set("k", bytes([fill]) * MIB)
    assert view == b"a" * MIB
    assert slabs(cache)[0] == 2 * MIB  # the stored one and the leased one
    del view
    gc.collect()
    cache.set("k", b"g" * MIB)  # gives the lease back with it
    assert slabs(cache)[0] == MIB and cache.get("k") == b"g" * MIB


def test_a_slab_read_again_shows_its_later_value_through_the_mapping_kept(server, cache):
    staged(cache, MIB).set("k", b"a" * MIB)  # slab A
    assert cache.get("k") == b"a" * MIB and mappings(os.getpid()) == 1  # copied out; A's mapping kept
    cache.set("k", b"b" * MIB)  # slab B; A is free (the set gave the lease back)
    cache.set("k", b"c" * MIB)  # A again, rewritten
    assert cache.get("k") == b"c" * MIB  # through the kept mapping: no new one, its pages mapped already
    assert mappings(os.getpid()) == 1 and slabs(cache) == (MIB, MIB)


def test_an_array_over_a_slab_keeps_it_from_being_rewritten(server, cache):
    np = pytest.importorskip("numpy")
    first = np.arange(MIB // 8, dtype=np.float64)
    staged(cache, MIB + 4096).set_array("k", first)
    one = slabs(cache)[0]
    held = cache.get_array("k")  # an array over a view of the mapping: the view itself is not held
    for n in range(5):
        cache.set_array("k", first + n + 1)
    assert (held == first).all()
    assert slabs(cache)[0] == 2 * one  # the stored one and the one the array is over
    del held
    gc.collect()
    assert (cache.get_array("k") == first + 5).all()  # gives the lease back with it
    assert slabs(cache)[0] == one


def test_kept_mappings_are_bounded_and_let_go_when_idle(server, monkeypatch):
    monkeypatch.setattr(_shared._Slabs, "KEEP", 2)
    monkeypatch.setattr(_shared._Slabs, "IDLE", 0.5)
    cache = staged(TinyCache(server.addr), MIB)
    try:
        for i in range(4):
            cache.set(f"k{i}", bytes([i]) * MIB)
        for i in range(4):
            assert cache.get(f"k{i}") == bytes([i]) * MIB
            assert mappings(os.getpid()) == min(i + 1, 2)  # the least recently used let go
        assert wait_for(lambda: mappings(os.getpid()) == 0)  # idle
        for i in range(4):
            cache.delete(f"k{i}")  # not a shared-value command: no lease goes with it
        assert wait_for(lambda: slabs(cache) == (0, 4 * MIB))  # each lease given back once idle
    finally:
        cache.close()


def test_a_mapping_held_across_fork_retires_its_slab(server, cache):
    """The child's copy of a mapping has no lease: its slab must never be rewritten, whatever the parent does."""
    staged(cache, MIB).set("k", b"a" * MIB)
    view = cache.get_buffer("k")
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: waits until the parent has let go and rewritten every slab it could
        os.close(w)
        ok = os.read(r, 1) == b"g" and view == b"a" * MIB
        os._exit(0 if ok else 1)
    os.close(r)
    try:
        del view
        gc.collect()
        for fill in b"bcdef":
            cache.set("k", bytes([fill]) * MIB)  # the first gives the lease back, saying RETIRE
        os.write(w, b"g")
    finally:
        os.close(w)
        deadline = time.monotonic() + 30
        while not (done := os.waitpid(pid, os.WNOHANG))[0]:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail("the forked child hung")
            time.sleep(0.02)
    assert os.waitstatus_to_exitcode(done[1]) == 0


@pytest.mark.parametrize("size", [2 * MIB - 1, 2 * MIB, 2 * MIB + 1, 5 * MIB + 3, 64 * MIB])
def test_get_and_pop_copy_a_shared_value_out_whole_into_ordinary_bytes(server, cache, size):
    # From 2 MiB up the copy goes into bytes made unfilled and filled in place (for huge pages):
    # every byte, the last included, must arrive, in a bytes object like any other.
    value = os.urandom(size)
    cache.set("big", value)
    got = cache.get("big")
    assert type(got) is bytes and len(got) == size and got == value
    assert sys.getrefcount(got) == 2  # this name and getrefcount's argument: nothing else holds it
    assert hash(got) == hash(value) and got[-1:] == value[-1:] and b"%s" % got[:3] == value[:3]
    assert cache.pop("big") == value and cache.get("big") is None
    assert mappings(os.getpid()) == 0  # copied, then unmapped


def test_every_string_command_reads_a_shared_value(server, cache):
    """Over a plain socket (redis-py), a shared value is a string like any other."""
    redis = pytest.importorskip("redis")
    value = os.urandom(MIB)
    cache.set("big", value, ttl=100)
    assert memfds(server.pid) == 1
    r = redis.Redis(unix_socket_path=server.addr[len("unix://"):])
    assert r.get("big") == value
    assert r.mget("big", "none") == [value, None] and r.getex("big", persist=True) == value
    assert r.type("big") == b"string" and r.ttl("big") == -1
    with pytest.raises(redis.ResponseError, match="not an integer"):
        r.incr("big")
    assert r.getset("big", b"plain") == value  # a write makes it an ordinary string
    assert slabs(cache)[0] == 0 and cache.get("big") == b"plain"
    cache.set("big", value)
    assert r.getdel("big") == value and slabs(cache)[0] == 0
    r.close()


def test_get_buffer_is_a_read_only_mapping_that_outlives_the_key(server, cache):
    value = os.urandom(4 * MIB)
    staged(cache, 4 * MIB).set("k", value)
    view = cache.get_buffer("k")
    assert isinstance(view, memoryview) and view.readonly and view.nbytes == len(value)
    with pytest.raises(TypeError):
        view[0] = 1
    cache.set("k", b"y" * (4 * MIB))
    cache.delete("k")
    cache.execute_command("FLUSHALL")
    assert slabs(cache)[0] == 4 * MIB  # the one view maps, kept from reuse
    assert view == value
    assert mappings(os.getpid()) == 1
    del view
    gc.collect()
    assert mappings(os.getpid()) == 1  # kept for a later value of the slab, no longer in use
    assert cache.get_buffer("k") is None  # which gives its lease back
    assert slabs(cache)[0] == 0
    cache.set("small", b"abc")
    assert cache.get_buffer("small") == b"abc"


_READER = """
import hashlib, sys
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1])
view = cache.get_buffer("hot")
digest = hashlib.sha256(view).hexdigest()
print("held", digest, flush=True)
sys.stdin.readline()  # the writers are done
print(hashlib.sha256(view).hexdigest() == digest and view[:8] == b"version0", flush=True)
"""

_WRITER = """
import sys, time
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1], shared_from=1)
me, rounds = int(sys.argv[2]), int(sys.argv[3])
for i in range(rounds):
    cache.set("hot", b"version%d" % (i + 1) + bytes(256 << 10))
    if i % 3 == 0:
        cache.delete("hot")
    if i % 5 == 0:
        cache.set("filler%d" % me, bytes(2 << 20))  # past max_memory: evicts, maybe "hot"
    if i % 7 == 0:
        cache.set("hot", b"expiring", ttl=0.001)
print("done", flush=True)
"""


def test_a_held_buffer_keeps_its_bytes_while_other_processes_overwrite_delete_evict_and_expire_the_key():
    server = start_unix_server("--max-memory", "4mb")
    try:
        cache = TinyCache(server.addr)
        cache.set("hot", b"version0" + os.urandom(MIB))
        reader = spawn(_READER, server.addr)
        assert reader.stdout.readline().startswith("held")
        writers = [spawn(_WRITER, server.addr, str(n), "300") for n in range(3)]
        results = reap(*writers)
        assert [r[:2] for r in results] == [(0, "done\n")] * 3, results
        reader.stdin.write("go\n")
        reader.stdin.flush()
        (rc, out, err), = reap(reader)
        assert (rc, out) == (0, "True\n"), err
        stats = cache.stats()
        assert stats["evictions"] > 0
        cache.close()
    finally:
        server.stop()


_POPPER = """
import sys
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1])
got = [k for k in range(int(sys.argv[2])) if cache.pop("job%d" % k) is not None]
print(*got, flush=True)
"""


def test_pop_of_a_shared_value_is_exactly_once_across_processes(server, cache):
    jobs = 40
    for k in range(jobs):
        cache.set(f"job{k}", bytes([k]) * (300 << 10))
    assert memfds(server.pid) == jobs
    poppers = [spawn(_POPPER, server.addr, str(jobs)) for _ in range(4)]
    results = reap(*poppers)
    assert all(rc == 0 for rc, _, _ in results), results
    taken = [int(k) for _, out, _ in results for k in out.split()]
    assert sorted(taken) == list(range(jobs))  # each once, none lost
    assert cache.len() == 0 and wait_for(lambda: slabs(cache)[0] == 0)


def test_max_memory_counts_shared_values_and_eviction_closes_them():
    server = start_unix_server("--max-memory", "32mb")
    try:
        cache = staged(TinyCache(server.addr), 4 * MIB)
        for k in range(20):
            cache.set(f"k{k}", bytes(4 * MIB))
        stats = cache.stats()
        assert stats["evictions"] >= 12 and stats["used_memory"] <= 32 * MIB
        assert slabs(cache)[0] == cache.len() * 4 * MIB <= 32 * MIB
        cache.close()
        refused = start_unix_server("--max-memory", "8mb", "--eviction-policy", "noeviction")
        try:
            c2 = staged(TinyCache(refused.addr), 4 * MIB)
            c2.set("a", bytes(4 * MIB))
            with pytest.raises(ServerError, match="OOM"):
                c2.set("b", bytes(5 * MIB))
            assert wait_for(lambda: memfds(refused.pid) == 1)  # the refused one freed: a quarter of max_memory is kept
            assert slabs(c2) == (4 * MIB, 0)
            c2.close()
        finally:
            refused.stop()
    finally:
        server.stop()


def test_the_near_cache_sees_a_shared_value_change(server):
    near = TinyCache(server.addr, near_cache=10)
    writer = TinyCache(server.addr)
    try:
        writer.set("k", b"1" * MIB)
        assert memfds(server.pid) == 1
        assert near.get("k") == b"1" * MIB and near.get("k") == b"1" * MIB
        writer.set("k", b"2" * MIB)
        assert near.get("k") == b"2" * MIB
        writer.delete("k")
        assert near.get("k") is None
    finally:
        near.close()
        writer.close()


# --- arrays -------------------------------------------------------------------


def test_arrays_round_trip_without_pickling(cache):
    np = pytest.importorskip("numpy")
    cases = [
        np.arange(1_000_000, dtype=np.float32).reshape(1000, 1000),
        np.asfortranarray(np.arange(600_000, dtype=np.int64).reshape(300, 2000)),
        np.arange(1_000_000, dtype=np.uint16).reshape(1000, 1000)[::2, ::3],  # not contiguous: copied
        np.zeros((0, 5), dtype=np.complex128),
        np.array([(1, 2.0), (3, 4.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
        np.arange(10, dtype=">u4"),
    ]
    for i, a in enumerate(cases):
        cache.set_array(f"a{i}", a)
        b = cache.get_array(f"a{i}")
        assert b.dtype == a.dtype and b.shape == a.shape and (b == a).all() and not b.flags.writeable, i
    assert cache.get_array("a1").flags.f_contiguous
    import io

    assert (np.load(io.BytesIO(cache.get("a0"))) == cases[0]).all()  # the value is an .npy file
    with pytest.raises(TypeError, match="Python objects"):
        cache.set_array("o", np.array([object()]))
    assert cache.get_array("missing") is None
    cache.set("junk", b"not an array")
    with pytest.raises(ValueError, match="not an array"):
        cache.get_array("junk")


@pytest.mark.parametrize("kind", ["tcp", "redis"])
def test_where_nothing_can_be_shared_the_same_calls_go_through_the_socket(kind):
    np = pytest.importorskip("numpy")
    server = start_tcp_server() if kind == "tcp" else start_redis_server()
    try:
        cache = TinyCache(server.addr)
        value = os.urandom(MIB)
        cache.set("big", value)
        assert cache.get("big") == value and cache.get_buffer("big") == value
        a = np.arange(300_000, dtype=np.float64)
        cache.set_array("a", a)
        assert (cache.get_array("a") == a).all()
        assert cache.pop("big") == value and cache.pop("big") is None
        cache.close()
    finally:
        server.stop()


# --- fork ---------------------------------------------------------------------


def test_a_forked_child_reads_a_held_buffer_and_its_own_values(server, cache):
    value = os.urandom(MIB)
    cache.set("k", value)
    view = cache.get_buffer("k")
    cache.delete("k")
    pid = os.fork()
    if pid == 0:  # the child: never calls into the parent's Go runtime, re-dials on its own
        ok = view == value
        cache.set("child", value[::-1])
        ok = ok and cache.get("child") == value[::-1]
        os._exit(0 if ok else 1)
    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child hung")
        time.sleep(0.02)
    assert os.waitstatus_to_exitcode(status) == 0
    assert view == value and cache.get("child") == value[::-1]


# --- SIGKILL: nothing left behind -----------------------------------------------

_SETTER = """
import sys
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1])
print("ready", flush=True)
while True:
    cache.set("k", bytes(64 << 20))
"""

_HOLDER = """
import sys
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1])
view = cache.get_buffer("k")
print("held", len(view), flush=True)
sys.stdin.readline()
"""


def test_a_client_killed_during_a_set_leaves_nothing_behind(server, cache):
    before = shm_entries()
    setter = spawn(_SETTER, server.addr)
    assert setter.stdout.readline() == "ready\n"
    assert wait_for(lambda: slabs(cache)[0] > 0)  # it has set at least once
    time.sleep(0.2)  # mid-set, most likely: each one writes 64 MiB
    setter.kill()
    reap(setter)
    cache.execute_command("FLUSHALL")
    assert wait_for(lambda: slabs(cache)[0] == 0)
    assert shm_entries() == before
    cache.set("after", bytes(MIB))  # the server serves on
    assert cache.get("after") == bytes(MIB)


def test_a_client_killed_holding_a_buffer_leaves_nothing_behind(server, cache):
    before = shm_entries()
    cache.set("k", bytes(8 * MIB))
    holder = spawn(_HOLDER, server.addr)
    assert holder.stdout.readline() == f"held {8 * MIB}\n"
    assert mappings(holder.pid) == 1
    holder.kill()
    reap(holder)
    cache.delete("k")
    assert wait_for(lambda: slabs(cache) == (0, 0)) and shm_entries() == before  # its lease retired the slab


def test_a_server_killed_with_buffers_out_leaves_them_valid_and_then_nothing():
    before = shm_entries()
    server = start_unix_server()
    cache = TinyCache(server.addr)
    value = os.urandom(8 * MIB)
    cache.set("k", value)
    view = cache.get_buffer("k")
    server.stop(signal.SIGKILL)
    assert view == value  # the mapping is the client's: the server's death does not touch it
    del view
    gc.collect()  # only unreachable views, whatever cycle an earlier test left
    assert mappings(os.getpid()) == 0 and memfds(os.getpid()) == 0
    assert shm_entries() == before
    with pytest.raises(Exception):
        cache.get("k")
    cache.close()


# --- a hostile client -------------------------------------------------------------


def _send_setfd(path: str, fd: int | None, size: int, extra: list[int] = ()) -> bytes:
    """TMC.SETFD k size, with fd (and extra descriptors) in SCM_RIGHTS, on a raw connection; the reply."""
    return _send(path, [b"TMC.SETFD", b"k", b"%d" % size], ([] if fd is None else [fd]) + list(extra))[0]


def _send(path: str, *commands_and_fds) -> list[bytes]:
    """Commands, each a list of args, with descriptors sent with its bytes, one after another on a raw connection; their replies.

    Called as _send(path, args, fds, args, fds, ...).
    """
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(path)
    replies = []
    for args, fds in zip(commands_and_fds[::2], commands_and_fds[1::2]):
        command = b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)
        s.sendmsg([command], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else [])
        replies.append(s.recv(4096))
    s.close()
    return replies


def _memfd(data: bytes, seals: int) -> int:
    fd = os.memfd_create("hostile", os.MFD_ALLOW_SEALING)
    os.write(fd, data)
    if seals:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, seals)
    return fd


def test_a_hostile_client_gets_a_clear_error_and_the_server_serves_on(server, cache):
    path = server.addr[len("unix://"):]
    assert cache.get("k") is None and cache.get_buffer("k") is None  # its connections are open
    baseline = len(os.listdir(f"/proc/{server.pid}/fd"))
    r, w = os.pipe()
    directory = os.open(short_tmpdir(), os.O_RDONLY)
    with tempfile.NamedTemporaryFile(dir="/dev/shm") as shm:
        shm.write(b"x" * 10)
        shm.flush()
        cases = [
            (None, 10, b"no descriptor came"),
            (r, 10, b"not a memfd"),  # a pipe
            (directory, 10, b"not a memfd"),
            (shm.fileno(), 10, b"not sealed"),  # a tmpfs file: takes seals, but has none
            (_memfd(b"x" * 10, 0), 10, b"not sealed"),
            (_memfd(b"x" * 10, fcntl.F_SEAL_WRITE), 10, b"not sealed"),  # could still shrink: SIGBUS for readers
            (_memfd(b"x" * 10, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW), 10, b"not sealed"),  # could still change
            (_memfd(b"x" * 10, SEALED), 11, b"holds 10 bytes"),
            (_memfd(b"x" * 10, SEALED), -1, b"positive integer"),
        ]
        for fd, size, why in cases:
            reply = _send_setfd(path, fd, size)
            assert reply.startswith(b"-ERR") and why in reply, (reply, why)
            assert cache.get("k") is None
        flood = [_memfd(b"y", SEALED) for _ in range(40)]
        assert _send_setfd(path, flood[0], 1, flood[1:]).startswith(b"+OK")  # extras are closed, not kept
    for fd in [r, w, directory, *flood]:
        os.close(fd)
    assert cache.get("k") == b"y"
    cache.delete("k")
    assert wait_for(lambda: len(os.listdir(f"/proc/{server.pid}/fd")) == baseline)
    assert cache.get("k") is None and server.proc.poll() is None


def test_a_hostile_staging_memfd_gets_a_clear_error_and_the_server_serves_on(server, cache):
    path = server.addr[len("unix://"):]
    assert cache.get("k") is None and cache.get_buffer("k") is None  # its connections are open
    baseline = len(os.listdir(f"/proc/{server.pid}/fd"))
    r, w = os.pipe()
    shrinkable = _memfd(b"x" * 4096, fcntl.F_SEAL_GROW)
    small = _memfd(b"x" * 10, fcntl.F_SEAL_SHRINK)
    cases = [
        (None, 10, b"no descriptor came"),
        (r, 10, b"not a memfd"),  # a pipe
        (shrinkable, 4096, b"not sealed against shrinking"),  # a mapping of it could fault: SIGBUS in the server
        (small, 11, b"holds 10 bytes"),
        (small, 0, b"positive integer"),
    ]
    for fd, size, why in cases:
        reply, = _send(path, [b"TMC.STAGE", b"%d" % size], [] if fd is None else [fd])
        assert reply.startswith(b"-ERR") and why in reply, (reply, why)
    no_staging, = _send(path, [b"TMC.SETSTAGED", b"k", b"5"], [])
    assert no_staging.startswith(b"-ERR") and b"holds 0 bytes" in no_staging
    staged, too_big, stored = _send(path, [b"TMC.STAGE", b"10"], [small],
                                    [b"TMC.SETSTAGED", b"k", b"11"], [], [b"TMC.SETSTAGED", b"k", b"10"], [])
    assert staged == b"+OK\r\n" and b"holds 10 bytes, not 11" in too_big and stored == b"+OK\r\n"
    assert cache.get("k") == b"x" * 10  # copied out of the staging memfd
    assert _send(path, [b"TMC.RELEASE", b"junk"], [])[0].startswith(b"-ERR TMC.RELEASE")
    assert _send(path, [b"TMC.RELEASE", b"RETIRE", b"12345"], [])[0] == b"+OK\r\n"  # no lease of it here: passed over
    for fd in [r, w, shrinkable, small]:
        os.close(fd)
    cache.delete("k")
    assert wait_for(lambda: len(os.listdir(f"/proc/{server.pid}/fd")) <= baseline + 1)  # + the free slab, kept
    assert server.proc.poll() is None


def test_get_fd_and_set_fd_are_refused_where_descriptors_cannot_pass():
    server = start_tcp_server()
    try:
        cache = TinyCache(server.addr)
        with pytest.raises(ServerError, match="unix socket"):
            cache.execute_command("TMC.GETFD", "k")
        cache.close()
    finally:
        server.stop()


# --- a hostile server -------------------------------------------------------------


class _FakeServer:
    """A unix server that answers TMC.GETFD of no key with nil (the probe) and any other with reply, passing fds."""

    def __init__(self, reply: bytes, fds: list[int]):
        self.path = os.path.join(short_tmpdir(), "fake.sock")
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen()
        self.reply, self.fds = reply, fds
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            conn, _ = self.sock.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(10)
            buf = b""
            try:
                while True:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    buf += chunk
                    while b"TMC.GETFD\r\n" in buf and buf.count(b"\r\n") >= 5:
                        head, _, buf = buf.partition(b"TMC.GETFD\r\n")
                        key_len, _, buf = buf.partition(b"\r\n")
                        key, buf = buf[: int(key_len[1:])], buf[int(key_len[1:]) + 2:]
                        if not key:  # the probes: shared values, but no slabs (TMC.RELEASE)
                            conn.sendall(b"$-1\r\n-ERR unknown command 'TMC.RELEASE'\r\n")
                        else:
                            rights = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", self.fds))] if self.fds else []
                            conn.sendmsg([self.reply], rights)
            except OSError:
                return

    def close(self) -> None:
        self.sock.close()
        self.thread.join(10)


@pytest.mark.parametrize("case", ["pipe", "unsealed", "resizable", "wrong size", "no fd", "two fds"])
def test_a_hostile_server_cannot_crash_or_hang_the_client(case):
    r, w = os.pipe()
    good = _memfd(b"z" * 4096, SEALED)
    fds, size = {
        "pipe": ([r], 10),
        "unsealed": ([_memfd(b"z" * 4096, 0)], 4096),
        "resizable": ([_memfd(b"z" * 4096, fcntl.F_SEAL_WRITE)], 4096),
        "wrong size": ([good], 8192),
        "no fd": ([], 4096),
        "two fds": ([good, good], 4096),
    }[case]
    fake = _FakeServer(b":%d\r\n" % size, fds)
    client = _shared.SharedClient("unix://" + fake.path, 5.0, 1 << 30)
    try:
        before = memfds(os.getpid())
        if case == "two fds":  # one is mapped, the other closed
            view = client.run(_commands().GETFD_VIEW, [b"TMC.GETFD", b"k"])
            assert view == b"z" * 4096
            del view
        else:
            with pytest.raises(ProtocolError, match="memfd|descriptor"):
                client.run(_commands().GETFD_VIEW, [b"TMC.GETFD", b"k"])
        assert memfds(os.getpid()) == before and mappings(os.getpid()) == 0  # what it sent was closed
    finally:
        client.close()
        fake.close()
        for fd in {r, w, good, *fds}:
            try:
                os.close(fd)
            except OSError:
                pass


def _commands():
    from tiny_mp_cache import _commands

    return _commands


def test_tmc_get_gives_a_shared_values_size_and_get_its_bytes(server, cache):
    """How TinyCache.get and pop keep the Go fast path for small values and still read big ones through the memfd."""
    value = os.urandom(MIB)
    cache.set("big", value)
    cache.set("small", b"abc")
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(server.addr[len("unix://"):])
    s.sendall(b"TMC.GET small\r\nTMC.GET big\r\nTMC.GETDEL big\r\nTMC.GETDEL small\r\n")
    want = b"$3\r\nabc\r\n-TMCSHARED 1048576\r\n-TMCSHARED 1048576\r\n$3\r\nabc\r\n"
    got = b""
    while len(got) < len(want) and (chunk := s.recv(4096)):
        got += chunk
    assert got == want
    s.close()
    assert cache.get("small") is None  # TMC.GETDEL took it
    assert cache.pop("big") == value and cache.get("big") is None  # TMC.GETDEL left it; pop read it with TMC.GETDELFD
