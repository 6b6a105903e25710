"""TinyCache, the public client, and its Pipeline.

Arguments are checked, and commands built, in _commands; then the Go or the
pure-Python client sends them.
"""

from __future__ import annotations

import builtins
import math
import os
import threading
import time
import weakref
from collections.abc import Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, Protocol, TypeVar

from . import _commands as commands
from ._commands import BytesLike, InfoValue, Op
from ._errors import ConnectionError, ProtocolError, ServerError
from ._platform import at_fork, require_unix_sockets
from ._resp import DEFAULT_MAX_REPLY, Arg, PureClient, Reply, parse_address


T = TypeVar("T")

_WAIT_STEP = 0.05  # seconds between connection attempts of TinyCache(..., wait=...)


class _Backend(Protocol):
    """What TinyCache calls: _bindings.GoClient or _resp.PureClient.

    command, command_wait and pipeline return error replies as ServerError
    values rather than raising them.
    """

    pid: int  # the process that opened it; no other process may use it

    def set(self, key: bytes, value: memoryview) -> None: ...
    def get(self, key: bytes) -> bytes | None: ...
    def pop(self, key: bytes) -> bytes | None: ...
    def delete(self, key: bytes) -> int: ...
    def keys(self, pattern: bytes) -> list[bytes]: ...
    def len(self) -> int: ...
    def mget(self, keys: list[bytes]) -> list[bytes | None]: ...
    def command(self, args: list[Arg]) -> Reply: ...
    def command_wait(self, args: list[Arg], wait: float | None) -> Reply: ...
    def pipeline(self, commands: list[list[Arg]]) -> list[Reply]: ...
    def close(self) -> None: ...


_caches: weakref.WeakSet[TinyCache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A child never uses its parent's connection or Go handle: forget them
    # (without closing the Go handle: the child must not call into Go) and
    # replace the locks, which another thread may have held at fork time.
    for cache in list(_caches):
        cache._lock = threading.Lock()
        cache._backend = None
        cache._waiter = None


at_fork(after_in_child=_after_fork_in_child)


def _use_pure() -> bool:
    return os.environ.get("TINY_MP_CACHE_PURE", "") not in ("", "0")


class TinyCache:
    """A client of a tiny-mp-cache server, or of any Redis server.

    addr is "HOST:PORT", "unix:///path.sock" or "redis://[:password@]HOST:PORT/0";
    the same TinyCache works against a real Redis server, so code can move
    to one when it outgrows a machine. timeout (seconds) bounds connecting
    and every call as a whole, however the server trickles its reply
    (bpop() may wait longer, see there). max_reply_size (bytes, default
    512 MiB) bounds what one call may read: a server that declares or
    sends a bigger reply gets ProtocolError, before memory is set aside
    for it. The constructor connects; with wait (seconds) it retries for
    that long while the server is not up yet (ConnectionError), for a
    server just started in another process. Keys are str,
    values are bytes-like and come back as bytes. One TinyCache may be
    shared by threads; its calls are serialised. After fork() the child's
    first call opens a connection of its own. Pickling (as multiprocessing's
    spawn and forkserver do) gives a TinyCache with the same address and
    timeout that connects on its own when unpickled.

    Arguments are checked before anything is sent: a wrong type raises
    TypeError, a wrong value ValueError. An error reply from the server
    raises ServerError; a lost connection ConnectionError; a call that
    takes too long TimeoutError; a malformed, oversized or too deeply
    nested reply ProtocolError. After any of these but ServerError the
    connection is dropped, and the next call opens a fresh one. Ctrl-C
    interrupts a waiting call with KeyboardInterrupt.
    A "unix://" address raises OSError (EAFNOSUPPORT) where unix sockets
    are unsupported (Windows).

    The client is the Go library, or a pure-Python RESP2 client in a
    process that inherited the Go library through fork() (or when
    TINY_MP_CACHE_PURE=1 is set).
    """

    def __init__(
        self,
        addr: str,
        timeout: float = 5.0,
        *,
        wait: float = 0,
        max_reply_size: int = DEFAULT_MAX_REPLY,
        _pure: bool | None = None,
    ):
        if not isinstance(addr, str):
            raise TypeError(f"addr must be str, not {type(addr).__name__}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, not {type(timeout).__name__}")
        if not (timeout > 0 and math.isfinite(timeout)):
            raise ValueError(f"timeout must be a finite number of seconds > 0, got {timeout!r}")
        if isinstance(max_reply_size, bool) or not isinstance(max_reply_size, int):
            raise TypeError(f"max_reply_size must be an int (bytes), not {type(max_reply_size).__name__}")
        if not 0 < max_reply_size < 1 << 63:
            raise ValueError(f"max_reply_size must be a number of bytes > 0, got {max_reply_size!r}")
        if isinstance(wait, bool) or not isinstance(wait, (int, float)):
            raise TypeError(f"wait must be a number of seconds, not {type(wait).__name__}")
        if not (wait >= 0 and math.isfinite(wait)):
            raise ValueError(f"wait must be a finite number of seconds >= 0, got {wait!r}")
        if addr.startswith("unix://"):
            parse_address(addr)  # a malformed address is a ValueError everywhere
            require_unix_sockets()
        self._addr = addr
        self._timeout = float(timeout)
        self._max_reply_size = max_reply_size
        self._pure = _use_pure() if _pure is None else bool(_pure)
        self._lock = threading.Lock()  # guards _backend while it is opened
        self._backend: _Backend | None = None
        self._waiter: PureClient | None = None  # bpop's own connection, opened on first use
        self._closed = False
        _caches.add(self)
        # Connect now, so that a bad address or a dead server fails here;
        # with wait, keep trying while the server is not up yet.
        deadline = time.monotonic() + wait
        while True:
            try:
                self._client()
                return
            except ConnectionError:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                time.sleep(min(_WAIT_STEP, left))

    @property
    def addr(self) -> str:
        """The address this cache connects to."""
        return self._addr

    @property
    def timeout(self) -> float:
        """Seconds that bound connecting and every call."""
        return self._timeout

    # --- strings and keys ---

    def set(self, key: str, value: BytesLike, ttl: float | None = None) -> None:
        """Store value under key, replacing any value and TTL it had.

        With ttl (seconds, > 0, a float is fine) the key expires after that
        long (SET key value PX ms, rounded up to whole milliseconds); an
        expired key is never returned. Without it the key never expires.
        """
        if ttl is not None:
            self._run(commands.set_value(key, value, ttl))
            return
        k = commands.key_arg(key)
        v = commands.value_arg(value)
        self._client().set(k, v)

    def get(self, key: str) -> bytes | None:
        """Return the value stored under key, or None when there is none."""
        k = commands.key_arg(key)
        return self._client().get(k)

    def pop(self, key: str) -> bytes | None:
        """Atomically take the value under key and delete the key (GETDEL).

        When several processes pop the same key, exactly one gets the value.
        """
        k = commands.key_arg(key)
        return self._client().pop(k)

    def delete(self, key: str) -> int:
        """Delete key: 1 if it existed, 0 if not."""
        k = commands.key_arg(key)
        return self._client().delete(k)

    def keys(self, pattern: str) -> list[str]:
        """Return the keys matching a Redis glob pattern ("job:*", "?", "[a-c]")."""
        p = commands.key_arg(pattern, "pattern")
        return [k.decode("utf-8", "surrogateescape") for k in self._client().keys(p)]

    def len(self) -> int:
        """Return the number of keys on the server (DBSIZE)."""
        return self._client().len()

    def mget(self, keys: Iterable[str]) -> list[bytes | None]:
        """Return the values of keys, in order: None where a key is missing (or holds a list). One round trip."""
        ks = commands.keys_arg(keys)
        if not ks:
            return []  # MGET needs at least one key
        return self._client().mget(ks)

    def mset(self, mapping: Mapping[str, BytesLike]) -> None:
        """Store every key and value of mapping at once (MSET). The keys lose any TTL they had."""
        self._run(commands.mset(mapping))

    def incr(self, key: str, amount: int = 1) -> int:
        """Add amount to the integer stored under key (0 when absent) and return the result (INCRBY).

        A value that is not a decimal 64-bit integer raises ServerError.
        """
        return self._run(commands.incr(key, amount))

    def decr(self, key: str, amount: int = 1) -> int:
        """Subtract amount from the integer stored under key (0 when absent) and return the result (DECRBY)."""
        return self._run(commands.decr(key, amount))

    def exists(self, *keys: str) -> int:
        """Return how many of keys exist; a key named twice counts twice, as in Redis."""
        return self._run(commands.exists(keys))

    def type(self, key: str) -> str:
        """Return the type of the value under key: "string", "list", or "none" when there is none."""
        return self._run(commands.key_type(key))

    def flush(self) -> None:
        """Delete every key of the database (FLUSHDB)."""
        self._run(commands.flush())

    def scan_iter(self, match: str = "*", count: int = 100) -> Iterator[str]:
        """Iterate over the keys matching a glob pattern with SCAN, count keys per round trip (a hint).

        Unlike keys(), this never builds the whole list on the server. As in
        Redis, a key present for the whole iteration is returned at least
        once; keys added or removed meanwhile may or may not be, and a key
        may come more than once.
        """
        pattern = commands.key_arg(match, "match")
        n = commands.int64_arg(count, "count")
        if count < 1:
            raise ValueError(f"count must be >= 1, got {count}")
        return self._scan(pattern, n)

    def _scan(self, pattern: bytes, count: bytes) -> Iterator[str]:
        cursor = b"0"
        while True:
            cursor, keys = self._run(commands.scan(cursor, pattern, count))
            yield from keys
            if cursor == b"0":
                return

    # --- expiry ---

    def expire(self, key: str, ttl: float) -> bool:
        """Make key expire ttl seconds from now (> 0, float allowed). False when there is no such key."""
        return self._run(commands.expire(key, ttl))

    def ttl(self, key: str) -> float:
        """Return the seconds key has left to live, to the millisecond.

        As in Redis, -1.0 means the key exists but never expires, and -2.0
        that there is no such key.
        """
        return self._run(commands.ttl(key))

    def persist(self, key: str) -> bool:
        """Remove key's TTL, so it never expires. False when the key is missing or had no TTL."""
        return self._run(commands.persist(key))

    # --- lists: a queue that does not poll ---

    def push(self, key: str, *values: BytesLike, left: bool = False) -> int:
        """Append values to the list under key, creating it, and return the list's new length (RPUSH).

        left=True prepends them instead (LPUSH), each in turn, so the last
        one ends up first. Together with bpop(), which takes from the left,
        push() makes a FIFO queue.
        """
        return self._run(commands.push(key, values, left))

    def llen(self, key: str) -> int:
        """Return the length of the list under key (0 when there is none)."""
        return self._run(commands.llen(key))

    def bpop(self, keys: str | Iterable[str], timeout: float) -> tuple[str, bytes] | None:
        """Take the first value of the first non-empty list among keys, waiting for one if needed (BLPOP).

        Returns (key, value), or None when timeout seconds pass first;
        timeout=0 waits forever. A blocked bpop wakes as soon as a value is
        pushed, and each value goes to exactly one waiter, the one that has
        waited longest. The wait is not cut short by this TinyCache's own
        timeout. It happens on a connection of its own, so other threads'
        calls on this TinyCache go on meanwhile; bpops on one TinyCache wait
        one after another.
        """
        op, wait = commands.bpop(keys, timeout)
        return commands.finish(op, self._blocking_client().command_wait(op.args, wait))

    # --- the server ---

    def info(self, section: str | None = None) -> dict[str, InfoValue]:
        """Return the server's INFO (or one section of it, such as "memory") as a dict.

        Integer values are int, decimals float, the rest str (including
        versions such as redis_version).
        """
        return self._run(commands.info(section))

    def stats(self) -> dict[str, int]:
        """Return the server's counters, from INFO, under names that work with Redis too.

        keys (in this database), used_memory and max_memory (bytes; 0 = no
        bound), hits and misses (of reads), evictions, expirations,
        connected_clients and commands_processed.
        """
        return self._run(commands.stats(self._db()))

    def execute_command(self, *args: str | BytesLike | int | float) -> Any:
        """Send any command and return its reply: str for a status, bytes, int, None or a list.

        Arguments are str (sent as UTF-8), bytes-like, int or float. An
        error reply raises ServerError. The call is bounded by the timeout;
        commands that switch the connection's protocol (HELLO 3) or mode
        (SUBSCRIBE) break the connection for later calls.
        """
        return self._run(commands.raw(args))

    def pipeline(self) -> Pipeline:
        """Return a Pipeline: calls queued on it are sent in one round trip by its execute()."""
        return Pipeline(self)

    # --- life cycle ---

    def close(self) -> None:
        """Close the connection. Further calls raise ValueError. Idempotent."""
        with self._lock:
            self._closed = True
            backend, self._backend = self._backend, None
            waiter, self._waiter = self._waiter, None
        for client in (backend, waiter):
            if client is not None and client.pid == os.getpid():
                client.close()

    def __enter__(self) -> TinyCache:
        return self

    def __exit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        # The connection and locks stay behind; the copy opens its own.
        return (_unpickle, (self._addr, self._timeout, self._pure, self._max_reply_size))

    def __repr__(self) -> str:
        backend = self._backend
        if self._closed:
            state = "closed"
        elif backend is None or backend.pid != os.getpid():
            state = "not connected"
        else:
            state = "pure" if isinstance(backend, PureClient) else "go"
        return f"<TinyCache {self._addr!r} {state}>"

    def _run(self, op: Op[T]) -> T:
        if not op.args:
            return op.convert(None)
        return commands.finish(op, self._client().command(op.args))

    def _run_all(self, ops: list[Op[Any]]) -> list[Any]:
        """Send ops in one round trip; see Pipeline.execute."""
        sent = [op.args for op in ops if op.args]
        replies = iter(self._client().pipeline(sent) if sent else [])
        results: list[Any] = []
        first_error: Exception | None = None
        for op in ops:
            try:
                results.append(commands.finish(op, next(replies)) if op.args else op.convert(None))
            except (ServerError, ProtocolError) as e:
                results.append(e)
                first_error = first_error or e
        if first_error is not None:
            raise first_error
        return results

    def _db(self) -> int:
        return parse_address(self._addr).db

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

    def _blocking_client(self) -> PureClient:
        """The connection bpop waits on: always the pure-Python client.

        Through the Go client, a wait keeps the calling thread in one long
        system call, and the Go runtime then spends several thread switches
        on every value that wakes it; a Python socket just sleeps in the
        kernel. In the benchmark's list queue that is 8,000 against 13,000
        jobs/s with 8 workers.
        """
        self._client()  # the same checks: closed, and reopened after fork
        waiter = self._waiter
        if waiter is not None and waiter.pid == os.getpid():
            return waiter
        with self._lock:
            if self._waiter is None or self._waiter.pid != os.getpid():
                self._waiter = PureClient(self._addr, self._timeout, self._max_reply_size)
            return self._waiter

    def _open(self) -> _Backend:
        if not self._pure:
            from . import _bindings

            lib = _bindings.library()
            if lib is not None:
                return _bindings.GoClient(lib, self._addr, self._timeout, self._max_reply_size)
        return PureClient(self._addr, self._timeout, self._max_reply_size)


def _unpickle(addr: str, timeout: float, pure: bool, max_reply_size: int = DEFAULT_MAX_REPLY) -> TinyCache:
    return TinyCache(addr, timeout, max_reply_size=max_reply_size, _pure=pure)


class Pipeline:
    """A batch of TinyCache calls sent in one write, with their replies read together.

        with cache.pipeline() as p:          # executes on leaving the block
            p.set("a", b"1").incr("n").get("a")

        results = cache.pipeline().set("a", b"1").get("a").execute()   # [None, b"1"]

    Each method checks its arguments at once (TypeError, ValueError) and
    queues the call; execute() sends the queue and returns one result per
    call, in order, as the TinyCache method would. The calls are not a
    transaction: each runs on its own, and other clients' commands may run
    in between. bpop() and scan_iter() are not available here.

    A Pipeline is not meant to be shared between threads.
    """

    def __init__(self, cache: TinyCache):
        self._cache = cache
        self._ops: list[Op[Any]] = []

    def execute(self) -> list[Any]:
        """Send the queued calls in one round trip and return their results, in order.

        The queue is emptied, so the Pipeline can be used again. If any call
        got an error reply, every reply is still read and then the first
        ServerError is raised: the other calls have taken effect. A lost
        connection or a timeout raises ConnectionError or TimeoutError, and
        then it is unknown which calls ran. An empty pipeline sends nothing.
        """
        ops, self._ops = self._ops, []
        if not ops:
            return []
        return self._cache._run_all(ops)

    def __len__(self) -> int:
        """The number of calls queued."""
        return len(self._ops)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Execute the queue, unless the block raised: then drop it and send nothing."""
        if exc_type is None:
            self.execute()
        else:
            self._ops = []

    def _add(self, op: Op[Any]) -> Pipeline:
        self._ops.append(op)
        return self

    def set(self, key: str, value: BytesLike, ttl: float | None = None) -> Pipeline:
        """Queue TinyCache.set: result None."""
        return self._add(commands.set_value(key, value, ttl))

    def get(self, key: str) -> Pipeline:
        """Queue TinyCache.get: result bytes or None."""
        return self._add(commands.get_value(key))

    def pop(self, key: str) -> Pipeline:
        """Queue TinyCache.pop: result bytes or None."""
        return self._add(commands.pop_value(key))

    def delete(self, key: str) -> Pipeline:
        """Queue TinyCache.delete: result 1 or 0."""
        return self._add(commands.delete(key))

    def keys(self, pattern: str) -> Pipeline:
        """Queue TinyCache.keys: result list[str]."""
        return self._add(commands.keys(pattern))

    def len(self) -> Pipeline:
        """Queue TinyCache.len: result int."""
        return self._add(commands.dbsize())

    def mget(self, keys: Iterable[str]) -> Pipeline:
        """Queue TinyCache.mget: result list[bytes | None]."""
        return self._add(commands.mget(keys))

    def mset(self, mapping: Mapping[str, BytesLike]) -> Pipeline:
        """Queue TinyCache.mset: result None."""
        return self._add(commands.mset(mapping))

    def incr(self, key: str, amount: int = 1) -> Pipeline:
        """Queue TinyCache.incr: result int."""
        return self._add(commands.incr(key, amount))

    def decr(self, key: str, amount: int = 1) -> Pipeline:
        """Queue TinyCache.decr: result int."""
        return self._add(commands.decr(key, amount))

    def exists(self, *keys: str) -> Pipeline:
        """Queue TinyCache.exists: result int."""
        return self._add(commands.exists(keys))

    def type(self, key: str) -> Pipeline:
        """Queue TinyCache.type: result str."""
        return self._add(commands.key_type(key))

    def flush(self) -> Pipeline:
        """Queue TinyCache.flush: result None."""
        return self._add(commands.flush())

    def expire(self, key: str, ttl: float) -> Pipeline:
        """Queue TinyCache.expire: result bool."""
        return self._add(commands.expire(key, ttl))

    def ttl(self, key: str) -> Pipeline:
        """Queue TinyCache.ttl: result float."""
        return self._add(commands.ttl(key))

    def persist(self, key: str) -> Pipeline:
        """Queue TinyCache.persist: result bool."""
        return self._add(commands.persist(key))

    def push(self, key: str, *values: BytesLike, left: bool = False) -> Pipeline:
        """Queue TinyCache.push: result int."""
        return self._add(commands.push(key, values, left))

    def llen(self, key: str) -> Pipeline:
        """Queue TinyCache.llen: result int."""
        return self._add(commands.llen(key))

    def info(self, section: str | None = None) -> Pipeline:
        """Queue TinyCache.info: result dict."""
        return self._add(commands.info(section))

    def stats(self) -> Pipeline:
        """Queue TinyCache.stats: result dict."""
        return self._add(commands.stats(self._cache._db()))

    def execute_command(self, *args: str | BytesLike | int | float) -> Pipeline:
        """Queue TinyCache.execute_command: result the parsed reply."""
        return self._add(commands.raw(args))
