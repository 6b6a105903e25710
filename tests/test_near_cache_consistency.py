"""Issue 13: the near cache never serves a read older than an acknowledged write.

tests/_consistency.py has the checker and the workload; its docstring
says what is recorded and what is checked. Here:

* the checker itself, on hand-made histories: a stale read is flagged, a
  fresh one accepted, a read that overlaps a write may return either side;
* the mixed workload (set, delete, pop, lpush/rpush/rpop, incr, expire,
  persist, TTL expiry, FLUSHALL, FLUSHDB and a server restart: SIGKILL
  and a new server at the same path) under fork and spawn, one reader with
  TinyCache(addr, near_cache=64) and one with AsyncTinyCache: no
  violation, and every reader served hits from shared memory (otherwise
  the test could not fail); and under fork with readers that use the near
  cache the parent made and filled before forking (so they run the
  pure-Python client);
* eviction under max_memory: keys a reader holds are evicted by another
  process's fills; once a plain read saw them gone, the reader must not
  return them;
* the self-test: the same runs with the near cache's validity check broken
  in the readers (every entry looks fresh): the checker must report
  violations.

Each run happens in a fresh interpreter (run_isolated: its whole process
group is killed afterwards), which starts the children itself, so a fork
never copies this pytest process's Go runtime.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import _consistency as cc
import pytest
from conftest import TESTS, need_go, run_python

DRIVER = f"import sys; sys.path.insert(0, {TESTS!r}); import _consistency; sys.exit(_consistency.main(sys.argv[1:]))"
NEAR = 64  # the readers' TinyCache(addr, near_cache=NEAR)
METHODS = ["fork", "spawn"]


def run_scenario(**kwargs) -> dict:
    spec = cc.Spec(near_cache=kwargs.pop("near_cache", NEAR), **kwargs)
    result = run_python(DRIVER, json.dumps(asdict(spec)), timeout=spec.timeout + 15)
    stderr = result.stderr.decode("utf-8", "replace")[-8000:]
    assert result.returncode == 0, f"the scenario failed (exit {result.returncode}):\n{stderr}"
    lines = [line for line in result.stdout.decode().splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"no result: {result.stdout[-2000:]!r}\n{stderr}"
    out = json.loads(lines[0][len("RESULT "):])
    print({k: v for k, v in out.items() if k != "examples"})
    assert not out["errors"], "\n".join(out["errors"])
    return out


def assert_near_cache_served(out: dict) -> None:
    """Every reader used shared memory and served hits from it: otherwise nothing here could fail."""
    for stats in out["stats"]:
        assert stats["mode"] == "shared-memory", stats
        assert stats["hits"] > 0, stats


# --- the checker on hand-made histories -------------------------------------------------


def test_a_read_older_than_an_acknowledged_write_is_flagged():
    events = {"k": [(100, b"v1"), (200, b"v2")]}
    (v,) = cc.check(events, [("k", 250, "get", b"v1")])
    assert (v.key, v.got, v.latest, v.latest_ns) == ("k", b"v1", b"v2", 200)


def test_a_read_of_the_latest_acknowledged_state_is_accepted():
    events = {"k": [(100, b"v1"), (200, None), (300, b"v3")]}
    reads = [("k", 150, "get", b"v1"), ("k", 250, "get", None), ("k", 350, "get", b"v3"), ("k", 50, "get", None)]
    assert cc.check(events, reads) == []


def test_a_read_overlapping_a_write_may_return_either_side():
    # The write of v2 was acknowledged at 200; a read that started at 150 overlaps it.
    events = {"k": [(100, b"v1"), (200, b"v2"), (300, b"v3")]}
    assert cc.check(events, [("k", 150, "get", b"v1"), ("k", 150, "get", b"v2"), ("k", 150, "get", b"v3")]) == []
    # The ack is the boundary: a read that starts at the ack's very time still overlaps it.
    assert cc.check(events, [("k", 200, "get", b"v1")]) == []
    assert len(cc.check(events, [("k", 201, "get", b"v1")])) == 1


def test_a_deleted_key_served_again_is_flagged_and_the_initial_state_only_before_any_write():
    events = {"k": [(100, b"v1"), (200, None)]}
    assert len(cc.check(events, [("k", 250, "get", b"v1")])) == 1
    assert len(cc.check(events, [("k", 150, "get", None)])) == 0  # overlaps the delete
    assert len(cc.check({"k": [(100, b"v1")]}, [("k", 150, "get", None)])) == 1
    assert len(cc.check({"k": [(100, b"v1")]}, [("k", 50, "get", None)])) == 0
    assert len(cc.check({}, [("k", 50, "get", b"never written")])) == 1


def test_a_list_reads_as_wrongtype_through_get_and_none_through_mget():
    events = {"k": [(100, b"v1"), (200, cc.LIST)]}
    assert cc.check(events, [("k", 250, "get", cc.LIST), ("k", 250, "mget", None)]) == []
    assert len(cc.check(events, [("k", 250, "get", None)])) == 1
    assert len(cc.check(events, [("k", 250, "mget", b"v1")])) == 1


def test_a_state_seen_again_later_does_not_excuse_an_older_read_before_it():
    # v1 (100), None (200), v1 again (300): at 250 the read must be None or v1-again: v1 is allowed
    # (the same bytes as a later state) - the check is about states, so distinct values make it strict.
    events = {"k": [(100, b"v1"), (200, None), (300, b"v1")]}
    assert cc.check(events, [("k", 250, "get", b"v1")]) == []
    assert len(cc.check(events, [("k", 350, "get", None)])) == 1


# --- the workloads ---------------------------------------------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.parametrize("method", METHODS)
def test_mixed_writes_flush_and_restart_never_serve_a_stale_read(method):
    need_go()
    out = run_scenario(method=method, async_readers=1)
    assert out["clients"] == ["go", "async"], out["clients"]  # the parent loaded nothing before it forked
    assert out["violations"] == 0, "\n".join(out["examples"])
    for kind in ("set", "delete", "pop", "lpush", "rpush", "rpop", "incr", "set_ttl", "expire", "persist",
                 "flushall", "flushdb", "restart"):
        assert out["writes"].get(kind, 0) > 0, f"no {kind} in this run: {out['writes']}"
    assert all(out["reads_after"][what] > 0 for what in ("flushall", "flushdb", "restart")), out["reads_after"]
    assert out["reads"] > 1000, out["reads"]
    assert_near_cache_served(out)


@pytest.mark.timeout(90)
def test_readers_forked_with_the_parents_filled_near_cache_never_serve_a_stale_read():
    """The parent made a TinyCache(near_cache=64), filled it (loading the Go library), then forked the readers,
    which use that object: the pure-Python client in each child, with the entries the parent filled."""
    need_go()
    out = run_scenario(method="fork", inherit=True)
    assert out["clients"] == ["pure", "pure"], out["clients"]  # the inherited Go runtime is never called
    assert out["violations"] == 0, "\n".join(out["examples"])
    assert all(out["reads_after"][what] > 0 for what in ("flushall", "flushdb", "restart")), out["reads_after"]
    assert_near_cache_served(out)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("method", METHODS)
def test_an_evicted_key_is_not_served_after_a_plain_read_saw_it_gone(method):
    need_go()
    out = run_scenario(method=method, scenario="eviction")
    assert out["not_evicted"] == [], f"the fills did not evict every victim: {out}"
    assert out["violations"] == 0, "\n".join(out["examples"])
    assert out["reads_after"]["eviction"] >= 3 * cc.VICTIMS, out["reads_after"]
    assert_near_cache_served(out)


@pytest.mark.timeout(90)
@pytest.mark.parametrize("scenario", ["mixed", "eviction"])
def test_the_checker_catches_a_near_cache_whose_validity_check_is_broken(scenario):
    need_go()
    out = run_scenario(method="spawn", scenario=scenario, break_validity=True, async_readers=1)
    assert_near_cache_served(out)
    assert out["violations"] > 0, f"no stale read was caught with the validity check broken: {out}"
    print(f"violations caught with the validity check broken ({scenario}): {out['violations']}")


# --- what the checker found ------------------------------------------------------------------


def test_get_of_a_list_key_raises_wrongtype_after_an_mget_read_it(unix_server):
    """MGET answers None for a key that holds a list, GET raises WRONGTYPE: a near cache filled by
    mget must not turn the next get into None (the mixed workload caught this as a stale read)."""
    need_go()
    from tiny_mp_cache import ServerError, TinyCache

    with TinyCache(unix_server.addr, near_cache=8) as near, TinyCache(unix_server.addr) as plain:
        plain.delete("nc:list")
        plain.push("nc:list", b"x")
        assert near.mget(["nc:list"]) == [None]
        with pytest.raises(ServerError, match="WRONGTYPE"):
            plain.get("nc:list")
        with pytest.raises(ServerError, match="WRONGTYPE"):
            near.get("nc:list")
        assert near.near_cache_stats()["mode"] == "shared-memory"
