"""The set operations of sorted sets, side by side with a real redis-server.

ZUNION, ZINTER, ZDIFF, their STORE forms and ZINTERCARD, with WEIGHTS,
AGGREGATE SUM|MIN|MAX and WITHSCORES: the exact bytes of the replies to
many edge cases (RESP2 and RESP3, errors in the order Redis checks them),
compared with redis-server's; the command layer's zunionstore and
zinterstore; and that these commands' keys, which follow a count of them,
are where COMMAND, tracking and the cluster routing look.
"""

from __future__ import annotations

import pytest
from test_sorted_sets import Raw

redis = pytest.importorskip("redis")

EDGES = [
    ("ZADD", "a", "1", "x", "2", "y", "3", "z"), ("ZADD", "b", "10", "y", "20", "z", "30", "w"),
    ("ZADD", "c", "inf", "x", "-inf", "y", "0", "z"), ("ZADD", "d", "-inf", "x", "inf", "y"),
    ("ZUNION", "2", "a", "b"), ("ZUNION", "2", "a", "b", "WITHSCORES"), ("ZINTER", "2", "a", "b", "WITHSCORES"),
    ("ZDIFF", "2", "a", "b", "WITHSCORES"), ("ZDIFF", "2", "b", "a"), ("ZDIFF", "1", "a", "WITHSCORES"),
    ("ZUNION", "2", "a", "b", "WEIGHTS", "2", "0.5", "WITHSCORES"), ("ZUNION", "2", "a", "b", "AGGREGATE", "MIN", "WITHSCORES"),
    ("ZUNION", "2", "a", "b", "AGGREGATE", "max", "WITHSCORES"), ("ZINTER", "2", "a", "b", "weights", "-1", "1", "aggregate", "sum", "withscores"),
    ("ZUNION", "3", "a", "c", "d", "WITHSCORES"),  # inf + -inf is 0
    ("ZUNION", "2", "c", "d", "WEIGHTS", "0", "1", "WITHSCORES"),  # 0 * inf is 0
    ("ZINTER", "2", "c", "d", "AGGREGATE", "MAX", "WITHSCORES"),
    ("ZUNION", "2", "a", "missing", "WITHSCORES"), ("ZINTER", "2", "a", "missing"), ("ZDIFF", "2", "missing", "a"),
    ("ZUNION", "1", "missing"), ("ZUNION", "2", "a", "a", "WITHSCORES"), ("ZINTER", "2", "a", "a", "AGGREGATE", "MIN", "WITHSCORES"),
    ("ZINTERCARD", "2", "a", "b"), ("ZINTERCARD", "2", "a", "b", "LIMIT", "1"), ("ZINTERCARD", "2", "a", "b", "LIMIT", "0"),
    ("ZINTERCARD", "2", "a", "b", "LIMIT", "-1"), ("ZINTERCARD", "2", "a", "b", "LIMIT", "x"), ("ZINTERCARD", "2", "a", "b", "LIMIT"),
    ("ZINTERCARD", "2", "a", "b", "WITHSCORES"), ("ZINTERCARD", "1", "missing"), ("ZINTERCARD", "0", "a"),
    # numkeys and the options' errors.
    ("ZUNION", "0", "a"), ("ZUNION", "-1", "a"), ("ZUNION", "x", "a"), ("ZUNION", "3", "a", "b"), ("ZUNION", "2", "a"),
    ("ZUNIONSTORE", "dst", "0", "a"), ("ZINTERSTORE", "dst", "3", "a"), ("ZDIFFSTORE", "dst", "0", "a"),
    ("ZUNION", "2", "a", "b", "WEIGHTS", "1"), ("ZUNION", "2", "a", "b", "WEIGHTS", "1", "x"), ("ZUNION", "2", "a", "b", "WEIGHTS", "1", "nan"),
    ("ZUNION", "2", "a", "b", "WEIGHTS", "1", "inf", "WITHSCORES"), ("ZUNION", "2", "a", "b", "AGGREGATE", "AVG"),
    ("ZUNION", "2", "a", "b", "AGGREGATE"), ("ZUNION", "2", "a", "b", "FOO"), ("ZDIFF", "2", "a", "b", "WEIGHTS", "1", "2"),
    ("ZDIFF", "2", "a", "b", "AGGREGATE", "MIN"), ("ZUNIONSTORE", "dst", "2", "a", "b", "WITHSCORES"),
    ("ZUNION", "2", "a", "b", "WEIGHTS", "1", "2", "WEIGHTS", "3", "4", "WITHSCORES"),
    # STORE forms: the reply is the count; an empty result deletes the destination.
    ("ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"), ("TYPE", "dst"),
    ("ZINTERSTORE", "dst", "2", "a", "b", "AGGREGATE", "MAX"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("ZDIFFSTORE", "dst", "2", "a", "b"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("ZINTERSTORE", "dst", "2", "a", "missing"), ("EXISTS", "dst"),
    ("SET", "str", "v"), ("ZUNIONSTORE", "str", "1", "a"), ("TYPE", "str"), ("ZRANGE", "str", "0", "-1"),
    ("ZUNIONSTORE", "a", "2", "a", "b"), ("ZRANGE", "a", "0", "-1", "WITHSCORES"),  # the destination may be an input
    # Sets count as sorted sets whose members score 1.
    ("SADD", "set1", "x", "q"), ("ZUNION", "2", "a", "set1", "WITHSCORES"), ("ZINTER", "2", "set1", "a", "WEIGHTS", "3", "1", "WITHSCORES"),
    ("ZDIFF", "2", "set1", "a", "WITHSCORES"), ("ZDIFF", "2", "a", "set1"), ("ZINTERCARD", "2", "set1", "a"),
    ("ZUNIONSTORE", "dst", "1", "set1"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"), ("TYPE", "dst"),
    ("ZINTERSTORE", "set1", "2", "set1", "a"), ("TYPE", "set1"), ("ZRANGE", "set1", "0", "-1", "WITHSCORES"),
    ("SINTERCARD", "2", "set1", "a"),
    # Other types: WRONGTYPE, before the options' errors.
    ("SET", "s1", "v"), ("RPUSH", "l1", "v"), ("ZUNION", "2", "a", "s1"), ("ZINTER", "2", "l1", "a"), ("ZDIFF", "2", "a", "s1"),
    ("ZUNION", "2", "a", "s1", "FOO"), ("ZUNION", "2", "a", "s1", "WEIGHTS", "x", "y"), ("ZINTERCARD", "2", "a", "l1", "LIMIT", "-1"),
    ("ZINTER", "2", "missing", "s1"), ("ZUNIONSTORE", "dst", "1", "s1"), ("ZINTERCARD", "1", "s1"),
    ("ZUNIONSTORE", "dst", "2", "a", "b", "FOO"), ("ZUNIONSTORE", "dst", "2", "a", "s1", "FOO"),
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


# --- the command layer's methods -------------------------------------------------------


def test_zunionstore_and_zinterstore(cache):
    cache.flush()
    cache.zadd("a", {"x": 1, "y": 2})
    cache.zadd("b", {"y": 10, "z": 20})
    assert cache.zunionstore("u", ["a", "b"]) == 3
    assert cache.zrange("u", 0, -1, withscores=True) == [(b"x", 1.0), (b"y", 12.0), (b"z", 20.0)]
    assert cache.zunionstore("u", {"a": 2, "b": 0.5}, aggregate="max") == 3
    assert cache.zrange("u", 0, -1, withscores=True) == [(b"x", 2.0), (b"y", 5.0), (b"z", 10.0)]
    assert cache.zinterstore("i", ["a", "b"], aggregate="MIN") == 1
    assert cache.zrange("i", 0, -1, withscores=True) == [(b"y", 2.0)]
    assert cache.zinterstore("i", ["a", "missing"]) == 0
    assert cache.exists("i") == 0
    with pytest.raises(ValueError):
        cache.zunionstore("u", [])
    with pytest.raises(ValueError):
        cache.zunionstore("u", ["a"], aggregate="avg")


# --- where their keys are ------------------------------------------------------------------


def test_command_info_and_the_command_layer_find_the_counted_keys():
    from tiny_mp_cache import _commands

    args = [b"ZUNIONSTORE", b"dst", b"2", b"a", b"b", b"WEIGHTS", b"1", b"2"]
    assert _commands.facts_of(args).key_args(args) == [b"dst", b"a", b"b"]
    args = [b"zinter", b"3", b"a", b"b", b"c", b"WITHSCORES"]
    assert _commands.facts_of(args).key_args(args) == [b"a", b"b", b"c"]
    assert _commands.facts_of([b"ZDIFF", b"x", b"a"]).key_args([b"ZDIFF", b"x", b"a"]) == []


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_a_tracking_client_hears_of_a_change_to_a_key_zunion_read(tcp_server, protocol):
    """CLIENT TRACKING remembers the keys a ZUNION read, which follow its count."""
    reader = Raw(tcp_server.addr, 3)
    writer = Raw(tcp_server.addr, protocol)
    try:
        writer.call("FLUSHALL")
        writer.call("ZADD", "ta", "1", "x")
        assert reader.call("CLIENT", "TRACKING", "ON") == b"+OK\r\n"
        reader.call("ZUNION", "2", "tb", "ta")
        writer.call("ZADD", "ta", "2", "y")
        # The invalidation may come before PING's reply or after it (it is sent from the writer's loop).
        got = {reader.call("PING"), reader._reply()}  # a socket timeout bounds the wait
        assert got == {b"+PONG\r\n", b">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nta\r\n"}
    finally:
        reader.close()
        writer.close()
