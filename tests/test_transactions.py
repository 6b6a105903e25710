"""Transactions and the commands framework cache backends send, through redis-py.

Django's RedisCache, cachelib's RedisCache (Flask-Caching) and redis-py's
default pipeline, which is a MULTI/EXEC transaction, use these. Every test
runs against our server (tcp and unix) and against a real redis-server with
the same assertions: each expected value is what Redis answers.
"""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from conftest import read_until_closed, sockaddr_of
from test_redis_compat import Between, Raises, connect, normal, run_steps

redis = pytest.importorskip("redis")


@pytest.fixture(params=["tcp", "unix", "redis"])
def server(request: pytest.FixtureRequest):
    """Our server over tcp and unix, and a real redis-server as the reference."""
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def r(request: pytest.FixtureRequest, server):
    client = connect(server.addr, request.param)
    client.flushall()
    yield client
    client.close()


class Raw:
    """One connection that sends commands and returns each reply as redis-py parses it.

    An error reply is returned as the ResponseError, not raised, so that a
    transaction's replies can be checked one by one.
    """

    def __init__(self, client):
        self.pool = client.connection_pool
        self.conn = self.pool.get_connection()

    def __call__(self, *args):
        self.conn.send_command(*args)
        try:
            return self.conn.read_response()
        except redis.ResponseError as e:
            return e

    def close(self) -> None:
        self.pool.release(self.conn)


@pytest.fixture
def raw(r):
    conn = Raw(r)
    yield conn
    conn.close()


def error(reply, pattern: str) -> bool:
    """Whether reply is an error reply whose message matches pattern."""
    return isinstance(reply, redis.ResponseError) and re.search(pattern, str(reply)) is not None


# --- MULTI / EXEC / DISCARD -------------------------------------------------------------


def test_exec_runs_the_queue_and_replies_with_every_result(raw):
    assert raw("MULTI") in (b"OK", "OK")
    assert raw("SET", "k", "1") in (b"QUEUED", "QUEUED")
    assert raw("INCRBY", "k", "41") in (b"QUEUED", "QUEUED")
    assert raw("GET", "k") in (b"QUEUED", "QUEUED")
    assert normal(raw("EXEC")) == [b"OK", 42, b"42"]
    assert raw("GET", "k") == b"42"


def test_queued_commands_do_not_run_before_exec(r, raw):
    raw("MULTI")
    raw("SET", "k", "v")
    assert r.get("k") is None  # another connection sees nothing yet
    raw("EXEC")
    assert r.get("k") == b"v"


def test_a_refused_command_aborts_the_whole_transaction(raw):
    raw("SET", "k", "before")
    raw("MULTI")
    raw("SET", "k", "after")
    assert error(raw("NO-SUCH-COMMAND", "x"), "unknown command")
    assert error(raw("GET"), "wrong number of arguments")
    assert raw("SET", "other", "x") in (b"QUEUED", "QUEUED")
    assert error(raw("EXEC"), "Transaction discarded because of previous errors")
    assert raw("GET", "k") == b"before"
    assert raw("EXISTS", "other") == 0


def test_execabort_has_redis_error_code(server):
    # redis-py strips the error code; read the bytes.
    family, addr = sockaddr_of(server.addr)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(addr)
        s.sendall(b"MULTI\r\nBOGUS\r\nEXEC\r\nQUIT\r\n")
        got, _ = read_until_closed(s, 5)
    assert got.startswith(b"+OK\r\n-ERR unknown command 'BOGUS'")
    assert got.endswith(b"-EXECABORT Transaction discarded because of previous errors.\r\n+OK\r\n")


def test_runtime_errors_are_elements_of_execs_reply(r):
    with r.pipeline(transaction=True) as p:
        p.set("s", b"x").incr("s").rpush("s", b"y").get("s")
        got = p.execute(raise_on_error=False)
    assert got[0] is True
    assert isinstance(got[1], redis.ResponseError) and "not an integer" in str(got[1])
    assert isinstance(got[2], redis.ResponseError) and "WRONGTYPE" in str(got[2])
    assert got[3] == b"x"


def test_transaction_errors_outside_multi(raw):
    assert error(raw("EXEC"), "EXEC without MULTI")
    assert error(raw("DISCARD"), "DISCARD without MULTI")
    raw("MULTI")
    assert error(raw("MULTI"), "MULTI calls can not be nested")
    assert error(raw("WATCH", "k"), "WATCH inside MULTI is not allowed")
    raw("SET", "k", "v")
    assert normal(raw("EXEC")) == [b"OK"]  # neither error aborts the transaction


def test_discard_drops_the_queue(raw):
    raw("MULTI")
    raw("SET", "k", "v")
    assert raw("DISCARD") in (b"OK", "OK")
    assert raw("EXISTS", "k") == 0
    assert error(raw("EXEC"), "EXEC without MULTI")


def test_blocking_commands_do_not_block_inside_exec(raw):
    raw("RPUSH", "full", "x")
    raw("MULTI")
    raw("BLPOP", "empty", "0")
    raw("BLMOVE", "empty", "dst", "LEFT", "RIGHT", "0")
    raw("BRPOP", "full", "0")
    started = time.monotonic()
    assert normal(raw("EXEC")) == [None, None, [b"full", b"x"]]
    assert time.monotonic() - started < 5


def test_redis_py_transactional_pipeline(r):
    with r.pipeline() as p:  # transaction=True is redis-py's default
        p.set("a", b"1").incr("n").rpush("q", b"x", b"y").get("a").lrange("q", 0, -1).expire("a", 100)
        assert normal(p.execute()) == [True, 1, 2, b"1", [b"x", b"y"], True]
    assert 99 <= r.ttl("a") <= 100


def test_transactions_are_atomic_under_concurrent_clients(server):
    """Each transaction reads and writes two keys; no other client's command lands between them."""
    clients, rounds = 4, 200
    with connect(server.addr, 2) as r:
        r.flushall()
        r.mset({"a": 0, "b": 0})

    def worker() -> None:
        with connect(server.addr, 2) as c:
            for _ in range(rounds):
                with c.pipeline() as p:
                    p.incr("a").incr("b").mget(["a", "b"])
                    _, _, (a, b) = p.execute()
                    assert a == b  # a and b move together

    errors: list[BaseException] = []

    def run() -> None:
        try:
            worker()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
        assert not t.is_alive()
    assert not errors, errors[0]
    with connect(server.addr, 2) as r:
        assert r.mget(["a", "b"]) == [str(clients * rounds).encode()] * 2


# --- WATCH -------------------------------------------------------------------------------


def test_watch_aborts_exec_when_another_client_writes(r):
    r.set("k", b"1")
    with r.pipeline() as p:
        p.watch("k")
        assert p.get("k") == b"1"  # immediate mode while watching
        r.set("k", b"2")  # another connection changes it
        p.multi()
        p.set("k", b"3")
        with pytest.raises(redis.WatchError):
            p.execute()
    assert r.get("k") == b"2"


def test_watch_lets_exec_run_when_nothing_changed(r):
    r.set("k", b"1")
    r.set("other", b"x")
    with r.pipeline() as p:
        p.watch("k", "missing")
        r.set("other", b"y")  # not watched
        p.multi()
        p.incr("k")
        assert p.execute() == [2]
    with r.pipeline() as p:
        p.watch("k")
        p.unwatch()
        r.set("k", b"5")
        p.multi()
        p.incr("k")
        assert p.execute() == [6]


@pytest.mark.parametrize(
    "change",
    [
        lambda r: r.set("k", b"new"),
        lambda r: r.delete("k"),
        lambda r: r.expire("k", 100),
        lambda r: r.rpush("created", b"x"),
        lambda r: r.flushall(),
    ],
    ids=["set", "delete", "expire", "create", "flush"],
)
def test_every_kind_of_change_fails_a_watch(r, change):
    r.set("k", b"v")
    with r.pipeline() as p:
        p.watch("k", "created")
        change(r)
        p.multi()
        p.set("k", b"mine")
        with pytest.raises(redis.WatchError):
            p.execute()


def test_an_expired_watched_key_fails_exec(r):
    r.set("k", b"v", px=50)
    with r.pipeline() as p:
        p.watch("k")
        time.sleep(0.15)
        p.multi()
        p.set("k", b"mine")
        with pytest.raises(redis.WatchError):
            p.execute()


# --- the end of a connection ends its transaction ----------------------------------------


def test_closing_mid_transaction_applies_nothing(server):
    with connect(server.addr, 2) as r:
        r.flushall()
        family, addr = sockaddr_of(server.addr)
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(addr)
            s.sendall(b"MULTI\r\nSET k v\r\n")
            assert s.recv(100).startswith(b"+OK")
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(5)
            s.connect(addr)
            s.sendall(b"MULTI\r\nSET k v\r\nQUIT\r\n")
            got, how = read_until_closed(s, 5)
            assert (got, how) == (b"+OK\r\n+QUEUED\r\n+OK\r\n", "eof")
        time.sleep(0.1)
        assert r.exists("k") == 0


def test_reset_mid_transaction_discards_it(raw):
    raw("MULTI")
    raw("SET", "k", "v")
    assert raw("RESET") in (b"RESET", "RESET")
    assert error(raw("EXEC"), "EXEC without MULTI")
    assert raw("EXISTS", "k") == 0


# --- the string and expiry commands --------------------------------------------------------


def stored_incrbyfloat(key: str, by: str):
    """A step: INCRBYFLOAT key by, then the string stored (redis-py turns the reply into a float)."""

    def step(r):
        r.execute_command("INCRBYFLOAT", key, by)
        return r.get(key)

    return step


CASES = {
    "setnx-setex-psetex": [
        ("setnx", ("k", b"1"), {}, True),
        ("setnx", ("k", b"2"), {}, False),
        ("get", ("k",), {}, b"1"),
        ("setex", ("t", 100, b"v"), {}, True),
        ("ttl", ("t",), {}, Between(99, 100)),
        ("psetex", ("p", 5000, b"v"), {}, True),
        ("pttl", ("p",), {}, Between(4000, 5000)),
        ("get", ("p",), {}, b"v"),
        ("execute_command", ("SETEX", "t", "0", "v"), {}, Raises("invalid expire time in 'setex' command")),
        ("execute_command", ("PSETEX", "t", "-1", "v"), {}, Raises("invalid expire time in 'psetex' command")),
        ("execute_command", ("SETEX", "t", "x", "v"), {}, Raises("not an integer")),
        ("execute_command", ("SETEX", "t", "9223372036854775807", "v"), {}, Raises("invalid expire time")),
        ("execute_command", ("SETNX", "k"), {}, Raises("wrong number of arguments")),
    ],
    "getset-and-set-get": [
        ("getset", ("k", b"1"), {}, None),
        ("getset", ("k", b"2"), {}, b"1"),
        ("set", ("k", b"3"), {"get": True}, b"2"),
        ("set", ("k", b"4"), {"get": True, "ex": 100}, b"3"),
        ("ttl", ("k",), {}, Between(99, 100)),
        ("set", ("k", b"5"), {"get": True, "keepttl": True}, b"4"),
        ("ttl", ("k",), {}, Between(99, 100)),
        ("getset", ("k", b"6"), {}, b"5"),
        ("ttl", ("k",), {}, -1),  # GETSET drops the TTL, as SET does
        ("set", ("k", b"7"), {"get": True, "nx": True}, b"6"),
        ("get", ("k",), {}, b"6"),  # NX: not set, the old value still returned
        ("set", ("new", b"1"), {"get": True, "nx": True}, None),
        ("get", ("new",), {}, b"1"),
        ("set", ("absent", b"1"), {"get": True, "xx": True}, None),
        ("exists", ("absent",), {}, 0),
        ("rpush", ("l", b"x"), {}, 1),
        ("getset", ("l", b"v"), {}, Raises("WRONGTYPE")),
        ("set", ("l", b"v"), {"get": True}, Raises("WRONGTYPE")),
        ("lrange", ("l", 0, -1), {}, [b"x"]),  # untouched
    ],
    "set-exat-pxat": [
        (lambda r: r.set("k", b"v", exat=int(time.time()) + 100), (), {}, True),
        ("ttl", ("k",), {}, Between(98, 100)),
        (lambda r: r.set("k", b"v", pxat=int(time.time() * 1000) + 5000), (), {}, True),
        ("pttl", ("k",), {}, Between(3000, 5000)),
        ("set", ("k", b"v"), {"exat": 1}, True),  # already past: set, then gone
        ("exists", ("k",), {}, 0),
        ("execute_command", ("SET", "k", "v", "EX", "10", "PX", "100"), {}, Raises("syntax error")),
        ("execute_command", ("SET", "k", "v", "KEEPTTL", "EX", "10"), {}, Raises("syntax error")),
        ("execute_command", ("SET", "k", "v", "EXAT", "0"), {}, Raises("invalid expire time in 'set' command")),
        ("execute_command", ("SET", "k", "v", "EXAT"), {}, Raises("syntax error")),
    ],
    "getex": [
        ("set", ("k", b"v"), {}, True),
        ("getex", ("k",), {}, b"v"),
        ("ttl", ("k",), {}, -1),
        ("getex", ("k",), {"ex": 100}, b"v"),
        ("ttl", ("k",), {}, Between(99, 100)),
        ("getex", ("k",), {"px": 5000}, b"v"),
        ("pttl", ("k",), {}, Between(4000, 5000)),
        (lambda r: r.getex("k", exat=int(time.time()) + 200), (), {}, b"v"),
        ("ttl", ("k",), {}, Between(198, 200)),
        ("getex", ("k",), {"persist": True}, b"v"),
        ("ttl", ("k",), {}, -1),
        ("getex", ("k",), {"pxat": 1}, b"v"),  # already past: read, then gone
        ("exists", ("k",), {}, 0),
        ("getex", ("missing",), {"ex": 10}, None),
        ("set", ("k", b"v"), {}, True),
        ("execute_command", ("GETEX", "k", "EX", "0"), {}, Raises("invalid expire time in 'getex' command")),
        ("execute_command", ("GETEX", "k", "EX", "10", "PX", "10"), {}, Raises("syntax error")),
        ("execute_command", ("GETEX", "k", "PERSIST", "EX", "10"), {}, Raises("syntax error")),
        ("execute_command", ("GETEX", "k", "BOGUS"), {}, Raises("syntax error")),
        ("execute_command", ("GETEX", "k", "EX"), {}, Raises("syntax error")),
        ("rpush", ("l", b"x"), {}, 1),
        ("getex", ("l",), {}, Raises("WRONGTYPE")),
    ],
    "incrbyfloat": [
        ("set", ("f", b"10.50"), {}, True),
        ("incrbyfloat", ("f", 0.1), {}, 10.6),
        ("get", ("f",), {}, b"10.6"),
        ("incrbyfloat", ("f", -5), {}, 5.6),
        ("get", ("f",), {}, b"5.6"),
        ("set", ("f", b"5.0e3"), {}, True),
        (stored_incrbyfloat("f", "2.0e2"), (), {}, b"5200"),
        (stored_incrbyfloat("n", "0.1"), (), {}, b"0.1"),
        (stored_incrbyfloat("n", "0.2"), (), {}, b"0.3"),  # long double, not 0.30000000000000004
        (stored_incrbyfloat("n", "1e30"), (), {}, b"1000000000000000000024696061952"),
        (stored_incrbyfloat("m", "3"), (), {}, b"3"),
        (stored_incrbyfloat("m", "1.5e-10"), (), {}, b"3.00000000015"),
        (stored_incrbyfloat("q", "123456789.123456789"), (), {}, b"123456789.12345678899873747"),
        (stored_incrbyfloat("y", "1e-20"), (), {}, b"0"),
        (stored_incrbyfloat("v", "1."), (), {}, b"1"),
        (stored_incrbyfloat("w", ".5"), (), {}, b"0.5"),
        (stored_incrbyfloat("x", "+3"), (), {}, b"3"),
        (stored_incrbyfloat("h", "0x10"), (), {}, b"16"),
        ("execute_command", ("INCRBYFLOAT", "m", "abc"), {}, Raises("not a valid float")),
        ("execute_command", ("INCRBYFLOAT", "m", " 1"), {}, Raises("not a valid float")),
        ("execute_command", ("INCRBYFLOAT", "m", "1 "), {}, Raises("not a valid float")),
        ("execute_command", ("INCRBYFLOAT", "m", "nan"), {}, Raises("not a valid float")),
        ("execute_command", ("INCRBYFLOAT", "m", "inf"), {}, Raises("would produce NaN or Infinity")),
        ("get", ("m",), {}, b"3.00000000015"),
        ("set", ("s", b"abc"), {}, True),
        ("execute_command", ("INCRBYFLOAT", "s", "1"), {}, Raises("not a valid float")),
        ("set", ("t", b"1"), {"ex": 100}, True),
        (stored_incrbyfloat("t", "1"), (), {}, b"2"),
        ("ttl", ("t",), {}, Between(99, 100)),  # the deadline is kept
        ("rpush", ("l", b"x"), {}, 1),
        ("execute_command", ("INCRBYFLOAT", "l", "1"), {}, Raises("WRONGTYPE")),
    ],
    "expire-options": [
        ("set", ("k", b"v"), {}, True),
        ("expire", ("k", 100), {"xx": True}, False),
        ("expire", ("k", 100), {"gt": True}, False),  # no TTL counts as infinite
        ("expire", ("k", 100), {"lt": True}, True),
        ("ttl", ("k",), {}, Between(99, 100)),
        ("expire", ("k", 50), {"gt": True}, False),
        ("expire", ("k", 200), {"gt": True}, True),
        ("expire", ("k", 300), {"nx": True}, False),
        ("expire", ("k", 20), {"xx": True}, True),
        ("ttl", ("k",), {}, Between(19, 20)),
        ("execute_command", ("EXPIRE", "k", "10", "XX", "GT"), {}, 0),
        ("execute_command", ("EXPIRE", "k", "10", "XX", "LT"), {}, 1),
        ("execute_command", ("EXPIRE", "k", "10", "NX", "XX"), {}, Raises("NX and XX, GT or LT options")),
        ("execute_command", ("EXPIRE", "k", "10", "GT", "LT"), {}, Raises("GT and LT options")),
        ("execute_command", ("EXPIRE", "k", "10", "BOGUS"), {}, Raises("Unsupported option BOGUS")),
        ("execute_command", ("EXPIRE", "k", "x"), {}, Raises("not an integer")),
        ("execute_command", ("EXPIRE", "k", "9223372036854775807"), {}, Raises("invalid expire time in 'expire'")),
        ("expire", ("missing", 10), {"lt": True}, False),
        ("persist", ("k",), {}, True),
        ("expire", ("k", -1), {"gt": True}, False),  # refused by GT, so not deleted
        ("exists", ("k",), {}, 1),
        ("expire", ("k", -1), {"lt": True}, True),  # in the past: deleted
        ("exists", ("k",), {}, 0),
        ("set", ("k", b"v"), {}, True),
        ("pexpire", ("k", 5000), {"nx": True}, True),
        ("pttl", ("k",), {}, Between(4000, 5000)),
    ],
    "expireat": [
        ("set", ("k", b"v"), {}, True),
        (lambda r: r.expireat("k", int(time.time()) + 100), (), {}, True),
        ("ttl", ("k",), {}, Between(98, 100)),
        (lambda r: r.pexpireat("k", int(time.time() * 1000) + 5000), (), {}, True),
        ("pttl", ("k",), {}, Between(3000, 5000)),
        (lambda r: r.expireat("k", int(time.time()) + 1000, lt=True), (), {}, False),
        (lambda r: r.expireat("missing", int(time.time()) + 100), (), {}, False),
        ("expireat", ("k", 1), {}, True),  # in the past: deleted
        ("exists", ("k",), {}, 0),
    ],
    "lmove": [
        ("rpush", ("a", b"1", b"2", b"3"), {}, 3),
        ("lmove", ("a", "a", "LEFT", "RIGHT"), {}, b"1"),  # rotation
        ("lrange", ("a", 0, -1), {}, [b"2", b"3", b"1"]),
        ("lmove", ("a", "b", "RIGHT", "LEFT"), {}, b"1"),
        ("lmove", ("a", "b", "LEFT", "LEFT"), {}, b"2"),
        ("lrange", ("b", 0, -1), {}, [b"2", b"1"]),
        ("lmove", ("a", "b", "LEFT", "RIGHT"), {}, b"3"),
        ("exists", ("a",), {}, 0),  # emptied source is deleted
        ("lrange", ("b", 0, -1), {}, [b"2", b"1", b"3"]),
        ("lmove", ("missing", "b", "LEFT", "LEFT"), {}, None),
        ("rpush", ("one", b"x"), {}, 1),
        ("lmove", ("one", "one", "LEFT", "RIGHT"), {}, b"x"),  # a one-element rotation keeps the list
        ("lrange", ("one", 0, -1), {}, [b"x"]),
        ("set", ("s", b"x"), {}, True),
        ("lmove", ("b", "s", "LEFT", "LEFT"), {}, Raises("WRONGTYPE")),
        ("lrange", ("b", 0, -1), {}, [b"2", b"1", b"3"]),  # nothing moved
        ("lmove", ("s", "b", "LEFT", "LEFT"), {}, Raises("WRONGTYPE")),
        ("execute_command", ("LMOVE", "b", "c", "UP", "DOWN"), {}, Raises("syntax error")),
        ("execute_command", ("LMOVE", "b", "c", "left", "Right"), {}, b"2"),
        ("execute_command", ("LMOVE", "b"), {}, Raises("wrong number of arguments")),
    ],
    "blmove-without-waiting": [
        ("rpush", ("a", b"1", b"2"), {}, 2),
        ("blmove", ("a", "b", 1, "RIGHT", "LEFT"), {}, b"2"),
        ("lrange", ("b", 0, -1), {}, [b"2"]),
        ("blmove", ("empty", "b", 0.05, "LEFT", "LEFT"), {}, None),
        ("execute_command", ("BLMOVE", "a", "b", "LEFT", "LEFT", "-1"), {}, Raises("timeout is negative")),
        ("execute_command", ("BLMOVE", "a", "b", "LEFT", "LEFT", "abc"), {}, Raises("timeout is not a float")),
        ("execute_command", ("BLMOVE", "a", "b", "UP", "LEFT", "0"), {}, Raises("syntax error")),
    ],
    "command-table": [
        (lambda r: {n: r.command()[n]["arity"] for n in ["setex", "getex", "lmove", "blmove", "expire", "multi"]}, (), {},
         {"setex": 4, "getex": -2, "lmove": 5, "blmove": 6, "expire": -3, "multi": 1}),
        (lambda r: [r.command()[n]["first_key_pos"] for n in ["lmove", "blmove", "watch"]], (), {}, [1, 1, 1]),
        (lambda r: [r.command()[n]["last_key_pos"] for n in ["lmove", "blmove", "watch"]], (), {}, [2, 2, -1]),
    ],
}


@pytest.mark.parametrize("case", list(CASES))
def test_framework_commands(r, case):
    run_steps(r, CASES[case])


def wait_until_blocked(client, timeout: float = 0.5) -> None:
    """Wait (a bounded time) for a client to block; INFO may not count blocked clients, then just wait."""
    deadline = time.monotonic() + timeout
    while client.info("clients").get("blocked_clients", 0) < 1 and time.monotonic() < deadline:
        time.sleep(0.01)


def test_blmove_waits_for_a_value_and_moves_it(server):
    with connect(server.addr, 2) as r, connect(server.addr, 2) as pusher:
        r.flushall()
        result: list = []
        t = threading.Thread(target=lambda: result.append(r.blmove("jobs", "processing", 10, "LEFT", "RIGHT")))
        t.start()
        wait_until_blocked(pusher)
        pusher.rpush("jobs", b"job-1")
        # The move happens when the value is served: it is never in neither list.
        assert pusher.lrange("processing", 0, -1) == [b"job-1"]
        t.join(10)
        assert result == [b"job-1"]
        assert pusher.exists("jobs") == 0


def test_blmove_times_out_with_null(server):
    with connect(server.addr, 2) as r:
        r.flushall()
        started = time.monotonic()
        assert r.blmove("empty", "dst", 0.2, "LEFT", "LEFT") is None
        assert 0.15 < time.monotonic() - started < 5
        assert r.exists("dst") == 0


def test_blmove_to_a_string_fails_the_waiter_and_leaves_the_value(server):
    with connect(server.addr, 2) as r, connect(server.addr, 2) as pusher:
        r.flushall()
        r.set("dst", b"string")
        result: list = []

        def wait() -> None:
            try:
                result.append(r.blmove("src", "dst", 10, "LEFT", "LEFT"))
            except redis.ResponseError as e:
                result.append(e)

        t = threading.Thread(target=wait)
        t.start()
        wait_until_blocked(pusher)
        pusher.rpush("src", b"x")
        t.join(10)
        assert len(result) == 1 and "WRONGTYPE" in str(result[0])
        assert pusher.lrange("src", 0, -1) == [b"x"]
