"""Behaviour redis-py's own test suite checks and we once got wrong or
lacked, side by side with a real redis-server (tcp, unix and redis-server,
RESP2 and RESP3; each expected value is what Redis answers):

- deadlines far in the future (past the year 2262) kept exactly;
- ZRANK/ZREVRANK WITHSCORE and HSCAN NOVALUES;
- ZMPOP and BZMPOP;
- LCS, with LEN, IDX, MINMATCHLEN and WITHMATCHLEN.
"""

from __future__ import annotations

import pytest
from test_more_commands import r, server  # noqa: F401 (fixtures)
from test_redis_compat import Raises, connect, normal

WRONGTYPE = Raises("^WRONGTYPE Operation against a key holding the wrong kind of value$")

redis = pytest.importorskip("redis")

YEAR_3021 = 33177117420  # Unix seconds


def run_steps(r, steps) -> None:
    """Each step is (method, args, kwargs, expected): a redis-py method's
    name, or a function of the client."""
    for method, args, kwargs, want in steps:
        call = getattr(r, method) if isinstance(method, str) else lambda *a, **k: method(r, *a, **k)
        if isinstance(want, Raises):
            with pytest.raises(redis.ResponseError, match=want.pattern):
                call(*args, **kwargs)
            continue
        assert normal(call(*args, **kwargs)) == normal(want), (method, args, kwargs)


def scored(name: str):
    """redis-py's ZMPOP or BZMPOP, with the scores as floats (RESP2 gives
    them as bytes, RESP3 as doubles)."""

    def call(r, *args, **kwargs):
        got = getattr(r, name)(*args, **kwargs)
        return got if got is None else [got[0], [[m, float(score)] for m, score in got[1]]]

    return call


zmpop, bzmpop = scored("zmpop"), scored("bzmpop")


def lcs(r, *args, **kwargs):
    """redis-py's LCS, with IDX's reply as a dict (RESP2 gives it as a flat
    list, RESP3 as a map)."""
    got = r.lcs(*args, **kwargs)
    return dict(zip(got[::2], got[1::2])) if isinstance(got, list) else got

CASES = {
    "far-future-deadlines": [
        ("set", ("a", "1"), {}, True),
        ("expireat", ("a", YEAR_3021), {}, True),
        ("expiretime", ("a",), {}, YEAR_3021),
        ("pexpiretime", ("a",), {}, YEAR_3021 * 1000),
        ("pexpireat", ("a", YEAR_3021 * 1000 + 7), {}, True),
        ("pexpiretime", ("a",), {}, YEAR_3021 * 1000 + 7),
        ("set", ("b", "1"), {"pxat": 2**62}, True),
        ("pexpiretime", ("b",), {}, 2**62),
        ("expireat", ("b", YEAR_3021, "GT"), {}, False),  # compares the exact deadlines
        ("expireat", ("b", YEAR_3021), {"lt": True}, True),
        ("expiretime", ("b",), {}, YEAR_3021),
        ("copy", ("b", "c"), {}, True),
        ("pexpiretime", ("c",), {}, YEAR_3021 * 1000),
        ("rename", ("c", "d"), {}, True),
        ("expiretime", ("d",), {}, YEAR_3021),
        ("getex", ("d",), {"exat": YEAR_3021 + 1}, b"1"),
        ("expiretime", ("d",), {}, YEAR_3021 + 1),
        ("get", ("a",), {}, b"1"),
    ],
    "zmpop": [
        ("zadd", ("z1", {"a": 1, "b": 2, "c": 3}), {}, 3),
        ("zadd", ("z2", {"x": 1.5}), {}, 1),
        (zmpop, (2, ["missing", "z1"]), {"min": True}, [b"z1", [[b"a", 1.0]]]),
        (zmpop, (2, ["z1", "z2"]), {"max": True, "count": 5}, [b"z1", [[b"c", 3.0], [b"b", 2.0]]]),
        ("exists", ("z1",), {}, 0),
        (zmpop, (1, ["z1"]), {"min": True}, None),
        (zmpop, (2, ["z1", "z2"]), {"min": True, "count": 1}, [b"z2", [[b"x", 1.5]]]),
        ("execute_command", ("ZMPOP", "0", "z", "MIN"), {}, Raises("^numkeys should be greater than 0$")),
        ("execute_command", ("ZMPOP", "3", "z", "MIN"), {}, Raises("^syntax error$")),
        ("execute_command", ("ZMPOP", "1", "z", "LEFT"), {}, Raises("^syntax error$")),
        ("execute_command", ("ZMPOP", "1", "z", "MIN", "COUNT", "0"), {}, Raises("^count should be greater than 0$")),
        ("execute_command", ("ZMPOP", "1", "z", "MIN", "COUNT"), {}, Raises("^syntax error$")),
        ("rpush", ("l", "v"), {}, 1),
        (zmpop, (2, ["z1", "l"]), {"min": True}, WRONGTYPE),
        (bzmpop, (1, 2, ["z1", "l"]), {"min": True}, WRONGTYPE),
        ("zadd", ("z3", {"m": 7}), {}, 1),
        (bzmpop, (1, 2, ["z1", "z3"]), {"max": True, "count": 2}, [b"z3", [[b"m", 7.0]]]),
        (bzmpop, (0.01, 1, ["z1"]), {"min": True}, None),
        ("execute_command", ("BZMPOP", "-1", "1", "z", "MIN"), {}, Raises("^timeout is negative$")),
    ],
    "lcs": [
        ("mset", ({"k1": "ohmytext", "k2": "mynewtext"},), {}, True),
        (lcs, ("k1", "k2"), {}, b"mytext"),
        (lcs, ("k1", "k2"), {"len": True}, 6),
        (lcs, ("k1", "k2"), {"idx": True}, {b"matches": [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len": 6}),
        (lcs, ("k1", "k2"), {"idx": True, "minmatchlen": 4, "withmatchlen": True}, {b"matches": [[[4, 7], [5, 8], 4]], b"len": 6}),
        (lcs, ("k1", "k2"), {"idx": True, "minmatchlen": -3}, {b"matches": [[[4, 7], [5, 8]], [[2, 3], [0, 1]]], b"len": 6}),
        ("mset", ({"a": "abcabcab", "b": "bacbbcaab"},), {}, True),
        (lcs, ("a", "b"), {}, b"babcab"),
        (lcs, ("a", "b"), {"idx": True, "withmatchlen": True}, {b"matches": [[[6, 7], [7, 8], 2], [[4, 5], [4, 5], 2], [[3, 3], [1, 1], 1], [[1, 1], [0, 0], 1]], b"len": 6}),
        (lcs, ("b", "a"), {"idx": True}, {b"matches": [[[7, 8], [6, 7]], [[4, 6], [1, 3]], [[1, 1], [0, 0]]], b"len": 6}),
        (lcs, ("a", "missing"), {}, b""),
        (lcs, ("missing", "a"), {"idx": True}, {b"matches": [], b"len": 0}),
        (lcs, ("a", "a"), {"len": True}, 8),
        (lcs, ("a", "b"), {"len": True, "idx": True}, Raises("^If you want both the length and indexes, please just use IDX.$")),
        ("execute_command", ("LCS", "a", "b", "NOPE"), {}, Raises("^syntax error$")),
        ("execute_command", ("LCS", "a", "b", "MINMATCHLEN"), {}, Raises("^syntax error$")),
        ("execute_command", ("LCS", "a", "b", "MINMATCHLEN", "x"), {}, Raises("^value is not an integer or out of range$")),
        ("mset", ({"big1": "x" * 12000, "big2": "y" * 12000},), {}, True),  # a table of 576 MB
        (lcs, ("big1", "big2"), {"len": True}, Raises("^Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len$")),
        (lcs, ("big1", "a"), {"len": True}, 0),
        ("rpush", ("l", "v"), {}, 1),
        (lcs, ("a", "l"), {}, Raises("^The specified keys must contain string values$")),
        ("execute_command", ("LCS", "l", "a", "NOPE"), {}, Raises("^The specified keys must contain string values$")),
    ],
}


# Redis 7.2 and 7.4 answers, from their documentation: the redis-server
# installed here is 7.0, which does not know these options, so they run
# against our server only (tcp and unix, RESP2 and RESP3).
NEWER_THAN_70 = {
    "zrank-withscore": [
        ("zadd", ("z", {"a": 1, "b": 2.5}), {}, 2),
        ("zrank", ("z", "b"), {"withscore": True}, [1, 2.5]),
        ("zrevrank", ("z", "b"), {"withscore": True}, [0, 2.5]),
        ("zrank", ("z", "a"), {}, 0),
        ("zrank", ("z", "nope"), {"withscore": True}, None),
        ("zrank", ("missing", "a"), {"withscore": True}, None),
        ("execute_command", ("ZRANK", "z", "a", "WITHSCORES"), {}, Raises("^syntax error$")),
        ("execute_command", ("ZRANK", "z", "a", "WITHSCORE", "x"), {}, Raises("^wrong number of arguments for 'zrank' command$")),
        ("set", ("s", "1"), {}, True),
        ("zrank", ("s", "a"), {"withscore": True}, Raises("^WRONGTYPE")),
    ],
    "hscan-novalues": [
        ("hset", ("h", "f1", "v1"), {}, 1),
        ("hscan", ("h",), {"no_values": True}, (0, [b"f1"])),
        ("hscan", ("h",), {"count": 10, "no_values": True}, (0, [b"f1"])),
        ("hset", ("h", "f2", "v2"), {}, 1),
        ("hscan", ("h",), {"match": "*2", "no_values": True}, (0, [b"f2"])),
        ("hscan", ("h",), {"match": "NOVALUES"}, (0, {})),  # a pattern, not the flag
        ("hscan", ("h",), {}, (0, {b"f1": b"v1", b"f2": b"v2"})),
        ("hscan", ("missing",), {"no_values": True}, (0, [])),
        ("sadd", ("set", "m"), {}, 1),
        ("execute_command", ("SSCAN", "set", "0", "NOVALUES"), {}, Raises("^NOVALUES option can only be used in HSCAN$")),
    ],
}


@pytest.fixture(params=["tcp", "unix"])
def ours(request: pytest.FixtureRequest):
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r_ours(request: pytest.FixtureRequest, ours):
    client = connect(ours.addr, request.param)
    client.flushall()
    yield client
    client.close()


@pytest.mark.parametrize("case", list(NEWER_THAN_70))
def test_the_newer_options_answer_as_redis_7_4_documents(r_ours, case):
    run_steps(r_ours, NEWER_THAN_70[case])


@pytest.mark.parametrize("case", list(CASES))
def test_the_commands_answer_as_redis_does(r, case):
    run_steps(r, CASES[case])


def test_a_far_deadline_s_ttl_counts_the_centuries(r):
    r.set("a", "1")
    r.expireat("a", YEAR_3021)
    now = int(r.time()[0])
    assert abs(r.ttl("a") - (YEAR_3021 - now)) <= 2
    assert abs(r.pttl("a") - (YEAR_3021 - now) * 1000) <= 2000
