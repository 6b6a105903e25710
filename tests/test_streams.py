"""Streams, side by side with a real redis-server.

As far as job queues use them (RQ 3 writes a job's results with XADD ...
MAXLEN ~ 10 and reads them back with XREVRANGE and XLEN): XADD with its ID
rules and trimming, XRANGE/XREVRANGE, XLEN, XDEL, XTRIM. Each check runs
against our server (tcp and unix) and a real redis-server, so every
expected value is what Redis answers:
- the exact bytes of the replies to many edge cases (IDs, their errors and
  the order Redis checks them in, trimming, RESP3 nulls), compared with
  redis-server's;
- a table of redis-py calls, RESP2 and RESP3;
- the command layer's methods (xadd, xrange, ...) on both client paths.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from test_redis_compat import Raises, connect, normal
from test_sorted_sets import Raw, run_steps

redis = pytest.importorskip("redis")

MAX = "18446744073709551615"

# Deterministic commands whose replies must be byte for byte Redis's.
EDGES = [
    # IDs: explicit, "ms-*", the top item rule, 0-0, and what parses as an ID.
    ("XADD", "s", "1-1", "f", "v"), ("XADD", "s", "1-1", "f", "v"), ("XADD", "s", "1-0", "f", "v"),
    ("XADD", "s", "1-*", "f", "v"), ("XADD", "s", "1", "f", "v"), ("XADD", "s", "2", "f", "v"),
    ("XADD", "s", "5-*", "a", "1", "b", "2"), ("XADD", "s", "3-*", "f", "v"),
    ("XADD", "new", "0-0", "f", "v"), ("EXISTS", "new"), ("XADD", "new", "0-*", "f", "v"),
    ("XADD", "new", "0", "f", "v"), ("XADD", "new", "-", "f", "v"), ("XADD", "new", "+", "f", "v"),
    ("XADD", "new", "x-1", "f", "v"), ("XADD", "new", "1-x", "f", "v"), ("XADD", "new", "-1", "f", "v"),
    ("XADD", "new", "1-2-3", "f", "v"), ("XADD", "new", "*-1", "f", "v"), ("XADD", "new", "", "f", "v"),
    ("XADD", "new", "99999999999999999999-1", "f", "v"), ("XADD", "new", "9223372036854775808-1", "f", "v"),
    ("XADD", "new", " 10-1", "f", "v"), ("XADD", "new", "+11-1", "f", "v"), ("XADD", "new", "12-+1", "f", "v"),
    ("XADD", "new", "1" * 130, "f", "v"),
    ("XADD", "new", "13-1", "f"), ("XADD", "new", "13-1", "f", "v", "g"), ("XADD", "new", "NOMKSTREAM", "f", "v"),
    ("XADD", "top", f"{MAX}-{MAX}", "f", "v"), ("XADD", "top", "*", "f", "v"), ("XADD", "top", f"{MAX}-*", "f", "v"),
    ("XADD", "top2", f"5-{MAX}", "f", "v"), ("XADD", "top2", "5-*", "f", "v"), ("XADD", "top2", "6-*", "f", "v"),
    # NOMKSTREAM.
    ("XADD", "none", "NOMKSTREAM", "1-1", "f", "v"), ("EXISTS", "none"), ("XADD", "s", "NOMKSTREAM", "9-1", "f", "v"),
    ("XADD", "none", "nomkstream", "*", "f"),
    # Trimming's options and their errors.
    ("XADD", "t", "MAXLEN", "2", "1-1", "f", "1"), ("XADD", "t", "MAXLEN", "2", "2-1", "f", "2"),
    ("XADD", "t", "MAXLEN", "=", "2", "3-1", "f", "3"), ("XRANGE", "t", "-", "+"),
    ("XADD", "t", "MAXLEN", "-1", "4-1", "f", "v"), ("XADD", "t", "MAXLEN", "x", "4-1", "f", "v"),
    ("XADD", "t", "MAXLEN", "1", "MINID", "1", "4-1", "f", "v"), ("XADD", "t", "MINID", "1", "MAXLEN", "1", "4-1", "f", "v"),
    ("XADD", "t", "MINID", "x", "4-1", "f", "v"), ("XADD", "t", "MINID", "-", "4-1", "f", "v"),
    ("XADD", "t", "LIMIT", "5", "4-1", "f", "v"), ("XADD", "t", "LIMIT", "0", "4-1", "f", "v"),
    ("XADD", "t", "MAXLEN", "5", "LIMIT", "5", "4-1", "f", "v"), ("XADD", "t", "MAXLEN", "~", "5", "LIMIT", "-1", "4-1", "f", "v"),
    ("XADD", "t", "MAXLEN", "~", "5", "LIMIT", "x", "4-1", "f", "v"), ("XADD", "t", "MAXLEN"),
    ("XADD", "t", "MAXLEN", "~", "0", "LIMIT", "0", "4-1", "f", "v"), ("XLEN", "t"),
    ("XADD", "t", "MINID", "=", "4-1", "5-1", "f", "v"), ("XRANGE", "t", "-", "+"),
    ("XADD", "t", "MINID", "6", "5-2", "f", "v"), ("XLEN", "t"), ("EXISTS", "t"), ("TYPE", "t"),
    ("XADD", "t", "MAXLEN", "0", "6-1", "f", "v"), ("XLEN", "t"), ("EXISTS", "t"), ("XRANGE", "t", "-", "+"),
    ("XADD", "t", "6-1", "f", "v"),  # the emptied stream keeps its last ID
    ("XADD", "z0", "MAXLEN", "~", "0", "1-1", "f", "v"), ("XLEN", "z0"), ("EXISTS", "z0"),
    # XRANGE and XREVRANGE.
    ("XRANGE", "s", "-", "+"), ("XREVRANGE", "s", "+", "-"), ("XRANGE", "s", "1", "1"), ("XRANGE", "s", "1-1", "1-1"),
    ("XRANGE", "s", "(1-1", "+"), ("XRANGE", "s", "-", "(5-0"), ("XREVRANGE", "s", "(5-0", "(1-1"),
    ("XRANGE", "s", "-", "+", "COUNT", "2"), ("XREVRANGE", "s", "+", "-", "COUNT", "1"),
    ("XRANGE", "s", "-", "+", "COUNT", "0"), ("XRANGE", "s", "-", "+", "COUNT", "-5"), ("XRANGE", "s", "-", "+", "count", "1", "COUNT", "3"),
    ("XRANGE", "s", "-", "+", "COUNT"), ("XRANGE", "s", "-", "+", "COUNT", "x"), ("XRANGE", "s", "-", "+", "FOO", "1"),
    ("XRANGE", "s", "5", "1"), ("XRANGE", "s", "(-", "+"), ("XRANGE", "s", "-", "(+"), ("XRANGE", "s", "(", "+"),
    ("XRANGE", "s", f"({MAX}-{MAX}", "+"), ("XRANGE", "s", "-", "(0-0"), ("XRANGE", "s", "x", "+"), ("XRANGE", "s", "-", "x"),
    ("XRANGE", "s", "(0", "(5"), ("XRANGE", "missing", "-", "+"), ("XRANGE", "missing", "x", "+"),
    ("XRANGE", "missing", "-", "+", "COUNT", "0"), ("XREVRANGE", "s", "-", "+"),
    # XLEN, XDEL.
    ("XLEN", "s"), ("XLEN", "missing"), ("XDEL", "s", "1-1", "1-1", "2", "77-7"), ("XLEN", "s"), ("XDEL", "s", "1-2", "x"),
    ("XLEN", "s"), ("XDEL", "missing", "x"), ("XDEL", "s", "-"), ("XDEL", "s", "+"), ("XDEL", "s", "5"),
    ("XADD", "s", "5-1", "f", "v"),  # 5-1 was deleted, but it was the top item
    # XTRIM.
    ("XADD", "x", "1-1", "a", "1"), ("XADD", "x", "2-1", "a", "2"), ("XADD", "x", "3-1", "a", "3"), ("XADD", "x", "4-1", "a", "4"),
    ("XTRIM", "x", "MAXLEN", "3"), ("XTRIM", "x", "MAXLEN", "3"), ("XTRIM", "x", "MINID", "3"), ("XRANGE", "x", "-", "+"),
    ("XTRIM", "x", "FOO", "1"), ("XTRIM", "x", "MAXLEN"), ("XTRIM", "x", "LIMIT", "1"), ("XTRIM", "x", "NOMKSTREAM", "MAXLEN", "1"),
    ("XTRIM", "x", "MAXLEN", "1", "LIMIT", "1"), ("XTRIM", "x", "MAXLEN", "1", "*"), ("XTRIM", "x", "MINID", "+"),
    ("XTRIM", "missing", "FOO"), ("XTRIM", "x", "MAXLEN", "=", "0"), ("XLEN", "x"), ("EXISTS", "x"),
    # XREAD, without waiting.
    ("XADD", "r1", "1-1", "f", "1"), ("XADD", "r1", "2-1", "f", "2"), ("XADD", "r2", "5-5", "g", "5"),
    ("XREAD", "STREAMS", "r1", "0-0"), ("XREAD", "COUNT", "1", "STREAMS", "r1", "r2", "1-1", "0"),
    ("XREAD", "STREAMS", "r1", "r2", "missing", "$", "5-4", "0"), ("XREAD", "STREAMS", "r1", "$"),
    ("XREAD", "BLOCK", "0", "STREAMS", "r1", "1"), ("XREAD", "COUNT", "0", "STREAMS", "r1", "-"), ("XREAD", "COUNT", "-3", "STREAMS", "r1", "0"),
    ("XREAD", "STREAMS", "r1", f"{MAX}-{MAX}"), ("XREAD", "STREAMS", "r1", "+"), ("XREAD", "STREAMS", "r1", "x"),
    ("XREAD", "STREAMS", "r1", ">"), ("XREAD", "STREAMS", "r1", "r2", "0"), ("XREAD", "STREAMS", "r1"),
    ("XREAD", "COUNT", "x", "STREAMS", "r1", "0"), ("XREAD", "BLOCK", "x", "STREAMS", "r1", "0"),
    ("XREAD", "BLOCK", "-1", "STREAMS", "r1", "0"), ("XREAD", "FOO", "STREAMS", "r1", "0"), ("XREAD", "COUNT", "1", "r1", "0"),
    ("XREAD", "GROUP", "g", "c", "STREAMS", "r1", "0"), ("XREAD", "STREAMS", "missing", "0"),
    ("XREAD", "STREAMS", "missing", "x"), ("XREAD", "COUNT", "1", "COUNT", "2", "STREAMS", "r1", "0"),
    ("MULTI",), ("XREAD", "BLOCK", "0", "STREAMS", "r1", "$"), ("XREAD", "BLOCK", "0", "STREAMS", "r1", "0"), ("EXEC",),
    # Other types.
    ("SET", "str", "v"), ("XADD", "str", "1-1", "f", "v"), ("XADD", "str", "0-0", "f", "v"), ("XADD", "str", "x", "f", "v"),
    ("XRANGE", "str", "-", "+"), ("XRANGE", "str", "x", "+"), ("XRANGE", "str", "-", "+", "COUNT", "0"), ("XLEN", "str"), ("XDEL", "str", "x"), ("XTRIM", "str", "FOO"),
    ("XADD", "str", "NOMKSTREAM", "1-1", "f", "v"),
    ("RPUSH", "l", "a"), ("XADD", "l", "1-1", "f", "v"), ("TYPE", "s"), ("TYPE", "x"),
    ("GET", "s"), ("RPUSH", "s", "a"), ("ZADD", "s", "1", "a"),
    ("XREAD", "STREAMS", "str", "0"), ("XREAD", "STREAMS", "r1", "str", "0", "0"), ("XREAD", "STREAMS", "str", "x"),
    ("XREAD", "BLOCK", "10", "STREAMS", "l", "$"),
]


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("kind", ["tcp", "unix"])
def test_replies_are_byte_for_byte_redis_s(request, kind, protocol, redis_server):
    ours = request.getfixturevalue(f"{kind}_server")
    theirs = Raw(redis_server.addr, protocol)
    mine = Raw(ours.addr, protocol)
    try:
        theirs.call("FLUSHALL")
        mine.call("FLUSHALL")
        for args in EDGES:
            assert mine.call(*args) == theirs.call(*args), args
    finally:
        theirs.close()
        mine.close()


# --- redis-py's calls, RESP2 and RESP3 -----------------------------------------------


@pytest.fixture(params=["tcp", "unix", "redis"])
def server(request: pytest.FixtureRequest):
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(request: pytest.FixtureRequest, server):
    client = connect(server.addr, request.param)
    client.flushall()
    yield client
    client.close()


CASES = {
    "rq-results": [  # what RQ 3's Result.save, fetch_latest and count send
        ("xadd", ("results:j", {"type": "1", "return_value": "x"}, "1-1"), {"maxlen": 2}, b"1-1"),
        ("xadd", ("results:j", {"type": "2"}, "2-1"), {"maxlen": 2}, b"2-1"),
        ("xadd", ("results:j", {"type": "3"}, "3-1"), {"maxlen": 2, "approximate": False}, b"3-1"),
        ("xrevrange", ("results:j", "+", "-"), {"count": 1}, [(b"3-1", {b"type": b"3"})]),
        ("xlen", ("results:j",), {}, 2),
        ("xrevrange", ("results:j", "+", "-"), {}, [(b"3-1", {b"type": b"3"}), (b"2-1", {b"type": b"2"})]),
        ("delete", ("results:j",), {}, 1),
        ("xrevrange", ("results:j", "+", "-"), {"count": 1}, []),
    ],
    "ranges": [
        ("xadd", ("s", {"a": 1}, "1-0"), {}, b"1-0"),
        ("xadd", ("s", {"a": 2, "b": "x"}, "1-*"), {}, b"1-1"),
        ("xadd", ("s", {"a": 3}, "2"), {}, b"2-0"),
        ("xrange", ("s",), {}, [(b"1-0", {b"a": b"1"}), (b"1-1", {b"a": b"2", b"b": b"x"}), (b"2-0", {b"a": b"3"})]),
        ("xrange", ("s", "(1-0", "+"), {"count": 1}, [(b"1-1", {b"a": b"2", b"b": b"x"})]),
        ("xrevrange", ("s", "(2-0", "-"), {}, [(b"1-1", {b"a": b"2", b"b": b"x"}), (b"1-0", {b"a": b"1"})]),
        ("xrange", ("s", "2", "1"), {}, []),
        ("xdel", ("s", "1-1", "9-9"), {}, 1),
        ("xtrim", ("s",), {"maxlen": 1, "approximate": False}, 1),
        ("xtrim", ("s",), {"minid": "3"}, 1),
        ("xlen", ("s",), {}, 0),
        ("exists", ("s",), {}, 1),
        ("type", ("s",), {}, b"stream"),
        ("xadd", ("s", {"a": 1}, "2-0"), {}, Raises("equal or smaller than the target stream top item")),
        ("xadd", ("none", {"a": 1}), {"nomkstream": True}, None),
        ("xadd", ("s", {"a": 1}, "0-0"), {}, Raises("must be greater than 0-0")),
        ("set", ("str", "v"), {}, True),
        ("xadd", ("str", {"a": 1}), {}, Raises("WRONGTYPE")),
        ("xlen", ("str",), {}, Raises("WRONGTYPE")),
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_stream_commands_answer_as_redis_does(r, case):
    run_steps(r, CASES[case])


def test_an_id_of_star_is_the_clock_s_and_grows(r):
    before = int(time.time() * 1000)
    first = r.xadd("s", {"f": "v"})
    second = r.xadd("s", {"f": "v"})
    ms, seq = map(int, first.split(b"-"))
    assert before - 1000 <= ms <= int(time.time() * 1000) + 1000 and seq >= 0
    assert tuple(map(int, second.split(b"-"))) > (ms, seq)
    r.xadd("future", {"f": "v"}, id="99999999999999-5")
    assert r.xadd("future", {"f": "v"}) == b"99999999999999-6"  # the clock is behind the top item


# --- XREAD that waits, as RQ's Result.fetch_latest(timeout=) does ------------------------


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_a_blocked_xread_gets_the_entry_an_xadd_adds(server, protocol):
    waiter = connect(server.addr, protocol)
    adder = connect(server.addr, protocol)
    adder.flushall()
    adder.xadd("other", {"f": "v"}, id="1-1")
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(waiter.xread({"other": "$", "results:j": "0-0"}, block=10_000)))
    t.start()
    try:
        for _ in range(200):  # until the waiter is blocked, so the XADD serves it
            if int(adder.info("clients")["blocked_clients"]) == 1:
                break
            threading.Event().wait(0.02)
        adder.rpush("list", "not a stream")
        adder.xadd("results:j", {"type": "1"}, id="7-1", maxlen=10)
    finally:
        t.join(15)
    assert not t.is_alive()
    entries = [(b"7-1", {b"type": b"1"})]
    want = [[b"results:j", entries]] if protocol == 2 else {b"results:j": [entries]}  # redis-py's shapes
    assert normal(got[0]) == normal(want)
    assert waiter.xread({"results:j": "$"}, block=10) in (None, [], {})  # the timeout: nothing new
    waiter.close()
    adder.close()


# --- the command layer's methods -----------------------------------------------------


def test_the_stream_methods(cache):
    cache.flush()
    assert cache.xadd("s", {"f": b"1", b"g": 2}, id="5-1") == b"5-1"
    assert cache.xadd("s", {"f": "2"}, id="5-*") == b"5-2"
    new = cache.xadd("s", {"f": 3.5})
    assert cache.xlen("s") == 3
    assert cache.xrange("s", count=2) == [(b"5-1", {b"f": b"1", b"g": b"2"}), (b"5-2", {b"f": b"2"})]
    assert cache.xrevrange("s", count=1) == [(new, {b"f": b"3.5"})]
    assert cache.xrange("s", "(5-1", "5-2") == [(b"5-2", {b"f": b"2"})]
    assert cache.xdel("s", "5-1", b"5-9") == 1
    assert cache.xadd("s", {"f": "4"}, maxlen=1, approximate=False) > new
    assert cache.xlen("s") == 1
    assert cache.xtrim("s", minid=b"5-0") == 0
    assert cache.xtrim("s", maxlen=0, approximate=False) == 1
    assert cache.xadd("none", {"f": "v"}, nomkstream=True) is None
    assert cache.type("s") == "stream" and cache.exists("none") == 0


def test_the_stream_methods_check_their_arguments(cache):
    with pytest.raises(ValueError):
        cache.xadd("s", {})
    with pytest.raises(ValueError):
        cache.xadd("s", {"f": "v"}, maxlen=1, minid="1")
    with pytest.raises(ValueError):
        cache.xadd("s", {"f": "v"}, maxlen=-1)
    with pytest.raises(ValueError):
        cache.xadd("s", {"f": "v"}, maxlen=1, approximate=False, limit=5)
    with pytest.raises(TypeError):
        cache.xadd("s", {"f": "v"}, id=5)
    with pytest.raises(ValueError):
        cache.xtrim("s")
    with pytest.raises(TypeError):
        cache.xdel("s")
    assert cache.exists("s") == 0
