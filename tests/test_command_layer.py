"""The command layer (tiny_mp_cache/_commands.py): each command is written once, and every client runs it."""

from __future__ import annotations

import inspect
import re

import pytest
from tiny_mp_cache import AsyncPipeline, AsyncTinyCache, Pipeline, TinyCache, _commands
from tiny_mp_cache._commands import Command, Commands


def _all_commands() -> list[Command]:
    table = [v for v in vars(_commands).values() if isinstance(v, Command)]
    return table + [_commands.mget_command(2), _commands.mget_deadline_command(2), _commands.stats_command(0)]


def test_reads_are_idempotent_and_writes_are_not():
    """idempotent says a command is safe to send twice, whatever path it takes (a Go fast path or not)."""
    c = _commands
    reads = [c.GET, c.KEYS, c.DBSIZE, c.PTTL, c.EXISTS, c.TYPE, c.LLEN, c.SCAN, c.INFO, c.GET_DEADLINE, c.MGET,
             c.MGET_DEADLINE, c.mget_command(2), c.mget_deadline_command(2), c.stats_command(0)]
    writes = [c.SET, c.SET_TTL, c.GETDEL, c.MSET, c.PEXPIRE, c.PERSIST, c.RPUSH, c.LPUSH, c.BLPOP, c.INCRBY, c.FLUSHDB, c.RAW]
    reads += [c.ZSCORE, c.ZCARD, c.ZRANK, c.ZRANGE, c.ZRANGE_WITHSCORES]
    writes += [c.ZADD, c.ZADD_INCR, c.ZINCRBY, c.ZREM, c.ZREMRANGEBYSCORE, c.ZPOP, c.BZPOP]
    reads += [c.GETRANGE, c.STRLEN, c.RANDOMKEY, c.LPOS]
    writes += [c.APPEND, c.MSETNX, c.RENAME, c.RENAMENX, c.LEDIT, c.LCOUNT, c.RPOPLPUSH]
    # Sent only by execute_command (RAW, never resent): on the table for their other facts.
    facts_only = [c.FLUSHALL, c.UNLINK, c.TOUCH, c.KEYLESS, c.MULTI]
    assert [command.parse for command in reads if not command.idempotent] == []
    assert [command.parse for command in writes + facts_only if command.idempotent] == []
    assert c.DEL.idempotent  # deleting twice leaves what deleting once does
    # every command is in one list (DEL, NOTHING aside)
    assert len(reads) + len(writes) + len(facts_only) + 2 == len(_all_commands())


def test_a_pipeline_is_idempotent_when_every_command_it_sends_is():
    c = _commands
    assert c.idempotent([(c.GET, [b"GET", b"a"]), (c.PTTL, [b"PTTL", b"a"]), (c.NOTHING, [])])
    assert not c.idempotent([(c.GET, [b"GET", b"a"]), (c.SET, [b"SET", b"a", b"1"])])


def test_every_fast_path_is_one_the_bindings_know():
    from tiny_mp_cache import _bindings

    """Each names an operation of tmc.h's enums (the cdef's copy), and every operation there has its Command."""
    fast = {c.fast for c in _all_commands() if c.fast is not None}
    assert fast == set(_bindings._FAST)
    for name in fast:
        assert re.search(rf"enum tmc_\w+_op {{[^}}]*\b{name}\b", _bindings.CDEF), name


def test_the_clients_define_no_command_of_their_own():
    """The clients only say how commands are sent: every command method comes from Commands."""
    names = {n for n, f in vars(Commands).items() if inspect.isfunction(f) and not n.startswith("_")}
    assert {"get", "set", "pop", "bpop", "mget", "execute_command"} <= names
    for cls in (TinyCache, Pipeline, AsyncTinyCache, AsyncPipeline):
        own = {n for n in vars(cls) if not n.startswith("_")}
        assert not own & names, (cls, own & names)


def test_a_pipeline_refuses_a_blocking_command(cache):
    p = cache.pipeline().set("a", b"1")
    with pytest.raises(TypeError, match="cannot be pipelined"):
        p.bpop("q", 1)
    assert p.execute() == [None]


def test_a_value_is_sent_without_a_copy():
    """bytes pass through as they are (no view to make per set); other contiguous buffers as a view of their memory."""
    value = b"v" * 100
    assert _commands.value_arg(value) is value
    buf = bytearray(b"abc")
    view = _commands.value_arg(buf)
    buf[0] = ord("x")
    assert bytes(view) == b"xbc"
