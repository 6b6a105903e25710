"""TinyCache: the public client. Checks arguments, then calls the Go or the pure-Python client."""

from __future__ import annotations

import math
import os
import threading
import weakref
from types import TracebackType
from typing import Any, Protocol, Union

from ._resp import PureClient

BytesLike = Union[bytes, bytearray, memoryview]


class _Backend(Protocol):
    """What TinyCache calls: _bindings.GoClient or _resp.PureClient."""

    pid: int  # the process that opened it; no other process may use it

    def set(self, key: bytes, value: memoryview) -> None: ...
    def get(self, key: bytes) -> bytes | None: ...
    def pop(self, key: bytes) -> bytes | None: ...
    def delete(self, key: bytes) -> int: ...
    def keys(self, pattern: bytes) -> list[bytes]: ...
    def len(self) -> int: ...
    def close(self) -> None: ...


_caches: weakref.WeakSet[TinyCache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A child never uses its parent's connection or Go handle: forget them
    # (without closing the Go handle: the child must not call into Go) and
    # replace the locks, which another thread may have held at fork time.
    for cache in list(_caches):
        cache._lock = threading.Lock()
        cache._backend = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _use_pure() -> bool:
    return os.environ.get("TINY_MP_CACHE_PURE", "") not in ("", "0")


class TinyCache:
    """A client of a tiny-mp-cache server (or of any Redis server).

    addr is "HOST:PORT", "unix:///path.sock" or "redis://HOST:PORT/0".
    timeout (seconds) bounds connecting and every call. Keys are str,
    values are bytes-like. One TinyCache may be shared by threads. After
    fork() the child's first call opens a connection of its own.

    The client is the Go library, or a pure-Python RESP2 client in a
    process that inherited the Go library through fork() (or when
    TINY_MP_CACHE_PURE=1 is set).
    """

    def __init__(self, addr: str, timeout: float = 5.0, *, _pure: bool | None = None):
        if not isinstance(addr, str):
            raise TypeError(f"addr must be str, not {type(addr).__name__}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
        self._addr = addr
        self._timeout = float(timeout)
        self._pure = _use_pure() if _pure is None else bool(_pure)
        self._lock = threading.Lock()  # guards _backend while it is opened
        self._backend: _Backend | None = None
        self._closed = False
        _caches.add(self)
        self._client()  # connect now, so a bad address or a dead server fails here

    @property
    def addr(self) -> str:
        """The address this cache connects to."""
        return self._addr

    @property
    def timeout(self) -> float:
        """Seconds that bound connecting and every call."""
        return self._timeout

    def set(self, key: str, value: BytesLike) -> None:
        """Store value under key."""
        k = _key(key)
        v = _value(value)
        self._client().set(k, v)

    def get(self, key: str) -> bytes | None:
        """Return the value stored under key, or None when there is none."""
        k = _key(key)
        return self._client().get(k)

    def pop(self, key: str) -> bytes | None:
        """Atomically take the value under key and delete the key (GETDEL).

        When several processes pop the same key, exactly one gets the value.
        """
        k = _key(key)
        return self._client().pop(k)

    def delete(self, key: str) -> int:
        """Delete key: 1 if it existed, 0 if not."""
        k = _key(key)
        return self._client().delete(k)

    def keys(self, pattern: str) -> list[str]:
        """Return the keys matching a Redis glob pattern ("job:*", "?", "[a-c]")."""
        p = _key(pattern, "pattern")
        return [k.decode("utf-8", "surrogateescape") for k in self._client().keys(p)]

    def len(self) -> int:
        """Return the number of keys on the server."""
        return self._client().len()

    def close(self) -> None:
        """Close the connection. Further calls raise ValueError. Idempotent."""
        with self._lock:
            self._closed = True
            backend, self._backend = self._backend, None
        if backend is not None and backend.pid == os.getpid():
            backend.close()

    def __enter__(self) -> TinyCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        backend = self._backend
        if self._closed:
            state = "closed"
        elif backend is None or backend.pid != os.getpid():
            state = "not connected"
        else:
            state = "pure" if isinstance(backend, PureClient) else "go"
        return f"<TinyCache {self._addr!r} {state}>"

    def _client(self) -> _Backend:
        backend = self._backend
        if backend is not None and backend.pid == os.getpid():
            return backend
        with self._lock:
            if self._closed:
                raise ValueError("operation on a closed TinyCache")
            backend = self._backend
            if backend is None or backend.pid != os.getpid():
                self._backend = backend = self._open()
            return backend

    def _open(self) -> _Backend:
        if not self._pure:
            from . import _bindings

            lib = _bindings.library()
            if lib is not None:
                return _bindings.GoClient(lib, self._addr, self._timeout)
        return PureClient(self._addr, self._timeout)


def _key(key: Any, what: str = "key") -> bytes:
    if not isinstance(key, str):
        raise TypeError(f"{what} must be str, not {type(key).__name__}")
    # surrogateescape round-trips the non-UTF-8 keys that keys() may return.
    return key.encode("utf-8", "surrogateescape")


def _value(value: Any) -> memoryview:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"value must be bytes, bytearray or memoryview, not {type(value).__name__}")
    view = memoryview(value)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view
