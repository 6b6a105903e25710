"""A server with max_memory: SIEVE eviction keeps it within the bound, noeviction refuses writes.

These check our server's own behaviour, so they start servers of their own
with `python -m tiny_mp_cache serve --max-memory ...`.
"""

from __future__ import annotations

import itertools
import os
import random
import socket
import time

import pytest
import tiny_mp_cache
from conftest import need_go, read_until_closed, sockaddr_of, start_tcp_server, start_unix_server
from tiny_mp_cache import TinyCache

MiB = 1 << 20


def status_bytes(pid: int, field: str) -> int:
    """A memory field of /proc/PID/status ("VmRSS", "VmHWM"), in bytes."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                value, unit = line.split()[1:3]
                assert unit == "kB"
                return int(value) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def zipf_ranks(n_items: int, n_samples: int, s: float, seed: int) -> list[int]:
    """n_samples ranks in [0, n_items) drawn from Zipf(s): rank r has weight 1 / (r + 1) ** s."""
    cumulative = list(itertools.accumulate(1 / r**s for r in range(1, n_items + 1)))
    return random.Random(seed).choices(range(n_items), cum_weights=cumulative, k=n_samples)


@pytest.fixture(params=["go", "pure"])
def pure(request: pytest.FixtureRequest) -> bool:
    return request.param == "pure"


@pytest.mark.timeout(180)
def test_a_zipf_workload_ten_times_the_bound_stays_within_it(record_property, pure):
    """Zipf(0.99) read-through (GET; on a miss SET a 1 KiB value) over 320 MiB of
    distinct data, against max_memory=32MB.

    The store's own accounting (keys, values, per-entry overhead) must stay
    within the bound, evicting keys to do so. The process as a whole holds
    more: the Python interpreter that runs the server (about 20 MiB), the Go
    runtime, and garbage the collector has not yet returned. The server sets
    Go's soft memory limit to max_memory * 1.25 + 64 MiB, so the peak RSS
    (VmHWM) must stay below the bound plus a slack of 100 MiB. Measured on a
    development machine: a peak RSS of about 104 MiB, that is 72 MiB over the
    bound, and a hit ratio of about 0.7.
    """
    need_go()
    bound, slack = 32 * MiB, 100 * MiB
    value_size = 1024
    n_items = 10 * bound // value_size  # ten times the bound in distinct values
    n_ops = 250_000
    server = start_tcp_server("--max-memory", "32MB")
    try:
        cache = TinyCache(server.addr, timeout=30, _pure=pure)
        assert cache.stats()["max_memory"] == bound
        value = os.urandom(value_size)
        ranks = zipf_ranks(n_items, n_ops, 0.99, seed=1)
        hits = 0
        peak_rss = 0
        batch = 500
        for start in range(0, n_ops, batch):
            keys = [f"item:{r}" for r in ranks[start:start + batch]]
            writes = cache.pipeline()
            for key, got in zip(keys, cache.mget(keys)):
                if got is None:
                    writes.set(key, value)
                else:
                    assert got == value
                    hits += 1
            writes.execute()
            if start % (50 * batch) == 0:
                peak_rss = max(peak_rss, status_bytes(server.pid, "VmRSS"))
                assert cache.stats()["used_memory"] <= bound
        stats = cache.stats()
        info = cache.info()
        peak_rss = max(peak_rss, status_bytes(server.pid, "VmHWM"))
        hit_ratio = hits / n_ops
        record_property("hit_ratio", round(hit_ratio, 4))
        record_property("peak_rss_mib", round(peak_rss / MiB, 1))
        print(f"\nzipf(0.99) over {n_items} x 1 KiB, bound 32 MiB: hit ratio {hit_ratio:.3f}, "
              f"peak RSS {peak_rss / MiB:.1f} MiB, {stats['evictions']} evictions, {stats['keys']} keys")  # fmt: skip
        assert hit_ratio > 0
        assert stats["evictions"] > 0
        assert info["evicted_keys"] == stats["evictions"]
        assert 0 < stats["used_memory"] <= stats["max_memory"] == bound
        # A 1 KiB value plus its key and overhead: the bound holds fewer than 32 Ki keys.
        assert 0 < stats["keys"] < bound // value_size
        assert stats["hits"] >= hits
        assert peak_rss < bound + slack, f"peak RSS {peak_rss / MiB:.1f} MiB"
        cache.close()
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_sieve_keeps_a_key_that_is_read_while_one_time_keys_stream_past():
    """SIEVE, unlike FIFO, spares an entry that was read since the hand last passed it."""
    need_go()
    server = start_tcp_server("--max-memory", "4MB")
    try:
        cache = TinyCache(server.addr)
        cache.set("hot", b"h" * 1024)
        value = b"x" * 1024
        for start in range(0, 40_000, 100):  # ten times the bound, each key written once
            cache.mset({f"cold:{i}": value for i in range(start, start + 100)})
            assert cache.get("hot") == b"h" * 1024, f"the hot key was evicted after {start + 100} writes"
        stats = cache.stats()
        assert stats["evictions"] > 30_000
        assert stats["used_memory"] <= stats["max_memory"]
        assert cache.get("cold:0") is None  # the one-time keys were evicted
        assert cache.get("cold:39999") == value
    finally:
        server.stop()


@pytest.mark.timeout(120)
def test_noeviction_refuses_writes_past_the_bound_and_keeps_serving_reads(pure):
    need_go()
    server = start_tcp_server("--max-memory", "4MB", "--eviction-policy", "noeviction")
    try:
        cache = TinyCache(server.addr, _pure=pure)
        value = os.urandom(1024)
        written = 0
        with pytest.raises(tiny_mp_cache.ServerError, match="OOM") as info:
            for i in range(10_000):
                cache.set(f"k{i}", value)
                written += 1
        assert "maxmemory" in str(info.value)
        assert 2000 < written < 4096  # 4 MiB of 1 KiB values, less the overhead
        # Every kind of write that needs more room is refused, nothing was evicted...
        bigger = value * 2
        for write in (lambda: cache.set("new", bigger), lambda: cache.mset({"new": bigger}),
                      lambda: cache.push("list", bigger), lambda: cache.set("new", bigger, ttl=10)):  # fmt: skip
            with pytest.raises(tiny_mp_cache.ServerError, match="OOM"):
                write()
        with pytest.raises(tiny_mp_cache.ServerError, match="OOM"):
            cache.pipeline().get("k0").set("new", bigger).execute()
        stats = cache.stats()
        assert stats["evictions"] == 0
        assert stats["keys"] == written
        assert stats["used_memory"] <= stats["max_memory"] == 4 * MiB
        # ... and reads keep working.
        assert cache.get("k0") == value
        assert cache.mget(["k0", f"k{written - 1}", "new", "list"]) == [value, value, None, None]
        assert cache.exists("k1") == 1
        assert len(cache.keys("k*")) == written
        # Deleting makes room again.
        for i in range(10):
            assert cache.delete(f"k{i}") == 1
        cache.set("new", value)
        assert cache.get("new") == value
    finally:
        server.stop()


def test_the_bound_and_policy_are_reported():
    need_go()
    server = start_tcp_server("--max-memory", "64MB", "--eviction-policy", "noeviction")
    try:
        cache = TinyCache(server.addr)
        info = cache.info("memory")
        assert info["maxmemory"] == 64 * MiB
        assert info["maxmemory_policy"] == "noeviction"
        assert cache.execute_command("CONFIG", "GET", "maxmemory") == [b"maxmemory", b"%d" % (64 * MiB)]
    finally:
        server.stop()
    server = start_tcp_server("--max-memory", str(5 * MiB))
    try:
        cache = TinyCache(server.addr)
        assert cache.stats()["max_memory"] == 5 * MiB
        assert cache.info("memory")["maxmemory_policy"] == "allkeys-sieve"
    finally:
        server.stop()


def resp_command(*args: bytes) -> bytes:
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


@pytest.mark.timeout(120)
def test_rss_stays_within_max_memory_plus_what_each_client_may_hold():
    """max_memory bounds the data, not the clients' buffers: the bound the README gives is

        RSS <= 1.25 x max_memory + 64 MiB (the Go runtime's soft memory limit)
               + clients x (2 x max_query + max_output)   (a request, a queued MULTI, unsent replies)
               + 4 x max_output                            (the one reply being built, at any time)
               + about 30 MiB                              (the Python interpreter that runs the server)

    Here, against max_memory=32MB, max_query=1 MiB, max_output=4 MiB, on a
    unix socket (whose small buffers leave unread replies in the server):
    16 clients stop half way through a 1 MB SET, 16 leave a 3.5 MB MGET reply
    unread, and 4 send a MULTI of 8,000 GETs of a 60 kB value (a 480 MB
    reply, which the server once built whole: a peak RSS of 1.5 GiB).
    Measured: an RSS of about 110 MiB before the clients, a peak of 190 MiB,
    against a bound of 366 MiB.
    """
    max_memory, max_query, max_output = 32 * MiB, MiB, 4 * MiB
    server = start_unix_server(
        "--max-memory", "32MB", "--max-query", str(max_query), "--max-output", str(max_output)
    )
    family, sockaddr = sockaddr_of(server.addr)
    clients: list[socket.socket] = []

    def connect() -> socket.socket:
        s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(30)
        s.connect(sockaddr)
        clients.append(s)
        return s

    try:
        cache = TinyCache(server.addr, timeout=30)
        value = os.urandom(1024)
        for start in range(0, 40_000, 500):  # more than the bound: evictions
            cache.mset({f"fill:{i}": value for i in range(start, start + 500)})
        reply_keys = [f"r:{i}" for i in range(3500)]
        for start in range(0, len(reply_keys), 500):
            cache.mset({k: value for k in reply_keys[start:start + 500]})
        cache.set("big", os.urandom(60_000))
        assert cache.stats()["used_memory"] <= max_memory
        before = status_bytes(server.pid, "VmRSS")

        for _ in range(16):  # a request left half way: held in the query buffer
            connect().sendall(b"*3\r\n$3\r\nSET\r\n$4\r\nhalf\r\n$1000000\r\n" + os.urandom(500_000))
        mget = resp_command(b"MGET", *(k.encode() for k in reply_keys))
        for _ in range(16):  # a reply under max_output, left unread
            connect().sendall(mget)
        multi = resp_command(b"MULTI") + resp_command(b"GET", b"big") * 8000 + resp_command(b"EXEC")
        for _ in range(4):  # a reply past max_output: the client is closed
            s = connect()
            s.sendall(multi)
            _, how = read_until_closed(s, 30)
            assert how in ("eof", "reset")
        time.sleep(1)  # the server reads and answers what the clients sent
        assert cache.get("r:0") == value  # still serving

        peak = status_bytes(server.pid, "VmHWM")
        bound = max_memory * 5 // 4 + 64 * MiB + len(clients) * (2 * max_query + max_output) + 4 * max_output + 30 * MiB
        print(f"\n{len(clients)} clients over max_memory=32MB: RSS {before / MiB:.0f} MiB before them, "
              f"peak {peak / MiB:.0f} MiB, bound {bound / MiB:.0f} MiB")  # fmt: skip
        assert peak < bound, f"peak RSS {peak / MiB:.0f} MiB, past the bound of {bound / MiB:.0f} MiB"
        cache.close()
    finally:
        for s in clients:
            s.close()
        server.stop()
