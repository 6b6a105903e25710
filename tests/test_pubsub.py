"""Pub/sub: SUBSCRIBE, PSUBSCRIBE, PUBLISH and PUBSUB, side by side with a real redis-server.

redis-py's PubSub (RESP2 and RESP3) must see the same messages from our
server as from redis-server; our own pubsub() must work against both, and in
processes: one publisher fanning out to 8 subscriber processes, and a
subscriber in a forked or spawned child.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from typing import Any

import pytest
from conftest import run_python, sockaddr_of
from test_redis_compat import connect
from tiny_mp_cache import AsyncTinyCache, TinyCache

HERE = os.path.dirname(os.path.abspath(__file__))


def messages(p: Any, n: int) -> list[dict]:
    """The next n messages of a PubSub (redis-py's or ours), each within 10 s."""
    got = []
    for _ in range(n):
        m = p.get_message(timeout=10)
        assert m is not None, f"no message after {got}"
        got.append(m)
    return got


def transcript(addr: str, protocol: int) -> list[Any]:
    """What redis-py's PubSub sees in one scenario, and what the publisher's calls return."""
    r = connect(addr, protocol)
    p = r.pubsub()
    try:
        seen: list[Any] = []
        p.subscribe("a", "b")
        p.psubscribe("h?llo", "news.*")
        seen += messages(p, 4)
        seen.append([r.publish("a", "1"), r.publish("hello", "2"), r.publish("news.x", "3"), r.publish("nobody", "4")])
        seen += messages(p, 3)
        seen.append(sorted(r.pubsub_channels()))
        seen.append(r.pubsub_channels("a*"))
        seen.append(r.pubsub_numsub("a", "b", "c"))
        seen.append(r.pubsub_numpat())
        p.unsubscribe("a")
        p.punsubscribe("news.*")
        seen += messages(p, 2)
        seen.append([r.publish("a", "5"), r.publish("b", "6")])
        seen += messages(p, 1)
        p.ping()
        seen += messages(p, 1)
        p.unsubscribe("b")
        p.punsubscribe("h?llo")
        seen += messages(p, 2)
        seen.append(p.get_message(timeout=0.2))
        return seen
    finally:
        p.close()
        r.close()


@pytest.mark.parametrize("protocol", [2, 3], ids=["resp2", "resp3"])
@pytest.mark.parametrize("ours", ["tcp_server", "unix_server"])
def test_redis_py_pubsub_sees_what_it_sees_with_redis(ours, protocol, request, redis_server):
    expected = transcript(redis_server.addr, protocol)
    assert transcript(request.getfixturevalue(ours).addr, protocol) == expected


def raw(addr: str, *commands: list[bytes], replies: int) -> bytes:
    """Send commands on a fresh socket and read until replies lines of output came (RESP2, as it is)."""
    import socket

    family, sockaddr = sockaddr_of(addr)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect(sockaddr)
        for args in commands:
            s.sendall(b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args))
        data = b""
        while data.count(b"\r\n") < replies:
            chunk = s.recv(65536)
            assert chunk, f"closed after {data!r}"
            data += chunk
        return data


@pytest.mark.parametrize("ours", ["tcp_server", "unix_server"])
def test_subscriber_mode_replies_as_redis(ours, request, redis_server):
    """RESP2's subscriber mode refuses other commands with Redis 7's error, and PING answers ["pong", ""]."""
    sent = ([b"SUBSCRIBE", b"a"], [b"GET", b"x"], [b"PING"], [b"PUBSUB", b"NUMSUB"], [b"PING", b"hi"])
    want = raw(redis_server.addr, *sent, replies=17)
    assert b"Can't execute 'get'" in want
    assert raw(request.getfixturevalue(ours).addr, *sent, replies=17) == want


def test_config_reports_the_pubsub_output_limit(tcp_server, redis_server):
    def limits(addr: str) -> str:
        with connect(addr, 2) as r:
            return r.config_get("client-output-buffer-limit")["client-output-buffer-limit"]

    theirs = limits(redis_server.addr).split()
    ours = limits(tcp_server.addr).split()
    assert ours[ours.index("pubsub"):] == theirs[theirs.index("pubsub"):] == ["pubsub", "33554432", "8388608", "60"]


# --- our API (against our server and, as the reference, redis-server) ---


def test_pubsub_messages_are_redis_py_dicts(cache):
    with cache.pubsub() as p:
        assert p.get_message(timeout=0.05) is None  # nothing subscribed: nothing to read
        p.subscribe("a", b"b")
        p.psubscribe("h?llo")
        assert messages(p, 3) == [
            {"type": "subscribe", "pattern": None, "channel": b"a", "data": 1},
            {"type": "subscribe", "pattern": None, "channel": b"b", "data": 2},
            {"type": "psubscribe", "pattern": None, "channel": b"h?llo", "data": 3},
        ]
        assert p.channels == {b"a": None, b"b": None} and p.patterns == {b"h?llo": None}
        assert cache.publish("a", "é") == 1
        assert cache.publish(b"hello", b"\x00\xff") == 1
        assert cache.publish("b", 7) == 1
        assert cache.publish("nobody", "x") == 0
        assert messages(p, 3) == [
            {"type": "message", "pattern": None, "channel": b"a", "data": "é".encode()},
            {"type": "pmessage", "pattern": b"h?llo", "channel": b"hello", "data": b"\x00\xff"},
            {"type": "message", "pattern": None, "channel": b"b", "data": b"7"},
        ]
        assert p.get_message(timeout=0.05) is None
        p.unsubscribe()
        p.punsubscribe()
        got = messages(p, 3)
        assert sorted(m["channel"] for m in got) == [b"a", b"b", b"h?llo"]
        assert got[-1]["data"] == 0 and not p.subscribed


def test_ignore_subscribe_messages_and_listen(cache):
    p = cache.pubsub(ignore_subscribe_messages=True)
    p.subscribe("l")
    assert p.get_message(timeout=10) is None  # the confirmation, dropped
    for i in range(3):
        assert cache.publish("l", str(i)) == 1
    got = []
    for m in p.listen():
        got.append(m["data"])
        if len(got) == 3:
            break
    assert got == [b"0", b"1", b"2"]
    p.close()
    with pytest.raises(ValueError, match="closed"):
        p.subscribe("l")


def test_a_closed_pubsub_leaves_no_subscription(cache):
    p = cache.pubsub()
    p.subscribe("gone")
    p.psubscribe("gone*")
    assert messages(p, 2)[-1]["data"] == 2
    p.close()
    deadline = time.monotonic() + 10
    while cache.execute_command("PUBSUB", "NUMSUB", "gone") != [b"gone", 0]:
        assert time.monotonic() < deadline, "the server kept the closed subscriber"
        time.sleep(0.01)
    assert cache.publish("gone", "x") == 0


def test_bad_arguments_are_refused_before_sending(cache):
    with cache.pubsub() as p:
        with pytest.raises(ValueError):
            p.subscribe()
        with pytest.raises(TypeError):
            p.subscribe(1)
        with pytest.raises(ValueError):
            p.get_message(timeout=-1)
    with pytest.raises(TypeError):
        cache.publish("c", None)


def test_async_pubsub(server_addr):
    async def main() -> list[Any]:
        async with AsyncTinyCache(server_addr, 5) as cache:
            async with cache.pubsub() as p:
                assert await p.get_message(timeout=0.05) is None
                await p.subscribe("x")
                await p.psubscribe("y*")
                confirmations = [await p.get_message(timeout=10) for _ in range(2)]
                assert [m["data"] for m in confirmations] == [1, 2]
                assert await p.get_message(timeout=0.05) is None  # a timeout loses nothing
                assert await cache.publish("x", "1") == 1
                assert await cache.publish("yes", "2") == 1
                got = []
                async for m in p:
                    got.append((m["type"], m["channel"], m["data"]))
                    if len(got) == 2:
                        break
                return got

    assert asyncio.run(asyncio.wait_for(main(), 30)) == [("message", b"x", b"1"), ("pmessage", b"yes", b"2")]


# --- processes ---


def test_fan_out_to_8_subscriber_processes_delivers_every_message_in_order(tcp_server):
    n, channel = 300, "fan"
    child = os.path.join(HERE, "_pubsub_child.py")
    subscribers = [
        subprocess.Popen([sys.executable, child, "subscribe", tcp_server.addr, channel, str(n)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(8)
    ]  # fmt: skip
    publisher = None
    try:
        with TinyCache(tcp_server.addr, 5) as cache:
            deadline = time.monotonic() + 60
            while cache.execute_command("PUBSUB", "NUMSUB", channel)[1] < 8:
                assert time.monotonic() < deadline, "the subscribers did not subscribe"
                assert all(s.poll() is None for s in subscribers), "a subscriber ended early"
                time.sleep(0.05)
        publisher = subprocess.Popen([sys.executable, child, "publish", tcp_server.addr, channel, str(n)])
        assert publisher.wait(timeout=60) == 0
        results = [s.communicate(timeout=90) for s in subscribers]
        assert [out.decode().strip() for out, _ in results] == [f"OK {n}"] * 8, results
    finally:
        for proc in [*subscribers, publisher]:
            if proc is not None and proc.poll() is None:
                proc.kill()
            if proc is not None:
                proc.wait(timeout=10)


_FORK = """
import os, sys, time
from tiny_mp_cache import TinyCache
cache = TinyCache(sys.argv[1], 5)
cache.set("loaded", b"go")  # the Go library is loaded (and dead in the child)
p = cache.pubsub()
p.subscribe("f")
assert p.get_message(timeout=10)["type"] == "subscribe"
pid = os.fork()
if pid == 0:
    code = 1
    try:
        # The inherited PubSub dials again and subscribes again in the child.
        m = p.get_message(timeout=10)
        assert m["type"] == "subscribe", m
        m = p.get_message(timeout=20)
        assert (m["type"], m["data"]) == ("message", b"go"), m
        assert cache.publish("back", "done") >= 0  # the inherited TinyCache: the pure client, not Go
        code = 0
    finally:
        os._exit(code)
deadline = time.monotonic() + 20
while cache.execute_command("PUBSUB", "NUMSUB", "f")[1] < 2:
    assert time.monotonic() < deadline, "the child did not subscribe"
    time.sleep(0.01)
assert cache.publish("f", "go") == 2
assert p.get_message(timeout=10)["data"] == b"go"  # the parent's connection is its own still
for _ in range(400):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    sys.exit("the child hung")
assert os.waitstatus_to_exitcode(status) == 0, status
print("OK")
"""


def test_a_forked_child_subscribes_on_its_own_connection(tcp_server):
    done = run_python(_FORK, tcp_server.addr, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == b"OK", done.stderr.decode()


_SPAWN = """
import multiprocessing as mp, sys, time
sys.path.insert(0, sys.argv[2])
import _pubsub_child
from tiny_mp_cache import TinyCache
if __name__ == "__main__":
    cache = TinyCache(sys.argv[1], 5)
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    kids = [ctx.Process(target=_pubsub_child.spawned_subscriber, args=(cache, "s", 3, results)) for _ in range(2)]
    for k in kids:
        k.start()
    try:
        deadline = time.monotonic() + 60
        while cache.execute_command("PUBSUB", "NUMSUB", "s")[1] < 2:
            assert time.monotonic() < deadline, "the children did not subscribe"
            time.sleep(0.02)
        for i in range(3):
            assert cache.publish("s", str(i)) == 2
        got = [results.get(timeout=30) for _ in kids]
    finally:
        for k in kids:
            k.join(timeout=30)
            if k.is_alive():
                k.kill()
                k.join(timeout=10)
    want = [["subscribe", 1], ["message", b"0"], ["message", b"1"], ["message", b"2"]]
    assert [[list(m) for m in g] for g in got] == [want, want], got
    print("OK")
"""


def test_spawned_children_subscribe(tcp_server, tmp_path):
    script = tmp_path / "spawn_pubsub.py"
    script.write_text(_SPAWN)
    from conftest import run_isolated

    done = run_isolated([sys.executable, str(script), tcp_server.addr, HERE], timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == b"OK", done.stderr.decode()


# --- a hostile server never hangs or crashes a subscriber ---


@pytest.mark.parametrize(
    "sent, error",
    [
        (b"*3\r\n$9\r\nsubscribe\r\n$1\r\n", "TimeoutError"),  # half a message, then nothing
        (b"*2\r\n$5\r\nhello\r\n:1\r\n", "ProtocolError"),  # not a pub/sub message
        (b"?garbage\r\n", "ProtocolError"),
        (b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$99999999\r\n", "ProtocolError"),  # past max_reply_size
        (b"", "ConnectionError"),  # hangs up
    ],
)
def test_a_hostile_server_gets_a_clear_error(sent, error):
    import socket
    import threading

    from tiny_mp_cache import _errors
    from tiny_mp_cache._pubsub import PubSub
    from tiny_mp_cache._resp import parse_address

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(1024)  # SUBSCRIBE
            conn.sendall(sent)
            if sent:
                stop.wait(10)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    p = PubSub(parse_address("127.0.0.1:%d" % listener.getsockname()[1]), 0.5, 1 << 20)
    try:
        p.subscribe("a")
        with pytest.raises(getattr(_errors, error)):
            p.get_message(timeout=5)
        assert p._conn is None  # dropped: the next call dials again
    finally:
        stop.set()
        p.close()
        listener.close()
        thread.join(timeout=10)
