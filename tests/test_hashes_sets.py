"""Hashes and sets, side by side with a real redis-server.

The table is run through redis-py (RESP2 and RESP3) against our server
over tcp and unix and against redis-server, so every expected value is
what Redis answers. Replies whose order Redis leaves open are compared
sorted. Then the client's own methods (hset ... sdiff), on the Go and
the pure-Python client paths.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from test_redis_compat import Raises, normal, r, server  # noqa: F401  (fixtures)
from tiny_mp_cache._errors import ServerError

redis = pytest.importorskip("redis")


class Sorted:
    """An expected list whose order Redis leaves open."""

    def __init__(self, items: list):
        self.items = sorted(items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (list, tuple, set)) and sorted(normal(list(other))) == self.items

    def __repr__(self) -> str:
        return f"Sorted({self.items!r})"


class Picks:
    """An expected list of n picks from among choices, distinct unless repeat."""

    def __init__(self, n: int, choices: list, repeat: bool = False):
        self.n, self.choices, self.repeat = n, choices, repeat

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, list) or len(other) != self.n:
            return False
        picks = [normal(p) for p in other]
        return all(p in self.choices for p in picks) and (self.repeat or len({repr(p) for p in picks}) == len(picks))

    def __repr__(self) -> str:
        return f"Picks({self.n}, {self.choices!r}, repeat={self.repeat})"


WRONGTYPE = Raises("WRONGTYPE")
ARITY = Raises("wrong number of arguments")
NOT_INT = Raises("value is not an integer or out of range")
SYNTAX = Raises("syntax error")


def cmd(expected: Any, *args: Any) -> tuple:
    """A step sent as it is (execute_command), for what redis-py has no method for: bad arguments."""
    return ("execute_command", args, {}, expected)


class OneOf:
    """An expected value among choices."""

    def __init__(self, *choices: Any):
        self.choices = choices

    def __eq__(self, other: object) -> bool:
        return other in self.choices

    def __repr__(self) -> str:
        return f"OneOf{self.choices!r}"


CASES: dict[str, list[tuple[Any, tuple, dict, Any]]] = {
    "hash-basics": [
        ("hset", ("h", "a", b"1"), {}, 1),
        ("hset", ("h",), {"mapping": {"b": b"2", "c": b""}}, 2),
        ("hset", ("h", "a", b"x"), {}, 0),
        ("hsetnx", ("h", "a", b"y"), {}, False),
        ("hsetnx", ("h", "d", b"4"), {}, True),
        ("hget", ("h", "a"), {}, b"x"),
        ("hget", ("h", "c"), {}, b""),
        ("hget", ("h", "nope"), {}, None),
        ("hget", ("none", "a"), {}, None),
        ("hmget", ("h", ["a", "nope", "b"]), {}, [b"x", None, b"2"]),
        ("hmget", ("none", ["a"]), {}, [None]),
        ("hgetall", ("h",), {}, {b"a": b"x", b"b": b"2", b"c": b"", b"d": b"4"}),
        ("hgetall", ("none",), {}, {}),
        ("hkeys", ("h",), {}, Sorted([b"a", b"b", b"c", b"d"])),
        ("hvals", ("h",), {}, Sorted([b"x", b"2", b"", b"4"])),
        ("hkeys", ("none",), {}, []),
        ("hlen", ("h",), {}, 4),
        ("hlen", ("none",), {}, 0),
        ("hexists", ("h", "a"), {}, True),
        ("hexists", ("h", "nope"), {}, False),
        ("hstrlen", ("h", "a"), {}, 1),
        ("hstrlen", ("h", "nope"), {}, 0),
        ("type", ("h",), {}, b"hash"),
        cmd(True, "HMSET", "h", "e", "5", "f", "6"),
        ("hdel", ("h", "a", "b", "nope"), {}, 2),
        ("hdel", ("h", "c", "d", "e", "f"), {}, 4),
        ("exists", ("h",), {}, 0),  # an emptied hash is deleted
        cmd(ARITY, "HSET", "h", "a"),
        cmd(ARITY, "HSET", "h"),
        cmd(ARITY, "HMSET", "h", "a", "1", "b"),
        cmd(ARITY, "HGET", "h"),
        cmd(ARITY, "HDEL", "h"),
    ],
    "hash-counters": [
        ("hincrby", ("h", "n", 5), {}, 5),
        ("hincrby", ("h", "n", -7), {}, -2),
        ("hset", ("h", "s", b"abc"), {}, 1),
        ("hincrby", ("h", "s", 1), {}, Raises("hash value is not an integer")),
        cmd(NOT_INT, "HINCRBY", "h", "n", "x"),
        ("hset", ("h", "max", b"9223372036854775807"), {}, 1),
        ("hincrby", ("h", "max", 1), {}, Raises("increment or decrement would overflow")),
        ("hincrbyfloat", ("h", "f", 0.1), {}, 0.1),
        ("hincrbyfloat", ("h", "f", 0.2), {}, 0.3),  # in long double, as Redis: not 0.30000000000000004
        ("hget", ("h", "f"), {}, b"0.3"),
        ("hincrbyfloat", ("h", "n", 1.5), {}, -0.5),
        ("hincrbyfloat", ("h", "s", 1), {}, Raises("hash value is not a float")),
        cmd(Raises("^value is not a valid float$"), "HINCRBYFLOAT", "h", "f", "x"),
        cmd(Raises("^value is NaN or Infinity$"), "HINCRBYFLOAT", "h", "f", "inf"),
        ("hincrbyfloat", ("h", "max", 1.5), {}, 9223372036854775808.0),
        ("hget", ("h", "max"), {}, b"9223372036854775808"),
    ],
    "hash-random-and-scan": [
        ("hset", ("h",), {"mapping": {"a": b"1", "b": b"2", "c": b"3"}}, 3),
        ("hrandfield", ("h",), {}, OneOf(b"a", b"b", b"c")),
        ("hrandfield", ("h", 2), {}, Picks(2, [b"a", b"b", b"c"])),
        ("hrandfield", ("h", 5), {}, Picks(3, [b"a", b"b", b"c"])),
        ("hrandfield", ("h", -5), {}, Picks(5, [b"a", b"b", b"c"], repeat=True)),
        ("hrandfield", ("h", 0), {}, []),
        ("hrandfield", ("none",), {}, None),
        ("hrandfield", ("none", 3), {}, []),
        cmd(NOT_INT, "HRANDFIELD", "h", "x"),
        cmd(SYNTAX, "HRANDFIELD", "h", "1", "WITHVALUE"),
        cmd(SYNTAX, "HRANDFIELD", "h", "1", "WITHVALUES", "x"),
        cmd(Raises("^value is out of range, value must between -9223372036854775807 and 9223372036854775807$"), "HRANDFIELD", "h", "-9223372036854775808"),
        cmd(Raises("^value is out of range$"), "HRANDFIELD", "h", "-9223372036854775807", "WITHVALUES"),
        ("hscan", ("h", 0), {}, [0, {b"a": b"1", b"b": b"2", b"c": b"3"}]),
        ("hscan", ("h", 0), {"match": "b"}, [0, {b"b": b"2"}]),
        ("hscan", ("none", 0), {}, [0, {}]),
        cmd(Raises("^invalid cursor$"), "HSCAN", "h", "x"),
        cmd(SYNTAX, "HSCAN", "h", "0", "COUNT", "0"),
        cmd(NOT_INT, "HSCAN", "h", "0", "COUNT", "x"),
        cmd(SYNTAX, "HSCAN", "h", "0", "MATCH"),
        cmd(SYNTAX, "HSCAN", "h", "0", "BOGUS", "1"),
    ],
    "set-basics": [
        ("sadd", ("s", "a", "b", "a"), {}, 2),
        ("sadd", ("s", "c"), {}, 1),
        ("smembers", ("s",), {}, {b"a", b"b", b"c"}),
        ("smembers", ("none",), {}, set()),
        ("sismember", ("s", "a"), {}, True),
        ("sismember", ("s", "z"), {}, False),
        ("sismember", ("none", "z"), {}, False),
        ("smismember", ("s", ["a", "z", "c"]), {}, [True, False, True]),
        ("scard", ("s",), {}, 3),
        ("scard", ("none",), {}, 0),
        ("type", ("s",), {}, b"set"),
        ("srem", ("s", "a", "z"), {}, 1),
        ("srem", ("none", "a"), {}, 0),
        ("spop", ("s", 0), {}, Sorted([])),
        ("spop", ("none", 0), {}, Sorted([])),
        ("spop", ("none",), {}, None),
        ("spop", ("none", 2), {}, Sorted([])),
        cmd(Raises("^value is out of range, must be positive$"), "SPOP", "s", "-1"),
        cmd(Raises("^value is out of range, must be positive$"), "SPOP", "s", "x"),
        cmd(SYNTAX, "SPOP", "s", "1", "2"),
        ("srandmember", ("s", 5), {}, Picks(2, [b"b", b"c"])),
        ("srandmember", ("s", -4), {}, Picks(4, [b"b", b"c"], repeat=True)),
        ("srandmember", ("s", 0), {}, []),
        ("srandmember", ("none",), {}, None),
        ("srandmember", ("none", -5), {}, []),
        cmd(Raises("^value is out of range, value must between"), "SRANDMEMBER", "s", "-9223372036854775808"),
        cmd(NOT_INT, "SRANDMEMBER", "s", "x"),
        ("spop", ("s", 5), {}, Sorted([b"b", b"c"])),
        ("exists", ("s",), {}, 0),  # an emptied set is deleted
        cmd(ARITY, "SADD", "s"),
        cmd(ARITY, "SREM", "s"),
        cmd(ARITY, "SISMEMBER", "s"),
    ],
    "set-algebra": [
        ("sadd", ("a", "1", "2", "3", "4"), {}, 4),
        ("sadd", ("b", "3", "4", "5"), {}, 3),
        ("sadd", ("c", "4", "6"), {}, 2),
        ("sinter", (["a", "b"],), {}, {b"3", b"4"}),
        ("sinter", (["a", "b", "c"],), {}, {b"4"}),
        ("sinter", (["a", "none"],), {}, set()),
        ("sunion", (["a", "b", "none", "c"],), {}, {b"1", b"2", b"3", b"4", b"5", b"6"}),
        ("sdiff", (["a", "b"],), {}, {b"1", b"2"}),
        ("sdiff", (["a", "none", "c"],), {}, {b"1", b"2", b"3"}),
        ("sdiff", (["none", "a"],), {}, set()),
        ("sinterstore", ("d", ["a", "b"]), {}, 2),
        ("smembers", ("d",), {}, {b"3", b"4"}),
        ("sunionstore", ("d", ["b", "c"]), {}, 4),
        ("sdiffstore", ("d", ["a", "b"]), {}, 2),
        ("smembers", ("d",), {}, {b"1", b"2"}),
        ("sinterstore", ("d", ["a", "none"]), {}, 0),
        ("exists", ("d",), {}, 0),  # an empty result deletes the destination
        ("set", ("str", b"x"), {"ex": 100}, True),
        ("sunionstore", ("str", ["c"]), {}, 2),  # replaces a key of another type, and its TTL
        ("type", ("str",), {}, b"set"),
        ("ttl", ("str",), {}, -1),
        ("sintercard", (2, ["a", "b"]), {}, 2),
        ("sintercard", (2, ["a", "b"]), {"limit": 1}, 1),
        ("sintercard", (2, ["a", "none"]), {}, 0),
        cmd(Raises("^numkeys should be greater than 0$"), "SINTERCARD", "0", "a"),
        cmd(Raises("^numkeys should be greater than 0$"), "SINTERCARD", "x", "a"),
        cmd(Raises("^Number of keys can't be greater than number of args$"), "SINTERCARD", "3", "a", "b"),
        cmd(Raises("^LIMIT can't be negative$"), "SINTERCARD", "1", "a", "LIMIT", "-1"),
        cmd(SYNTAX, "SINTERCARD", "1", "a", "FOO", "1"),
        ("smove", ("a", "b", "1"), {}, True),
        ("smove", ("a", "b", "1"), {}, False),
        ("smove", ("none", "b", "1"), {}, False),
        ("smove", ("a", "a", "2"), {}, True),
        ("smove", ("a", "new", "2"), {}, True),
        ("smembers", ("new",), {}, {b"2"}),
        ("sscan", ("a", 0), {}, [0, Sorted([b"3", b"4"])]),
        ("sscan", ("a", 0), {"match": "3*"}, [0, [b"3"]]),
        cmd(Raises("^invalid cursor$"), "SSCAN", "a", "x"),
        cmd(NOT_INT, "SSCAN", "a", "0", "COUNT", "x"),
        cmd(SYNTAX, "SSCAN", "a", "0", "TYPE", "set"),
        ("scan", (0,), {"_type": "set"}, [0, Sorted([b"a", b"b", b"c", b"new", b"str"])]),
    ],
    "wrongtype": [
        ("set", ("str", b"x"), {}, True),
        ("rpush", ("list", b"x"), {}, 1),
        ("hset", ("h", "f", b"v"), {}, 1),
        ("sadd", ("s", "m"), {}, 1),
        ("hset", ("str", "f", b"v"), {}, WRONGTYPE),
        ("hget", ("list", "f"), {}, WRONGTYPE),
        ("hgetall", ("s",), {}, WRONGTYPE),
        ("hincrby", ("s", "f", 1), {}, WRONGTYPE),
        ("sadd", ("h", "m"), {}, WRONGTYPE),
        ("smembers", ("str",), {}, WRONGTYPE),
        ("sinter", (["none", "h"],), {}, WRONGTYPE),  # every key is checked, even after an empty one
        ("sunionstore", ("d", ["s", "list"]), {}, WRONGTYPE),
        ("smove", ("s", "h", "m"), {}, WRONGTYPE),
        ("smove", ("s", "h", "nope"), {}, WRONGTYPE),
        ("get", ("h",), {}, WRONGTYPE),
        ("lpush", ("s", b"x"), {}, WRONGTYPE),
        ("incr", ("h",), {}, WRONGTYPE),
        ("scan", (0,), {"_type": "hash"}, [0, [b"h"]]),
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hashes_and_sets_like_redis(r, case: str) -> None:
    for method, args, kwargs, expected in CASES[case]:
        try:
            got = getattr(r, method)(*args, **kwargs)
        except redis.ResponseError as e:
            assert isinstance(expected, Raises) and re.search(expected.pattern, str(e)), (case, method, args, e)
            continue
        assert not isinstance(expected, Raises), (case, method, args, got)
        if isinstance(expected, (Sorted, Picks, OneOf)):
            assert expected == normal(got), (case, method, args, got)
        else:
            assert normal(got) == normal(expected), (case, method, args, got)


def test_hrandfield_withvalues_pairs(r) -> None:
    """HRANDFIELD WITHVALUES: pairs, as Redis 7.0 sends them in RESP3 and redis-py gives them in either."""
    r.hset("h", mapping={"a": b"1", "b": b"2"})
    got = r.hrandfield("h", 2, withvalues=True)
    pairs = [tuple(p) for p in got] if got and isinstance(got[0], list) else list(zip(got[::2], got[1::2]))
    assert sorted(pairs) == [(b"a", b"1"), (b"b", b"2")]


def test_sscan_and_hscan_cover_a_big_collection(r) -> None:
    """A cursor walk over 2000 members and fields returns each, and the cursor ends at 0."""
    members = [f"m{i:04d}".encode() for i in range(2000)]
    r.sadd("s", *members)
    r.hset("h", mapping={m: m for m in members})
    assert sorted(r.sscan_iter("s", count=50)) == members
    assert sorted(r.hscan_iter("h", count=50)) == [(m, m) for m in members]


# --- the client's methods, on both client paths ---------------------------------


def test_hash_methods(cache) -> None:
    assert cache.hset("h", "a", b"1") == 1
    assert cache.hset("h", mapping={"b": b"2", b"c": b"3"}) == 2
    assert cache.hset("h", "a", b"x", mapping={"d": b"4"}) == 1
    assert cache.hget("h", "a") == b"x"
    assert cache.hget("h", b"c") == b"3"
    assert cache.hget("h", "nope") is None
    assert cache.hmget("h", ["a", "nope"]) == [b"x", None]
    assert cache.hmget("h", "a", "b") == [b"x", b"2"]
    assert cache.hgetall("h") == {b"a": b"x", b"b": b"2", b"c": b"3", b"d": b"4"}
    assert cache.hgetall("none") == {}
    assert sorted(cache.hkeys("h")) == [b"a", b"b", b"c", b"d"]
    assert sorted(cache.hvals("h")) == [b"2", b"3", b"4", b"x"]
    assert cache.hlen("h") == 4
    assert cache.hexists("h", "a") is True and cache.hexists("h", "z") is False
    assert cache.hincrby("h", "n") == 1
    assert cache.hincrby("h", "n", -5) == -4
    with pytest.raises(ServerError, match="hash value is not an integer"):
        cache.hincrby("h", "a")
    assert cache.type("h") == "hash"
    assert cache.hdel("h", "a", "b", "c", "d", "n", "nope") == 5
    assert cache.len() == 0
    cache.set("str", b"v")
    with pytest.raises(ServerError, match="WRONGTYPE"):
        cache.hget("str", "a")
    with pytest.raises(ValueError):
        cache.hset("h")
    with pytest.raises(TypeError):
        cache.hget("h", 1)


def test_set_methods(cache) -> None:
    assert cache.sadd("s", "a", b"b", "a") == 2
    assert cache.smembers("s") == {b"a", b"b"}
    assert cache.smembers("none") == set()
    assert cache.sismember("s", "a") is True and cache.sismember("s", "z") is False
    assert cache.scard("s") == 2
    assert cache.type("s") == "set"
    cache.sadd("t", "b", "c")
    assert cache.sinter(["s", "t"]) == {b"b"}
    assert cache.sinter("s", "t") == {b"b"}
    assert cache.sunion("s", "t") == {b"a", b"b", b"c"}
    assert cache.sdiff(["s", "t"]) == {b"a"}
    assert cache.sdiff("none", "s") == set()
    assert cache.srem("s", "a", "z") == 1
    assert cache.spop("s") == b"b"
    assert cache.spop("s") is None
    assert cache.spop("t", 0) == set()
    assert cache.spop("t", 5) == {b"b", b"c"}
    assert cache.len() == 0
    cache.set("str", b"v")
    with pytest.raises(ServerError, match="WRONGTYPE"):
        cache.sadd("str", "m")
    with pytest.raises(TypeError):
        cache.sadd("s")
    with pytest.raises(ValueError):
        cache.spop("s", -1)


def test_hash_values_go_through_the_serializer(make_cache, server_addr: str) -> None:
    """With a serializer, hash values are its (field names stay bytes); set members are names, not values."""
    cache = make_cache(server_addr, serializer="json")
    cache.flush()
    cache.hset("h", "a", {"n": 1}, mapping={"b": [1, 2]})
    assert cache.hget("h", "a") == {"n": 1}
    assert cache.hmget("h", ["a", "b", "nope"]) == [{"n": 1}, [1, 2], None]
    assert cache.hgetall("h") == {b"a": {"n": 1}, b"b": [1, 2]}
    assert sorted(cache.hvals("h"), key=repr) == sorted([{"n": 1}, [1, 2]], key=repr)
    raw = make_cache(server_addr)
    assert raw.hget("h", "a") == b'{"n":1}'
    cache.sadd("s", "m")
    assert cache.smembers("s") == {b"m"}


def test_pipeline_has_the_methods(cache) -> None:
    with cache.pipeline() as p:
        p.hset("h", "a", b"1").hget("h", "a").sadd("s", "x").smembers("s").hgetall("h")
        assert p.execute() == [1, b"1", 1, {b"x"}, {b"a": b"1"}]
