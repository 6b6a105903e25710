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
    """idempotent says a command is safe to send twice, whatever path it takes (a Go fast path or not).

    Every Command of the table is held to one rule, so a new command cannot
    be resent by mistake: a read that does not block is idempotent; a
    write, a blocking command and what execute_command sends are not; the
    exceptions are named.
    """
    c = _commands
    # Sent only by execute_command (RAW, never resent): on the table for their other facts.
    facts_only = {c.RAW, c.FLUSHALL, c.UNLINK, c.TOUCH, c.KEYLESS, c.MULTI}
    not_a_write_but_not_resent = {c.PUBLISH}  # publishing twice delivers twice
    written_twice_is_written_once = {c.DEL}  # deleting twice leaves what deleting once does
    wrong = []
    for command in _all_commands():
        if command is c.NOTHING:  # mset({}): sends nothing
            continue
        if command in written_twice_is_written_once:
            expected = True
        else:
            expected = not (command.writes or command.blocking or command in facts_only | not_a_write_but_not_resent)
        if command.idempotent != expected:
            wrong.append((command.names, command.idempotent))
    assert wrong == []
    assert c.GET.idempotent and c.PTTL.idempotent and c.mget_deadline_command(2).idempotent
    assert not (c.SET.idempotent or c.BLPOP.idempotent or c.PUBLISH.idempotent or c.RAW.idempotent)


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
