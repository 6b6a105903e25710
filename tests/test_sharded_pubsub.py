"""Sharded pub/sub (SSUBSCRIBE, SUNSUBSCRIBE, SPUBLISH, PUBSUB SHARDCHANNELS /
SHARDNUMSUB) and what CLIENT LIST and INFO say of subscribers, side by side
with a real redis-server 7.0.

Without a cluster, Redis's shard channels are plain channels in a namespace
of their own: SPUBLISH reaches only SSUBSCRIBE's subscribers (as
"smessage"), PUBLISH only SUBSCRIBE's, and SSUBSCRIBE's count is of shard
channels alone. Every expected value here is what redis-server answers.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest
from test_pubsub import messages, raw
from test_redis_compat import connect

OURS = ["tcp_server", "unix_server"]


def sharded_transcript(addr: str, protocol: int) -> list[Any]:
    """What redis-py's PubSub sees when it mixes shard channels, channels and patterns."""
    r = connect(addr, protocol)
    p = r.pubsub()
    try:
        seen: list[Any] = []
        p.ssubscribe("s1", "s2")
        p.subscribe("s1")
        p.psubscribe("s*")
        p.ssubscribe("s3")
        seen += messages(p, 5)
        seen.append([r.spublish("s1", "a"), r.publish("s1", "b"), r.spublish("s2", "c"), r.spublish("nobody", "d")])
        seen += sorted(messages(p, 4), key=repr)
        seen.append(sorted(r.pubsub_shardchannels()))
        seen.append(sorted(r.pubsub_shardchannels("s[12]")))
        seen.append(r.pubsub_shardnumsub("s1", "s3", "none"))
        seen.append(sorted(r.pubsub_channels()))
        seen.append(r.pubsub_numsub("s1", "s2"))
        p.sunsubscribe("s1")
        seen += messages(p, 1)
        seen.append(r.spublish("s1", "e"))
        p.sunsubscribe()  # from all: Redis's order is its hash table's, so compare as sets
        got = messages(p, 2)
        seen.append([{m["type"] for m in got}, sorted(m["channel"] for m in got), sorted(m["data"] for m in got)])
        seen.append([r.pubsub_shardchannels(), r.pubsub_shardnumsub("s2")])
        p.unsubscribe()
        p.punsubscribe()
        seen += messages(p, 2)
        seen.append(p.get_message(timeout=0.2))
        return seen
    finally:
        p.close()
        r.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("ours", OURS)
def test_redis_py_sharded_pubsub_sees_what_it_sees_with_redis(ours, protocol, request, redis_server):
    expected = sharded_transcript(redis_server.addr, protocol)
    assert {"type": "smessage", "pattern": None, "channel": b"s1", "data": b"a"} in expected
    assert sharded_transcript(request.getfixturevalue(ours).addr, protocol) == expected


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("ours", OURS)
def test_ignore_subscribe_messages_with_shard_channels(ours, protocol, request, redis_server):
    """redis-py's ignore_subscribe_messages drops each (un)subscription's confirmation, shard ones too."""

    def run(addr: str) -> list[Any]:
        r = connect(addr, protocol)
        p = r.pubsub(ignore_subscribe_messages=True)
        try:
            p.ssubscribe("foo")
            got = [p.get_sharded_message(timeout=0.5), r.spublish("foo", "x"), p.get_sharded_message(timeout=10)]
            p.sunsubscribe("foo")
            got.append(p.get_sharded_message(timeout=0.5))
            return got + [p.subscribed]
        finally:
            p.close()
            r.close()

    expected = run(redis_server.addr)
    assert expected[1:3] == [1, {"type": "smessage", "pattern": None, "channel": b"foo", "data": b"x"}]
    assert run(request.getfixturevalue(ours).addr) == expected


@pytest.mark.parametrize("ours", OURS)
def test_sharded_replies_in_resp2_are_redis_bytes(ours, request, redis_server):
    """The exact RESP2 bytes: confirmations, a null for SUNSUBSCRIBE from nothing,
    subscriber mode (a shard subscription alone refuses GET), and the errors."""
    sent = (
        [b"SUNSUBSCRIBE"],
        [b"SSUBSCRIBE", b"x", b"x"],
        [b"UNSUBSCRIBE"],
        [b"GET", b"x"],
        [b"PING"],
        [b"SUNSUBSCRIBE", b"x", b"y"],
        [b"GET", b"x"],
        [b"SPUBLISH", b"x"],
        [b"PUBSUB", b"SHARDCHANNELS", b"a", b"b"],
        [b"PUBSUB", b"SHARDNUMSUB"],
        [b"PUBSUB", b"HELP"],
    )
    want = raw(redis_server.addr, *sent, replies=59)
    assert b"Can't execute 'get'" in want and want.endswith(b"+    Prints this help.\r\n")
    assert raw(request.getfixturevalue(ours).addr, *sent, replies=59) == want


def client_fields(line: str) -> dict:
    """The fields of a CLIENT LIST line that pub/sub changes."""
    fields = dict(f.split("=", 1) for f in line.split())
    # U (a unix socket's client) is the socket's, not pub/sub's: redis-server listens on tcp
    fields["flags"] = fields["flags"].replace("U", "") or "N"
    return {k: fields[k] for k in ("flags", "sub", "psub", "ssub")}


def subscriber_report(addr: str, protocol: int) -> list[Any]:
    """CLIENT LIST's and CLIENT INFO's pub/sub fields and INFO's counts, as subscriptions come and go."""
    # Only this report's connections are looked at: other tests may have
    # clients still connected to the same session-wide servers.
    name = f"subscriber-report-{os.getpid()}-{time.monotonic_ns()}"
    r = connect(addr, protocol, client_name=name)
    p = r.pubsub()
    other = connect(addr, protocol, client_name=name)
    try:
        seen: list[Any] = []

        def look():
            rows = [client_fields(" ".join(f"{k}={v}" for k, v in c.items())) for c in other.client_list() if c.get("name") == name]
            stats = other.info("stats")
            seen.append(sorted(rows, key=repr))
            seen.append({k: stats[k] for k in ("pubsub_channels", "pubsub_patterns", "pubsubshard_channels")})

        look()
        p.subscribe("a", "b")
        p.psubscribe("p*")
        p.ssubscribe("s1", "s2", "s3")
        messages(p, 6)
        two = connect(addr, protocol, client_name=name)
        p2 = two.pubsub()
        p2.subscribe("a")
        p2.psubscribe("p*")
        messages(p2, 2)
        look()
        p2.unsubscribe()  # p2 stays connected: a hang-up's cleanup would race the next look
        p2.punsubscribe()
        messages(p2, 2)
        p.unsubscribe()
        p.punsubscribe()
        p.sunsubscribe()
        messages(p, 6)
        look()
        p2.close()
        two.close()
        return seen
    finally:
        p.close()
        r.close()
        other.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("ours", OURS)
def test_client_list_and_info_count_subscriptions_as_redis(ours, protocol, request, redis_server):
    expected = subscriber_report(redis_server.addr, protocol)
    assert expected[3] == {"pubsub_channels": 2, "pubsub_patterns": 1, "pubsubshard_channels": 3}
    assert subscriber_report(request.getfixturevalue(ours).addr, protocol) == expected


@pytest.mark.parametrize("ours", OURS)
def test_client_info_of_a_resp3_subscriber(ours, request, redis_server):
    """In RESP3 a subscriber may run any command: its own CLIENT INFO shows flags=P and its counts."""

    def run(addr: str) -> dict:
        r = connect(addr, 3)
        p = r.pubsub()
        try:
            p.subscribe("a")
            p.ssubscribe("s")
            messages(p, 2)
            p.connection.send_command("CLIENT", "INFO")
            line = p.connection.read_response()
            return client_fields(line.decode() if isinstance(line, bytes) else line)
        finally:
            p.close()
            r.close()

    expected = run(redis_server.addr)
    assert expected == {"flags": "P", "sub": "1", "psub": "0", "ssub": "1"}
    assert run(request.getfixturevalue(ours).addr) == expected
