"""The client API, over tcp, unix and a real redis-server, on the Go and the pure-Python path."""

from __future__ import annotations

import array
import builtins
import os
import sys
import threading
import time

import pytest
import tiny_mp_cache
from tiny_mp_cache import TinyCache

MiB = 1 << 20


def test_set_then_get_returns_the_value(cache):
    assert cache.set("foo", b"bar") is None
    assert cache.get("foo") == b"bar"


def test_get_of_a_missing_key_is_none(cache):
    assert cache.get("missing") is None


def test_set_overwrites(cache):
    cache.set("k", b"one")
    cache.set("k", b"two")
    assert cache.get("k") == b"two"
    assert cache.len() == 1


def test_pop_returns_the_value_and_removes_the_key(cache):
    cache.set("job:1", b"payload")
    assert cache.pop("job:1") == b"payload"
    assert cache.get("job:1") is None
    assert cache.pop("job:1") is None
    assert cache.len() == 0


def test_pop_of_a_missing_key_is_none(cache):
    assert cache.pop("missing") is None


def test_delete_returns_1_if_the_key_existed_else_0(cache):
    cache.set("k", b"v")
    assert cache.delete("k") == 1
    assert cache.delete("k") == 0
    assert cache.get("k") is None


def test_len_counts_keys(cache):
    assert cache.len() == 0
    for i in range(3):
        cache.set(f"k{i}", b"v")
    assert cache.len() == 3
    cache.delete("k0")
    assert cache.len() == 2
    cache.pop("k1")
    assert cache.len() == 1


def test_empty_value_is_not_none(cache):
    cache.set("empty", b"")
    assert cache.get("empty") == b""
    assert cache.len() == 1
    assert cache.pop("empty") == b""
    assert cache.get("empty") is None


@pytest.mark.parametrize("size", [16 * MiB, 16 * MiB + 1, 64 * MiB], ids=["16MiB", "16MiB+1", "64MiB"])
def test_large_values_round_trip(cache, size):
    value = os.urandom(1024) * (size // 1024) + b"z" * (size % 1024)
    cache.set("big", value)
    got = cache.get("big")
    assert len(got) == size
    assert got == value
    assert cache.pop("big") == value
    assert cache.len() == 0


@pytest.mark.parametrize("store", ["set", "mset", "push"])
def test_a_value_over_512_MiB_is_refused_before_anything_is_sent(cache, store):
    # bytes(n) is zero pages the system has not handed out yet: this holds no 512 MiB.
    value = bytes(512 * MiB + 1)
    call = {"set": lambda: cache.set("big", value), "mset": lambda: cache.mset({"big": memoryview(value)}),
            "push": lambda: cache.push("big", bytearray(0), memoryview(value))}[store]
    with pytest.raises(ValueError, match=r"536870913 bytes .* over the 512 MiB limit .*max_bulk .*proto-max-bulk-len"):
        call()
    assert cache.get("big") is None  # the same connection goes on
    assert cache.len() == 0


def test_values_are_binary_safe(cache):
    value = bytes(range(256)) + b"\r\n$-1\r\n*0\r\n"
    cache.set("bin", value)
    assert cache.get("bin") == value


@pytest.mark.parametrize(
    "value, expected",
    [
        (bytearray(b"from bytearray"), b"from bytearray"),
        (memoryview(b"from memoryview"), b"from memoryview"),
        (memoryview(b"0123456789")[2:5], b"234"),
        (memoryview(b"0123456789")[::2], b"02468"),  # not contiguous
        (memoryview(array.array("H", [1, 2])), b"\x01\x00\x02\x00"),  # itemsize 2
    ],
    ids=["bytearray", "memoryview", "memoryview-slice", "memoryview-strided", "memoryview-array"],
)
def test_bytes_like_values_are_stored_as_bytes(cache, value, expected):
    cache.set("k", value)
    got = cache.get("k")
    assert type(got) is bytes
    assert got == expected


NON_ASCII_KEYS = ["ключ", "日本語のキー", "emoji 🙂", "with space", "crlf\r\nin key", "nul\x00byte", "é" * 300]


def test_non_ascii_keys_round_trip(cache):
    for i, key in enumerate(NON_ASCII_KEYS):
        cache.set(key, str(i).encode())
    for i, key in enumerate(NON_ASCII_KEYS):
        assert cache.get(key) == str(i).encode()
    assert sorted(cache.keys("*")) == sorted(NON_ASCII_KEYS)
    assert cache.keys("ключ") == ["ключ"]
    assert cache.delete("日本語のキー") == 1
    assert cache.pop("emoji 🙂") == b"2"
    assert cache.len() == len(NON_ASCII_KEYS) - 2


def test_keys_with_a_prefix_pattern(cache):
    for i in range(5):
        cache.set(f"job:{i}", b"x")
    cache.set("jobs", b"x")
    cache.set("other:1", b"x")
    assert sorted(cache.keys("job:*")) == [f"job:{i}" for i in range(5)]
    assert cache.keys("nothing:*") == []


GLOB_KEYS = ["hello", "hallo", "hbllo", "hxllo", "hillo", "hllo", "heeeello", "h*llo", "h?llo", "a", "b", "c", "d"]


@pytest.mark.parametrize(
    "pattern, expected",
    [
        ("*", GLOB_KEYS),
        ("h?llo", ["hello", "hallo", "hbllo", "hxllo", "hillo", "h*llo", "h?llo"]),
        ("h*llo", ["hello", "hallo", "hbllo", "hxllo", "hillo", "hllo", "heeeello", "h*llo", "h?llo"]),
        ("h[ae]llo", ["hello", "hallo"]),
        ("h[^e]llo", ["hallo", "hbllo", "hxllo", "hillo", "h*llo", "h?llo"]),
        ("h[a-b]llo", ["hallo", "hbllo"]),
        ("[a-c]", ["a", "b", "c"]),
        ("?", ["a", "b", "c", "d"]),
        ("h\\*llo", ["h*llo"]),
        ("h\\?llo", ["h?llo"]),
        ("hello", ["hello"]),
        ("x*", []),
    ],
)
def test_keys_with_glob_patterns(cache, pattern, expected):
    for key in GLOB_KEYS:
        cache.set(key, b"x")
    assert sorted(cache.keys(pattern)) == sorted(expected)


def test_keys_returns_str(cache):
    cache.set("k", b"v")
    assert cache.keys("*") == ["k"]
    assert type(cache.keys("*")[0]) is str


WRONG_TYPES = [
    ("set", (b"key", b"v"), "key must be str"),
    ("set", (1, b"v"), "key must be str"),
    ("set", (None, b"v"), "key must be str"),
    ("set", ("key", "a str value"), "value must be bytes"),
    ("set", ("key", 1), "value must be bytes"),
    ("set", ("key", None), "value must be bytes"),
    ("set", ("key", [1, 2]), "value must be bytes"),
    ("get", (b"key",), "key must be str"),
    ("pop", (1,), "key must be str"),
    ("delete", (None,), "key must be str"),
    ("keys", (b"*",), "pattern must be str"),
    ("set", ("key", b"v", "10"), "ttl must be a number of seconds"),
    ("expire", ("key", None), "ttl must be a number of seconds"),
    ("ttl", (1,), "key must be str"),
    ("persist", (None,), "key must be str"),
    ("mget", ("key",), "keys must be a list of str"),
    ("mget", ([b"key"],), "each key must be str"),
    ("mset", ([("a", b"1")],), "mapping must be a Mapping"),
    ("mset", ({"a": "text"},), "value must be bytes"),
    ("push", ("q", "text"), "value must be bytes"),
    ("push", ("q",), "at least one value"),
    ("bpop", (b"q", 1), "keys must be a list of str"),
    ("bpop", ("q", "1"), "timeout must be a number of seconds"),
    ("llen", (1,), "key must be str"),
    ("incr", ("n", 1.5), "amount must be int"),
    ("decr", ("n", "1"), "amount must be int"),
    ("exists", (1,), "key must be str"),
    ("type", (None,), "key must be str"),
    ("scan_iter", (b"*",), "match must be str"),
    ("info", (1,), "section must be str"),
    ("execute_command", ("GET", None), "each argument must be"),
]


@pytest.mark.parametrize("method, args, message", WRONG_TYPES)
def test_wrong_argument_types_raise_type_error_and_store_nothing(cache, method, args, message):
    with pytest.raises(TypeError, match=message):
        getattr(cache, method)(*args)
    assert cache.len() == 0
    # The connection is still in step: the next call gets its own reply.
    cache.set("after", b"ok")
    assert cache.get("after") == b"ok"


def test_wrong_argument_types_send_nothing(make_cache):
    from conftest import FakeServer

    with FakeServer("silent") as fake:
        cache = make_cache(fake.addr, timeout=1.0)
        time.sleep(0.2)
        with fake.lock:
            before = len(fake.received)
        for method, args, message in WRONG_TYPES:
            with pytest.raises(TypeError, match=message):
                getattr(cache, method)(*args)
        time.sleep(0.3)
        with fake.lock:
            assert len(fake.received) == before, bytes(fake.received[before:])


def test_close_is_idempotent_and_later_calls_raise_value_error(server_addr, make_cache):
    cache = make_cache(server_addr)
    cache.close()
    cache.close()
    with pytest.raises(ValueError, match="closed"):
        cache.get("k")
    with pytest.raises(ValueError, match="closed"):
        cache.set("k", b"v")


def test_context_manager_closes(server_addr, make_cache):
    with make_cache(server_addr) as cache:
        cache.set("ctx", b"1")
        assert cache.get("ctx") == b"1"
    with pytest.raises(ValueError):
        cache.get("ctx")


def test_one_cache_shared_by_threads(cache):
    n_threads, n_keys = 8, 300
    errors = []

    def work(t):
        try:
            for i in range(n_keys):
                key = f"t{t}:{i}"
                value = f"{t}-{i}".encode() * (1 + i % 7)
                cache.set(key, value)
                got = cache.get(key)
                if got != value:
                    errors.append((key, got, value))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert cache.len() == n_threads * n_keys
    assert len(cache.keys("t3:*")) == n_keys


def test_the_address_and_timeout_are_kept(server_addr, make_cache):
    cache = make_cache(server_addr, timeout=2.5)
    assert cache.addr == server_addr
    assert cache.timeout == 2.5


# --- errors -----------------------------------------------------------------


def test_exception_hierarchy():
    for name in ("ConnectionError", "TimeoutError", "ProtocolError", "ServerError"):
        assert issubclass(getattr(tiny_mp_cache, name), tiny_mp_cache.TinyCacheError)
    assert issubclass(tiny_mp_cache.ConnectionError, builtins.ConnectionError)
    assert issubclass(tiny_mp_cache.TimeoutError, builtins.TimeoutError)
    assert issubclass(tiny_mp_cache.TinyCacheError, Exception)


def test_no_server_raises_connection_error_promptly(make_cache):
    from conftest import free_port, short_tmpdir
    from tiny_mp_cache._platform import unix_sockets

    addrs = [f"127.0.0.1:{free_port()}"]
    if unix_sockets():
        addrs.append(f"unix://{short_tmpdir()}/absent.sock")
    # Windows retries a refused connect for about 2 s, even on loopback.
    limit = 4 if sys.platform == "win32" else 2
    for addr in addrs:
        start = time.monotonic()
        with pytest.raises(tiny_mp_cache.ConnectionError) as info:
            make_cache(addr)
        assert time.monotonic() - start < limit
        assert isinstance(info.value, builtins.ConnectionError)


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_wait_connects_to_a_server_that_comes_up_later(make_cache, transport):
    """The README's pattern: start a server process, then TinyCache(addr, wait=...) right away."""
    from conftest import ServerProcess, free_port, need_go, short_tmpdir, tmc_server_argv

    need_go()
    if transport == "tcp":
        port = free_port()
        args, addr = ["--port", str(port)], f"127.0.0.1:{port}"
    else:
        path = f"{short_tmpdir()}/later.sock"
        args, addr = ["--unix", path], f"unix://{path}"
    servers = []
    # The server starts half a second from now, so the first attempts find nothing.
    timer = threading.Timer(0.5, lambda: servers.append(ServerProcess(tmc_server_argv(*args), addr)))
    timer.start()
    try:
        start = time.monotonic()
        cache = make_cache(addr, wait=30)
        assert time.monotonic() - start >= 0.5
        cache.set("k", b"v")
        assert cache.get("k") == b"v"
    finally:
        timer.join()
        for server in servers:
            server.stop()


def test_wait_is_bounded(make_cache):
    from conftest import free_port

    start = time.monotonic()
    with pytest.raises(tiny_mp_cache.ConnectionError):
        make_cache(f"127.0.0.1:{free_port()}", wait=0.5)
    assert 0.5 <= time.monotonic() - start < 3


@pytest.mark.parametrize("wait, error", [(-1, ValueError), (float("inf"), ValueError), ("5", TypeError), (True, TypeError)])
def test_wait_must_be_a_finite_number_of_seconds(wait, error):
    with pytest.raises(error, match="wait"):
        TinyCache("127.0.0.1:1", wait=wait)


@pytest.mark.parametrize(
    "addr",
    [
        "nonsense",
        "127.0.0.1",
        "127.0.0.1:",
        ":5002",
        "127.0.0.1:0",
        "127.0.0.1:70000",
        "127.0.0.1:port",
        "unix://",
        "unix://relative.sock",
        "http://127.0.0.1:5002",
        "redis://127.0.0.1:5002/notanumber",
        "redis://",
        "redis://:5002",
        "redis://127.0.0.1:99999",
    ],
)
def test_malformed_address_raises_value_error(make_cache, addr):
    with pytest.raises(ValueError, match="invalid address"):
        make_cache(addr)


@pytest.mark.parametrize(
    "addr, advice",
    [
        ("unix:/tmp/x.sock", 'for a unix socket write "unix:///tmp/x.sock"'),
        ("/tmp/x.sock", 'missing port; for a unix socket write "unix:///tmp/x.sock"'),
        ("unix:x.sock", 'a unix socket address is "unix://" and then the absolute path'),
        ("cache.sock", 'missing port; a unix socket address is "unix://" and then the absolute path'),
    ],
)
def test_a_unix_socket_written_wrong_is_told_what_to_write(make_cache, addr, advice):
    with pytest.raises(ValueError, match="invalid address") as info:
        make_cache(addr)
    assert advice in str(info.value)


@pytest.mark.parametrize("timeout", [0, -1, float("inf"), float("nan")])
def test_timeout_must_be_finite_and_positive(timeout):
    with pytest.raises(ValueError, match="timeout"):
        TinyCache("127.0.0.1:1", timeout=timeout)


@pytest.mark.parametrize("addr, timeout", [(b"127.0.0.1:1", 1.0), ("127.0.0.1:1", "5"), ("127.0.0.1:1", None)])
def test_constructor_argument_types(addr, timeout):
    with pytest.raises(TypeError):
        TinyCache(addr, timeout=timeout)


def test_a_server_that_never_answers_times_out(make_cache):
    from conftest import FakeServer

    with FakeServer("silent") as fake:
        cache = make_cache(fake.addr, timeout=0.5)
        start = time.monotonic()
        with pytest.raises(tiny_mp_cache.TimeoutError) as info:
            cache.get("k")
        elapsed = time.monotonic() - start
        assert isinstance(info.value, builtins.TimeoutError)
        assert 0.4 <= elapsed < 3
        # A timed-out call is not retried: the server saw the GET once.
        assert [name for _, name in fake.names()] == ["GET"]


@pytest.mark.parametrize("method, args", [("set", ("k", b"v")), ("pop", ("k",))])
def test_non_idempotent_calls_are_never_sent_twice(make_cache, method, args):
    from conftest import FakeServer

    with FakeServer("drop_first") as fake:
        cache = make_cache(fake.addr, timeout=2.0)
        with pytest.raises(tiny_mp_cache.ConnectionError):
            getattr(cache, method)(*args)
        time.sleep(0.2)
        name = {"set": "SET", "pop": "GETDEL"}[method]
        assert fake.names() == [(0, name)]
        # The next call re-dials.
        assert cache.len() == 0
        assert fake.names()[-1] == (1, "DBSIZE")


@pytest.mark.parametrize(
    "method, args, result, name",
    [
        ("get", ("k",), b"value", "GET"),
        ("delete", ("k",), 1, "DEL"),
        ("keys", ("*",), [], "KEYS"),
        ("len", (), 0, "DBSIZE"),
        ("mget", (["k", "missing"],), [b"value", None], "MGET"),
        # reads without a Go fast path: tmc_command is told they may be retried
        ("ttl", ("k",), -2.0, "PTTL"),
        ("exists", ("k",), 0, "EXISTS"),
        ("type", ("k",), "none", "TYPE"),
        ("llen", ("k",), 0, "LLEN"),
    ],
)
def test_idempotent_calls_are_retried_once_on_a_lost_connection(make_cache, method, args, result, name):
    from conftest import FakeServer

    with FakeServer("drop_first") as fake:
        cache = make_cache(fake.addr, timeout=2.0)
        assert getattr(cache, method)(*args) == result
        assert fake.names() == [(0, name), (1, name)]


def test_a_pipeline_of_reads_is_retried_once_on_a_lost_connection_and_one_with_a_write_is_not(make_cache):
    from conftest import FakeServer

    with FakeServer("drop_first") as fake:
        cache = make_cache(fake.addr, timeout=2.0)
        assert cache.pipeline().get("k").ttl("k").execute() == [b"value", -2.0]
        assert fake.names() == [(0, "GET"), (1, "GET"), (1, "PTTL")]  # the first connection closed at the GET
    with FakeServer("drop_first") as fake:
        cache = make_cache(fake.addr, timeout=2.0)
        with pytest.raises(tiny_mp_cache.ConnectionError):
            cache.pipeline().get("k").set("k", b"v").execute()
        time.sleep(0.2)
        assert fake.names() == [(0, "GET")]  # and nothing sent again


def test_server_error_reply_raises_server_error(make_cache):
    from conftest import start_redis_server

    server = start_redis_server("--requirepass", "s3cret")
    try:
        cache = make_cache(server.addr)  # connects, but has not authenticated
        with pytest.raises(tiny_mp_cache.ServerError, match="NOAUTH"):
            cache.get("k")
        # An error reply leaves the connection usable.
        with pytest.raises(tiny_mp_cache.ServerError, match="NOAUTH"):
            cache.len()
    finally:
        server.stop()


def test_calls_reconnect_after_the_server_restarts(make_cache):
    from conftest import ServerProcess, start_tcp_server

    first = start_tcp_server()
    try:
        cache = make_cache(first.addr)
        cache.set("k", b"v")
        first.stop()
        with pytest.raises(tiny_mp_cache.ConnectionError):
            make_cache(first.addr)
        second = ServerProcess(first.argv, first.addr)
        try:
            # get is idempotent: the stale connection is replaced within the call.
            assert cache.get("k") is None
            cache.set("k", b"again")
            assert cache.get("k") == b"again"
        finally:
            second.stop()
    finally:
        first.stop()


def test_keys_that_are_not_utf8_round_trip_with_surrogateescape(cache, server_addr):
    import socket

    from conftest import sockaddr_of

    family, sockaddr = sockaddr_of(server_addr)
    with socket.socket(family, socket.SOCK_STREAM) as raw:
        raw.settimeout(5)
        raw.connect(sockaddr)
        raw.sendall(b"*3\r\n$3\r\nSET\r\n$4\r\n\xffbad\r\n$1\r\nv\r\n")
        assert raw.recv(16) == b"+OK\r\n"
    assert cache.keys("*") == ["\udcffbad"]
    assert cache.get("\udcffbad") == b"v"
    assert cache.delete("\udcffbad") == 1


@pytest.mark.parametrize(
    "key",
    ["\ud800", "a\udfffb"],  # lone surrogates that are not escaped bytes
)
def test_keys_that_cannot_be_encoded_raise_before_sending(cache, key):
    with pytest.raises(UnicodeEncodeError):
        cache.set(key, b"v")
    assert cache.len() == 0
