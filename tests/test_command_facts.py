"""Every fact about a command lives on its Command (tiny_mp_cache/_commands.py), as in Valkey's command table.

Its names, where its keys are, whether it writes, and how a Redis Cluster runs
it: the near cache and the cluster read these, and no other module keeps a
table of command names of its own.
"""

from __future__ import annotations

import ast
import os

import pytest
from tiny_mp_cache import _commands
from tiny_mp_cache._commands import BY_NAME, RAW, Command, facts, facts_of

PACKAGE = os.path.dirname(_commands.__file__)


def _tables(source: str, names: set[bytes], commands: set[str]) -> list[str]:
    """The literal lists, tuples, sets and dicts (keys) of source that hold two or more command names
    (b"GET" in any case, or "GET" as written: "get" is a method's name) or Commands of the table (commands.GET, GET)."""

    def mentions(node: ast.AST | None) -> bool:
        if isinstance(node, ast.Constant) and isinstance(node.value, bytes):
            return node.value.upper() in names
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value.encode() in names
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            return node.value.id in ("commands", "_commands") and node.attr in commands
        return isinstance(node, ast.Name) and node.id in commands

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Dict):
            items: list[ast.AST | None] = list(node.keys)
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = list(node.elts)
        else:
            continue
        if sum(map(mentions, items)) >= 2:
            found.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    return found


def test_no_module_keeps_a_second_table_of_commands():
    """Matching name bytes against a hand-written table (the old _near._WRITES, _cluster._ROUTES) is a second
    home for facts, and so is a table of fast paths by their names (the old _bindings._FAST)."""
    commands = {name for name, v in vars(_commands).items() if isinstance(v, Command)}
    fast = {v.fast.encode() for v in vars(_commands).values() if isinstance(v, Command) and v.fast}
    tables = {}
    for name in sorted(os.listdir(PACKAGE)):
        if name.endswith(".py") and name != "_commands.py":
            with open(os.path.join(PACKAGE, name)) as f:
                found = _tables(f.read(), set(BY_NAME) | fast, commands)
            if found:
                tables[name] = found
    assert tables == {}


def test_the_table_check_catches_a_table():
    """The check above can fail: the kinds of table it looks for are found."""
    commands = {"SET", "DEL"}
    assert _tables('W = {b"SET": 1, b"DEL": 2}', {b"SET", b"DEL"}, commands)
    assert _tables("W = (commands.SET, commands.DEL)", set(), commands)
    assert _tables('FAST = {"TMC_GET": get, "TMC_SET": set}', {b"TMC_GET", b"TMC_SET"}, commands)
    assert _tables('if name in ("SET", "DEL"): pass', {b"SET", b"DEL"}, commands)
    assert not _tables('args = [b"SET", key, value]', {b"SET", b"DEL"}, commands)
    assert not _tables('methods = ("set", "delete")', {b"SET", b"DEL"}, commands)


def test_the_name_lookup_is_derived_from_the_table():
    """BY_NAME, for execute_command and a cluster pipeline, holds every name of every Command, and nothing else."""
    table = [v for v in vars(_commands).values() if isinstance(v, Command)]
    assert set(BY_NAME) == {name for command in table for name in command.names}
    for name, command in BY_NAME.items():
        assert name in command.names


def test_commands_of_one_name_agree_on_its_facts():
    with pytest.raises(AssertionError, match="disagree"):
        _commands._by_name([Command(_commands._ok, b"SET", keys=_commands.ONE_KEY, writes=True), Command(_commands._ok, b"SET")])


def test_where_the_keys_are():
    c = _commands
    assert c.SET.key_args([b"SET", b"k", b"v", b"PX", b"5"]) == [b"k"]
    assert c.MSET.key_args([b"MSET", b"a", b"1", b"b", b"2"]) == [b"a", b"b"]
    assert c.DEL.key_args([b"DEL", b"a", b"b", b"c"]) == [b"a", b"b", b"c"]
    assert c.BLPOP.key_args([b"BLPOP", b"a", b"b", b"0"]) == [b"a", b"b"]
    assert c.FLUSHDB.key_args([b"FLUSHDB"]) == [] and c.KEYS.key_args([b"KEYS", b"*"]) == []


def test_execute_command_reads_the_facts_of_its_name():
    """RAW takes the facts of the Command its name is (any case), and an unknown name has its key first."""
    assert facts(RAW, [b"mset", b"a", b"1"]) is _commands.MSET
    assert facts(RAW, [b"PING"]).keys is None
    assert facts_of([b"OBJECT", b"k"]) is RAW and RAW.key_args([b"OBJECT", b"k"]) == [b"k"]
    assert facts(_commands.GET, [b"GET", b"k"]) is _commands.GET
    assert not RAW.idempotent  # execute_command is never resent: memoize's WATCH relies on that


def test_every_write_of_a_method_says_so():
    """What the near cache drops comes from writes: every Command that changes keys has it."""
    c = _commands
    writes = [c.SET, c.SET_TTL, c.GETDEL, c.DEL, c.MSET, c.PEXPIRE, c.PERSIST, c.RPUSH, c.LPUSH, c.BLPOP, c.INCRBY, c.FLUSHDB]
    reads = [c.GET, c.MGET, c.KEYS, c.DBSIZE, c.PTTL, c.LLEN, c.EXISTS, c.TYPE, c.SCAN, c.INFO, c.GET_DEADLINE]
    assert [w.names for w in writes if not w.writes] == []
    assert [r.names for r in reads if r.writes] == []


def test_execute_command_s_writes_drop_the_near_entry(tmp_path):
    """A write sent with execute_command drops what it changes from its own client's near cache, as the method would."""
    from conftest import need_go, start_unix_server, short_tmpdir
    from tiny_mp_cache import TinyCache

    need_go()
    srv = start_unix_server(path=os.path.join(short_tmpdir(), "facts.sock"))
    try:
        cache = TinyCache(srv.addr, near_cache=10)
        if cache.near_cache_stats()["mode"] != "shared-memory":
            pytest.skip(cache.near_cache_stats()["reason"])
        for key in ("a", "b", "c"):
            cache.set(key, b"1")
            cache.get(key)
        assert cache.near_cache_stats()["entries"] == 3
        cache.execute_command("set", "a", "2")
        cache.execute_command("DEL", "b", "nothing")
        assert cache.near_cache_stats()["entries"] == 1
        cache.execute_command("FLUSHALL")
        assert cache.near_cache_stats()["entries"] == 0
        cache.close()
    finally:
        srv.stop()
