"""Lua scripting (EVAL, EVALSHA, SCRIPT) side by side with a real redis-server, through redis-py.

Each script runs against our server (tcp and unix) and a redis-server in
the same test, in RESP2 and RESP3: what redis-server answers is the
expected value. redis-py's Lock, which sends its scripts with EVALSHA and
falls back to SCRIPT LOAD, gives 8 processes mutual exclusion on both.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap

import pytest
from conftest import TESTS
from test_redis_compat import connect
from tiny_mp_cache import ServerError, TinyCache

redis = pytest.importorskip("redis")


@pytest.fixture(params=["tcp", "unix"])
def ours(request: pytest.FixtureRequest):
    return request.getfixturevalue(f"{request.param}_server")


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
def pair(request: pytest.FixtureRequest, ours, redis_server):
    """A redis-py client of our server and one of redis-server, on empty databases."""
    clients = [connect(ours.addr, request.param), connect(redis_server.addr, request.param)]
    for c in clients:
        c.flushall()
        c.script_flush()
    yield clients
    for c in clients:
        c.close()


def outcome(call):
    """What a call returns, or its error's message without the " script: <sha>..." Redis appends."""
    try:
        return ("value", call())
    except redis.ResponseError as e:
        return ("error", str(e).split(" script: ")[0])


# (script, keys, args): run in order on one database.
SCRIPTS = [
    ("return {1, 2.9, 'x', nil, 4}", [], []),
    ("return -3.99", [], []),
    ("return false", [], []),
    ("return true", [], []),
    ("return nil", [], []),
    ("return {ok = 'fine'}", [], []),
    ("return {err = 'bad thing'}", [], []),
    ("return redis.error_reply('my err')", [], []),
    ("return redis.status_reply('GOOD')", [], []),
    ("return {1, {2, {3}}, redis.status_reply('S')}", [], []),
    ("return {double = 3.5}", [], []),
    ("redis.setresp(3) return {map = {a = 1}}", [], []),
    ("redis.setresp(3) return {set = {a = true}}", [], []),
    ("redis.setresp(3) return true", [], []),
    ("redis.setresp(3) return false", [], []),
    ("return redis.call('set', KEYS[1], ARGV[1])", ["k"], ["v"]),
    ("return redis.call('get', KEYS[1])", ["k"], []),
    ("return type(redis.call('get', 'missing'))", [], []),
    ("redis.setresp(3) return type(redis.call('get', 'missing'))", [], []),
    ("return redis.call('incr', KEYS[1])", ["k"], []),
    ("return redis.pcall('incr', KEYS[1]).err", ["k"], []),
    ("return redis.call('rpush', KEYS[1], unpack(ARGV))", ["l"], ["a", "b", 3]),
    ("return redis.call('lrange', KEYS[1], 0, -1)", ["l"], []),
    ("return #KEYS + #ARGV", ["a", "b"], ["c"]),
    ("return redis.call('nosuch')", [], []),
    ("return redis.call('incr')", [], []),
    ("return redis.call('blpop', 'l', 0)", [], []),
    ("error('boom')", [], []),
    ("x = 1", [], []),
    ("return os", [], []),
    ("return io", [], []),
    ("return redis.sha1hex('abc')", [], []),
    ("return string.format('%5.2f', 3.14159) .. math.floor(2.5) .. table.concat({1, 2}, ',')", [], []),
]


@pytest.mark.parametrize("script,keys,args", SCRIPTS, ids=[s for s, _, _ in SCRIPTS])
def test_eval_as_redis(pair, script, keys, args):
    ours, theirs = pair
    for c in pair:
        c.set("k", b"v")
        c.delete("l")
        c.rpush("l", b"a", b"b", b"3")
    got, want = (outcome(lambda c=c: c.eval(script, len(keys), *keys, *args)) for c in (ours, theirs))
    assert got == want


def test_evalsha_script_load_exists_flush_as_redis(pair):
    def steps(c):
        sha = c.script_load("return ARGV[1]")
        yield sha
        yield c.evalsha(sha, 0, "hi")
        yield c.script_exists(sha, "f" * 40)
        yield outcome(lambda: c.evalsha_ro(sha, 0, "ro"))
        yield outcome(lambda: c.eval_ro("return redis.call('set', 'a', 'b')", 0))
        yield c.script_flush()
        yield outcome(lambda: c.evalsha(sha, 0, "x"))
        yield outcome(lambda: c.eval("return 1", -1))
        yield outcome(lambda: c.script_kill())

    ours, theirs = pair
    assert list(steps(ours)) == list(steps(theirs))


def test_tinycache_eval_methods(ours):
    with TinyCache(ours.addr) as cache:
        cache.execute_command("SCRIPT", "FLUSH")
        assert cache.eval("return redis.call('set', KEYS[1], ARGV[1])", 1, "k", 7) == "OK"
        assert cache.get("k") == b"7"
        assert cache.eval("return {KEYS[1], ARGV[1], tonumber(ARGV[2]) + 1}", 1, "a", b"b", 2) == [b"a", b"b", 3]
        sha = cache.script_load("return #ARGV")
        assert sha == hashlib.sha1(b"return #ARGV").hexdigest()
        assert cache.script_exists(sha, "0" * 40) == [True, False]
        assert cache.evalsha(sha, 0, 1, 2, 3) == 3
        assert cache.eval_ro("return redis.call('get', KEYS[1])", 1, "k") == b"7"
        with pytest.raises(ServerError, match="Write commands are not allowed from read-only scripts"):
            cache.eval_ro("return redis.call('del', 'k')", 0)
        with pytest.raises(ServerError, match="user_script:1: boom"):
            cache.eval("error('boom')", 0)
        assert cache.script_flush() is None
        with pytest.raises(ServerError, match="NOSCRIPT"):
            cache.evalsha(sha, 0)
        with pytest.raises(ValueError):
            cache.eval("return 1", 2, "only-one")
        with pytest.raises(TypeError):
            cache.eval("return 1", 0, object())


# One process of test_redis_py_lock_gives_mutual_exclusion: ROUNDS times,
# take the lock, check that nobody else holds it (the marker key), and
# increment the counter by a read and a write that only the lock keeps
# whole. It prints how often it found another holder.
LOCKER = textwrap.dedent(
    """
    import os, sys, time
    sys.path.insert(0, {tests!r})
    from test_redis_compat import connect
    r = connect(sys.argv[1], 2)
    overlaps = 0
    for _ in range({rounds}):
        with r.lock("the-lock", timeout=30, blocking_timeout=60, sleep=0.001):
            if not r.set("holder", os.getpid(), nx=True):
                overlaps += 1
            n = int(r.get("counter") or 0)
            time.sleep(0.0005)
            r.set("counter", n + 1)
            if r.get("holder") != str(os.getpid()).encode():
                overlaps += 1
            r.delete("holder")
    print(overlaps)
    """
)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["tcp", "redis"])
def test_redis_py_lock_gives_mutual_exclusion(request, kind):
    server = request.getfixturevalue(f"{kind}_server")
    r = connect(server.addr, 2)
    r.delete("counter", "holder", "the-lock")
    r.script_flush()  # the first EVALSHA finds no script: redis-py loads it and retries
    procs, rounds = 8, 40
    code = LOCKER.format(tests=TESTS, rounds=rounds)
    children = [
        subprocess.Popen([sys.executable, "-c", code, server.addr], stdout=subprocess.PIPE, text=True)
        for _ in range(procs)
    ]
    try:
        outs = [p.communicate(timeout=200)[0] for p in children]
    finally:
        for p in children:
            p.kill()
            p.wait()
    assert [p.returncode for p in children] == [0] * procs
    assert [int(o) for o in outs] == [0] * procs, "two processes held the lock at once"
    assert int(r.get("counter")) == procs * rounds
    r.close()
