"""The cffi layer: the cdef is tmc.h, statuses map to the documented exceptions."""

from __future__ import annotations

import builtins
import io
import os
import re
import threading
import tokenize

import pytest
import tiny_mp_cache
from conftest import ROOT, need_go
from tiny_mp_cache import _bindings
from tiny_mp_cache._commands import GET, GETDEL, LPUSH, RPUSH, SET

TMC_H = os.path.join(ROOT, "go", "capi", "tmc.h")


def declarations(text: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return sorted(re.sub(r"\s+", " ", d) for d in re.findall(r"(?:int|void)\s+tmc_\w+\([^;]*\);", text))


def test_the_cdef_declares_exactly_the_functions_of_tmc_h():
    if not os.path.exists(TMC_H):
        pytest.skip("go/capi/tmc.h is not in this checkout")
    with open(TMC_H) as f:
        header = declarations(f.read())
    assert header, "no declarations found in tmc.h"
    assert declarations(_bindings.CDEF) == header


def test_the_cdef_status_codes_match_tmc_h():
    if not os.path.exists(TMC_H):
        pytest.skip("go/capi/tmc.h is not in this checkout")
    with open(TMC_H) as f:
        header = {name: int(value) for name, value in re.findall(r"(TMC_\w+)\s*=\s*(-?\d+)", f.read())}
    assert len(header) == 8
    assert _bindings.STATUS == header


def _op_enums(text: str) -> dict[str, list[str]]:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return {name: re.findall(r"\w+", body) for name, body in re.findall(r"enum (tmc_\w+_op)\s*{([^}]*)}", text)}


def test_the_cdef_operations_match_tmc_h():
    """The fast paths' operations, by export: the cdef's enums are tmc.h's, in order (their values are their places)."""
    if not os.path.exists(TMC_H):
        pytest.skip("go/capi/tmc.h is not in this checkout")
    with open(TMC_H) as f:
        header = _op_enums(f.read())
    assert set(header) == {"tmc_set_op", "tmc_value_op", "tmc_int_op", "tmc_list_op"}
    assert _op_enums(_bindings.CDEF) == header


def _status_numbers(source: str) -> list[str]:
    """The places source (Python) writes an error status as a number: a literal -1 to -6."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type != tokenize.NL]
    return [
        f"line {b.start[0]}: -{b.string}"
        for a, b in zip(tokens, tokens[1:])
        if a.type == tokenize.OP and a.string == "-" and b.type == tokenize.NUMBER and b.string in "123456"
    ]


def test_the_status_codes_are_written_in_tmc_h_alone():
    """tmc.h is their one home: Go takes them from it through cgo, Python reads them from the cdef (a checked copy)."""
    capi = os.path.join(ROOT, "go", "capi")
    if not os.path.exists(TMC_H):
        pytest.skip("go/capi/tmc.h is not in this checkout")
    with open(os.path.join(capi, "main.go")) as f:
        go = f.read()
    consts = re.findall(r"^\s*(status\w+)\s*=\s*(\S+)", go, flags=re.MULTILINE)
    assert len(consts) == 8
    assert [value for _, value in consts if not value.startswith("C.TMC_")] == []
    for name in os.listdir(capi):
        if name.endswith(".go"):
            with open(os.path.join(capi, name)) as f:
                assert not re.search(r"TMC_\w+\s*=\s*-?\d", f.read()), name
    with open(_bindings.__file__) as f:
        python = f.read().replace(_bindings.CDEF, "")
    assert _status_numbers(python) == []


def test_an_interrupted_call_raises_what_the_signal_handler_raised():
    # What _signal_check does when a handler raises during a call into Go.
    interrupt = KeyboardInterrupt()
    assert _bindings._stop_the_call(KeyboardInterrupt, interrupt, None) == 1
    err = _bindings.ffi.new("char[]", b"interrupted by a signal")
    assert _bindings.error(_bindings.INTERRUPTED, err) is interrupt
    assert type(_bindings.error(_bindings.INTERRUPTED, err)) is tiny_mp_cache.TinyCacheError  # taken once


def test_connection_and_timeout_errors_are_builtins_too():
    conn, timeout = _bindings.STATUS["TMC_ERR_CONN"], _bindings.STATUS["TMC_ERR_TIMEOUT"]
    assert isinstance(_bindings.error(conn, _bindings.ffi.new("char[]", b"x")), builtins.ConnectionError)
    assert isinstance(_bindings.error(timeout, _bindings.ffi.new("char[]", b"x")), builtins.TimeoutError)


# --- the raw replies of tmc_command and tmc_pipeline -----------------------------------


def test_parse_replies_of_every_kind():
    from tiny_mp_cache._resp import parse_replies

    raw = b"+OK\r\n-ERR bad\r\n:-42\r\n$3\r\na\r\n\r\n$-1\r\n*-1\r\n*3\r\n$0\r\n\r\n*1\r\n:1\r\n$-1\r\n"
    replies = parse_replies(raw, 7)
    assert replies[0] == "OK"
    assert type(replies[1]) is tiny_mp_cache.ServerError and str(replies[1]) == "ERR bad"
    assert replies[2:] == [-42, b"a\r\n", None, None, [b"", [1], None]]


@pytest.mark.parametrize(
    "raw, count, message",
    [
        (b"$5\r\nab\r\n", 1, "truncated"),
        (b":1\r\n", 2, "truncated"),
        (b":1\r\n:2\r\n", 1, "unexpected bytes"),
        (b"?x\r\n", 1, "unknown reply type"),
        (b":x\r\n", 1, "bad integer"),
        (b"$3\r\nabcd\r\n", 1, "CRLF"),
        (b"*-2\r\n", 1, "bad array length"),
    ],
)
def test_parse_replies_rejects_malformed_replies(raw, count, message):
    from tiny_mp_cache._resp import parse_replies

    with pytest.raises(tiny_mp_cache.ProtocolError, match=message):
        parse_replies(raw, count)


def test_encode_commands_joins_small_arguments_and_passes_big_ones_through():
    from tiny_mp_cache._resp import encode_commands

    big = memoryview(b"x" * (1 << 20))
    pieces = encode_commands([[b"SET", b"k", big], [b"GET", b"k"]])
    assert any(p is big for p in pieces)
    assert b"".join(bytes(p) for p in pieces) == (
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1048576\r\n" + bytes(big) + b"\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
    )


def test_unpack_values():
    packed = b"".join(
        b"\xff\xff\xff\xff" if v is None else len(v).to_bytes(4, "little") + v for v in (b"a", None, b"", b"xyz")
    )
    assert _bindings.unpack_values(packed, 4) == [b"a", None, b"", b"xyz"]


@pytest.mark.parametrize(
    "packed, count",
    [(b"\x05\x00\x00\x00abc", 1), (b"\xff\xff", 1), (b"\xff\xff\xff\xffx", 1), (b"\xff\xff\xff\xff", 2)],
    ids=["short-body", "short-length", "trailing-bytes", "too-few-entries"],
)
def test_unpack_values_rejects_malformed_lists(packed, count):
    with pytest.raises(tiny_mp_cache.ProtocolError):
        _bindings.unpack_values(packed, count)


@pytest.mark.parametrize("extra", [-3, -2, -1, 0, 1, 100_000])
def test_values_around_the_scratch_buffer_come_back_whole(tcp_server, extra):
    """Values that fit the per-thread buffer, just do not, and far do not."""
    need_go()
    n = max(0, _bindings.VALUE_BUF + extra)
    value = bytes((i * 7) % 251 for i in range(n))
    c = _bindings.GoClient(_bindings.library(), tcp_server.addr, 5.0)
    try:
        assert c.run(SET, [b"SET", b"scratch", memoryview(value)]) == "OK"
        assert c.run(GET, [b"GET", b"scratch"]) == value
        assert c.run(GETDEL, [b"GETDEL", b"scratch"]) == value
        assert c.run(GET, [b"GET", b"scratch"]) is None
        c.run(SET, [b"SET", b"scratch-empty", memoryview(b"")])
        assert c.run(GET, [b"GET", b"scratch-empty"]) == b""
    finally:
        c.close()


def test_threads_do_not_share_a_scratch_buffer(tcp_server):
    """Each thread's gets see their own values while other threads get others."""
    need_go()
    c = _bindings.GoClient(_bindings.library(), tcp_server.addr, 5.0)
    values = {f"t{i}".encode(): bytes([65 + i]) * (1000 + i) for i in range(4)}
    for k, v in values.items():
        c.run(SET, [b"SET", k, memoryview(v)])
    wrong: list[bytes] = []

    def reader(key: bytes) -> None:
        for _ in range(2000):
            if c.run(GET, [b"GET", key]) != values[key]:
                wrong.append(key)

    threads = [threading.Thread(target=reader, args=(k,)) for k in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    c.close()
    assert not any(t.is_alive() for t in threads)
    assert wrong == []


def test_push_takes_its_fast_path_for_one_value_and_the_command_path_for_more(tcp_server, monkeypatch):
    """RPUSH/LPUSH of one value is tmc_int (bytes or a view); several values go through tmc_command."""
    need_go()
    c = _bindings.GoClient(_bindings.library(), tcp_server.addr, 5.0)
    calls: list[str] = []
    monkeypatch.setattr(c, "_lib", _Spy(c._lib, "tmc_int", calls))
    try:
        assert c.run(RPUSH, [b"RPUSH", b"q", b"b"]) == 1
        assert c.run(LPUSH, [b"LPUSH", b"q", memoryview(b"a")]) == 2
        assert c.run(RPUSH, [b"RPUSH", b"q", b"c", b"d"]) == 4
        assert calls == ["tmc_int", "tmc_int"]
        assert tiny_mp_cache.TinyCache(tcp_server.addr).execute_command("LRANGE", "q", 0, -1) == [b"a", b"b", b"c", b"d"]
        c.run(SET, [b"SET", b"s", b"x"])
        with pytest.raises(tiny_mp_cache.ServerError, match="WRONGTYPE"):
            c.run(RPUSH, [b"RPUSH", b"s", b"v"])
    finally:
        c.close()


class _Spy:
    """The library, with calls to one function noted."""

    def __init__(self, lib, name, calls):
        self._lib, self._name, self._calls = lib, name, calls

    def __getattr__(self, attr):
        real = getattr(self._lib, attr)
        if attr != self._name:
            return real

        def call(*args):
            self._calls.append(attr)
            return real(*args)

        return call
