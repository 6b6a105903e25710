"""Real Redis clients against our server: redis-py (RESP2 and RESP3), redis-cli and redis-benchmark.

The tables below are run against our server (tcp and unix) and, as a
reference that checks the tables themselves, against a real redis-server:
each expected value is what Redis answers.
"""

from __future__ import annotations

import re
import subprocess
import time
from typing import Any, Callable

import pytest
from conftest import need_tool, start_redis_server, start_tcp_server, start_unix_server
from tiny_mp_cache import TinyCache

redis = pytest.importorskip("redis")


def connect(addr: str, protocol: int, **kwargs: Any):
    """A redis-py client for one of our "HOST:PORT" / "unix://PATH" / "redis://..." addresses.

    It does not retry: redis-py 8 retries failed calls with backoff by default.
    """
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    kwargs.setdefault("retry", Retry(NoBackoff(), 0))
    if addr.startswith("unix://"):
        path = addr[len("unix://"):]
        if redis.__version__.startswith("7.0.") and protocol == 3:
            # redis-py 7.0 (the last for Python 3.9) cannot use RESP3 over a
            # unix socket unless its "maintenance notifications" are off.
            from redis.maint_notifications import MaintNotificationsConfig

            pool = redis.ConnectionPool(
                connection_class=redis.UnixDomainSocketConnection, path=path, protocol=3, socket_timeout=10,
                maint_notifications_config=MaintNotificationsConfig(enabled=False), **kwargs,
            )  # fmt: skip
            return redis.Redis(connection_pool=pool)
        return redis.Redis(unix_socket_path=path, protocol=protocol, socket_timeout=10, **kwargs)
    if addr.startswith("redis://"):
        addr = addr[len("redis://"):].split("/")[0]
    host, port = addr.rsplit(":", 1)
    return redis.Redis(host=host, port=int(port), protocol=protocol, socket_timeout=10, **kwargs)


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


# --- redis-py -------------------------------------------------------------------------


class Raises:
    """An expected error reply, matched by a regular expression."""

    def __init__(self, pattern: str):
        self.pattern = pattern

    def __repr__(self) -> str:
        return f"Raises({self.pattern!r})"


class Between:
    """An expected number in [low, high]."""

    def __init__(self, low: float, high: float):
        self.low, self.high = low, high

    def __eq__(self, other: object) -> bool:
        return isinstance(other, (int, float)) and self.low <= other <= self.high

    def __repr__(self) -> str:
        return f"Between({self.low}, {self.high})"


def normal(value: Any) -> Any:
    """redis-py answers some commands with a tuple in RESP2 and a list in RESP3: compare lists."""
    if isinstance(value, (tuple, list)):
        return [normal(v) for v in value]
    return value


# Each case is a list of steps (method, args, kwargs, expected), run in order
# on an empty database. The method is redis-py's, or a function of the client.
Step = tuple[Any, tuple, dict, Any]
CASES: dict[str, list[Step]] = {
    "set-get": [
        ("set", ("k", b"v"), {}, True),
        ("get", ("k",), {}, b"v"),
        ("get", ("missing",), {}, None),
        ("set", ("k", b"\x00\r\n$-1\r\n"), {}, True),
        ("get", ("k",), {}, b"\x00\r\n$-1\r\n"),
        ("set", ("k", b"other"), {"nx": True}, None),
        ("set", ("new", b"1"), {"nx": True}, True),
        ("set", ("k", b"x"), {"xx": True}, True),
        ("set", ("absent", b"x"), {"xx": True}, None),
        ("get", ("k",), {}, b"x"),
        ("exists", ("absent",), {}, 0),
    ],
    "getdel-del-unlink-exists-type": [
        ("set", ("a", b"1"), {}, True),
        ("set", ("b", b"2"), {}, True),
        ("rpush", ("l", b"x"), {}, 1),
        ("exists", ("a", "b", "l", "missing", "a"), {}, 4),
        ("type", ("a",), {}, b"string"),
        ("type", ("l",), {}, b"list"),
        ("type", ("missing",), {}, b"none"),
        ("getdel", ("a",), {}, b"1"),
        ("getdel", ("a",), {}, None),
        ("delete", ("b", "missing"), {}, 1),
        ("unlink", ("l", "missing"), {}, 1),
        ("dbsize", (), {}, 0),
    ],
    "mget-mset": [
        ("mset", ({"a": b"1", "b": b"2"},), {}, True),
        ("mget", (["a", "missing", "b"],), {}, [b"1", None, b"2"]),
        ("rpush", ("l", b"x"), {}, 1),
        ("mget", (["l", "a"],), {}, [None, b"1"]),
        ("execute_command", ("MSET", "a"), {}, Raises("wrong number of arguments")),
    ],
    "counters": [
        ("incr", ("n",), {}, 1),
        ("incrby", ("n", 10), {}, 11),
        ("decr", ("n",), {}, 10),
        ("decrby", ("n", 15), {}, -5),
        ("get", ("n",), {}, b"-5"),
        ("set", ("s", b"abc"), {}, True),
        ("incr", ("s",), {}, Raises("not an integer")),
        ("set", ("max", b"9223372036854775807"), {}, True),
        ("incr", ("max",), {}, Raises("overflow")),
        ("rpush", ("l", b"x"), {}, 1),
        ("incr", ("l",), {}, Raises("WRONGTYPE")),
    ],
    "expiry": [
        ("set", ("k", b"v"), {"ex": 100}, True),
        ("ttl", ("k",), {}, Between(99, 100)),
        ("pttl", ("k",), {}, Between(99000, 100000)),
        ("set", ("k", b"w"), {"keepttl": True}, True),
        ("ttl", ("k",), {}, Between(99, 100)),
        ("set", ("k", b"v"), {"px": 5000}, True),
        ("pttl", ("k",), {}, Between(4000, 5000)),
        ("persist", ("k",), {}, True),
        ("persist", ("k",), {}, False),
        ("ttl", ("k",), {}, -1),
        ("ttl", ("missing",), {}, -2),
        ("pttl", ("missing",), {}, -2),
        ("expire", ("k", 50), {}, True),
        ("ttl", ("k",), {}, Between(49, 50)),
        ("pexpire", ("k", 20000), {}, True),
        ("pttl", ("k",), {}, Between(19000, 20000)),
        ("expire", ("missing", 10), {}, False),
        ("pexpire", ("k", 1), {}, True),
        (lambda r: time.sleep(0.05), (), {}, None),
        ("get", ("k",), {}, None),
        ("exists", ("k",), {}, 0),
        ("set", ("k", b"v"), {"ex": 0}, Raises("invalid expire time")),
        ("execute_command", ("SET", "k", "v", "EX", "ten"), {}, Raises("not an integer")),
        ("execute_command", ("SET", "k", "v", "NX", "XX"), {}, Raises("syntax error")),
    ],
    "lists": [
        ("rpush", ("l", b"b", b"c"), {}, 2),
        ("lpush", ("l", b"a"), {}, 3),
        ("llen", ("l",), {}, 3),
        ("lrange", ("l", 0, -1), {}, [b"a", b"b", b"c"]),
        ("lrange", ("l", 1, 1), {}, [b"b"]),
        ("lrange", ("l", -2, 100), {}, [b"b", b"c"]),
        ("lpop", ("l",), {}, b"a"),
        ("rpop", ("l",), {}, b"c"),
        ("rpush", ("l", b"c", b"d"), {}, 3),
        ("lpop", ("l", 2), {}, [b"b", b"c"]),
        ("rpop", ("l", 5), {}, [b"d"]),
        ("lpop", ("l",), {}, None),
        ("lpop", ("l", 2), {}, None),
        ("llen", ("l",), {}, 0),
        ("type", ("l",), {}, b"none"),
        ("set", ("s", b"x"), {}, True),
        ("rpush", ("s", b"x"), {}, Raises("WRONGTYPE")),
        ("llen", ("s",), {}, Raises("WRONGTYPE")),
        ("lpop", ("s",), {}, Raises("WRONGTYPE")),
        ("rpush", ("l", b"x"), {}, 1),
        ("get", ("l",), {}, Raises("WRONGTYPE")),
    ],
    "blocking-pops": [
        ("rpush", ("q", b"1"), {}, 1),
        ("blpop", (["q"], 1), {}, [b"q", b"1"]),
        ("rpush", ("q", b"2"), {}, 1),
        ("brpop", (["q"], 1), {}, [b"q", b"2"]),
        ("rpush", ("q", b"3"), {}, 1),
        ("blpop", (["empty", "q"], 1), {}, [b"q", b"3"]),
        ("blpop", (["q"], 0.05), {}, None),
        ("brpop", (["q"], 0.05), {}, None),
        ("execute_command", ("BLPOP", "q", "-1"), {}, Raises("timeout is negative")),
        ("execute_command", ("BLPOP", "q", "soon"), {}, Raises("timeout is not a float")),
        ("execute_command", ("BLPOP", "q", "nan"), {}, Raises("timeout is not a float")),
        ("execute_command", ("BRPOP", "q", "nan"), {}, Raises("timeout is not a float")),
        # A timeout too small to see waits 1 ms; it once waited forever.
        ("execute_command", ("BLPOP", "q", "1e-10"), {}, None),
        ("execute_command", ("BRPOP", "q", "0.0000001"), {}, None),
        ("execute_command", ("BLMOVE", "q", "d", "LEFT", "RIGHT", "nan"), {}, Raises("timeout is not a float")),
        ("execute_command", ("BLMOVE", "q", "d", "LEFT", "RIGHT", "1e-10"), {}, None),
    ],
    "blocking-pops-take-the-right-end": [
        ("rpush", ("q", b"1", b"2", b"3", b"4"), {}, 4),
        ("blpop", (["q"], 1), {}, [b"q", b"1"]),
        ("brpop", (["q"], 1), {}, [b"q", b"4"]),
        ("lrange", ("q", 0, -1), {}, [b"2", b"3"]),
    ],
    "keys-scan-dbsize-flush": [
        ("mset", ({f"job:{i}": b"x" for i in range(30)} | {"other": b"y"},), {}, True),
        ("dbsize", (), {}, 31),
        (lambda r: sorted(r.keys("job:1*")), (), {}, sorted(f"job:{i}".encode() for i in [1, *range(10, 20)])),
        (lambda r: sorted(set(r.scan_iter("job:*", count=4))), (), {}, sorted(f"job:{i}".encode() for i in range(30))),
        (lambda r: r.scan(0, match="other", count=1000), (), {}, [0, [b"other"]]),
        ("flushdb", (), {}, True),
        ("dbsize", (), {}, 0),
        ("set", ("k", b"v"), {}, True),
        ("flushall", (), {}, True),
        ("keys", ("*",), {}, []),
    ],
    "connection": [
        ("ping", (), {}, True),
        ("echo", (b"hello",), {}, b"hello"),
        ("select", (0,), {}, True),
        (lambda r: isinstance(r.client_id(), int), (), {}, True),
        ("execute_command", ("QUIT",), {}, True),
        (lambda r: r.connection_pool.disconnect(), (), {}, None),  # the server hung up
        ("ping", (), {}, True),
        ("execute_command", ("NO-SUCH-COMMAND",), {}, Raises("unknown command")),
        ("execute_command", ("GET",), {}, Raises("wrong number of arguments")),
    ],
    "client-name": [
        ("client_getname", (), {}, None),
        ("client_setname", ("worker-1",), {}, True),
        ("client_getname", (), {}, "worker-1"),
    ],
    "command": [
        (lambda r: r.command_count() > 20, (), {}, True),
        (lambda r: r.command()["get"]["arity"], (), {}, 2),
        (lambda r: r.command()["blpop"]["arity"], (), {}, -3),
    ],
    "server": [
        (lambda r: r.config_get("maxmemory"), (), {}, {"maxmemory": "0"}),
        (lambda r: r.config_get("save"), (), {}, {"save": ""}),
        (lambda r: r.config_get("appendonly"), (), {}, {"appendonly": "no"}),
        (lambda r: int(r.info()["redis_version"].split(".")[0]) >= 7, (), {}, True),
        (lambda r: sorted(r.info("keyspace")), (), {}, []),
        (lambda r: isinstance(r.info("memory")["used_memory"], int), (), {}, True),
        (lambda r: abs(r.time()[0] - time.time()) < 60, (), {}, True),
        # What redis-py's own test session reads before its first test.
        (lambda r: r.info()["arch_bits"] in (32, 64), (), {}, True),
        (lambda r: r.info()["cluster_enabled"], (), {}, 0),
        (lambda r: {"used_cpu_sys", "used_cpu_user"} <= set(r.info("cpu")), (), {}, True),
        (lambda r: r.config_get("databases")["databases"] in ("1", "16"), (), {}, True),
        (lambda r: r.config_set("maxmemory", "0"), (), {}, True),
    ],
    "server-stats": [
        ("get", ("missing",), {}, None),
        ("execute_command", ("NO-SUCH-COMMAND",), {}, Raises("unknown command")),
        ("config_resetstat", (), {}, True),
        (lambda r: r.info("stats")["keyspace_misses"], (), {}, 0),
        (lambda r: r.info("errorstats"), (), {}, {}),
        ("get", ("missing",), {}, None),
        ("execute_command", ("NO-SUCH-COMMAND",), {}, Raises("unknown command")),
        (lambda r: r.info("stats")["keyspace_misses"], (), {}, 1),
        (lambda r: r.info("errorstats"), (), {}, {"errorstat_ERR": {"count": 1}}),
        (lambda r: r.info("commandstats")["cmdstat_get"]["calls"], (), {}, 1),
    ],
}


def step_call(client, method: str | Callable) -> Callable:
    """The redis-py method named method, or the check function method applied to the client."""
    if isinstance(method, str):
        return getattr(client, method)
    return lambda *args, **kwargs: method(client)


def run_steps(client, steps: list[Step]) -> None:
    for i, (method, args, kwargs, expected) in enumerate(steps):
        call = step_call(client, method)
        where = f"step {i}: {method if isinstance(method, str) else 'check'}{args}"
        if isinstance(expected, Raises):
            with pytest.raises(redis.ResponseError, match=expected.pattern):
                call(*args, **kwargs)
            continue
        got = call(*args, **kwargs)
        if isinstance(got, bytes) and isinstance(expected, str):
            got = got.decode()
        assert normal(got) == normal(expected), where


@pytest.mark.parametrize("case", list(CASES))
def test_redis_py_commands(r, case):
    run_steps(r, CASES[case])


def test_redis_py_hello_switches_protocols(server):
    for protocol in (2, 3):
        with connect(server.addr, protocol) as client:
            reply = client.execute_command("HELLO", protocol)
            if protocol == 2:  # a flat list of field, value
                reply = dict(zip(reply[::2], reply[1::2]))
            assert reply[b"proto"] == protocol
            assert reply[b"server"] == b"redis"
            assert int(reply[b"version"].split(b".")[0]) >= 6
            assert client.ping() is True


def test_redis_py_pipelines_and_transactions_of_plain_commands(r):
    with r.pipeline(transaction=False) as p:
        p.set("a", b"1").incr("n").rpush("q", b"x", b"y").get("a").lrange("q", 0, -1)
        assert normal(p.execute()) == [True, 1, 2, b"1", [b"x", b"y"]]


def test_redis_py_reads_what_tiny_cache_writes(server):
    with connect(server.addr, 3) as client:
        client.flushall()
        cache = TinyCache(server.addr)
        cache.set("t", b"v", ttl=100)
        cache.push("q", b"1", b"2")
        cache.mset({"a": b"x"})
        assert client.get("a") == b"x"
        assert 99 <= client.ttl("t") <= 100
        assert client.lrange("q", 0, -1) == [b"1", b"2"]
        client.rpush("q", b"3")
        assert cache.llen("q") == 3
        cache.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_redis_py_auth(protocol):
    for server in (start_tcp_server("--password", "s3cret"), start_redis_server("--requirepass", "s3cret")):
        try:
            with connect(server.addr, protocol, password="s3cret") as client:
                assert client.set("k", b"v") is True
                assert client.get("k") == b"v"
            with pytest.raises(redis.AuthenticationError):
                with connect(server.addr, protocol, password="wrong") as client:
                    client.ping()
            with pytest.raises((redis.AuthenticationError, redis.ResponseError), match="(?i)auth"):
                with connect(server.addr, protocol) as client:
                    client.get("k")
        finally:
            server.stop()


# --- redis-cli ----------------------------------------------------------------------

# (arguments, stdout) pairs run in order by redis-cli on an empty database.
# redis-cli prints replies "raw" when its output is not a terminal: strings
# as they are, nil as an empty line, arrays one element per line.
CLI_STEPS: list[tuple[list[str], str]] = [
    (["PING"], "PONG"),
    (["ECHO", "hi there"], "hi there"),
    (["SET", "k", "v"], "OK"),
    (["SET", "k", "w", "NX"], ""),
    (["SET", "k", "w", "XX", "EX", "100"], "OK"),
    (["SET", "k", "x", "KEEPTTL"], "OK"),
    (["TTL", "k"], "100"),
    (["SET", "p", "1", "PX", "100000"], "OK"),
    (["PERSIST", "p"], "1"),
    (["PTTL", "p"], "-1"),
    (["EXPIRE", "p", "100"], "1"),
    (["PEXPIRE", "p", "200000"], "1"),
    (["TTL", "p"], "200"),
    (["TTL", "missing"], "-2"),
    (["GET", "k"], "x"),
    (["GET", "missing"], ""),
    (["MSET", "a", "1", "b", "2"], "OK"),
    (["MGET", "a", "missing", "b"], "1\n\n2"),
    (["INCR", "n"], "1"),
    (["INCRBY", "n", "9"], "10"),
    (["DECR", "n"], "9"),
    (["DECRBY", "n", "10"], "-1"),
    (["INCR", "a"], "2"),
    (["INCR", "k"], "ERR value is not an integer or out of range"),
    (["EXISTS", "a", "b", "missing"], "2"),
    (["TYPE", "a"], "string"),
    (["RPUSH", "q", "2", "3"], "2"),
    (["LPUSH", "q", "1"], "3"),
    (["TYPE", "q"], "list"),
    (["LLEN", "q"], "3"),
    (["LRANGE", "q", "0", "-1"], "1\n2\n3"),
    (["LPOP", "q"], "1"),
    (["RPOP", "q"], "3"),
    (["BLPOP", "q", "1"], "q\n2"),
    (["RPUSH", "q", "4"], "1"),
    (["BRPOP", "q", "1"], "q\n4"),
    (["RPOP", "q"], ""),
    (["BLPOP", "q", "0.05"], ""),
    (["RPUSH", "q", "x", "y", "z"], "3"),
    (["LPOP", "q", "2"], "x\ny"),
    (["RPOP", "q", "2"], "z"),
    (["GET", "q"], ""),
    (["RPUSH", "a", "x"], "WRONGTYPE Operation against a key holding the wrong kind of value"),
    (["GETDEL", "a"], "2"),
    (["GETDEL", "a"], ""),
    (["DEL", "b", "missing"], "1"),
    (["UNLINK", "n"], "1"),
    (["KEYS", "*"], "k\np"),
    (["SCAN", "0", "MATCH", "k", "COUNT", "100"], "0\nk"),
    (["DBSIZE"], "2"),
    (["SELECT", "0"], "OK"),
    (["CLIENT", "SETNAME", "cli"], "OK"),
    (["CONFIG", "GET", "appendonly"], "appendonly\nno"),
    (["FLUSHDB"], "OK"),
    (["DBSIZE"], "0"),
    (["SET", "x", "1"], "OK"),
    (["FLUSHALL"], "OK"),
    (["KEYS", "*"], ""),
]


def cli_where(addr: str) -> list[str]:
    if addr.startswith("unix://"):
        return ["-s", addr[len("unix://"):]]
    if addr.startswith("redis://"):
        addr = addr[len("redis://"):].split("/")[0]
    host, port = addr.rsplit(":", 1)
    return ["-h", host, "-p", port]


def redis_cli(addr: str, *args: str) -> str:
    result = subprocess.run(
        [need_tool("redis-cli"), *cli_where(addr), *args], capture_output=True, timeout=30, stdin=subprocess.DEVNULL
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.decode().rstrip("\n")


def test_redis_cli_commands(server):
    redis_cli(server.addr, "FLUSHALL")
    for args, expected in CLI_STEPS:
        got = redis_cli(server.addr, *args)
        if args[0] == "KEYS":
            got = "\n".join(sorted(got.split("\n")))
        assert got == expected, args


def test_redis_cli_blocking_pops_take_the_right_end(server):
    redis_cli(server.addr, "FLUSHALL")
    assert redis_cli(server.addr, "RPUSH", "q", "1", "2", "3") == "3"
    assert redis_cli(server.addr, "BLPOP", "q", "1") == "q\n1"
    assert redis_cli(server.addr, "BRPOP", "q", "1") == "q\n3"


def test_redis_cli_server_commands(server):
    assert redis_cli(server.addr, "INFO", "server").startswith("# Server")
    assert re.search(r"^redis_version:[6-9]\.", redis_cli(server.addr, "INFO"), re.M)
    hello = redis_cli(server.addr, "HELLO", "3").split("\n")
    assert "proto 3" in hello and "server redis" in hello
    assert int(redis_cli(server.addr, "COMMAND", "COUNT")) > 20
    seconds = redis_cli(server.addr, "TIME").split("\n")[0]
    assert abs(int(seconds) - time.time()) < 60
    assert int(redis_cli(server.addr, "CLIENT", "ID")) > 0
    assert redis_cli(server.addr, "CONFIG", "GET", "maxmemory") == "maxmemory\n0"


def test_redis_cli_and_tiny_cache_see_the_same_data(server):
    redis_cli(server.addr, "FLUSHALL")
    with TinyCache(server.addr) as cache:
        cache.set("from-python", b"hello", ttl=100)
        cache.push("queue", b"job")
        assert redis_cli(server.addr, "GET", "from-python") == "hello"
        assert 99 <= int(redis_cli(server.addr, "TTL", "from-python")) <= 100
        assert redis_cli(server.addr, "LPOP", "queue") == "job"
        assert redis_cli(server.addr, "SET", "from-cli", "world", "EX", "50") == "OK"
        assert cache.get("from-cli") == b"world"
        assert 49 < cache.ttl("from-cli") <= 50


# --- redis-benchmark -------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_redis_benchmark_smoke(transport):
    benchmark = need_tool("redis-benchmark")
    server = start_tcp_server() if transport == "tcp" else start_unix_server()
    try:
        result = subprocess.run(
            [benchmark, *cli_where(server.addr), "-t", "set,get,lpush,lpop,incr", "-n", "2000", "-q"],
            capture_output=True,
            timeout=100,
            stdin=subprocess.DEVNULL,
        )
        assert result.returncode == 0, result.stderr
        lines = re.split(r"[\r\n]+", result.stdout.decode())
        rates = {}
        for line in lines:
            m = re.match(r"\s*(\w+): ([0-9.]+) requests per second", line)
            if m:
                rates[m.group(1)] = float(m.group(2))
        assert set(rates) == {"SET", "GET", "LPUSH", "LPOP", "INCR"}, result.stdout
        assert all(rate > 0 for rate in rates.values())
        # What it wrote is there: redis-benchmark's default key and its 3-byte value.
        with TinyCache(server.addr) as cache:
            assert len(cache.get("key:__rand_int__")) == 3
            assert cache.get("counter:__rand_int__") == b"2000"
        _, err = server.stop()
        assert server.proc.returncode == 0, err
    finally:
        server.stop()


# --- inline commands -------------------------------------------------------------------

# Inline lines (as typed into telnet) and the arguments Redis reads from
# them, or None where Redis answers "unbalanced quotes" and hangs up.
INLINE_CASES: list[tuple[bytes, list[bytes] | None]] = [
    (b'"a b" "c d"', [b"a b", b"c d"]),
    (b"'a b'  ''  \"\"", [b"a b", b"", b""]),
    (b'"\\n\\r\\t\\b\\a\\\\\\"\\q"', [b'\n\r\t\b\a\\"q']),
    (b'"\\x41\\x6a\\xff\\x00" "\\x4" "\\xzz"', [b"Aj\xff\x00", b"x4", b"xzz"]),
    (b"'\\n\\x41' 'it\\'s' 'a\"b' \"a'b\"", [b"\\n\\x41", b"it's", b'a"b', b"a'b"]),
    (b'a"b c" x\'y z\'', [b"ab c", b"xy z"]),
    (b'ab\\"cd"', [b"ab\\cd"]),
    (b"a\vb \fc\t\"d\"\v", [b"a\vb", b"c", b"d"]),
    (b"\xc3\xa9 a\xc2\xa0b", [b"\xc3\xa9", b"a\xc2\xa0b"]),
    (b'"a"b', None),
    (b"'a''b'", None),
    (b'"abc', None),
    (b"'abc", None),
    (b'"abc\\"', None),
    (b"'a\\\\'", None),
    (b'x"y', None),
]


def read_reply(f) -> Any:
    """One RESP2 reply from a binary file: bytes, int, list, None, or an Exception for an error."""
    line = f.readline()
    assert line.endswith(b"\r\n"), line
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return Exception(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    assert kind == b"*", line
    return [read_reply(f) for _ in range(int(rest))]


@pytest.mark.parametrize("line, want", INLINE_CASES, ids=[repr(c[0]) for c in INLINE_CASES])
def test_inline_commands_take_quotes_as_redis_does(server, line, want):
    import socket

    from conftest import read_until_closed, sockaddr_of

    family, sockaddr = sockaddr_of(server.addr)
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect(sockaddr)
        s.sendall(b"DEL inline\r\nRPUSH inline first " + line + b"\r\nLRANGE inline 1 -1\r\n")
        if want is None:
            got, how = read_until_closed(s, 5)
            assert re.fullmatch(rb":[01]\r\n-ERR Protocol error: unbalanced quotes in request\r\n", got)
            assert how == "eof"
            return
        f = s.makefile("rb")
        assert read_reply(f) in (0, 1)
        assert read_reply(f) == len(want) + 1
        assert read_reply(f) == want
