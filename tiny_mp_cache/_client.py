"""TinyCache, the public client, and its Pipeline.

Both are Commands (see _commands), which checks arguments and builds every
command; TinyCache sends each at once through the Go or the pure-Python
client, a Pipeline queues them and sends the queue in one round trip.
"""

from __future__ import annotations

import builtins
import math
import os
import pickle
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Callable, Protocol, TypeVar

from . import _commands as commands
from . import _near, _shared, _standalone
from ._cluster import is_cluster
from ._commands import BytesLike, Command, Commands, Unexpected, finish
from ._errors import ConnectionError, ServerError
from ._memoize import memoize
from ._near import NearCache
from ._platform import at_fork, require_unix_sockets
from ._pubsub import PubSub
from ._resp import DEFAULT_MAX_REPLY, Arg, PureClient, Reply, parse_address


T = TypeVar("T")

_SHARED_MARK = "TMCSHARED "  # TMC.GET's and TMC.GETDEL's reply for a shared value
_WAIT_STEP = 0.05  # seconds between connection attempts of TinyCache(..., wait=...)
# What a wait= that ran out says happened. The usual cause: serve() run by
# multiprocessing with spawn or forkserver (the default on macOS and Windows,
# and on Linux from Python 3.14) from a script without the main guard; its
# child dies at start, re-importing the script, and nothing listens.
_NOT_UP = (
    "no server answered at {addr} within wait={wait}s. If the server is started by multiprocessing "
    "with the spawn or forkserver start method (the default on macOS and Windows, and on Linux from "
    'Python 3.14), the code that starts it must be under `if __name__ == "__main__":`, or the server\'s '
    "process dies at start (see its exitcode and stderr); start_server() reports such an error itself"
)


class _Backend(Protocol):
    """What TinyCache calls: _bindings.GoClient or _resp.PureClient.

    Both take the command layer's Commands and arguments, move the bytes
    and return the raw replies, error replies as ServerError values rather
    than raised.
    """

    pid: int  # the process that opened it; no other process may use it

    def run(self, command: Command[Any], args: list[Arg]) -> Reply: ...
    def pipeline(self, commands: list[list[Arg]], retry: bool = False) -> list[Reply]: ...
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
        cache._sharer = None


at_fork(after_in_child=_after_fork_in_child)


def _use_pure() -> bool:
    """TINY_MP_CACHE_PURE=1, or an installation with the standalone server and no Go library (musllinux)."""
    return os.environ.get("TINY_MP_CACHE_PURE", "") not in ("", "0") or _standalone.server_binary() is not None


def check_options(addr: Any, timeout: Any, max_reply_size: Any) -> None:
    """Check a client's constructor arguments (TypeError, ValueError), as TinyCache and AsyncTinyCache take them."""
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


class TinyCache(Commands):
    """A client of a tiny-mp-cache server, or of any Redis server.

    addr is "HOST:PORT", "unix:///path.sock" or "redis://[:password@]HOST:PORT/0";
    the same TinyCache works against a real Redis server, so code can move
    to one when it outgrows a machine, and against a Redis Cluster with
    "redis+cluster://[:password@]HOST:PORT" (see _cluster; needs redis-py). timeout (seconds) bounds connecting
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

    near_cache=N keeps up to N values this process read (and at most
    near_cache_bytes bytes of keys and values, if given) and serves repeat
    get() and mget() of them from memory, without a round trip, for as long
    as the server's shared table of versions shows them unchanged: a read
    never returns a value older than a write acknowledged before it began.
    It needs a tiny-mp-cache server on a unix socket; elsewhere it is off,
    with a warning, and near_cache_stats() says why.

    serializer turns the values of set, get, pop, mget, mset, push and
    bpop (not keys, and not execute_command's arguments) into bytes and
    back, so that callers need not: "json" (compact UTF-8 JSON), "pickle",
    or any object with dumps(value) -> bytes or str and loads(bytes) ->
    value. None, the default, sends bytes-like values as they are and
    returns bytes. A Pipeline and the near cache use the client's
    serializer; memoize has its own.

    shared_from (bytes; None: never) is the size from which values go
    through shared memory rather than the socket, over a unix socket to a
    tiny-mp-cache server on Linux: set() writes such a value into a sealed
    memfd and hands the server its descriptor, get() maps it and copies it
    once, get_buffer() returns the mapping itself, and get_array and
    set_array do the same for numpy arrays (see docs: Big values). Every
    get() then goes through a pure-Python connection that can take
    descriptors, since the size of a value is known only once it is read.

    Warning: serializer="pickle" (or pickle itself) unpickles whatever the
    server holds under a key that is read, and unpickling runs code. Anyone
    who can write to the server can put such a value there: another local
    user, if the unix socket's permissions or a TCP port let them in (and
    they have the password, if any). Use pickle only with a server nobody
    else can write to, or use json. memoize, by contrast, signs what it
    stores and loads nothing it did not sign (see the Security model).
    """

    def __init__(
        self,
        addr: str,
        timeout: float = 5.0,
        *,
        wait: float = 0,
        max_reply_size: int = DEFAULT_MAX_REPLY,
        near_cache: int | None = None,
        near_cache_bytes: int | None = None,
        serializer: Any = None,
        shared_from: int | None = _shared.THRESHOLD,
        _pure: bool | None = None,
    ):
        check_options(addr, timeout, max_reply_size)
        near_entries = _near.check_options(near_cache, near_cache_bytes)
        if serializer is not None:
            self._values = commands.Values(serializer)
        if isinstance(wait, bool) or not isinstance(wait, (int, float)):
            raise TypeError(f"wait must be a number of seconds, not {type(wait).__name__}")
        if not (wait >= 0 and math.isfinite(wait)):
            raise ValueError(f"wait must be a finite number of seconds >= 0, got {wait!r}")
        if addr.startswith("unix://"):
            parse_address(addr)  # a malformed address is a ValueError everywhere
            require_unix_sockets()
        if shared_from is not None and (isinstance(shared_from, bool) or not isinstance(shared_from, int)):
            raise TypeError(f"shared_from must be an int (bytes) or None, not {type(shared_from).__name__}")
        if shared_from is not None and shared_from < 1:
            raise ValueError(f"shared_from must be a number of bytes > 0, or None, got {shared_from!r}")
        self._shared_from = shared_from  # as given, for pickling
        if shared_from is not None and _shared.address_can_share(addr):
            self._share_from = shared_from  # until the server says it keeps no shared values (_shared_client)
        self._addr = addr
        self._timeout = float(timeout)
        self._max_reply_size = max_reply_size
        self._pure = _use_pure() if _pure is None else bool(_pure)
        self._lock = threading.Lock()  # guards _backend while it is opened
        self._backend: _Backend | None = None
        self._waiter: PureClient | None = None  # bpop's own connection, opened on first use
        self._sharer: _shared.SharedClient | None = None  # shared values' connection, opened on first use
        self._closed = False
        self._near: NearCache | None = None
        _caches.add(self)
        # Connect now, so that a bad address or a dead server fails here;
        # with wait, keep trying while the server is not up yet.
        deadline = time.monotonic() + wait
        while True:
            try:
                self._client()
                break
            except ConnectionError as e:
                left = deadline - time.monotonic()
                if left <= 0:
                    if wait:
                        raise ConnectionError(f"{e}; {_NOT_UP.format(addr=addr, wait=wait)}") from e
                    raise
                time.sleep(min(_WAIT_STEP, left))
        if near_entries:
            self._near = NearCache(addr, near_entries, near_cache_bytes, self._timeout)
            if self._near.available:
                self._use_near(self._near)

    def _use_near(self, near: NearCache) -> None:
        """Serve get and mget through the near cache, and let this client's writes drop what they change.

        Instance attributes, so that a TinyCache without one keeps the
        class's get, with not one more step on its path.
        """
        execute = self._execute  # the class's: a fill is a read, which drops nothing
        execute_all = self._execute_all
        key_arg = commands.key_arg
        read_one, kept_one, mget_plan = near.read_one, near.kept_one, near.mget_plan

        def fill(key: str) -> bytes | None:
            command, args, stamp = read_one(key_arg(key))
            return kept_one(key, stamp, execute(command, args))

        get = near.getter(fill)

        def mget(keys: Iterable[str]) -> list[bytes | None]:
            values, read = mget_plan(keys)
            if read is None:
                return values
            command, args, finish = read
            return finish(execute(command, args))

        load = self._values.load
        if load is not None:  # the near cache holds bytes: a serializer's values are loaded from them on each read
            get_bytes, mget_bytes = get, mget
            get = lambda key: load(get_bytes(key))  # noqa: E731
            mget = lambda keys: [load(v) for v in mget_bytes(keys)]  # noqa: E731

        get.__doc__, mget.__doc__ = Commands.get.__doc__, Commands.mget.__doc__
        self.get, self.mget = get, mget  # type: ignore[method-assign]
        self._execute, self._execute_all = near.dropping_writes(execute, execute_all)  # type: ignore[method-assign]

    def near_cache_stats(self) -> dict[str, Any]:
        """The near cache's state: mode ("shared-memory" or "off"), reason (why off; "" when on), hits, misses, entries, capacity, bytes, capacity_bytes."""
        if self._near is None:
            return _near.off_stats("near_cache=0: not asked for")
        return self._near.stats()

    @property
    def addr(self) -> str:
        """The address this cache connects to."""
        return self._addr

    @property
    def timeout(self) -> float:
        """Seconds that bound connecting and every call."""
        return self._timeout

    # Every command is in Commands; this class adds how they are sent.

    def scan_iter(self, match: str = "*", count: int = 100) -> Iterator[str]:
        """Iterate over the keys matching a glob pattern with SCAN, count keys per round trip (a hint).

        Unlike keys(), this never builds the whole list on the server. As in
        Redis, a key present for the whole iteration is returned at least
        once; keys added or removed meanwhile may or may not be, and a key
        may come more than once.
        """
        pattern, n = commands.scan_args(match, count)
        return self._scan(pattern, n)

    def _scan(self, pattern: bytes, count: bytes) -> Iterator[str]:
        cursor = b"0"
        while True:
            cursor, keys = self._execute(commands.SCAN, commands.scan(cursor, pattern, count))
            yield from keys
            if cursor == b"0":
                return

    def pubsub(self, ignore_subscribe_messages: bool = False) -> PubSub:
        """A PubSub, as redis-py's: subscribe(), psubscribe(), get_message(timeout=...), listen(), close().

        It listens on a connection of its own (the pure-Python client's,
        which works in forked and spawned processes alike). Send messages
        with publish().
        """
        if is_cluster(self._addr):
            raise ValueError("pubsub() needs a single server, not a Redis Cluster address")
        self._client()  # the same checks: closed, and the address
        return PubSub(parse_address(self._addr), self._timeout, self._max_reply_size, ignore_subscribe_messages)

    def pipeline(self) -> Pipeline:
        """Return a Pipeline: calls queued on it are sent in one round trip by its execute()."""
        return Pipeline(self)

    def memoize(
        self,
        ttl: float | None = None,
        *,
        key: str | Callable[..., str] | None = None,
        serializer: Any = pickle,
        lease: float = 60.0,
        wait: float | None = None,
        secret: str | bytes | bool | None = None,
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorate a function so that its results are cached on the server, one computation per key at a time.

            @cache.memoize(ttl=60)
            def report(day: str) -> dict: ...

        Works on plain and async functions. The result is stored under a
        key made of the function's name (or key, when it is a str) and a
        hash of its serialized arguments, or under key(*args, **kwargs)
        when key is a function; it expires after ttl seconds (None: never).
        Arguments and results go through serializer (pickle by default;
        anything with dumps(obj) -> bytes or str and loads(bytes) -> obj).

        When many processes miss the same key at once, one computes (it
        holds the lock key KEY:lock, SET NX with a lease of `lease`
        seconds) and the others poll for its result with backoff. If the
        computer raises, or dies and its lease runs out, a waiter takes
        over; a waiter that has waited `wait` seconds (default: lease)
        computes the result itself. So lease should exceed the function's
        run time: past it, another process may compute the same result too.
        The wrapper's cache_key(*args, **kwargs) gives the key it uses.

        Whoever can reach the server can write under these keys, so each
        value is signed (HMAC-SHA256 over key and value) with secret:
        TINY_MP_CACHE_SECRET by default, which importing tiny_mp_cache sets
        to a random secret when it is unset, so the processes started from
        this one share it. A value that fails the check is never loaded
        (it would be someone else's pickle): it is a miss, computed again
        and overwritten, with a RuntimeWarning. Independent programs that
        share results need the same secret (the variable, or secret=).
        secret=False stores values unsigned, as serializer makes them,
        for serializers that cannot run code (json); pickle refuses it.
        """
        return memoize(self, ttl, key, serializer, lease, wait, secret=secret)

    # --- the dict protocol ---

    def __getitem__(self, key: str) -> bytes:
        """cache[key]: the value under key; KeyError when there is none."""
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __setitem__(self, key: str, value: BytesLike) -> None:
        """cache[key] = value: set(key, value), with no TTL."""
        self.set(key, value)

    def __delitem__(self, key: str) -> None:
        """del cache[key]: delete key; KeyError when there was none, as for a dict."""
        if not self.delete(key):
            raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        """key in cache: whether key exists (holding a value or a list)."""
        return bool(self.exists(key))  # type: ignore[arg-type]

    def __len__(self) -> int:
        """len(cache): the number of keys on the server (DBSIZE)."""
        return self.len()  # type: ignore[no-any-return]

    def __bool__(self) -> bool:
        """A TinyCache is true even when its server is empty (len() == 0)."""
        return True

    def __iter__(self) -> Iterator[str]:
        """for key in cache: every key, with scan_iter()."""
        return self.scan_iter()

    # --- life cycle ---

    def close(self) -> None:
        """Close the connection. Further calls raise ValueError. Idempotent."""
        with self._lock:
            self._closed = True
            if self._near is not None:  # the class's methods again, which refuse a closed cache
                for name in ("get", "mget", "_execute", "_execute_all"):
                    self.__dict__.pop(name, None)
                self._near.clear()
            backend, self._backend = self._backend, None
            waiter, self._waiter = self._waiter, None
            sharer, self._sharer = self._sharer, None
        for client in (backend, waiter, sharer):
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
        near = self._near
        return (_unpickle, (self._addr, self._timeout, self._pure, self._max_reply_size,
                            near.capacity if near else 0, near.max_bytes if near else None, self._values.serializer,
                            self._shared_from))

    def __repr__(self) -> str:
        backend = self._backend
        if self._closed:
            state = "closed"
        elif backend is None or backend.pid != os.getpid():
            state = "not connected"
        else:
            state = "pure" if isinstance(backend, PureClient) else "go"
        return f"<TinyCache {self._addr!r} {state}>"

    def _execute(self, command: Command[T], args: list[Arg]) -> T:
        if not args:
            return command.parse(None)
        if command.blocking:
            backend: _Backend = self._blocking_client()
        elif command.shares:
            return self._execute_shared(command, args)
        else:
            backend = self._backend  # type: ignore[assignment]
            if backend is None:  # _client(), inlined: this is every call's path
                backend = self._client()
        reply = backend.run(command, args)
        if reply.__class__ is not ServerError:  # finish(), inlined for the usual reply
            try:
                return command.parse(reply)
            except Unexpected:
                pass
        return finish(command, args, reply)  # raises the error reply, or a ProtocolError for a wrong shape

    def _execute_all(self, queue: list[tuple[Command[Any], list[Arg]]]) -> list[Any]:
        """Send the queued commands in one round trip; see Pipeline.execute."""
        sent = [args for _, args in queue if args]
        if not sent:
            return commands.finish_all(queue, [])
        return commands.finish_all(queue, self._client().pipeline(sent, commands.idempotent(queue)))

    def _db(self) -> int:
        return 0 if is_cluster(self._addr) else parse_address(self._addr).db

    def _client(self) -> _Backend:
        # No os.getpid() here: it is a system call on every call, and a
        # forked child never sees its parent's backend anyway, since
        # _after_fork_in_child clears it.
        backend = self._backend
        if backend is not None:
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
        backend = self._client()  # the same checks: closed, and reopened after fork
        if is_cluster(self._addr):
            return backend  # type: ignore[return-value]  # it waits on the master of the key's slot
        waiter = self._waiter
        if waiter is not None:  # cleared in a forked child, as _backend
            return waiter
        with self._lock:
            if self._waiter is None or self._waiter.pid != os.getpid():
                self._waiter = PureClient(self._addr, self._timeout, self._max_reply_size)
            return self._waiter

    def _execute_shared(self, command: Command[T], args: list[Arg]) -> T:
        """_execute for the commands of shared values (see _commands.SETFD), on the connections that can send them.

        get()'s TMC.GET and pop()'s TMC.GETDEL go as any call, with the Go
        client's fast path: a small value comes as ever, and a shared one
        as its size (the error TMCSHARED; TMC.GETDEL then leaves the key),
        read then with TMC.GETFD or TMC.GETDELFD on the connection that
        takes descriptors: of concurrent pops, still exactly one gets the
        value. Where the server keeps no shared values, the plain command
        goes instead.
        """
        by_fd = commands.read_by_fd(args)
        if by_fd is not None:
            try:
                reply = self._client().run(command, args)
            except ServerError as e:  # the fast path raises what the others return (kept in no local: a cycle)
                if not str(e).startswith(_SHARED_MARK):
                    if self._shared_client() is None:  # a server without TMC.GET
                        return self._execute(*commands.unshared(command, args))
                    raise
                reply = None
            else:
                if not (reply.__class__ is ServerError and str(reply).startswith(_SHARED_MARK)):
                    if reply.__class__ is ServerError and self._shared_client() is None:
                        return self._execute(*commands.unshared(command, args))
                    return finish(command, args, reply)
            args = by_fd
        sharer = self._shared_client()
        if sharer is None:
            return self._execute(*commands.unshared(command, args))
        return finish(command, args, sharer.run(command, args))

    def _shared_client(self) -> _shared.SharedClient | None:
        """The connection of shared values, or None (and no more of them) where the server keeps none."""
        self._client()  # the same checks: closed, and reopened after fork
        sharer = self._sharer
        if sharer is not None:  # cleared in a forked child, as _backend
            return sharer
        with self._lock:
            if self._sharer is None or self._sharer.pid != os.getpid():
                sharer = _shared.SharedClient(self._addr, self._timeout, self._max_reply_size)
                if not sharer.supported:
                    sharer.close()
                    self._share_from = None
                    return None
                self._sharer = sharer
            return self._sharer

    def _open(self) -> _Backend:
        if is_cluster(self._addr):
            from ._cluster import ClusterClient

            return ClusterClient(self._addr, self._timeout, self._open_at)  # type: ignore[return-value]
        return self._open_at(self._addr)

    def _open_at(self, addr: str, blocking: bool = False) -> _Backend:
        if not (self._pure or blocking):
            from . import _bindings

            lib = _bindings.library()
            if lib is not None:
                return _bindings.GoClient(lib, addr, self._timeout, self._max_reply_size)
        return PureClient(addr, self._timeout, self._max_reply_size)


def _unpickle(
    addr: str,
    timeout: float,
    pure: bool,
    max_reply_size: int = DEFAULT_MAX_REPLY,
    near_cache: int = 0,
    near_cache_bytes: int | None = None,
    serializer: Any = None,
    shared_from: int | None = _shared.THRESHOLD,
) -> TinyCache:
    return TinyCache(
        addr, timeout, max_reply_size=max_reply_size, near_cache=near_cache, near_cache_bytes=near_cache_bytes,
        serializer=serializer, shared_from=shared_from, _pure=pure,
    )


class Pipeline(Commands):
    """A batch of TinyCache calls sent in one write, with their replies read together.

        with cache.pipeline() as p:          # executes on leaving the block
            p.set("a", b"1").incr("n").get("a")

        results = cache.pipeline().set("a", b"1").get("a").execute()   # [None, b"1"]

    Each method checks its arguments at once (TypeError, ValueError) and
    queues the call; execute() sends the queue and returns one result per
    call, in order, as the TinyCache method would. The calls are not a
    transaction: each runs on its own, and other clients' commands may run
    in between. There is no scan_iter(), and bpop() raises TypeError.

    A Pipeline is not meant to be shared between threads.
    """

    def __init__(self, cache: TinyCache):
        self._cache = cache
        self._values = cache._values
        self._queue: list[tuple[Command[Any], list[Arg]]] = []

    def execute(self) -> list[Any]:
        """Send the queued calls in one round trip and return their results, in order.

        The queue is emptied, so the Pipeline can be used again. If any call
        got an error reply, every reply is still read and then the first
        ServerError is raised: the other calls have taken effect. A lost
        connection or a timeout raises ConnectionError or TimeoutError, and
        then it is unknown which calls ran. An empty pipeline sends nothing.
        """
        queue, self._queue = self._queue, []
        if not queue:
            return []
        return self._cache._execute_all(queue)

    def __len__(self) -> int:
        """The number of calls queued."""
        return len(self._queue)

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
            self._queue = []

    def _execute(self, command: Command[Any], args: list[Arg]) -> Pipeline:
        if command.blocking:
            raise TypeError("a blocking command (bpop) cannot be pipelined: it would hold up every call after it")
        self._queue.append((command, args))
        return self

    def _db(self) -> int:
        return self._cache._db()
