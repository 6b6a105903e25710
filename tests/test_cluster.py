"""TinyCache("redis+cluster://...") against a real three-master Redis Cluster on loopback.

The cluster is started once per session from Debian's redis-server and
redis-cli (tests/_redis_cluster.py). With those tools and redis-py present
nothing here skips; TINY_MP_CACHE_REQUIRE_TOOLS=1 (set in CI) turns a
missing tool into a failure too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
from _redis_cluster import RedisCluster
from conftest import need_go, short_tmpdir
from tiny_mp_cache import ConnectionError, ServerError, TinyCache


def _need(what: str, present: bool) -> None:
    if present:
        return
    if os.environ.get("TINY_MP_CACHE_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{what} is needed for the Redis Cluster tests")
    pytest.skip(f"{what} is not installed")


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    _need("redis-server", shutil.which("redis-server") is not None)
    _need("redis-cli", shutil.which("redis-cli") is not None)
    try:
        import redis.cluster  # noqa: F401
    except ImportError:
        _need("redis-py", False)
    cluster = RedisCluster.start(short_tmpdir())
    yield cluster
    cluster.stop()


@pytest.fixture(params=["go", "pure"])
def cache(request: pytest.FixtureRequest, redis_cluster: RedisCluster) -> Iterator[TinyCache]:
    """A TinyCache on the empty cluster; its connections to the masters are Go or pure-Python ones."""
    if request.param == "go":
        need_go()
    c = TinyCache(redis_cluster.addr, _pure=(request.param == "pure"))
    c.flush()
    yield c
    c.close()


def per_master(cluster: RedisCluster) -> dict[int, int]:
    """DBSIZE of each master, asked directly: {port: keys}."""
    sizes = {}
    for port in cluster.ports:
        with TinyCache(f"127.0.0.1:{port}", _pure=True) as node:
            sizes[port] = node.len()
    return sizes


def test_keys_spread_over_every_master_and_keys_and_len_ask_them_all(cache, redis_cluster):
    names = [f"user:{i}" for i in range(60)]
    for i, name in enumerate(names):
        cache.set(name, b"%d" % i)
    sizes = per_master(redis_cluster)
    assert all(n > 0 for n in sizes.values()), sizes  # every master holds some
    assert cache.len() == sum(sizes.values()) == 60
    assert sorted(cache.keys("user:*")) == sorted(names)
    assert cache.keys("user:1?") == sorted(f"user:{i}" for i in range(10, 20))
    assert [cache.get(n) for n in names] == [b"%d" % i for i in range(60)]
    assert sorted(cache.scan_iter(match="user:*", count=7)) == sorted(names)  # each key once, from every master
    cache.flush()
    assert cache.len() == 0 and sum(per_master(redis_cluster).values()) == 0


def test_get_set_pop_delete_and_the_rest_route_to_the_key_s_master(cache):
    cache.set("a", b"1")
    assert cache.get("a") == b"1"
    assert cache.pop("a") == b"1"
    assert cache.pop("a") is None and cache.get("a") is None
    cache.set("b", b"2", ttl=30)
    assert 29 < cache.ttl("b") <= 30
    assert cache.persist("b") and cache.ttl("b") == -1.0
    assert cache.expire("b", 10) and cache.delete("b") == 1 and cache.delete("b") == 0
    assert cache.incr("n", 5) == 5 and cache.decr("n") == 4
    assert cache.type("n") == "string" and cache.type("nope") == "none"
    assert cache.exists("n", "nope", "n") == 2  # keys on different masters, counted as Redis does
    assert cache.execute_command("GET", "n") == b"4"
    assert cache.execute_command("PING") == "PONG"
    assert cache.stats()["keys"] >= 0 and "used_memory" in cache.info("memory")


def test_mget_and_mset_split_by_slot_and_keep_the_order(cache, redis_cluster):
    mapping = {f"k{i}": b"v%d" % i for i in range(40)}
    cache.mset(mapping)
    assert all(n > 0 for n in per_master(redis_cluster).values())
    order = [f"k{i}" for i in range(39, -1, -1)] + ["missing"]
    assert cache.mget(order) == [mapping[k] for k in order[:-1]] + [None]
    assert cache.mget([]) == []


def test_pop_takes_a_value_exactly_once_among_threads(cache, redis_cluster):
    caches = [TinyCache(redis_cluster.addr, _pure=True) for _ in range(8)]
    try:
        for round_ in range(20):
            key = f"job:{round_}"
            cache.set(key, b"payload")
            got: list[bytes | None] = []
            barrier = threading.Barrier(len(caches))

            def take(c: TinyCache) -> None:
                barrier.wait(timeout=10)
                got.append(c.pop(key))

            threads = [threading.Thread(target=take, args=(c,)) for c in caches]
            for t in threads:
                t.start()
            for t in threads:
                t.join(timeout=10)
            assert sorted(got, key=lambda v: v is None) == [b"payload"] + [None] * (len(caches) - 1)
    finally:
        for c in caches:
            c.close()


def test_lists_and_blocking_pops_per_key(cache, redis_cluster):
    assert cache.push("q", b"1", b"2") == 2 and cache.llen("q") == 2
    assert cache.bpop("q", timeout=1) == ("q", b"1")
    assert cache.bpop(["{q}:other", "q"], timeout=1) == ("q", b"2")  # one hash tag: one slot
    assert cache.bpop("q", timeout=0.2) is None
    with pytest.raises(ServerError, match="CROSSSLOT"):
        cache.bpop(["a", "b"], timeout=0.2)

    # A waiting bpop wakes when another client pushes.
    got = []
    t = threading.Thread(target=lambda: got.append(cache.bpop("wake", timeout=10)))
    t.start()
    time.sleep(0.2)
    with TinyCache(redis_cluster.addr, _pure=True) as other:
        other.push("wake", b"x")
    t.join(timeout=15)
    assert got == [("wake", b"x")]


def test_a_pipeline_spans_masters_and_keeps_each_call_s_place(cache):
    p = cache.pipeline()
    for i in range(30):
        p.set(f"p{i}", b"%d" % i)
    p.keys("p*").len()
    for i in range(30):
        p.get(f"p{i}")
    p.mget(["p0", "p29", "none"]).pop("p3").exists("p3")
    results = p.execute()
    assert results[:30] == [None] * 30
    assert sorted(results[30]) == sorted(f"p{i}" for i in range(30))  # after every set before it
    assert results[31] == 30
    assert results[32:62] == [b"%d" % i for i in range(30)]
    assert results[62:] == [[b"0", b"29", None], b"3", 0]


def test_a_transaction_runs_whole_on_the_master_of_its_keys(cache, redis_cluster):
    """MULTI, its commands and EXEC go to one master, the one of their key (memoize's lock release is one)."""
    for i in range(12):  # keys on every master, the first one in the sorted list of masters included
        replies = cache.pipeline().execute_command("MULTI").execute_command("SET", f"t{i}", "v").execute_command("EXEC").execute()
        assert replies == ["OK", "QUEUED", ["OK"]], i
    assert sum(per_master(redis_cluster).values()) == 12


def test_a_slot_that_moves_is_followed_through_ask_and_moved(redis_cluster):
    # Move the slot of one key to another master behind the client's back,
    # as redis-cli --cluster reshard does, one step at a time.
    def node(port: int) -> TinyCache:
        return TinyCache(f"127.0.0.1:{port}", _pure=True)

    with TinyCache(redis_cluster.addr, _pure=True) as cache:
        cache.set("moving", b"v")
        slot = cache.execute_command("CLUSTER", "KEYSLOT", "moving")
        ids, owner = {}, None
        for port in redis_cluster.ports:
            with node(port) as n:
                ids[port] = n.execute_command("CLUSTER", "MYID").decode()
                if n.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot) == 1:
                    owner = port
        target = next(port for port in redis_cluster.ports if port != owner)
        with node(owner) as source, node(target) as dest:
            dest.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[owner])
            source.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[target])
            source.execute_command("MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", "moving")
            assert cache.get("moving") == b"v"  # the source answers ASK: ASKING, then GET on the target
            for port in redis_cluster.ports:
                with node(port) as n:
                    n.execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[target])
            assert cache.get("moving") == b"v"  # MOVED: the map is read again, and the call goes on
            cache.set("moving", b"w")
            assert dest.get("moving") == b"w"
            assert cache.keys("moving") == ["moving"]


def test_addresses_and_errors():
    with pytest.raises(ValueError, match="database 0"):
        TinyCache("redis+cluster://127.0.0.1:7000/1", _pure=True)
    with pytest.raises(ConnectionError):
        TinyCache("redis+cluster://127.0.0.1:1", timeout=1, _pure=True)


def test_without_redis_py_the_error_says_what_to_install(redis_cluster):
    code = (
        "import sys; sys.modules['redis'] = None; sys.modules['redis.cluster'] = None\n"
        "from tiny_mp_cache import TinyCache\n"
        "try:\n    TinyCache(sys.argv[1], _pure=True)\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, redis_cluster.addr], capture_output=True, text=True, timeout=60)
    assert "pip install 'tiny-mp-cache[redis]'" in out.stdout, out.stderr


def test_the_dict_protocol_and_memoize_work_on_the_cluster(cache):
    for i in range(20):
        cache[f"d{i}"] = b"%d" % i
    assert len(cache) == 20 and "d7" in cache and "nope" not in cache
    assert cache["d7"] == b"7"
    del cache["d7"]
    assert "d7" not in cache and len(cache) == 19

    calls = []

    @cache.memoize(ttl=30)
    def square(n: int) -> int:
        calls.append(n)
        return n * n

    assert [square(3), square(3), square(4)] == [9, 9, 16]
    assert calls == [3, 4]  # the second square(3) came from the cluster
