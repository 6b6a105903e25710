"""The string, key and list commands job queues and framework backends send, and CLIENT LIST/INFO/KILL,
side by side with a real redis-server.

- a table of redis-py calls with their expected results, run against our
  server (tcp and unix) and redis-server, RESP2 and RESP3: each expected
  value is what Redis answers;
- the exact bytes of the replies to many edge cases (errors, bounds,
  options), compared with redis-server's;
- CLIENT LIST, INFO and KILL across several connections;
- the command layer's methods on TinyCache.
"""

from __future__ import annotations

import pytest
from test_redis_compat import Raises, connect, normal
from test_sorted_sets import Raw

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


WRONGTYPE = Raises("^WRONGTYPE Operation against a key holding the wrong kind of value$")

CASES = {
    "append-getrange-setrange-strlen": [
        ("append", ("s", "hello"), {}, 5),
        ("append", ("s", b" world"), {}, 11),
        ("strlen", ("s",), {}, 11),
        ("strlen", ("missing",), {}, 0),
        ("getrange", ("s", 0, 4), {}, b"hello"),
        ("getrange", ("s", -5, -1), {}, b"world"),
        ("getrange", ("s", 7, 2), {}, b""),
        ("getrange", ("missing", 0, -1), {}, b""),
        ("substr", ("s", 0, 0), {}, b"h"),
        ("setrange", ("s", 6, "WORLD"), {}, 11),
        ("get", ("s",), {}, b"hello WORLD"),
        ("setrange", ("padded", 3, "x"), {}, 4),
        ("get", ("padded",), {}, b"\x00\x00\x00x"),
        ("setrange", ("s", -1, "x"), {}, Raises("^offset is out of range$")),
        ("setrange", ("s", 512 * 1024 * 1024, "x"), {}, Raises("string exceeds maximum allowed size")),
        ("set", ("t", "v"), {"ex": 100}, True),
        ("append", ("t", "w"), {}, 2),
        ("ttl", ("t",), {}, 100),
        ("rpush", ("l", "a"), {}, 1),
        ("append", ("l", "x"), {}, WRONGTYPE),
        ("getrange", ("l", 0, 1), {}, WRONGTYPE),
        ("setrange", ("l", 0, "x"), {}, WRONGTYPE),
        ("strlen", ("l",), {}, WRONGTYPE),
    ],
    "msetnx": [
        ("msetnx", ({"a": "1", "b": "2"},), {}, True),
        ("msetnx", ({"b": "3", "c": "4"},), {}, False),
        ("mget", (["a", "b", "c"],), {}, [b"1", b"2", None]),
        ("rpush", ("l", "x"), {}, 1),
        ("msetnx", ({"l": "1", "d": "2"},), {}, False),  # a key of any type blocks it
        ("exists", ("d",), {}, 0),
    ],
    "rename-renamenx": [
        ("set", ("k", "v"), {"px": 100000}, True),
        ("rename", ("k", "k2"), {}, True),
        ("get", ("k2",), {}, b"v"),
        ("exists", ("k",), {}, 0),
        ("ttl", ("k2",), {}, 100),
        ("rename", ("k", "x"), {}, Raises("^no such key$")),
        ("rename", ("k2", "k2"), {}, True),
        ("renamenx", ("k2", "k2"), {}, False),
        ("rpush", ("l", "a", "b"), {}, 2),
        ("renamenx", ("k2", "l"), {}, False),
        ("rename", ("l", "k2"), {}, True),  # a list replaces a string
        ("type", ("k2",), {}, b"list"),
        ("lrange", ("k2", 0, -1), {}, [b"a", b"b"]),
        ("zadd", ("z", {"m": 1.5}), {}, 1),
        ("renamenx", ("z", "z2"), {}, True),
        ("zscore", ("z2", "m"), {}, 1.5),
    ],
    "copy": [
        ("rpush", ("l", "a", "b"), {}, 2),
        ("copy", ("l", "c"), {}, True),
        ("rpush", ("c", "only-in-copy"), {}, 3),
        ("lrange", ("l", 0, -1), {}, [b"a", b"b"]),
        ("copy", ("l", "c"), {}, False),
        ("copy", ("l", "c"), {"replace": True}, True),
        ("lrange", ("c", 0, -1), {}, [b"a", b"b"]),
        ("copy", ("missing", "c"), {}, False),
        ("copy", ("l", "l"), {}, Raises("^source and destination objects are the same$")),
        ("set", ("s", "v"), {"ex": 100}, True),
        ("copy", ("s", "s2"), {"destination_db": 0}, True),
        ("ttl", ("s2",), {}, 100),
        ("zadd", ("z", {"m": 2}), {}, 1),
        ("copy", ("z", "z2"), {}, True),
        ("zrange", ("z2", 0, -1), {"withscores": True}, [[b"m", 2.0]]),
    ],
    "randomkey": [
        ("randomkey", (), {}, None),
        ("set", ("only", "1"), {}, True),
        ("randomkey", (), {}, b"only"),
    ],
    "lindex-lset-linsert": [
        ("rpush", ("l", "a", "b", "c"), {}, 3),
        ("lindex", ("l", 0), {}, b"a"),
        ("lindex", ("l", -1), {}, b"c"),
        ("lindex", ("l", 3), {}, None),
        ("lindex", ("missing", 0), {}, None),
        ("lset", ("l", 1, "B"), {}, True),
        ("lset", ("l", -1, "C"), {}, True),
        ("lset", ("l", 3, "x"), {}, Raises("^index out of range$")),
        ("lset", ("missing", 0, "x"), {}, Raises("^no such key$")),
        ("linsert", ("l", "BEFORE", "B", "x"), {}, 4),
        ("linsert", ("l", "after", "C", "y"), {}, 5),
        ("linsert", ("l", "AFTER", "nobody", "y"), {}, -1),
        ("linsert", ("missing", "AFTER", "a", "y"), {}, 0),
        ("lrange", ("l", 0, -1), {}, [b"a", b"x", b"B", b"C", b"y"]),
        ("set", ("s", "v"), {}, True),
        ("lindex", ("s", 0), {}, WRONGTYPE),
        ("lset", ("s", 0, "x"), {}, WRONGTYPE),
        ("linsert", ("s", "BEFORE", "a", "b"), {}, WRONGTYPE),
    ],
    "lrem-ltrim": [
        ("rpush", ("l", "a", "b", "a", "c", "a"), {}, 5),
        ("lrem", ("l", 1, "a"), {}, 1),
        ("lrem", ("l", -1, "a"), {}, 1),
        ("lrange", ("l", 0, -1), {}, [b"b", b"a", b"c"]),
        ("lrem", ("l", 0, "nobody"), {}, 0),
        ("lrem", ("missing", 0, "a"), {}, 0),
        ("ltrim", ("l", 1, -1), {}, True),
        ("lrange", ("l", 0, -1), {}, [b"a", b"c"]),
        ("ltrim", ("l", 5, 10), {}, True),
        ("exists", ("l",), {}, 0),
        ("ltrim", ("missing", 0, 1), {}, True),
        ("rpush", ("l", "a", "a"), {}, 2),
        ("lrem", ("l", 0, "a"), {}, 2),
        ("exists", ("l",), {}, 0),
        ("set", ("s", "v"), {}, True),
        ("lrem", ("s", 0, "a"), {}, WRONGTYPE),
        ("ltrim", ("s", 0, 1), {}, WRONGTYPE),
    ],
    "lpos": [
        ("rpush", ("l", "a", "b", "c", "b", "a", "b"), {}, 6),
        ("lpos", ("l", "b"), {}, 1),
        ("lpos", ("l", "b"), {"rank": 2}, 3),
        ("lpos", ("l", "b"), {"rank": -1}, 5),
        ("lpos", ("l", "b"), {"count": 0}, [1, 3, 5]),
        ("lpos", ("l", "b"), {"rank": -2, "count": 2}, [3, 1]),
        ("lpos", ("l", "b"), {"count": 0, "maxlen": 4}, [1, 3]),
        ("lpos", ("l", "z"), {}, None),
        ("lpos", ("l", "z"), {"count": 1}, []),
        ("lpos", ("missing", "z"), {}, None),
        ("lpos", ("l", "b"), {"rank": 0}, Raises("RANK can't be zero")),
        ("lpos", ("l", "b"), {"count": -1}, Raises("COUNT can't be negative")),
        ("lpos", ("l", "b"), {"maxlen": -1}, Raises("MAXLEN can't be negative")),
    ],
    "lpushx-rpushx-rpoplpush-brpoplpush-lmpop": [
        ("lpushx", ("l", "a"), {}, 0),
        ("exists", ("l",), {}, 0),
        ("rpush", ("l", "m"), {}, 1),
        ("lpushx", ("l", "a", "b"), {}, 3),
        ("rpushx", ("l", "y", "z"), {}, 5),
        ("lrange", ("l", 0, -1), {}, [b"b", b"a", b"m", b"y", b"z"]),
        ("rpoplpush", ("l", "dst"), {}, b"z"),
        ("rpoplpush", ("l", "l"), {}, b"y"),  # a rotation
        ("rpoplpush", ("missing", "dst"), {}, None),
        ("brpoplpush", ("l", "dst", 1), {}, b"m"),
        ("brpoplpush", ("missing", "dst", 0.01), {}, None),
        ("lrange", ("dst", 0, -1), {}, [b"m", b"z"]),
        ("lmpop", (2, "missing", "l"), {"direction": "LEFT"}, [b"l", [b"y"]]),
        ("lmpop", (1, "l"), {"direction": "RIGHT", "count": 5}, [b"l", [b"a", b"b"]]),
        ("lmpop", (1, "l"), {"direction": "LEFT"}, None),
        ("rpush", ("l", "p", "q"), {}, 2),
        ("blmpop", (0, 2, "missing", "l"), {"direction": "RIGHT", "count": 5}, [b"l", [b"q", b"p"]]),
        ("blmpop", (0.01, 1, "l"), {"direction": "LEFT"}, None),
        ("set", ("s", "v"), {}, True),
        ("lpushx", ("s", "a"), {}, WRONGTYPE),
        ("rpoplpush", ("s", "dst"), {}, WRONGTYPE),
        ("rpoplpush", ("dst", "s"), {}, WRONGTYPE),
    ],
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_commands_answer_as_redis_does(r, case):
    run_steps(r, CASES[case])


# Deterministic commands whose replies must be byte for byte Redis's (RANDOMKEY runs with
# at most one key).
EDGES = [
    ('SET', 's', 'hello'), ('APPEND', 's', ' world'), ('APPEND', 'new', 'x'), ('GET', 's'), ('STRLEN', 's'),
    ('STRLEN', 'missing'), ('GETRANGE', 's', '0', '4'), ('GETRANGE', 's', '-5', '-1'), ('GETRANGE', 's', '5', '2'),
    ('GETRANGE', 's', '-1', '-5'), ('GETRANGE', 's', '0', '100'), ('GETRANGE', 's', '-100', '2'),
    ('GETRANGE', 'missing', '0', '1'), ('GETRANGE', 's', 'x', '1'), ('SUBSTR', 's', '1', '3'),
    ('GETRANGE', 's', '100', '200'), ('SETRANGE', 's', '6', 'WORLD'), ('GET', 's'), ('SETRANGE', 'pad', '5', 'ab'),
    ('GET', 'pad'), ('SETRANGE', 's', '-1', 'x'), ('SETRANGE', 's', '536870911', 'ab'),
    ('SETRANGE', 's', '536870911', 'a'), ('STRLEN', 's'), ('DEL', 's'), ('SETRANGE', 'none', '3', ''),
    ('EXISTS', 'none'), ('SETRANGE', 'pad', '1', ''), ('SETRANGE', 'pad', 'x', 'a'), ('SET', 't', 'v', 'EX', '100'),
    ('APPEND', 't', 'w'), ('TTL', 't'), ('SETRANGE', 't', '0', 'V'), ('TTL', 't'), ('MSETNX', 'a', '1', 'b', '2'),
    ('MSETNX', 'b', '3', 'c', '4'), ('MGET', 'a', 'b', 'c'), ('MSETNX', 'a'), ('MSETNX', 'x', '1', 'y'),
    ('RPUSH', 'l', 'a', 'b', 'c', 'b', 'a', 'b'), ('APPEND', 'l', 'x'), ('GETRANGE', 'l', '0', '1'),
    ('SETRANGE', 'l', '0', 'x'), ('STRLEN', 'l'), ('MSETNX', 'l', '1'), ('LINDEX', 'l', '0'), ('LINDEX', 'l', '-1'),
    ('LINDEX', 'l', '6'), ('LINDEX', 'l', '-7'), ('LINDEX', 'l', 'x'), ('LINDEX', 'missing', '0'),
    ('LINDEX', 'a', '0'), ('LPOS', 'l', 'b'), ('LPOS', 'l', 'b', 'RANK', '2'), ('LPOS', 'l', 'b', 'RANK', '-1'),
    ('LPOS', 'l', 'b', 'COUNT', '0'), ('LPOS', 'l', 'b', 'COUNT', '2', 'RANK', '-1'),
    ('LPOS', 'l', 'b', 'MAXLEN', '1'), ('LPOS', 'l', 'b', 'COUNT', '0', 'MAXLEN', '4'), ('LPOS', 'l', 'z'),
    ('LPOS', 'l', 'z', 'COUNT', '1'), ('LPOS', 'missing', 'z'), ('LPOS', 'missing', 'z', 'COUNT', '1'),
    ('LPOS', 'l', 'b', 'RANK', '0'), ('LPOS', 'l', 'b', 'COUNT', '-1'), ('LPOS', 'l', 'b', 'MAXLEN', '-1'),
    ('LPOS', 'l', 'b', 'RANK', '-9223372036854775808'), ('LPOS', 'l', 'b', 'FOO', '1'), ('LPOS', 'l', 'b', 'RANK'),
    ('LPOS', 'l', 'b', 'RANK', 'x'), ('LPOS', 'a', 'b'), ('LPOS', 'l', 'b', 'RANK', '5'),
    ('LINSERT', 'l', 'BEFORE', 'c', 'X'), ('LINSERT', 'l', 'after', 'a', 'Y'), ('LINSERT', 'l', 'AFTER', 'zz', 'Y'),
    ('LINSERT', 'missing', 'BEFORE', 'a', 'b'), ('LINSERT', 'l', 'MIDDLE', 'a', 'b'),
    ('LINSERT', 'a', 'BEFORE', 'a', 'b'), ('LRANGE', 'l', '0', '-1'), ('LSET', 'l', '0', 'first'),
    ('LSET', 'l', '-1', 'last'), ('LSET', 'l', '100', 'x'), ('LSET', 'missing', '0', 'x'), ('LSET', 'l', 'x', 'y'),
    ('LSET', 'a', '0', 'x'), ('LRANGE', 'l', '0', '-1'), ('LREM', 'l', '1', 'b'), ('LREM', 'l', '-1', 'b'),
    ('LREM', 'l', '0', 'zz'), ('LREM', 'missing', '0', 'a'), ('LREM', 'l', 'x', 'a'), ('LREM', 'a', '0', 'a'),
    ('LRANGE', 'l', '0', '-1'), ('RPUSH', 'l2', 'a', 'a'), ('LREM', 'l2', '0', 'a'), ('EXISTS', 'l2'),
    ('LTRIM', 'l', '1', '-2'), ('LRANGE', 'l', '0', '-1'), ('LTRIM', 'l', '-100', '100'), ('LRANGE', 'l', '0', '-1'),
    ('LTRIM', 'l', '5', '1'), ('EXISTS', 'l'), ('LTRIM', 'missing', '0', '1'), ('LTRIM', 'a', '0', '1'),
    ('LTRIM', 'a', 'x', '1'), ('LPUSHX', 'l', 'a'), ('RPUSHX', 'l', 'a'), ('EXISTS', 'l'), ('RPUSH', 'l', 'm'),
    ('LPUSHX', 'l', 'a', 'b'), ('RPUSHX', 'l', 'y', 'z'), ('LRANGE', 'l', '0', '-1'), ('LPUSHX', 'a', 'x'),
    ('RPOPLPUSH', 'l', 'l3'), ('RPOPLPUSH', 'l', 'l'), ('LRANGE', 'l', '0', '-1'), ('RPOPLPUSH', 'missing', 'l'),
    ('RPOPLPUSH', 'l', 'a'), ('RPOPLPUSH', 'a', 'l'), ('BRPOPLPUSH', 'l', 'l3', '0'),
    ('BRPOPLPUSH', 'missing', 'l3', '0.01'), ('BRPOPLPUSH', 'l', 'l3', 'x'), ('BRPOPLPUSH', 'l', 'l3', '-1'),
    ('LRANGE', 'l3', '0', '-1'), ('LMPOP', '2', 'missing', 'l3', 'LEFT'),
    ('LMPOP', '2', 'missing', 'l3', 'RIGHT', 'COUNT', '5'), ('LMPOP', '1', 'missing', 'LEFT'),
    ('LMPOP', '0', 'l', 'LEFT'), ('LMPOP', 'x', 'l', 'LEFT'), ('LMPOP', '3', 'l', 'LEFT'), ('LMPOP', '1', 'l', 'UP'),
    ('LMPOP', '1', 'l', 'LEFT', 'COUNT', '0'), ('LMPOP', '1', 'l', 'LEFT', 'COUNT'),
    ('LMPOP', '1', 'l', 'LEFT', 'FOO', '1'), ('LMPOP', '2', 'a', 'l', 'LEFT'),
    ('LMPOP', '1', 'l', 'LEFT', 'COUNT', '1', 'COUNT', '2'), ('SET', 'k', 'v', 'EX', '100'), ('RENAME', 'k', 'k2'),
    ('GET', 'k'), ('GET', 'k2'), ('TTL', 'k2'), ('RENAME', 'k', 'k3'), ('RENAME', 'k2', 'k2'),
    ('RENAMENX', 'k2', 'k2'), ('RENAMENX', 'missing', 'x'), ('RENAMENX', 'k2', 'a'), ('RENAMENX', 'k2', 'fresh'),
    ('RENAME', 'fresh', 'l'), ('TYPE', 'l'), ('RENAME', 'l3', 'moved'), ('TYPE', 'moved'),
    ('LRANGE', 'moved', '0', '-1'), ('EXISTS', 'l3'), ('COPY', 'moved', 'cp'), ('LRANGE', 'cp', '0', '-1'),
    ('COPY', 'moved', 'cp'), ('COPY', 'a', 'cp', 'REPLACE'), ('GET', 'cp'), ('COPY', 'missing', 'cp'),
    ('COPY', 'a', 'a'), ('COPY', 'a', 'z', 'DB', '0'), ('GET', 'z'), ('COPY', 'a', 'y', 'DB', 'x'),
    ('COPY', 'a', 'y', 'FOO'), ('COPY', 'a', 'y', 'DB'), ('RPUSH', 'cp2', 'x'), ('SET', 'e', 'v', 'PX', '100000'),
    ('COPY', 'e', 'e2'), ('TTL', 'e2'), ('RPUSH', 'moved', 'more'), ('LRANGE', 'cp', '0', '-1'),
    ('LRANGE', 'moved', '0', '-1'), ('ZADD', 'zs', '1', 'a'), ('COPY', 'zs', 'zs2'),
    ('ZRANGE', 'zs2', '0', '-1', 'WITHSCORES'), ('RENAME', 'zs2', 'zs3'), ('TYPE', 'zs3'), ('FLUSHALL',),
    ('RANDOMKEY',), ('SET', 'only', '1'), ('RANDOMKEY',), ('LPOS', 'l'), ('LINDEX', 'l'), ('RENAME', 'a'),
    ('APPEND', 'a'), ('STRLEN',), ('COPY', 'a'),
    # BLMPOP: a wait that times out, errors in Redis's order, and inside MULTI (returns at once)
    ("RPUSH", "bl", "a", "b", "c"), ("BLMPOP", "0", "2", "missing", "bl", "LEFT", "COUNT", "2"),
    ("BLMPOP", "0.01", "1", "missing", "RIGHT"), ("BLMPOP", "x", "1", "bl", "LEFT"), ("BLMPOP", "-1", "1", "bl", "LEFT"),
    ("BLMPOP", "0", "0", "bl", "LEFT"), ("BLMPOP", "0", "1", "bl", "UP"), ("BLMPOP", "0", "1", "bl", "LEFT", "COUNT", "0"),
    ("BLMPOP", "0", "2", "bl", "LEFT"), ("SET", "str", "v"), ("BLMPOP", "0", "2", "str", "bl", "LEFT"),
    ("BLMPOP", "0", "1", "bl", "RIGHT", "COUNT", "9"), ("MULTI",), ("BLMPOP", "0", "1", "bl", "LEFT"), ("EXEC",),
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


# --- CLIENT LIST, INFO and KILL ----------------------------------------------------------------

# A line of CLIENT LIST as Redis 7.0 prints it: these fields, in this order.
FIELDS = ("id addr laddr fd name age idle flags db sub psub ssub multi qbuf qbuf-free argv-mem multi-mem "
          "rbs rbp obl oll omem tot-mem events cmd user redir resp").split()


def parse_line(line: str) -> dict[str, str]:
    pairs = [field.split("=", 1) for field in line.split(" ")]
    assert [k for k, _ in pairs] == FIELDS, line
    return dict(pairs)


def plain(addr: str, protocol: int, **kwargs):
    """A client that does not reconnect: a killed connection must show as one."""
    return connect(addr, protocol, single_connection_client=True, **kwargs)


def test_client_info_and_list_have_redis_s_fields(server):
    for protocol in (2, 3):
        a = plain(server.addr, protocol, client_name="first")
        b = plain(server.addr, protocol)
        try:
            b.ping()
            info = a.execute_command("CLIENT", "INFO")
            info = info.decode() if isinstance(info, bytes) else info
            mine = parse_line(info.removesuffix("\n"))
            assert mine["name"] == "first" and mine["cmd"] == "client|info" and mine["resp"] == str(protocol)
            assert mine["id"] == str(a.client_id()) and mine["db"] == "0" and mine["user"] == "default"
            lines = {c["id"]: c for c in a.client_list()}
            assert {str(a.client_id()), str(b.client_id())} <= set(lines)
            assert lines[str(b.client_id())]["cmd"] == "ping"
            only_b = a.client_list(client_id=[b.client_id()])
            assert [c["id"] for c in only_b] == [str(b.client_id())]
            assert a.client_list(_type="replica") == []
        finally:
            a.close()
            b.close()


def test_client_kill_closes_that_connection_and_only_that_one(server):
    killer = plain(server.addr, 2)
    victims = [plain(server.addr, 3) for _ in range(3)]
    bystander = plain(server.addr, 2)
    try:
        vids = [v.client_id() for v in victims]
        bystander.ping()
        assert killer.client_kill_filter(_id=vids[0]) == 1
        assert killer.client_kill_filter(_id=vids[0]) == 0  # gone already
        ids = {c["id"] for c in killer.client_list()}
        assert str(vids[0]) not in ids and str(vids[1]) in ids
        with pytest.raises(redis.ConnectionError):
            victims[0].ping()
        if not server.addr.startswith("unix://"):  # over a unix socket every client has the socket's address
            addr = next(c["addr"] for c in killer.client_list() if c["id"] == str(vids[1]))
            assert killer.client_kill(addr) is True
            with pytest.raises(redis.ConnectionError):
                victims[1].ping()
            with pytest.raises(redis.ResponseError, match="No such client"):
                killer.client_kill(addr)
        # SKIPME no: the killer goes too, after its reply.
        assert killer.client_kill_filter(_id=killer.client_id(), skipme=False) == 1
        with pytest.raises(redis.ConnectionError):
            killer.ping()
        assert victims[2].ping() and bystander.ping()
        assert bystander.set("still", "served")
    finally:
        for c in (killer, *victims, bystander):
            c.close()


def test_client_kill_ends_a_blocked_pop(server):
    """A client blocked in BRPOPLPUSH is closed by CLIENT KILL, and the value pushed after goes to nobody else."""
    waiter = plain(server.addr, 2)  # its reads time out after 10 s (connect)
    other = plain(server.addr, 2)
    try:
        other.delete("src", "dst")
        waiter_id = waiter.client_id()
        conn = waiter.connection
        conn.send_command("BRPOPLPUSH", "src", "dst", "0")
        for _ in range(500):  # until the server reports it blocked: CLIENT LIST's flag b
            line = next((c for c in other.client_list() if c["id"] == str(waiter_id)), None)
            if line and "b" in line["flags"]:
                break
        else:
            pytest.fail("the waiter never blocked")
        assert other.client_kill_filter(_id=waiter_id) == 1
        with pytest.raises((redis.ConnectionError, OSError)):
            conn.read_response()
        other.rpush("src", "v")
        assert other.lrange("dst", 0, -1) == [] and other.lrange("src", 0, -1) == [b"v"]
    finally:
        waiter.close()
        other.close()


# --- the command layer's methods ------------------------------------------------------------------


def test_the_methods(cache):
    assert cache.append("s", "ab") == 2 and cache.append("s", b"cd") == 4
    assert cache.getrange("s", 1, -2) == b"bc" and cache.strlen("s") == 4
    assert cache.setrange("s", 6, "x") == 7 and cache.get("s") == b"abcd\x00\x00x"
    assert cache.msetnx({"m1": b"1", "m2": b"2"}) is True and cache.msetnx({"m2": b"3"}) is False
    assert cache.rename("m1", "m3") is True and cache.get("m3") == b"1"
    assert cache.renamenx("m3", "m2") is False and cache.renamenx("m3", "m4") is True
    assert cache.copy("m4", "m5") is True and cache.copy("m4", "m5") is False and cache.copy("m4", "m5", replace=True)
    cache.push("l", b"a", b"b", b"c", b"b")
    assert cache.lindex("l", -1) == b"b" and cache.lindex("l", 9) is None
    assert cache.linsert("l", "before", b"c", b"x") == 5
    assert cache.lset("l", 0, b"A") is True
    assert cache.lrem("l", -1, b"b") == 1
    assert cache.lpos("l", b"b") == 1 and cache.lpos("l", b"zz") is None and cache.lpos("l", b"c", count=0) == [3]
    assert cache.ltrim("l", 0, 2) is True
    assert cache.rpoplpush("l", "l2") == b"x" and cache.rpoplpush("missing", "l2") is None
    assert cache.llen("l") == 2 and cache.llen("l2") == 1
    cache.flush()
    assert cache.randomkey() is None
    cache.set("only", b"1")
    assert cache.randomkey() == "only"


def test_the_methods_check_their_arguments(cache):
    with pytest.raises(ValueError):
        cache.linsert("l", "middle", b"a", b"b")
    with pytest.raises(ValueError):
        cache.msetnx({})
    with pytest.raises(TypeError):
        cache.getrange("s", "0", 1)
    with pytest.raises(TypeError):
        cache.rename("a", 1)
    from tiny_mp_cache import ServerError

    with pytest.raises(ServerError, match="no such key"):
        cache.rename("missing", "x")
    with pytest.raises(ServerError, match="index out of range"):
        cache.lset("l", 5, b"x") if cache.push("l", b"a") else None
