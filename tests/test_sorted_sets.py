"""Sorted sets, side by side with a real redis-server.

Three kinds of checks, each run against our server (tcp and unix) and a
real redis-server, so every expected value is what Redis answers:
- a table of redis-py calls with their expected results (RESP2 and RESP3);
- the exact bytes of the replies to many edge cases (scores' text, errors,
  bounds, LIMIT, RESP3 doubles and pairs), compared with redis-server's;
- the command layer's methods (zadd, zrange, bzpopmin, ...) on both
  client paths.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import pytest
from conftest import sockaddr_of
from test_redis_compat import Raises, connect, normal

redis = pytest.importorskip("redis")


@pytest.fixture(params=["tcp", "unix", "redis"])
def server(request: pytest.FixtureRequest):
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(request: pytest.FixtureRequest, server):
    client = connect(server.addr, request.param)
    client.flushall()
    yield client
    client.close()


def run_steps(r, steps) -> None:
    for method, args, kwargs, want in steps:
        call = getattr(r, method)
        if isinstance(want, Raises):
            with pytest.raises(redis.ResponseError, match=want.pattern):
                call(*args, **kwargs)
            continue
        got = call(*args, **kwargs)
        assert normal(got) == normal(want), (method, args, kwargs)


CASES = {
    "zadd-zscore-zcard-type": [
        ("zadd", ("z", {"a": 1, "b": 2.5, "c": -3}), {}, 3),
        ("zadd", ("z", {"a": 1, "d": 4}), {}, 1),
        ("zcard", ("z",), {}, 4),
        ("zcard", ("missing",), {}, 0),
        ("zscore", ("z", "b"), {}, 2.5),
        ("zscore", ("z", "nobody"), {}, None),
        ("zscore", ("missing", "a"), {}, None),
        ("zmscore", ("z", ["a", "nobody", "c"]), {}, [1.0, None, -3.0]),
        ("type", ("z",), {}, b"zset"),
        ("zadd", ("z", {"a": 10}), {"nx": True}, 0),
        ("zscore", ("z", "a"), {}, 1.0),
        ("zadd", ("z", {"a": 10, "new": 1}), {"xx": True, "ch": True}, 1),
        ("zscore", ("z", "new"), {}, None),
        ("zadd", ("z", {"a": 5, "b": 9}), {"gt": True, "ch": True}, 1),  # a 10 -> 5 refused, b 2.5 -> 9
        ("zadd", ("z", {"a": 5, "b": 9}), {"lt": True, "ch": True}, 1),  # a 10 -> 5
        ("zadd", ("z", {"a": 1}), {"incr": True}, 6.0),
        ("zadd", ("z", {"a": 1}), {"incr": True, "nx": True}, None),
        ("zadd", ("z", {"x": 1}), {"incr": True, "xx": True}, None),
        ("zincrby", ("z", 2, "a"), {}, 8.0),
        ("zincrby", ("z", 2, "fresh"), {}, 2.0),
        ("zadd", ("z", {"inf": float("inf")}), {}, 1),
        ("zincrby", ("z", float("-inf"), "inf"), {}, Raises("resulting score is not a number")),
        ("set", ("s", "v"), {}, True),
        ("zadd", ("s", {"a": 1}), {}, Raises("WRONGTYPE")),
        ("zscore", ("s", "a"), {}, Raises("WRONGTYPE")),
        ("zcard", ("s",), {}, Raises("WRONGTYPE")),
    ],
    "zadd-option-errors": [
        ("execute_command", ("ZADD", "z", "NX", "XX", "1", "a"), {}, Raises("XX and NX options at the same time")),
        ("execute_command", ("ZADD", "z", "GT", "LT", "1", "a"), {}, Raises("GT, LT, and/or NX")),
        ("execute_command", ("ZADD", "z", "NX", "GT", "1", "a"), {}, Raises("GT, LT, and/or NX")),
        ("execute_command", ("ZADD", "z", "INCR", "1", "a", "2", "b"), {}, Raises("INCR option supports a single")),
        ("execute_command", ("ZADD", "z", "1", "a", "2"), {}, Raises("syntax error")),
        ("execute_command", ("ZADD", "z", "nan", "a"), {}, Raises("not a valid float")),
        ("execute_command", ("ZADD", "z", "1e400", "a"), {}, Raises("not a valid float")),
        ("execute_command", ("ZADD", "z", " 1", "a"), {}, Raises("not a valid float")),
        ("execute_command", ("ZADD", "z", "1", "a", "x", "b"), {}, Raises("not a valid float")),
        ("exists", ("z",), {}, 0),  # nothing was added by the refused commands
    ],
    "zrange-by-rank-score-lex": [
        ("zadd", ("z", {"a": 1, "b": 2, "c": 2, "d": 3, "e": float("inf")}), {}, 5),
        ("zrange", ("z", 0, -1), {}, [b"a", b"b", b"c", b"d", b"e"]),
        ("zrange", ("z", 1, 2), {"withscores": True}, [(b"b", 2.0), (b"c", 2.0)]),
        ("zrange", ("z", 0, 1), {"desc": True}, [b"e", b"d"]),
        ("zrange", ("z", -2, 100), {}, [b"d", b"e"]),
        ("zrange", ("z", 3, 1), {}, []),
        ("zrange", ("z", "(1", 3), {"byscore": True}, [b"b", b"c", b"d"]),
        ("zrange", ("z", "+inf", "(1"), {"byscore": True, "desc": True, "offset": 1, "num": 2}, [b"d", b"c"]),
        ("zrangebyscore", ("z", 2, "+inf"), {"start": 1, "num": 10}, [b"c", b"d", b"e"]),
        ("zrangebyscore", ("z", "-inf", 2), {"withscores": True}, [(b"a", 1.0), (b"b", 2.0), (b"c", 2.0)]),
        ("zrevrangebyscore", ("z", 2, 1), {}, [b"c", b"b", b"a"]),
        ("zrevrange", ("z", 0, 0), {"withscores": True}, [(b"e", float("inf"))]),
        ("zcount", ("z", "(2", "inf"), {}, 2),
        ("zcount", ("z", 2, 2), {}, 2),
        ("zrank", ("z", "c"), {}, 2),
        ("zrevrank", ("z", "c"), {}, 2),
        ("zrank", ("z", "nobody"), {}, None),
        ("zrange", ("missing", 0, -1), {}, []),
        ("delete", ("z",), {}, 1),
        ("zadd", ("l", {"a": 0, "b": 0, "c": 0, "d": 0}), {}, 4),
        ("zrangebylex", ("l", "[b", "+"), {}, [b"b", b"c", b"d"]),
        ("zrangebylex", ("l", "(a", "(d"), {"start": 1, "num": 1}, [b"c"]),
        ("zrevrangebylex", ("l", "+", "-"), {}, [b"d", b"c", b"b", b"a"]),
        ("zlexcount", ("l", "-", "(c"), {}, 2),
        ("zrangebylex", ("l", "b", "+"), {}, Raises("not valid string range item")),
        ("zrangebyscore", ("l", "x", "1"), {}, Raises("min or max is not a float")),
    ],
    "zrangestore": [
        ("zadd", ("src", {"a": 1, "b": 2, "c": 3}), {}, 3),
        ("set", ("dst", "a string"), {}, True),
        ("zrangestore", ("dst", "src", 1, -1), {}, 2),
        ("zrange", ("dst", 0, -1), {"withscores": True}, [(b"b", 2.0), (b"c", 3.0)]),
        ("zrangestore", ("dst", "src", 5, 6), {}, 0),
        ("exists", ("dst",), {}, 0),
        ("zrangestore", ("dst", "src", 2, "+inf"), {"byscore": True}, 2),
    ],
    "zrem-zremrange-zpop": [
        ("zadd", ("z", {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}), {}, 6),
        ("zrem", ("z", "a", "nobody", "a"), {}, 1),
        ("zremrangebyscore", ("z", "(2", 3), {}, 1),
        ("zremrangebyrank", ("z", -1, -1), {}, 1),
        ("zrange", ("z", 0, -1), {}, [b"b", b"d", b"e"]),
        ("zpopmin", ("z", 1), {}, [(b"b", 2.0)]),  # without a count RESP3 has no pair, and redis-py shows it so
        ("zpopmax", ("z", 5), {}, [(b"e", 5.0), (b"d", 4.0)]),
        ("exists", ("z",), {}, 0),  # emptied: deleted, as Redis deletes empty sets
        ("zpopmin", ("z",), {}, []),
        ("zadd", ("l", {"a": 0, "b": 0, "c": 0}), {}, 3),
        ("zremrangebylex", ("l", "[a", "(c"), {}, 2),
        ("zrange", ("l", 0, -1), {}, [b"c"]),
        ("execute_command", ("ZPOPMIN", "l", "-1"), {}, Raises("out of range, must be positive")),
    ],
    "bzpop-ready": [
        ("zadd", ("z", {"a": 1, "b": 2}), {}, 2),
        ("bzpopmin", (["missing", "z"],), {"timeout": 1}, (b"z", b"a", 1.0)),
        ("bzpopmax", ("z",), {"timeout": 1}, (b"z", b"b", 2.0)),
        ("bzpopmin", ("z",), {"timeout": 0.01}, None),
        ("rpush", ("list", "x"), {}, 1),
        ("bzpopmin", ("list",), {"timeout": 1}, Raises("WRONGTYPE")),
    ],
    "scan-type-zscan-zrandmember": [
        ("zadd", ("z", {"a": 1, "b": 2}), {}, 2),
        ("set", ("s", "v"), {}, True),
        ("scan", (0,), {"_type": "zset"}, (0, [b"z"])),
        ("zscan", ("z",), {}, (0, [(b"a", 1.0), (b"b", 2.0)])),
        ("zscan", ("z",), {"match": "b*"}, (0, [(b"b", 2.0)])),
        ("zrandmember", ("missing",), {}, None),  # random draws: test_zrandmember_draws_members_of_the_set
    ],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_sorted_set_commands_answer_as_redis_does(r, case):
    run_steps(r, CASES[case])


def test_zrandmember_draws_members_of_the_set(r):
    r.zadd("z", {"a": 1, "b": 2, "c": 3})
    assert r.zrandmember("z") in (b"a", b"b", b"c")
    assert sorted(r.zrandmember("z", 10)) == [b"a", b"b", b"c"]  # distinct, at most all
    assert len(set(r.zrandmember("z", 2))) == 2
    drawn = r.zrandmember("z", -20)  # may repeat
    assert len(drawn) == 20 and set(drawn) <= {b"a", b"b", b"c"}
    pairs = normal(r.zrandmember("z", -3, withscores=True))
    assert len(pairs) in (3, 6)  # RESP3: pairs; RESP2: flat (redis-py leaves it so)


# --- the replies' exact bytes --------------------------------------------------------------


def _encode(args: tuple) -> bytes:
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a.encode() if isinstance(a, str) else a
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Raw:
    """A RESP connection that returns each reply's bytes as they came."""

    def __init__(self, addr: str, protocol: int):
        family, sockaddr = sockaddr_of(addr)
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.settimeout(10)
        self.sock.connect(sockaddr)
        self.buf = b""
        if protocol == 3:
            self.call("HELLO", "3")

    def close(self) -> None:
        self.sock.close()

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self) -> bytes:
        line = self._line()
        kind, rest = line[:1], line[1:]
        out = line + b"\r\n"
        if kind in (b"$", b"=", b"!") and int(rest) >= 0:
            body = self._line()
            out += body + b"\r\n"
        elif kind in (b"*", b"~", b">", b"%") and int(rest) > 0:
            for _ in range(int(rest) * (2 if kind == b"%" else 1)):
                out += self._reply()
        return out

    def call(self, *args: str) -> bytes:
        self.sock.sendall(_encode(args))
        return self._reply()


# Deterministic commands whose replies must be byte for byte Redis's.
EDGES = [
    ("ZADD", "z", "0.1", "a", "1e20", "b", "inf", "c", "-inf", "d", "3", "e", "-0", "f", "123456789012345678", "g"),
    ("ZADD", "z", "0x10", "h", "1.5e-7", "i", "4.9e-324", "j", "+inf", "k", "infinity", "l", ".5", "m", "5.", "n"),
    ("ZRANGE", "z", "0", "-1", "WITHSCORES"),
    ("ZSCORE", "z", "a"), ("ZSCORE", "z", "f"), ("ZSCORE", "z", "c"), ("ZSCORE", "z", "nobody"),
    ("ZMSCORE", "z", "a", "nobody", "d"),
    ("ZINCRBY", "z", "0.2", "a"), ("ZADD", "z", "INCR", "1", "a"), ("ZADD", "z", "NX", "INCR", "1", "a"),
    ("ZADD", "z", "NX", "INCR", "-inf", "c"),  # NX is checked before the sum would be NaN
    ("ZADD", "z", "INCR", "-inf", "c"),
    ("ZADD", "z", "1e-400", "x"), ("ZADD", "z", "nan", "x"), ("ZADD", "z", "1_0", "x"), ("ZADD", "z", "", "x"),
    ("ZADD", "z", "XX", "1", "x"), ("ZADD", "z", "CH", "1"), ("ZADD", "z"),
    ("ZCOUNT", "z", "", ""), ("ZCOUNT", "z", "(", "5"), ("ZCOUNT", "z", " 1", "1e400"), ("ZCOUNT", "z", "0x1p1", "3"),
    ("ZCOUNT", "z", "(inf", "+inf"), ("ZCOUNT", "z", "-inf", "(-inf"), ("ZCOUNT", "z", "nan", "1"), ("ZCOUNT", "z", "1", "x"),
    ("ZRANGEBYSCORE", "z", "(0", "(3", "WITHSCORES", "LIMIT", "1", "2"),
    ("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "-1", "2"),
    ("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "2", "-1"),
    ("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0", "0"),
    ("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "0"),
    ("ZRANGEBYSCORE", "z", "-inf", "+inf", "LIMIT", "x", "1"),
    ("ZRANGEBYSCORE", "z", "-inf", "+inf", "BYSCORE"),
    ("ZREVRANGEBYSCORE", "z", "+inf", "-inf", "WITHSCORES", "LIMIT", "1", "3"),
    ("ZREVRANGEBYSCORE", "z", "-inf", "+inf"),
    ("ZRANGE", "z", "0", "-1", "LIMIT", "0", "1"),
    ("ZRANGE", "z", "0", "-1", "LIMIT", "0", "-1"),
    ("ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"),
    ("ZRANGE", "z", "(1", "5", "BYSCORE", "REV"),
    ("ZRANGE", "z", "5", "(1", "BYSCORE", "REV", "WITHSCORES"),
    ("ZRANGE", "z", "0", "-1", "REV", "REV", "WITHSCORES"),
    ("ZRANGE", "z", "0", "-1", "BYSCORE", "BYLEX"),
    ("ZRANGE", "z", "a", "1"), ("ZRANGE", "z", "-3", "-2"), ("ZRANGE", "z", "-100", "1"), ("ZRANGE", "z", "2", "1"),
    ("ZREVRANGE", "z", "0", "2", "WITHSCORES"), ("ZREVRANGE", "z", "0", "2", "REV"),
    ("ZRANGE", "z", "0", "-1", "FOO"),
    ("ZRANK", "z", "e"), ("ZREVRANK", "z", "e"), ("ZRANK", "z", "nobody"), ("ZRANK", "missing", "a"),
    ("ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d", "0", "e"),
    ("ZRANGEBYLEX", "lex", "-", "+"), ("ZRANGEBYLEX", "lex", "(a", "[c"), ("ZRANGEBYLEX", "lex", "+", "-"),
    ("ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "1", "2"), ("ZREVRANGEBYLEX", "lex", "[d", "(a", "LIMIT", "1", "5"),
    ("ZRANGEBYLEX", "lex", "a", "+"), ("ZRANGEBYLEX", "lex", "[", "(c"), ("ZLEXCOUNT", "lex", "[b", "+"),
    ("ZLEXCOUNT", "lex", "-", "x"),
    ("ZRANGESTORE", "dst", "lex", "[b", "[d", "BYLEX"), ("ZRANGE", "dst", "0", "-1", "WITHSCORES"),
    ("ZRANGESTORE", "dst", "lex", "0", "-1", "WITHSCORES"),
    ("ZRANGESTORE", "dst", "missing", "0", "-1"), ("EXISTS", "dst"),
    ("ZREMRANGEBYRANK", "lex", "0", "0"), ("ZREMRANGEBYLEX", "lex", "(b", "+"), ("ZREMRANGEBYSCORE", "lex", "x", "1"),
    ("ZRANGE", "lex", "0", "-1"),
    ("ZPOPMIN", "z"), ("ZPOPMIN", "z", "2"), ("ZPOPMAX", "z", "0"), ("ZPOPMAX", "z", "1", "2"),
    ("ZPOPMIN", "z", "-1"), ("ZPOPMIN", "z", "x"), ("ZPOPMIN", "missing"), ("ZPOPMIN", "missing", "3"),
    ("ZREM", "z", "nobody"), ("ZREM", "missing", "a"),
    ("ZRANDMEMBER", "missing"), ("ZRANDMEMBER", "missing", "3"), ("ZRANDMEMBER", "z", "0"),
    ("ZRANDMEMBER", "z", "1", "FOO"), ("ZRANDMEMBER", "z", "x"),
    ("ZSCAN", "lex", "0"), ("ZSCAN", "lex", "x"), ("ZSCAN", "missing", "0"), ("ZSCAN", "lex", "0", "COUNT", "0"),
    ("ZSCAN", "lex", "0", "MATCH"),
    ("BZPOPMIN", "missing", "0.01"), ("BZPOPMAX", "lex", "1"), ("BZPOPMIN", "lex", "-1"), ("BZPOPMIN", "lex", "x"),
    ("SET", "str", "v"), ("ZADD", "str", "1", "a"), ("ZRANGE", "str", "0", "-1"), ("ZPOPMIN", "str"),
    ("ZRANGESTORE", "dst", "str", "0", "-1"), ("ZRANGESTORE", "str", "lex", "0", "-1"), ("TYPE", "str"),
    ("ZCARD", "z"), ("TYPE", "z"),
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


# --- BZPOPMIN and BZPOPMAX that wait -------------------------------------------------------


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
def test_a_blocked_bzpopmin_gets_the_member_a_zadd_adds(server, protocol):
    waiter = connect(server.addr, protocol)
    adder = connect(server.addr, protocol)
    adder.flushall()
    got: list[Any] = []
    t = threading.Thread(target=lambda: got.append(waiter.bzpopmin(["a", "z"], timeout=10)))
    t.start()
    try:
        for _ in range(200):  # until the waiter is blocked, so the ZADD serves it
            if int(adder.info("clients")["blocked_clients"]) == 1:
                break
            threading.Event().wait(0.02)
        adder.rpush("z2", "not a zset")
        adder.zadd("z", {"low": 1, "high": 2})
    finally:
        t.join(15)
    assert not t.is_alive()
    assert normal(got) == [[b"z", b"low", 1.0]]
    assert normal(adder.zrange("z", 0, -1, withscores=True)) == [[b"high", 2.0]]
    waiter.close()
    adder.close()


# --- the command layer's methods -----------------------------------------------------------


def test_the_sorted_set_methods(cache):
    cache.flush()
    assert cache.zadd("z", {"a": 1, b"b": 2.5, "c": float("inf")}) == 3
    assert cache.zadd("z", {"a": 5}, xx=True, ch=True) == 1
    assert cache.zadd("z", {"a": 1}, gt=True) == 0
    assert cache.zadd("z", {"a": 1}, incr=True) == 6.0
    assert cache.zadd("z", {"new": 1}, incr=True, xx=True) is None
    assert cache.zincrby("z", -0.5, "a") == 5.5
    assert cache.zscore("z", "a") == 5.5
    assert cache.zscore("z", "c") == float("inf")
    assert cache.zscore("z", "nobody") is None
    assert cache.zcard("z") == 3
    assert cache.zcount("z", "(2.5", "+inf") == 2
    assert cache.zcount("z", 2.5, 5.5) == 2
    assert cache.zrank("z", "c") == 2
    assert cache.zrank("z", "nobody") is None
    assert cache.zrange("z", 0, -1) == [b"b", b"a", b"c"]
    assert cache.zrange("z", 0, 0, desc=True, withscores=True) == [(b"c", float("inf"))]
    assert cache.zrange("z", "(2.5", "+inf", byscore=True, offset=1, num=1) == [b"c"]
    assert cache.zrange("z", "+inf", 0, byscore=True, desc=True) == [b"c", b"a", b"b"]
    assert cache.zrangebyscore("z", 0, 10, withscores=True) == [(b"b", 2.5), (b"a", 5.5)]
    assert cache.zrangebyscore("z", "-inf", "+inf", start=0, num=1) == [b"b"]
    assert cache.zremrangebyscore("z", 0, 3) == 1
    assert cache.zrem("z", "a", "nobody") == 1
    assert cache.zpopmax("z") == [(b"c", float("inf"))]
    assert cache.zpopmin("z") == []
    assert cache.type("z") == "none"
    cache.zadd("lex", {"a": 0, "b": 0, "c": 0})
    assert cache.zrange("lex", "(a", "+", bylex=True) == [b"b", b"c"]
    assert cache.zpopmin("lex", 2) == [(b"a", 0.0), (b"b", 0.0)]
    assert cache.bzpopmin("lex", timeout=1) == ("lex", b"c", 0.0)
    assert cache.bzpopmax(["lex", "other"], timeout=0.01) is None


def test_the_sorted_set_methods_check_their_arguments(cache):
    with pytest.raises(ValueError):
        cache.zadd("z", {})
    with pytest.raises(ValueError):
        cache.zadd("z", {"a": 1}, nx=True, xx=True)
    with pytest.raises(ValueError):
        cache.zadd("z", {"a": 1, "b": 2}, incr=True)
    with pytest.raises(ValueError):
        cache.zadd("z", {"a": float("nan")})
    with pytest.raises(TypeError):
        cache.zadd("z", {"a": "1"})
    with pytest.raises(ValueError):
        cache.zrange("z", 0, 1, offset=0, num=1)  # LIMIT needs byscore or bylex
    with pytest.raises(ValueError):
        cache.bzpopmin("z", timeout=-1)
    assert cache.exists("z") == 0
