"""What another local user can do to a server and to memoize's values.

The attacker is a real second user: a throwaway system user made for this
module (useradd, removed at the end), who talks to the server with
redis-cli under runuser. Without root these tests skip.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from conftest import need_go, need_tool, short_tmpdir
from tiny_mp_cache import AsyncTinyCache, TinyCache, start_server
from tiny_mp_cache._memoize import SECRET_ENV
from tiny_mp_cache._resp import parse_address


@pytest.fixture(scope="module")
def other_user() -> Iterator[str]:
    """The name of a second local user, created for these tests and removed after them."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to create a second local user")
    for tool in ("useradd", "userdel", "runuser"):
        need_tool(tool)
    need_tool("redis-cli")
    name = f"tmcevil{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
                   check=True, timeout=30, capture_output=True)
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], timeout=30, capture_output=True)


def as_user(user: str, addr: str, *command: str | bytes, stdin: bytes = b"") -> str:
    """Run a redis-cli command as user against addr (last argument from stdin, with -x) and return its output."""
    where = parse_address(addr).sockaddr
    target = ["-s", where] if isinstance(where, str) else ["-h", where[0], "-p", str(where[1])]
    x = ["-x"] if stdin else []
    result = subprocess.run(["runuser", "-u", user, "--", shutil.which("redis-cli"), *target, *x, *command],
                            input=stdin, capture_output=True, timeout=30)
    return (result.stdout + result.stderr).decode("utf-8", "replace").strip()


def evil_pickle(marker: os.PathLike[str]) -> bytes:
    """A protocol-0 pickle that, when loaded, runs a shell command that creates marker."""
    return b"cos\nsystem\n(S'touch %s'\ntR." % os.fsencode(marker)


# --- who can reach a server -------------------------------------------------------------


def test_another_local_user_cannot_use_a_server_start_server_started(other_user):
    need_go()
    with start_server() as srv:  # TCP on loopback: a random password
        assert "NOAUTH" in as_user(other_user, srv.addr, "SET", "k", "theirs")
        assert "NOAUTH" in as_user(other_user, srv.addr, "KEYS", "*")
        with TinyCache(srv.addr) as cache:
            assert cache.keys("*") == []
    place = short_tmpdir()
    os.chmod(place, 0o755)  # a directory anyone may enter: only the socket's own mode guards it
    with start_server(unix=os.path.join(place, "s.sock")) as srv:  # a unix socket: mode 0600, this user only
        assert "Permission denied" in as_user(other_user, srv.addr, "PING")
    with start_server(unix=os.path.join(place, "s.sock"), unix_mode=0o666) as srv:
        assert as_user(other_user, srv.addr, "PING") == "PONG"
    with start_server(password=False) as srv:  # asked for no password: open to every local user
        assert as_user(other_user, srv.addr, "SET", "k", "theirs") == "OK"


# --- memoize trusts nothing the server holds ---------------------------------------------


def test_a_pickle_another_user_stores_under_a_memoize_key_is_never_loaded(tcp_server, other_user, tmp_path):
    marker = tmp_path / "pwned"
    calls = []
    with TinyCache(tcp_server.addr) as cache:

        @cache.memoize(ttl=60)
        def report(day: str) -> dict:
            calls.append(day)
            return {"day": day}

        key = report.cache_key("mon")  # anyone can compute it (or list it: KEYS memoize:*)
        assert as_user(other_user, tcp_server.addr, "SET", key, stdin=evil_pickle(marker)) == "OK"
        assert cache.get(key) == evil_pickle(marker)  # the other user's write is there
        with pytest.warns(RuntimeWarning, match="not signed"):
            assert report("mon") == {"day": "mon"}
        assert not marker.exists()
        assert calls == ["mon"]  # a miss: computed here...
        assert report("mon") == {"day": "mon"} and calls == ["mon"]  # ...and the bad value overwritten
        cache.delete(key)


def test_the_async_memoize_never_loads_another_users_pickle_either(tcp_server, other_user, tmp_path):
    marker = tmp_path / "pwned"
    calls = []

    async def body() -> None:
        async with AsyncTinyCache(tcp_server.addr) as cache:

            @cache.memoize(ttl=60)
            async def report(day: str) -> dict:
                calls.append(day)
                return {"day": day}

            key = report.cache_key("tue")
            assert as_user(other_user, tcp_server.addr, "SET", key, stdin=evil_pickle(marker)) == "OK"
            with pytest.warns(RuntimeWarning, match="not signed"):
                assert await report("tue") == {"day": "tue"}
            assert await report("tue") == {"day": "tue"}
            await cache.delete(key)

    asyncio.run(asyncio.wait_for(body(), 30))
    assert not marker.exists()
    assert calls == ["tue"]


def test_a_waiter_does_not_load_a_bad_value_that_appears_while_it_waits(tcp_server, tmp_path):
    marker = tmp_path / "pwned"
    with TinyCache(tcp_server.addr) as cache:

        @cache.memoize(lease=60, wait=0.5)
        def value() -> str:
            return "computed"

        key = value.cache_key()
        cache.set(key + ":lock", b"someone else", ttl=60)  # a computer seems to be at work...
        cache.set(key, evil_pickle(marker))  # ...and this is what the waiter's poll finds
        with pytest.warns(RuntimeWarning, match="not signed"):
            assert value() == "computed"  # after the wait bound, computed here
        assert not marker.exists()
        cache.delete(key)
        cache.delete(key + ":lock")


def test_a_signed_value_is_bound_to_its_key(fresh):
    calls = []

    @fresh.memoize()
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    assert double(1) == 2
    fresh.set(double.cache_key(2), fresh.get(double.cache_key(1)))  # replayed under another key
    with pytest.warns(RuntimeWarning, match="not signed"):
        assert double(2) == 4
    assert calls == [1, 2]


def test_processes_with_another_secret_do_not_share_results(fresh):
    def memoized(secret: str | None):
        @fresh.memoize(key="shared", secret=secret)
        def f() -> str:
            calls.append(secret)
            return "v"

        return f

    calls: list = []
    assert memoized("one")() == "v"
    assert memoized("one")() == "v"
    assert calls == ["one"]
    with pytest.warns(RuntimeWarning, match="not signed"):
        assert memoized("two")() == "v"
    with pytest.warns(RuntimeWarning, match="not signed"):
        assert memoized(None)() == "v"  # the process's own secret (TINY_MP_CACHE_SECRET)
    assert calls == ["one", "two", None]


def _child_result(addr: str, out: multiprocessing.Queue) -> None:
    cache = TinyCache(addr)

    @cache.memoize(key="inherited")
    def f() -> str:
        return f"computed in {os.getpid()}"

    out.put((os.environ.get(SECRET_ENV), f()))


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_processes_started_from_this_one_share_its_secret_and_results(tcp_server, method):
    need_go()
    with TinyCache(tcp_server.addr) as cache:

        @cache.memoize(key="inherited")
        def f() -> str:
            return f"computed in {os.getpid()}"

        cache.delete(f.cache_key())
        mine = f()
        context = multiprocessing.get_context(method)
        out = context.Queue()
        child = context.Process(target=_child_result, args=(tcp_server.addr, out), daemon=True)
        child.start()
        try:
            secret, theirs = out.get(timeout=60)
        finally:
            child.join(30)
            if child.is_alive():
                child.kill()
                child.join(10)
        assert secret == os.environ[SECRET_ENV] and len(secret) == 64
        assert theirs == mine == f"computed in {os.getpid()}"
        cache.delete(f.cache_key())


def test_unsigned_values_are_for_serializers_that_cannot_run_code(fresh):
    import pickle

    @fresh.memoize(key=lambda user: f"user:{user}", serializer=json, secret=False)
    def profile(user: str) -> dict:
        return {"name": user}

    assert profile("ada") == {"name": "ada"}
    assert fresh.get("user:ada") == b'{"name": "ada"}'  # readable by any program
    with pytest.raises(ValueError, match="secret=False with pickle"):
        fresh.memoize(secret=False)
    with pytest.raises(ValueError, match="secret=False with pickle"):
        fresh.memoize(serializer=pickle, secret=False)
    with pytest.raises(ValueError, match="empty"):
        fresh.memoize(secret="")
    with pytest.raises(TypeError, match="secret must be"):
        fresh.memoize(secret=42)


@pytest.fixture
def fresh(tcp_server) -> Iterator[TinyCache]:
    with TinyCache(tcp_server.addr) as cache:
        cache.flush()
        yield cache
