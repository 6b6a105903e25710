"""Pub/sub: TinyCache.pubsub()'s PubSub, in redis-py's style, and what AsyncPubSub shares with it.

A PubSub listens on a connection of its own, through the pure-Python
client's socket code and call core (_resp), never through the Go library: a
subscriber can then be made in a forked child, whose inherited Go runtime
is dead, and in a spawned one alike. On that connection the server is in
RESP2's subscriber mode: every reply is a message, confirmations of
(un)subscriptions included, so nothing is read as the reply to a call;
get_message() reads what came.

Messages are dicts as redis-py's:
{"type": "message", "pattern": None, "channel": b"news", "data": b"hello"}
("pmessage" with its pattern; "subscribe" and the like with the count of
subscriptions as data). A lost connection is re-dialled on the next call,
and its subscriptions made again, as redis-py does.
"""

from __future__ import annotations

import os
import select
import threading
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import Any, Optional

from ._errors import ConnectionError, ProtocolError, ServerError, TimeoutError
from ._resp import _TIMEOUTS, Address, ReplyLimit, _Connection, connect, drive, encode_command

Message = dict[str, Any]

# How long listen() waits at a time: it then checks whether close() was called.
LISTEN_SLICE = 1.0

_KINDS = {b"subscribe", b"unsubscribe", b"psubscribe", b"punsubscribe"}
CONFIRMATIONS = ("subscribe", "unsubscribe", "psubscribe", "punsubscribe")


def name_arg(name: Any, what: str) -> bytes:
    """A channel or pattern as bytes: str (UTF-8) or bytes-like."""
    if isinstance(name, str):
        return name.encode("utf-8", "surrogateescape")
    if isinstance(name, (bytes, bytearray, memoryview)):
        return bytes(name)
    raise TypeError(f"a {what} must be str or bytes, not {type(name).__name__}")


def names_arg(names: Iterable[Any], what: str) -> list[bytes]:
    """subscribe()'s arguments, each a name or a list of names, as redis-py takes them."""
    out: list[bytes] = []
    for name in names:
        if isinstance(name, (list, tuple, set, frozenset)):
            out.extend(name_arg(n, what) for n in name)
        else:
            out.append(name_arg(name, what))
    return out


def message_of(reply: Any) -> Message:
    """A server's pub/sub push (an array) as redis-py's message dict."""
    if isinstance(reply, ServerError):
        raise reply
    if not isinstance(reply, list) or not reply or not isinstance(reply[0], bytes):
        raise ProtocolError(f"unexpected pub/sub message {reply!r:.80}")
    kind = reply[0]
    if kind == b"pmessage" and len(reply) == 4:
        return {"type": "pmessage", "pattern": reply[1], "channel": reply[2], "data": reply[3]}
    if (kind == b"message" or kind in _KINDS) and len(reply) == 3:
        return {"type": kind.decode(), "pattern": None, "channel": reply[1], "data": reply[2]}
    if kind == b"pong" and len(reply) == 2:
        return {"type": "pong", "pattern": None, "channel": None, "data": reply[1]}
    raise ProtocolError(f"unexpected pub/sub message {reply!r:.80}")


class Subscriptions:
    """What a PubSub listens on, to make again on a new connection; sans-IO, shared by both clients."""

    def __init__(self, ignore_subscribe_messages: bool):
        self.channels: dict[bytes, None] = {}
        self.patterns: dict[bytes, None] = {}
        self.ignore_subscribe_messages = ignore_subscribe_messages

    def commands(self) -> list[list[bytes]]:
        """The commands that make every subscription again."""
        out = []
        if self.channels:
            out.append([b"SUBSCRIBE", *self.channels])
        if self.patterns:
            out.append([b"PSUBSCRIBE", *self.patterns])
        return out

    def change(self, verb: bytes, names: list[bytes]) -> list[bytes]:
        """Record a (P)(UN)SUBSCRIBE of names (none: all of them, for an unsubscribe); the command to send."""
        table = self.patterns if verb.startswith(b"P") else self.channels
        if verb.endswith(b"UNSUBSCRIBE"):
            for name in names or list(table):
                table.pop(name, None)
        else:
            table.update(dict.fromkeys(names))
        return [verb, *names]

    def hidden(self, message: Message, ignore_subscribe_messages: bool) -> bool:
        """Whether get_message drops message: a confirmation, when those are ignored (by either flag)."""
        ignored = ignore_subscribe_messages or self.ignore_subscribe_messages
        return ignored and message["type"] in CONFIRMATIONS

    @property
    def subscribed(self) -> bool:
        return bool(self.channels or self.patterns)


class PubSub:
    """Subscriptions to channels and patterns on a connection of their own (TinyCache.pubsub()).

    subscribe(), psubscribe(), unsubscribe() and punsubscribe() send at
    once; get_message(timeout) returns the next message, or None if none
    comes within timeout seconds; listen() yields messages until close().
    Thread-safe; usable in a process forked or spawned after it was made
    (it dials again there, and subscribes again).
    """

    def __init__(self, address: Address, timeout: float, max_reply_size: int, ignore_subscribe_messages: bool = False):
        self._address = address
        self._timeout = timeout
        self._max_reply = max_reply_size
        self._subs = Subscriptions(ignore_subscribe_messages)
        self._lock = threading.RLock()
        self._conn: _Connection | None = None
        self._pid = os.getpid()
        self._closed = False

    @property
    def channels(self) -> dict[bytes, None]:
        """The channels subscribed to."""
        return dict(self._subs.channels)

    @property
    def patterns(self) -> dict[bytes, None]:
        """The patterns subscribed to."""
        return dict(self._subs.patterns)

    @property
    def subscribed(self) -> bool:
        """Whether it listens on any channel or pattern."""
        return self._subs.subscribed

    def subscribe(self, *channels: Any) -> None:
        """Listen on channels (str or bytes, or lists of them); each confirmation comes as a message."""
        self._send(b"SUBSCRIBE", names_arg(channels, "channel"), need=True)

    def psubscribe(self, *patterns: Any) -> None:
        """Listen on every channel matching patterns (globs, as KEYS takes: h?llo, news.*)."""
        self._send(b"PSUBSCRIBE", names_arg(patterns, "pattern"), need=True)

    def unsubscribe(self, *channels: Any) -> None:
        """Stop listening on channels; on all of them if none is given."""
        self._send(b"UNSUBSCRIBE", names_arg(channels, "channel"))

    def punsubscribe(self, *patterns: Any) -> None:
        """Stop listening on patterns; on all of them if none is given."""
        self._send(b"PUNSUBSCRIBE", names_arg(patterns, "pattern"))

    def ping(self, message: Any = None) -> None:
        """Ask for a "pong" message (with message as its data)."""
        self._send(b"PING", [] if message is None else [name_arg(message, "message")])

    def get_message(self, ignore_subscribe_messages: bool = False, timeout: float | None = 0.0) -> Optional[Message]:
        """The next message, or None if none came within timeout seconds (0: only one already here).

        timeout=None waits as long as it takes (listen() is the usual way).
        With ignore_subscribe_messages (here, or to pubsub()), confirmations
        of (un)subscriptions are read and dropped (None is returned).
        """
        if timeout is not None and (not isinstance(timeout, (int, float)) or timeout < 0):
            raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
        with self._lock:
            conn, _ = self._connection(need=False)
            if conn is None:  # nothing subscribed yet, as redis-py: nothing to read
                if timeout:
                    time.sleep(timeout)
                return None
            if not conn.buffered() and not _readable(conn, timeout):
                return None
            try:
                # The message has begun to arrive: it is read whole, within the client's timeout.
                message = message_of(conn.read_reply(time.monotonic() + self._timeout, ReplyLimit(self._max_reply)))
            except ServerError:  # an error reply, read whole
                raise
            except _TIMEOUTS:
                self._drop()  # a message half read: the stream is lost
                raise TimeoutError(f"a pub/sub message from {self._address.where()} did not arrive whole within {self._timeout}s") from None
            except (OSError, EOFError) as e:
                self._drop()
                raise ConnectionError(f"pub/sub connection to {self._address.where()} lost: {e}") from None
            except BaseException:  # a malformed reply, a signal's exception: where the stream stands is unknown
                self._drop()
                raise
        return None if self._subs.hidden(message, ignore_subscribe_messages) else message

    def listen(self) -> Iterator[Message]:
        """Yield each message as it comes, until close() (or while something is subscribed)."""
        while not self._closed and self._subs.subscribed:
            message = self.get_message(timeout=LISTEN_SLICE)
            if message is not None:
                yield message

    def close(self) -> None:
        """Close the connection: the server drops every subscription of it."""
        with self._lock:
            self._closed = True
            self._drop()

    reset = close

    def __enter__(self) -> PubSub:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            if self._pid == os.getpid():
                self._drop()
        except Exception:
            pass

    def __repr__(self) -> str:
        return f"<PubSub {self._address.where()} channels={len(self._subs.channels)} patterns={len(self._subs.patterns)}>"

    # --- the connection ---

    def _send(self, verb: bytes, names: list[bytes], need: bool = False) -> None:
        if need and not names:
            raise ValueError(f"{verb.decode().lower()}() needs at least one name")
        with self._lock:
            args = self._subs.change(verb, names)
            conn, fresh = self._connection(need=True)
            if fresh and verb in (b"SUBSCRIBE", b"PSUBSCRIBE"):
                return  # a new connection has subscribed to everything, this too
            assert conn is not None
            try:
                conn.send(encode_command(list(args)), time.monotonic() + self._timeout)
            except BaseException as e:
                self._drop()
                raise ConnectionError(f"pub/sub connection to {self._address.where()} lost: {e}") from None

    def _connection(self, need: bool) -> tuple[_Connection | None, bool]:
        """The connection, and whether it is new: one is dialled (and every subscription made again on it)
        if there is none and need says so, or subscriptions wait for one."""
        if self._closed:
            raise ValueError("operation on a closed PubSub")
        if self._pid != os.getpid():  # forked: the parent's socket is not ours
            self._conn, self._pid = None, os.getpid()
        if self._conn is None and (need or self._subs.subscribed):
            conn = drive(connect(self._address, self._timeout, self._max_reply), lambda d: _Connection(self._address, d))
            deadline = time.monotonic() + self._timeout
            try:
                for args in self._subs.commands():
                    conn.send(encode_command(list(args)), deadline)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
            return conn, True
        return self._conn, False

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


def _readable(conn: _Connection, timeout: float | None) -> bool:
    """Wait up to timeout seconds (None: no limit) for conn to have bytes to read."""
    r, _, _ = select.select([conn.sock], [], [], timeout)
    return bool(r)
