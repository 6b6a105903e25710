"""memoize: cache a function's results on the server, with one computer per key at a time.

The protocol is written once, as a generator (_steps) that yields what it
needs done: a cache call (already made, for TinyCache; an awaitable, for
AsyncTinyCache), a pause, or the computation itself. A sync and an async
driver run it, so a plain function and a coroutine function, over either
client, follow the same steps:

1. GET the result key: a hit is loaded and returned.
2. On a miss, SET lock NX PX lease: the process that gets the lock computes,
   stores the result (SET key value [PX ttl]), and deletes the lock if it
   still holds its token, in one step (_release).
3. The others poll the result and the lock together (MGET), with backoff:
   the result appears, and they return it; or the lock is gone (its holder
   failed, or died and its lease expired), and they go back to 2; or they
   have waited `wait` seconds, and they compute the result themselves.

What the server holds is not trusted: anyone who can reach it can write
under a memoize key (the key is made of the function's name and its
arguments), and unpickling their bytes would run their code. So a value is
stored as HMAC-SHA256(secret, key, payload) + payload, and a value whose tag
does not match is never given to loads(): it is a miss, computed again and
overwritten, with a warning. The secret is secret= or TINY_MP_CACHE_SECRET;
when that is unset, importing this module sets it to a random one, so that
the processes this one starts (fork, spawn, forkserver, Pool workers,
subprocesses) inherit it and share results, and no one else has it.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import inspect
import os
import pickle
import secrets
import time
import warnings
from collections.abc import Generator
from typing import Any, Callable

from ._commands import BytesView

_FIRST_PAUSE = 0.005  # seconds between polls of a waiter, doubling up to _MAX_PAUSE
_MAX_PAUSE = 0.1

SECRET_ENV = "TINY_MP_CACHE_SECRET"
_TAG = 32  # bytes of HMAC-SHA256 in front of a signed value


def process_secret() -> str:
    """TINY_MP_CACHE_SECRET, set to a new random secret when it is unset or empty.

    It is in os.environ, so every process started from here inherits it;
    /proc/PID/environ is readable by the process's own user (and root) only.
    """
    secret = os.environ.get(SECRET_ENV)
    if not secret:
        secret = os.environ[SECRET_ENV] = secrets.token_hex(32)
    return secret


# At import, not at the first memoize(): a parent that imports tiny_mp_cache
# and starts workers that decorate their own functions gives them one secret.
process_secret()


class _Bad:
    """What unpack returns for a stored value that failed its check."""


BAD = _Bad()


def signed_codec(
    dumps: Callable[[Any], Any], loads: Callable[[Any], Any], secret: bytes | None
) -> tuple[Callable[[str, Any], bytes], Callable[[str, bytes], Any]]:
    """(pack(key, obj) -> bytes, unpack(key, stored) -> obj or BAD): the serializer, with each value signed under secret.

    The tag covers the key, so a value copied from another key fails too.
    With secret None the values are stored as dumps makes them, unchecked.
    """
    if secret is None:
        return (lambda key, obj: _as_bytes(dumps(obj))), (lambda key, stored: loads(stored))

    def tag(key: str, payload: bytes) -> bytes:
        name = key.encode("utf-8")
        mac = hmac.new(secret, len(name).to_bytes(8, "big") + name, hashlib.sha256)
        mac.update(payload)
        return mac.digest()

    def pack(key: str, obj: Any) -> bytes:
        payload = _as_bytes(dumps(obj))
        return tag(key, payload) + payload

    def unpack(key: str, stored: bytes) -> Any:
        payload = stored[_TAG:]
        if len(stored) >= _TAG and hmac.compare_digest(stored[:_TAG], tag(key, payload)):
            return loads(payload)
        warnings.warn(
            f"memoize: the value stored under {key!r} is not signed with this process's secret "
            f"(written by someone else, or by a process with another {SECRET_ENV}); "
            "it was not loaded, and is computed again",
            RuntimeWarning,
            stacklevel=2,
        )
        return BAD

    return pack, unpack


class _Compute:
    """The step that runs the function."""


class _Sleep:
    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds


COMPUTE = _Compute()


def _steps(
    cache: Any,
    key: str,
    ttl: float | None,
    lease: float,
    wait: float,
    pack: Callable[[str, Any], bytes],
    unpack: Callable[[str, bytes], Any],
) -> Generator[Any, Any, Any]:
    client, cache = cache, bytes_view(cache)
    stored = yield cache.get(key)
    if stored is not None:
        value = unpack(key, stored)
        if value is not BAD:
            return value
    lock = key + ":lock"
    token = os.urandom(16).hex()
    lease_ms = max(1, int(lease * 1000))
    deadline = time.monotonic() + wait
    while True:
        if (yield cache.execute_command("SET", lock, token, "NX", "PX", lease_ms)) is not None:
            try:
                result = yield COMPUTE
                yield cache.set(key, pack(key, result), ttl)
            finally:
                yield from _release(client, lock, token.encode())
            return result
        pause = _FIRST_PAUSE
        while True:
            stored, holder = yield cache.mget([key, lock])
            if stored is not None:
                value = unpack(key, stored)
                if value is not BAD:
                    return value
            if holder is None:
                break  # the computer failed or died: take over
            if time.monotonic() >= deadline:
                # Waited long enough: compute here, without the lock.
                result = yield COMPUTE
                yield cache.set(key, pack(key, result), ttl)
                return result
            yield _Sleep(min(pause, max(0.0, deadline - time.monotonic())))
            pause = min(pause * 2, _MAX_PAUSE)


def bytes_view(cache: Any) -> Any:
    """cache, or a view of it whose values are bytes when it has a serializer: memoize signs and serializes its own."""
    return cache if cache._values.load is None else BytesView(cache)


def _release(cache: Any, lock: str, token: bytes) -> Generator[Any, Any, None]:
    """Delete lock if it still holds token, in one step: its lease may have run out, and another process hold it now.

    WATCH lock, read it, and only if it is ours delete it in MULTI/EXEC:
    EXEC deletes nothing if anyone wrote lock after the WATCH (Redis and
    this server both). WATCH belongs to a connection, so this runs on one
    of its own: a TinyCache's is shared by threads, an AsyncTinyCache takes
    one from its pool per call. Every command is sent as it is (RAW), so
    none is resent on a new connection, which would have no WATCH.
    """
    own = type(cache)(cache.addr, cache.timeout)
    try:
        yield own.execute_command("WATCH", lock)
        if (yield own.execute_command("GET", lock)) == token:
            yield own.pipeline().execute_command("MULTI").execute_command("DEL", lock).execute_command("EXEC").execute()
    finally:
        yield own.close()


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


def secret_key(secret: str | bytes | bool | None, serializer: Any) -> bytes | None:
    """The HMAC key of memoize's secret= (None: the process's secret; False: no signing, refused for pickle)."""
    if secret is None:
        return process_secret().encode("utf-8")
    if secret is False:
        if serializer is pickle:
            raise ValueError("secret=False with pickle would unpickle whatever the server holds, and so run "
                             "code anyone who reaches the server wrote: keep the secret, or use a serializer such as json")
        return None
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes):
        raise TypeError(f"secret must be str, bytes, None (the process's secret) or False (no signing), not {type(secret).__name__}")
    if not secret:
        raise ValueError("secret must not be empty")
    return secret


def memoize(
    cache: Any,
    ttl: float | None = None,
    key: str | Callable[..., str] | None = None,
    serializer: Any = pickle,
    lease: float = 60.0,
    wait: float | None = None,
    is_async: bool = False,
    secret: str | bytes | bool | None = None,
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
    pack, unpack = signed_codec(serializer.dumps, serializer.loads, secret_key(secret, serializer))

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
            return _steps(cache, key_of(args, kwargs), ttl, lease, waited, pack, unpack)

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
