"""serializer=: TinyCache and AsyncTinyCache turn values into bytes and back, so callers need not.

The serializer applies to values (set, get, pop, mget, mset, push, bpop),
never to keys; on every path: the client itself, a Pipeline, the asyncio
client and the near cache. None, the default, is bytes in and bytes out.
"""

from __future__ import annotations

import asyncio
import json
import pickle
from typing import Any, Callable, Iterator

import pytest
from tiny_mp_cache import AsyncTinyCache, TinyCache

from conftest import need_go, start_unix_server

VALUE = {"name": "ü", "n": [1, 2.5, None, True]}


class Reversed:
    """A serializer of its own: JSON written backwards, so its bytes are none of json's or pickle's."""

    @staticmethod
    def dumps(value: Any) -> bytes:
        return json.dumps(value).encode()[::-1]

    @staticmethod
    def loads(data: bytes) -> Any:
        return json.loads(data[::-1])


SERIALIZERS = {
    "json": ("json", lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False).encode()),
    "pickle": ("pickle", lambda v: pickle.dumps(v, protocol=pickle.HIGHEST_PROTOCOL)),
    "json module": (json, lambda v: json.dumps(v).encode()),  # dumps gives str: sent as UTF-8
    "own object": (Reversed(), Reversed.dumps),
}


@pytest.fixture(params=list(SERIALIZERS))
def serializer(request: pytest.FixtureRequest) -> tuple[Any, Callable[[Any], bytes]]:
    """(what serializer= is given, the bytes it stores for a value)."""
    return SERIALIZERS[request.param]


@pytest.fixture
def raw(server_addr: str) -> Iterator[TinyCache]:
    """A bytes client on an empty server, to see what is stored."""
    with TinyCache(server_addr, _pure=True) as c:
        c.flush()
        yield c


def test_every_value_command_goes_through_the_serializer(serializer: Any, raw: TinyCache, make_cache: Any, server_addr: str) -> None:
    given, stored = serializer
    cache = make_cache(server_addr, serializer=given)
    assert cache.set("k", VALUE) is None
    assert raw.get("k") == stored(VALUE)  # the key is as given; the value is the serializer's bytes
    assert cache.get("k") == VALUE
    assert cache["k"] == VALUE
    assert cache.get("missing") is None
    cache.set("t", [1], ttl=100)
    assert cache.get("t") == [1] and 0 < cache.ttl("t") <= 100
    cache.mset({"a": 1, "b": "two"})
    assert raw.mget(["a", "b"]) == [stored(1), stored("two")]
    assert cache.mget(["a", "missing", "b"]) == [1, None, "two"]
    assert cache.mget([]) == []
    assert cache.pop("a") == 1 and cache.pop("a") is None
    assert cache.push("q", {"job": 1}, [2]) == 2
    assert cache.bpop("q", 1) == ("q", {"job": 1})
    assert cache.bpop(["empty", "q"], 1) == ("q", [2])
    assert cache.bpop("q", 0.01) is None
    cache["d"] = {"x": 1}
    assert raw.get("d") == stored({"x": 1})
    assert sorted(cache.keys("*")) == ["b", "d", "k", "t"]  # keys are never serialized


def test_a_pipeline_uses_its_clients_serializer(serializer: Any, raw: TinyCache, make_cache: Any, server_addr: str) -> None:
    given, stored = serializer
    cache = make_cache(server_addr, serializer=given)
    results = cache.pipeline().set("a", [1]).mset({"b": 2}).push("q", 3).get("a").mget(["a", "b"]).pop("b").incr("n").execute()
    assert results == [None, None, 1, [1], [[1], 2], 2, 1]
    assert raw.get("a") == stored([1])
    assert raw.execute_command("LPOP", "q") == stored(3)


def test_without_a_serializer_values_are_bytes_in_and_out(raw: TinyCache, make_cache: Any, server_addr: str) -> None:
    cache = make_cache(server_addr)
    cache.set("k", bytearray(b"v"))
    assert cache.get("k") == b"v" and cache.mget(["k"]) == [b"v"]
    with pytest.raises(TypeError, match="value must be bytes"):
        cache.set("k", "text")
    with pytest.raises(TypeError, match="value must be bytes"):
        cache.pipeline().set("k", 1)


def test_a_value_the_serializer_refuses_is_not_sent(raw: TinyCache, server_addr: str) -> None:
    with TinyCache(server_addr, serializer="json") as cache:
        with pytest.raises(TypeError, match="not JSON serializable"):
            cache.set("k", object())
        with pytest.raises(TypeError, match="not JSON serializable"):
            cache.mset({"a": 1, "b": object()})
    assert raw.len() == 0


def test_what_the_serializer_cannot_load_raises_its_error(raw: TinyCache, server_addr: str) -> None:
    raw.set("k", b"not json")
    with TinyCache(server_addr, serializer="json") as cache:
        with pytest.raises(json.JSONDecodeError):
            cache.get("k")
        assert cache.set("k", 1) is None and cache.get("k") == 1  # the connection is fine


def test_a_bad_serializer_is_refused_before_connecting() -> None:
    # Nothing listens on port 1: reaching the connection would raise ConnectionError instead.
    with pytest.raises(ValueError, match="serializer must be None, \"json\", \"pickle\""):
        TinyCache("127.0.0.1:1", serializer="yaml")
    with pytest.raises(TypeError, match="an object with dumps and loads, not int"):
        TinyCache("127.0.0.1:1", serializer=3)
    with pytest.raises(ValueError, match="serializer must be"):
        AsyncTinyCache("127.0.0.1:1", serializer="msgpack")

    class OnlyDumps:
        dumps = staticmethod(json.dumps)

    with pytest.raises(TypeError, match="dumps and loads"):
        AsyncTinyCache("127.0.0.1:1", serializer=OnlyDumps())


def test_dumps_must_give_bytes_or_str(raw: TinyCache, server_addr: str) -> None:
    class Numbers:
        dumps = staticmethod(len)
        loads = staticmethod(len)

    with TinyCache(server_addr, serializer=Numbers()) as cache:
        with pytest.raises(TypeError, match=r"dumps\(\) must return bytes or str, not int"):
            cache.set("k", "abc")


def test_a_pickled_cache_keeps_its_serializer(raw: TinyCache, server_addr: str) -> None:
    with TinyCache(server_addr, serializer="json") as cache:
        cache.set("k", [1])
        with pickle.loads(pickle.dumps(cache)) as copy:
            assert copy.get("k") == [1]
    copy = pickle.loads(pickle.dumps(AsyncTinyCache(server_addr, serializer="json")))
    assert asyncio.run(asyncio.wait_for(copy.get("k"), 30)) == [1]


def test_memoize_works_on_a_cache_with_a_serializer(raw: TinyCache, server_addr: str) -> None:
    calls = []
    with TinyCache(server_addr, serializer="json") as cache:

        @cache.memoize()
        def square(n: int) -> int:
            calls.append(n)
            return n * n

        assert square(3) == 9 and square(3) == 9
        assert calls == [3]  # the second call was memoize's hit, signed bytes the serializer never saw


def test_the_pickle_warning_is_in_the_docstrings() -> None:
    assert "unpickling runs code" in TinyCache.__doc__  # type: ignore[operator]
    assert "pickle runs the code" in AsyncTinyCache.__doc__  # type: ignore[operator]


# --- the asyncio client ----------------------------------------------------------------


def test_the_async_client_and_its_pipeline_use_the_serializer(serializer: Any, raw: TinyCache, server_addr: str) -> None:
    given, stored = serializer

    async def body() -> None:
        async with AsyncTinyCache(server_addr, serializer=given) as cache:
            await cache.set("k", VALUE)
            assert raw.get("k") == stored(VALUE)
            assert await cache.get("k") == VALUE
            await cache.mset({"a": 1})
            assert await cache.mget(["k", "a", "missing"]) == [VALUE, 1, None]
            assert await cache.pop("a") == 1
            await cache.push("q", [1])
            assert await cache.bpop("q", 1) == ("q", [1])
            p = cache.pipeline()
            p.set("b", {"x": 2}).get("b").mget(["b", "k"]).pop("b")
            assert await p.execute() == [None, {"x": 2}, [{"x": 2}, VALUE], {"x": 2}]

    asyncio.run(asyncio.wait_for(body(), 30))


# --- the near cache: it holds bytes, and the values are loaded from them ------------------------


@pytest.fixture(scope="module")
def unix_addr() -> Iterator[str]:
    need_go()
    server = start_unix_server()
    yield server.addr
    server.stop()


@pytest.mark.parametrize("pure", [False, True], ids=["go", "pure"])
def test_the_near_cache_serves_loaded_values_and_sees_its_own_pop(unix_addr: str, pure: bool) -> None:
    with TinyCache(unix_addr, _pure=True) as writer, TinyCache(unix_addr, near_cache=10, serializer="json", _pure=pure) as cache:
        writer.flush()
        if cache.near_cache_stats()["mode"] != "shared-memory":
            pytest.skip(cache.near_cache_stats()["reason"])
        cache.set("k", {"a": 1})
        assert cache.get("k") == {"a": 1}
        hits = cache.near_cache_stats()["hits"]
        assert cache.get("k") == {"a": 1} and cache.mget(["k", "missing"]) == [{"a": 1}, None]
        assert cache.near_cache_stats()["hits"] == hits + 2  # a hit, and one in the mget
        got = cache.get("k")
        got["a"] = 2  # each read loads a value of its own: changing one changes no other
        assert cache.get("k") == {"a": 1}
        entries = cache.near_cache_stats()["entries"]  # "k" and "missing"
        assert cache.pop("k") == {"a": 1}
        assert cache.near_cache_stats()["entries"] == entries - 1  # a write of this client's own: its entry goes at once
        assert cache.get("k") is None
        writer.set("k", b"[3]")
        assert cache.get("k") == [3]


def test_the_async_near_cache_serves_loaded_values(unix_addr: str) -> None:
    async def body() -> None:
        async with AsyncTinyCache(unix_addr, near_cache=10, serializer="pickle") as cache:
            if cache.near_cache_stats()["mode"] != "shared-memory":
                pytest.skip(cache.near_cache_stats()["reason"])
            await cache.flush()
            await cache.set("k", ("a", 1))
            assert await cache.get("k") == ("a", 1)
            assert await cache.get("k") == ("a", 1)
            assert await cache.mget(["k"]) == [("a", 1)]
            assert cache.near_cache_stats()["hits"] == 2
            assert await cache.pop("k") == ("a", 1)
            assert await cache.get("k") is None

    asyncio.run(asyncio.wait_for(body(), 30))
