"""AsyncTinyCache: the same commands as TinyCache (Commands), sent over asyncio streams.

Each call takes a connection of its own from a small pool for the whole
exchange, so concurrent tasks never share a connection mid-reply, and gives
it back only when the exchange completed. A call that fails, times out or is
cancelled (a blocking pop whose task is cancelled, say) closes its
connection: a reply still on its way can never reach a later call. Replies
are read by the sans-IO parser of _resp (parse_reply), with the same reply
size and nesting limits as the other clients, and each call is _resp.call(),
the same sans-IO call as PureClient's (deadline, redial, retry, errors),
driven here with awaits.
"""

from __future__ import annotations

import asyncio
import builtins
import os
import pickle
import time
from collections.abc import AsyncIterator, Awaitable, Iterable
from types import TracebackType
from typing import Any, Callable, TypeVar

from . import _commands as commands
from . import _near
from ._client import Pipeline, check_options
from ._commands import Command, Commands
from ._memoize import memoize
from ._near import MISS, NearCache
from ._platform import require_unix_sockets
from ._errors import ConnectionError, ProtocolError, ServerError, TimeoutError
from ._pubsub import LISTEN_SLICE, Message, Subscriptions, message_of, name_arg, names_arg
from ._resp import (
    _MAX_LINE,
    DEFAULT_MAX_REPLY,
    DIAL,
    LINE,
    READ,
    SEND,
    Arg,
    Reply,
    ReplyLimit,
    Steps,
    call,
    connect,
    encode_command,
    encode_commands,
    parse_address,
    parse_reply,
)

T = TypeVar("T")


class _Connection:
    """One stream pair to the server, and the event loop it belongs to."""

    __slots__ = ("loop", "reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.loop = asyncio.get_running_loop()

    def close(self) -> None:
        try:
            self.writer.close()
        except RuntimeError:  # its event loop is closed already
            pass


async def _by(deadline: float | None, step: Any) -> Any:
    """Await step, raising builtins.TimeoutError once deadline (a time.monotonic() value; None: none) has passed."""
    if deadline is None:
        return await step
    left = deadline - time.monotonic()
    if left <= 0:
        step.close()
        raise builtins.TimeoutError("timed out")
    if _timeout is not None:  # Python 3.11+: no task of its own, as wait_for makes there
        async with _timeout(left):
            return await step
    try:
        return await asyncio.wait_for(step, left)
    except asyncio.TimeoutError:  # not builtins.TimeoutError before Python 3.11
        raise builtins.TimeoutError("timed out") from None


_timeout = getattr(asyncio, "timeout", None)


async def _read_replies(reader: asyncio.StreamReader, count: int, limit: ReplyLimit) -> list[Reply]:
    return [await _read_reply(reader, limit) for _ in range(count)]


async def _read_reply(reader: asyncio.StreamReader, limit: ReplyLimit) -> Reply:
    """Drive parse_reply with bytes from reader."""
    parser = parse_reply(limit)
    want = next(parser)
    while True:
        if want == LINE:
            try:
                data: bytes = (await reader.readuntil(b"\r\n"))[:-2]
            except asyncio.LimitOverrunError:
                raise ProtocolError("reply line too long") from None
        else:
            data = await reader.readexactly(want)
        try:
            want = parser.send(data)
        except StopIteration as done:
            return done.value


class AsyncTinyCache(Commands):
    """An asyncio client of a tiny-mp-cache (or Redis) server, with the API of TinyCache.

        async with AsyncTinyCache("127.0.0.1:5002") as cache:
            await cache.set("k", b"v")
            assert await cache.get("k") == b"v"

    Every method of TinyCache is a coroutine here, with the same arguments,
    results and errors (the TinyCacheError subclasses); arguments are
    checked when the method is called, before anything is sent. addr is
    "HOST:PORT", "unix:///path.sock" or "redis://[:password@]HOST:PORT/0".
    timeout bounds each call as a whole, connecting included; bpop() may
    wait longer, as in TinyCache. max_reply_size bounds the bytes of reply
    one call may read.

    One AsyncTinyCache may be used by many tasks at once: each call has a
    connection to itself for its whole exchange, from a pool that keeps up
    to max_idle idle connections. A cancelled call (a bpop whose task is
    cancelled) closes its connection, so no late reply can reach another
    call. Connections are opened on first use; `async with` opens one at
    once, so that a wrong address fails there. Use it from one event loop
    at a time. The dict protocol of TinyCache (cache[k], len(cache)) is not
    offered here: it cannot await.

    near_cache=N (and near_cache_bytes) is TinyCache's near cache: a hit
    is answered without leaving the process. Its handover (one short unix
    socket exchange) is made in the constructor, and again after a miss
    that finds the server gone, from the event loop's thread.

    serializer is TinyCache's ("json", "pickle", or an object with dumps
    and loads; None: bytes), with its warning: pickle runs the code of
    whoever could write the values it loads.
    """

    def __init__(
        self,
        addr: str,
        timeout: float = 5.0,
        *,
        max_reply_size: int = DEFAULT_MAX_REPLY,
        max_idle: int = 8,
        near_cache: int | None = None,
        near_cache_bytes: int | None = None,
        serializer: Any = None,
    ):
        check_options(addr, timeout, max_reply_size)
        near_entries = _near.check_options(near_cache, near_cache_bytes)
        if serializer is not None:
            self._values = commands.Values(serializer)
        self._address = parse_address(addr)
        if isinstance(self._address.sockaddr, str):
            require_unix_sockets()
        self._addr = addr
        self._timeout = float(timeout)
        self._max_reply = max_reply_size
        self._max_idle = max_idle
        self._idle: list[_Connection] = []
        self._pid = os.getpid()
        self._closed = False
        self._near: NearCache | None = None
        if near_entries:
            self._near = NearCache(addr, near_entries, near_cache_bytes, self._timeout)
            if self._near.available:
                self._use_near(self._near)

    def _use_near(self, near: NearCache) -> None:
        """Serve get and mget through the near cache, as TinyCache._use_near does."""
        hit = near.hit
        execute = self._execute  # the class's: a fill is a read, which drops nothing
        execute_all = self._execute_all
        key_arg = commands.key_arg
        load = self._values.load  # the near cache holds bytes: a serializer's values are loaded from them on each read

        async def get(key: str) -> Any:
            value = hit(key)
            if value is MISS:
                command, args, stamp = near.read_one(key_arg(key))
                value = near.kept_one(key, stamp, await execute(command, args))
            return value if load is None else load(value)

        async def mget(keys: Iterable[str]) -> list[Any]:
            values, read = near.mget_plan(keys)
            if read is not None:
                command, args, finish = read
                values = finish(await execute(command, args))
            return values if load is None else [load(v) for v in values]

        self.get, self.mget = get, mget  # type: ignore[method-assign]
        self._execute, self._execute_all = near.dropping_writes(execute, execute_all)  # type: ignore[method-assign]

    def near_cache_stats(self) -> dict[str, Any]:
        """The near cache's state; see TinyCache.near_cache_stats."""
        if self._near is None:
            return _near.off_stats("near_cache=0: not asked for")
        return self._near.stats()

    @property
    def addr(self) -> str:
        """The address this cache connects to."""
        return self._addr

    @property
    def timeout(self) -> float:
        """Seconds that bound every call."""
        return self._timeout

    # Every command is in Commands; this class adds how they are sent.

    def _execute(self, command: Command[T], args: list[Arg]) -> Any:
        return self._run(command, args)

    async def _run(self, command: Command[T], args: list[Arg]) -> T:
        if not args:
            return command.parse(None)
        wait = command.wait(args)
        timeout = None if wait is None else self._timeout + wait
        name = bytes(args[0]).decode("utf-8", "replace")
        if command.sends is not None:  # several commands in one write: parse gets the list of their replies
            sent = command.sends(args)
            replies = await self._call(encode_commands(sent), len(sent), name, command.idempotent, timeout)
            return commands.finish(command, args, replies)
        replies = await self._call(encode_command(args), 1, name, command.idempotent, timeout)
        return commands.finish(command, args, replies[0])

    async def _execute_all(self, queue: list[tuple[Command[Any], list[Arg]]]) -> list[Any]:
        """Send the queued commands in one round trip; see Pipeline.execute."""
        sent = [args for _, args in queue if args]
        if not sent:
            return commands.finish_all(queue, [])
        replies = await self._call(encode_commands(sent), len(sent), "pipeline", commands.idempotent(queue), self._timeout)
        return commands.finish_all(queue, replies)

    def _db(self) -> int:
        return self._address.db

    async def scan_iter(self, match: str = "*", count: int = 100) -> AsyncIterator[str]:
        """Iterate over the keys matching a glob pattern with SCAN (async for); see TinyCache.scan_iter."""
        pattern, n = commands.scan_args(match, count)
        cursor = b"0"
        while True:
            cursor, keys = await self._run(commands.SCAN, commands.scan(cursor, pattern, n))
            for key in keys:
                yield key
            if cursor == b"0":
                return

    def pubsub(self, ignore_subscribe_messages: bool = False) -> AsyncPubSub:
        """An AsyncPubSub: TinyCache.pubsub() with awaits, and an async iterator of messages (listen())."""
        if self._closed:
            raise ValueError("operation on a closed AsyncTinyCache")
        return AsyncPubSub(self, ignore_subscribe_messages)

    def pipeline(self) -> AsyncPipeline:
        """Return an AsyncPipeline: calls queued on it are sent in one round trip by `await p.execute()`."""
        return AsyncPipeline(self)  # type: ignore[arg-type]

    def memoize(
        self,
        ttl: float | None = None,
        *,
        key: str | Callable[..., str] | None = None,
        serializer: Any = pickle,
        lease: float = 60.0,
        wait: float | None = None,
        secret: str | bytes | bool | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Awaitable[Any]]]:
        """TinyCache.memoize, for coroutine functions (and plain ones, which then become coroutine functions)."""
        return memoize(self, ttl, key, serializer, lease, wait, is_async=True, secret=secret)

    # --- life cycle ---

    async def close(self) -> None:
        """Close the idle connections; calls in flight close theirs when done. Further calls raise ValueError."""
        self._closed = True
        if self._near is not None:  # the class's methods again, which refuse a closed cache
            for name in ("get", "mget", "_execute", "_execute_all"):
                self.__dict__.pop(name, None)
            self._near.clear()
        idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()
        for conn in idle:
            if conn.loop is asyncio.get_running_loop():
                try:
                    await asyncio.wait_for(conn.writer.wait_closed(), self._timeout)
                except (OSError, asyncio.TimeoutError):
                    pass

    async def __aenter__(self) -> AsyncTinyCache:
        if self._closed:
            raise ValueError("operation on a closed AsyncTinyCache")
        self._give_back(await self._drive(connect(self._address, self._timeout, self._max_reply)))
        return self

    async def __aexit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __reduce__(self) -> tuple[Any, ...]:
        near = self._near
        return (_unpickle, (self._addr, self._timeout, self._max_reply, self._max_idle,
                            near.capacity if near else 0, near.max_bytes if near else None, self._values.serializer))

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{len(self._idle)} idle"
        return f"<AsyncTinyCache {self._addr!r} {state}>"

    # --- the exchange: _resp.call(), driven over asyncio streams ---

    async def _call(self, pieces: list[Arg], count: int, what: str, idempotent: bool, timeout: float | None) -> list[Reply]:
        """Send pieces and read count replies, on an idle connection or a fresh one, given back once the call is done."""
        conn = self._take()
        steps = call(self._address, conn, pieces, count, what, idempotent, timeout, self._timeout, self._max_reply)
        replies, conn = await self._drive(steps)
        self._give_back(conn)
        return replies  # type: ignore[no-any-return]

    async def _drive(self, steps: Steps) -> Any:
        """_resp.drive, awaiting each request."""
        try:
            request = next(steps)
            while True:
                try:
                    result = await self._perform(request)
                except BaseException as e:  # the steps decide what it means (a cancelled task's too)
                    request = steps.throw(e)
                else:
                    request = steps.send(result)
        except StopIteration as done:
            return done.value

    async def _perform(self, request: tuple[Any, ...]) -> Any:
        """Do one of call()'s requests, by its deadline."""
        kind = request[0]
        if kind is READ:
            _, conn, count, limit, deadline = request
            return await _by(deadline, _read_replies(conn.reader, count, limit))
        if kind is SEND:
            _, conn, pieces, deadline = request
            for piece in pieces:
                conn.writer.write(piece)
            return await _by(deadline, conn.writer.drain())
        if kind is DIAL:
            return await _by(request[1], self._open())
        request[1].close()  # DROP
        return None

    async def _open(self) -> _Connection:
        if self._closed:
            raise ValueError("operation on a closed AsyncTinyCache")
        sockaddr = self._address.sockaddr
        if isinstance(sockaddr, str):
            reader, writer = await asyncio.open_unix_connection(sockaddr, limit=_MAX_LINE)
        else:
            reader, writer = await asyncio.open_connection(sockaddr[0], sockaddr[1], limit=_MAX_LINE)
        return _Connection(reader, writer)

    def _take(self) -> _Connection | None:
        """An idle connection of this event loop, or None."""
        if self._closed:
            raise ValueError("operation on a closed AsyncTinyCache")
        if self._pid != os.getpid():  # after fork(): the parent's connections are not ours
            self._idle, self._pid = [], os.getpid()
        loop = asyncio.get_running_loop()
        while self._idle:
            conn = self._idle.pop()
            if conn.loop is loop and not conn.reader.at_eof():
                return conn
            conn.close()
        return None

    def _give_back(self, conn: _Connection) -> None:
        if self._closed or len(self._idle) >= self._max_idle:
            conn.close()
        else:
            self._idle.append(conn)



def _unpickle(
    addr: str, timeout: float, max_reply_size: int, max_idle: int, near_cache: int = 0,
    near_cache_bytes: int | None = None, serializer: Any = None,
) -> AsyncTinyCache:
    return AsyncTinyCache(
        addr, timeout, max_reply_size=max_reply_size, max_idle=max_idle, near_cache=near_cache,
        near_cache_bytes=near_cache_bytes, serializer=serializer,
    )


class AsyncPipeline(Pipeline):
    """A Pipeline of an AsyncTinyCache: queue calls, then `await p.execute()`, or use `async with`."""

    async def execute(self) -> list[Any]:  # type: ignore[override]
        """Send the queued calls in one round trip and return their results; see Pipeline.execute."""
        queue, self._queue = self._queue, []
        if not queue:
            return []
        return await self._cache._execute_all(queue)  # type: ignore[no-any-return, misc]

    def __enter__(self) -> AsyncPipeline:
        raise TypeError("use `async with` on an AsyncPipeline")

    async def __aenter__(self) -> AsyncPipeline:
        return self

    async def __aexit__(
        self,
        exc_type: builtins.type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Execute the queue, unless the block raised: then drop it and send nothing."""
        if exc_type is None:
            await self.execute()
        else:
            self._queue = []


class AsyncPubSub:
    """TinyCache.pubsub()'s PubSub for asyncio (AsyncTinyCache.pubsub()), on a connection of its own.

    The next message is read by one task that outlives a get_message()
    whose timeout passed, so a message that was half received then is
    neither lost nor torn; close() ends it. `async for message in
    p.listen()` yields messages until close().
    """

    def __init__(self, cache: AsyncTinyCache, ignore_subscribe_messages: bool):
        self._cache = cache
        self._subs = Subscriptions(ignore_subscribe_messages)
        self._conn: _Connection | None = None
        self._next: asyncio.Future[Reply] | None = None
        self._pid = os.getpid()
        self._closed = False

    @property
    def channels(self) -> dict[bytes, None]:
        return dict(self._subs.channels)

    @property
    def patterns(self) -> dict[bytes, None]:
        return dict(self._subs.patterns)

    @property
    def subscribed(self) -> bool:
        return self._subs.subscribed

    async def subscribe(self, *channels: Any) -> None:
        """Listen on channels; each confirmation comes as a message."""
        await self._send(b"SUBSCRIBE", names_arg(channels, "channel"), need=True)

    async def psubscribe(self, *patterns: Any) -> None:
        """Listen on every channel matching patterns."""
        await self._send(b"PSUBSCRIBE", names_arg(patterns, "pattern"), need=True)

    async def unsubscribe(self, *channels: Any) -> None:
        """Stop listening on channels; on all of them if none is given."""
        await self._send(b"UNSUBSCRIBE", names_arg(channels, "channel"))

    async def punsubscribe(self, *patterns: Any) -> None:
        """Stop listening on patterns; on all of them if none is given."""
        await self._send(b"PUNSUBSCRIBE", names_arg(patterns, "pattern"))

    async def ping(self, message: Any = None) -> None:
        """Ask for a "pong" message."""
        await self._send(b"PING", [] if message is None else [name_arg(message, "message")])

    async def get_message(self, ignore_subscribe_messages: bool = False, timeout: float | None = 0.0) -> Message | None:
        """The next message, or None if none came within timeout seconds (None: no limit)."""
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
        conn, _ = await self._connection(need=False)
        if conn is None:
            if timeout:
                await asyncio.sleep(timeout)
            return None
        if self._next is None:
            self._next = asyncio.ensure_future(_read_reply(conn.reader, ReplyLimit(self._cache._max_reply)))
        await asyncio.sleep(0)  # a message already buffered is read now, even with timeout=0
        done, _ = await asyncio.wait({self._next}, timeout=timeout)
        if not done:
            return None
        task, self._next = self._next, None
        try:
            message = message_of(task.result())
        except ServerError:  # an error reply, read whole
            raise
        except (OSError, EOFError) as e:  # asyncio's IncompleteReadError is an EOFError
            self._drop()
            raise ConnectionError(f"pub/sub connection to {self._cache._address.where()} lost: {e}") from None
        except BaseException:  # a malformed reply: where the stream stands is unknown
            self._drop()
            raise
        return None if self._subs.hidden(message, ignore_subscribe_messages) else message

    async def listen(self) -> AsyncIterator[Message]:
        """Yield each message as it comes, until close() (or while something is subscribed)."""
        while not self._closed and self._subs.subscribed:
            message = await self.get_message(timeout=LISTEN_SLICE)
            if message is not None:
                yield message

    def __aiter__(self) -> AsyncIterator[Message]:
        return self.listen()

    async def close(self) -> None:
        """Close the connection: the server drops every subscription of it."""
        self._closed = True
        self._drop()

    aclose = reset = close

    async def __aenter__(self) -> AsyncPubSub:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def _send(self, verb: bytes, names: list[bytes], need: bool = False) -> None:
        if need and not names:
            raise ValueError(f"{verb.decode().lower()}() needs at least one name")
        args = self._subs.change(verb, names)
        conn, fresh = await self._connection(need=True)
        if fresh and verb in (b"SUBSCRIBE", b"PSUBSCRIBE"):
            return  # the new connection has subscribed to everything, this too
        assert conn is not None
        try:
            await self._write(conn, [args])
        except (OSError, EOFError, builtins.TimeoutError) as e:
            self._drop()
            raise ConnectionError(f"pub/sub connection to {self._cache._address.where()} lost: {e}") from None

    async def _write(self, conn: _Connection, commands: list[list[bytes]]) -> None:
        for args in commands:
            for piece in encode_command(list(args)):
                conn.writer.write(piece)
        await _by(time.monotonic() + self._cache._timeout, conn.writer.drain())

    async def _connection(self, need: bool) -> tuple[_Connection | None, bool]:
        """The connection and whether it is new, as PubSub._connection."""
        if self._closed:
            raise ValueError("operation on a closed AsyncPubSub")
        if self._pid != os.getpid():  # forked: the parent's streams are not ours
            self._conn, self._next, self._pid = None, None, os.getpid()
        if self._conn is not None and self._conn.loop is not asyncio.get_running_loop():
            self._drop()
        if self._conn is None and (need or self._subs.subscribed):
            cache = self._cache
            try:
                conn = await cache._drive(connect(cache._address, cache._timeout, cache._max_reply))
            except builtins.TimeoutError:
                raise TimeoutError(f"cannot connect to {cache._address.where()}: timed out") from None
            try:
                await self._write(conn, self._subs.commands())
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            return conn, True
        return self._conn, False

    def _drop(self) -> None:
        task, self._next = self._next, None
        if task is not None:
            task.cancel()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
