"""Our COMMAND INFO says what a real redis-server 7.0 says about every command we implement.

Clients read these facts: redis-py's cluster client and others route by the
key positions, and tools look at the flags (write or readonly, blocking,
noscript, loading...) to decide where and whether a command may run. The Go
command table (go/server/commands.go) is the one place that holds them, so
this test compares each of its entries with redis-server's: arity, the whole
set of flags, and the first key, last key and step. A difference is a bug in
the table unless ALLOWED below lists it, with why.
"""

from __future__ import annotations

import pytest
import redis

# (command, field) -> why our entry differs from Redis 7.0's on purpose.
ALLOWED = {
    ("quit", "arity"): "Redis 7.0 takes and ignores arguments after QUIT (arity -1); ours refuses them (arity 1): "
    "a QUIT with arguments is a client's mistake, and the reply says so before the connection closes",
    ("zrank", "arity"): "Redis 7.2 added ZRANK's WITHSCORE, and its arity -3 with it; 7.0 says 3",
    ("zrevrank", "arity"): "Redis 7.2 added ZREVRANK's WITHSCORE, and its arity -3 with it; 7.0 says 3",
}

FIELDS = ("arity", "flags", "first_key", "last_key", "step")

# Our own commands, which Redis does not have: the TMC. prefix keeps them
# apart from any Redis command name (see docs/big-values.md).
OURS_ONLY = ("tmc.",)


def _command(addr: str, *args: str):
    """One command's reply as the server sent it, without redis-py's reply callbacks."""
    host, port = addr.removeprefix("redis://").split("/")[0].rsplit(":", 1)
    conn = redis.Connection(host=host, port=int(port), socket_timeout=10, protocol=2)
    try:
        conn.send_command(*args)
        return conn.read_response()
    finally:
        conn.disconnect()


def _facts(entry) -> dict:
    name, arity, flags, first, last, step = entry[:6]
    return {
        "name": name.decode(),
        "arity": arity,
        "flags": sorted(f.decode() for f in flags),
        "first_key": first,
        "last_key": last,
        "step": step,
    }


@pytest.fixture(scope="module")
def both(tcp_server, redis_server):
    """{name: (our facts, Redis's facts)} for every command our COMMAND lists."""
    names = sorted(_facts(e)["name"] for e in _command(tcp_server.addr, "COMMAND"))
    ours = _command(tcp_server.addr, "COMMAND", "INFO", *names)
    theirs = _command(redis_server.addr, "COMMAND", "INFO", *names)
    return {n: (_facts(a), _facts(b) if b else None) for n, a, b in zip(names, ours, theirs) if not n.startswith(OURS_ONLY)}


def test_our_own_commands_are_not_redis_commands(tcp_server, redis_server):
    names = [_facts(e)["name"] for e in _command(tcp_server.addr, "COMMAND")]
    ours_only = [n for n in names if n.startswith(OURS_ONLY)]
    assert ours_only and _command(redis_server.addr, "COMMAND", "INFO", *ours_only) == [None] * len(ours_only)


def test_every_command_we_implement_is_a_redis_command(both):
    assert [n for n, (_, theirs) in both.items() if theirs is None] == []


def test_command_info_matches_redis_for_every_command(both):
    drift = {}
    for name, (ours, theirs) in both.items():
        for field in FIELDS:
            if ours[field] != theirs[field] and (name, field) not in ALLOWED:
                drift[f"{name} {field}"] = f"ours {ours[field]!r}, Redis {theirs[field]!r}"
    assert drift == {}


def test_each_allowed_difference_is_still_a_difference(both):
    """An entry of ALLOWED that Redis and we now agree on is stale: remove it."""
    stale = [key for key in ALLOWED if key[0] in both and both[key[0]][0][key[1]] == both[key[0]][1][key[1]]]
    assert stale == []


def test_command_count_and_command_info_agree(tcp_server, both):
    ours_only = [e for e in _command(tcp_server.addr, "COMMAND") if _facts(e)["name"].startswith(OURS_ONLY)]
    assert _command(tcp_server.addr, "COMMAND", "COUNT") == len(both) + len(ours_only)
