"""memoize: cache a function's results on the server, with one computer per key at a time.

The protocol is written once, as a generator (_steps) that yields what it
needs done: a cache call (already made, for TinyCache; an awaitable, for
AsyncTinyCache), a pause, or the computation itself. A sync and an async
driver run it, so a plain function and a coroutine function, over either
client, follow the same steps:

1. GET the result key: a hit is loaded and returned.
2. On a miss, SET lock NX PX lease: the process that gets the lock computes,
   stores the result (SET key value [PX ttl]), and deletes the lock.
3. The others poll the result and the lock together (MGET), with backoff:
   the result appears, and they return it; or the lock is gone (its holder
   failed, or died and its lease expired), and they go back to 2; or they
   have waited `wait` seconds, and they compute the result themselves.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import inspect
import os
import pickle
import time
from collections.abc import Generator
from typing import Any, Callable

_FIRST_PAUSE = 0.005  # seconds between polls of a waiter, doubling up to _MAX_PAUSE
_MAX_PAUSE = 0.1


class _Compute:
    """The step that runs the function."""


class _Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds


COMPUTE = _Compute()


def _steps(cache: Any, key: str, ttl: float | None, lease: float, wait: float, dumps: Callable[[Any], Any], loads: Callable[[Any], Any]) -> Generator[Any, Any, Any]:
    stored = yield cache.get(key)
    if stored is not None:
        return loads(stored)
    lock = key + ":lock"
    token = os.urandom(16).hex()
    lease_ms = max(1, int(lease * 1000))
    deadline = time.monotonic() + wait
    while True:
        if (yield cache.execute_command("SET", lock, token, "NX", "PX", lease_ms)) is not None:
            try:
                result = yield COMPUTE
                yield cache.set(key, _as_bytes(dumps(result)), ttl)
            finally:
                # Release the lock if it is still ours (its lease may have
                # run out meanwhile, and another process hold it now).
                if (yield cache.get(lock)) == token.encode():
                    yield cache.delete(lock)
            return result
        pause = _FIRST_PAUSE
        while True:
            stored, holder = yield cache.mget([key, lock])
            if stored is not None:
                return loads(stored)
            if holder is None:
                break  # the computer failed or died: take over
            if time.monotonic() >= deadline:
                # Waited long enough: compute here, without the lock.
                result = yield COMPUTE
                yield cache.set(key, _as_bytes(dumps(result)), ttl)
                return result
            yield _Sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, _MAX_PAUSE)


def _as_bytes(data: Any) -> Any:
    return data.encode("utf-8") if isinstance(data, str) else data


def _drive(steps: Generator[Any, Any, Any], compute: Callable[[], Any]) -> Any:
    """Run the steps of a TinyCache with a plain function."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.throw(error) if error is not None else steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = error = None
        try:
            if isinstance(step, _Sleep):
                time.sleep(step.seconds)
            elif step is COMPUTE:
                reply = compute()
            else:
                reply = step  # the cache call was made in the step
        except BaseException as e:  # let the steps release the lock, then re-raise
            error = e


async def _drive_async(steps: Generator[Any, Any, Any], compute: Callable[[], Any]) -> Any:
    """Run the steps of either client with a plain or coroutine function."""
    reply: Any = None
    error: BaseException | None = None
    while True:
        try:
            step = steps.throw(error) if error is not None else steps.send(reply)
        except StopIteration as done:
            return done.value
        reply = error = None
        try:
            if isinstance(step, _Sleep):
                await asyncio.sleep(step.seconds)
            elif step is COMPUTE:
                reply = compute()
                if inspect.isawaitable(reply):
                    reply = await reply
            elif inspect.isawaitable(step):
                reply = await step
            else:
                reply = step
        except BaseException as e:
            error = e


def memoize(
    cache: Any,
    ttl: float | None = None,
    key: str | Callable[..., str] | None = None,
    serializer: Any = pickle,
    lease: float = 60.0,
    wait: float | None = None,
    is_async: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The decorator behind TinyCache.memoize and AsyncTinyCache.memoize (see there)."""
    if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or not ttl > 0):
        raise ValueError(f"ttl must be a number of seconds > 0, or None, got {ttl!r}")
    for name, seconds in (("lease", lease), ("wait", lease if wait is None else wait)):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"{name} must be a number of seconds > 0, got {seconds!r}")
    if not (callable(getattr(serializer, "dumps", None)) and callable(getattr(serializer, "loads", None))):
        raise TypeError("serializer must have dumps(obj) -> bytes and loads(bytes) -> obj, as pickle does")
    if key is not None and not isinstance(key, str) and not callable(key):
        raise TypeError(f"key must be a str, a function that returns one, or None, not {type(key).__name__}")
    waited = lease if wait is None else wait

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        name = key if isinstance(key, str) else f"{fn.__module__}.{fn.__qualname__}"

        def key_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
            if callable(key):
                made = key(*args, **kwargs)
                if not isinstance(made, str):
                    raise TypeError(f"the key function must return str, not {type(made).__name__}")
                return made
            digest = hashlib.sha256(_as_bytes(serializer.dumps((args, sorted(kwargs.items()))))).hexdigest()
            return f"memoize:{name}:{digest[:32]}"

        def steps(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Generator[Any, Any, Any]:
            return _steps(cache, key_of(args, kwargs), ttl, lease, waited, serializer.dumps, serializer.loads)

        if is_async or inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def memoized_async(*args: Any, **kwargs: Any) -> Any:
                return await _drive_async(steps(args, kwargs), lambda: fn(*args, **kwargs))

            memoized_async.cache_key = lambda *args, **kwargs: key_of(args, kwargs)  # type: ignore[attr-defined]
            return memoized_async

        @functools.wraps(fn)
        def memoized(*args: Any, **kwargs: Any) -> Any:
            return _drive(steps(args, kwargs), lambda: fn(*args, **kwargs))

        memoized.cache_key = lambda *args, **kwargs: key_of(args, kwargs)  # type: ignore[attr-defined]
        return memoized

    return decorate
