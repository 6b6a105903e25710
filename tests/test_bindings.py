"""The cffi layer: the cdef is tmc.h, statuses map to the documented exceptions."""

from __future__ import annotations

import builtins
import os
import re

import pytest
import tiny_mp_cache
from conftest import ROOT
from tiny_mp_cache import _bindings

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
    assert len(header) == 7
    constants = _bindings.ffi.dlopen(None)  # this process (libc), not the Go library
    assert {name: getattr(constants, name) for name in header} == header


@pytest.mark.parametrize(
    "status, cls",
    [
        (-1, tiny_mp_cache.ConnectionError),
        (-2, tiny_mp_cache.TimeoutError),
        (-3, tiny_mp_cache.ProtocolError),
        (-4, tiny_mp_cache.ServerError),
        (-5, ValueError),
        (-99, tiny_mp_cache.TinyCacheError),
    ],
)
def test_statuses_become_exceptions_with_go_message(status, cls):
    err = _bindings.ffi.new("char[]", b"something went wrong")
    exc = _bindings.error(status, err)
    assert type(exc) is cls
    assert "something went wrong" in str(exc)


def test_connection_and_timeout_errors_are_builtins_too():
    assert isinstance(_bindings.error(-1, _bindings.ffi.new("char[]", b"x")), builtins.ConnectionError)
    assert isinstance(_bindings.error(-2, _bindings.ffi.new("char[]", b"x")), builtins.TimeoutError)


def test_unpack_keys():
    packed = b"".join(len(k).to_bytes(4, "little") + k for k in (b"a", b"", "ключ".encode()))
    assert _bindings.unpack_keys(packed, 3) == [b"a", b"", "ключ".encode()]
    assert _bindings.unpack_keys(b"", 0) == []


@pytest.mark.parametrize(
    "packed, count",
    [(b"\x05\x00\x00\x00abc", 1), (b"\x01\x00", 1), (b"\x01\x00\x00\x00ab", 1), (b"\x01\x00\x00\x00a", 2)],
    ids=["short-body", "short-length", "trailing-bytes", "too-few-entries"],
)
def test_unpack_keys_rejects_malformed_lists(packed, count):
    with pytest.raises(tiny_mp_cache.ProtocolError):
        _bindings.unpack_keys(packed, count)
