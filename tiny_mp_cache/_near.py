"""The near cache: values this process has read, served again without the server while they are provably current.

A tiny-mp-cache server on a unix socket keeps a table of version counters
in shared memory (go/server/near.go): one per slot of keys (a slot is
crc32(key) modulo the slot count) plus an epoch, and it adds 1 to a key's
slot on every change to the key (write, delete, expiry, eviction), and to
the epoch on a flush, before it acknowledges the change. CLIENT NEARCACHE
hands the table to a client, read-only, as a descriptor that comes with
the reply (SCM_RIGHTS); handover() maps it.

A fill reads the key's slot version and the epoch *before* it sends the
read, and keeps the value with them and the key's deadline (PEXPIRETIME,
in the same round trip). A hit is served only while the slot and the epoch
still hold what the fill saw and the deadline has not passed: two memory
loads, no system call, no call into Go. So a read that starts after a
write was acknowledged to anyone cannot return what was there before it.
When the server stops, or a new one starts at the same socket path and
fences the old table, the epoch gets its DEAD bit: every entry is stale,
and the next miss fetches the new server's table.

The seam for tests: VALIDATE. A NearCache built while it is False serves
whatever it holds, ignoring versions, epoch and deadlines, so that a
consistency checker can show that it catches a near cache that ignores
invalidation: set tiny_mp_cache._near.VALIDATE = False in a process
before it creates its TinyCache(..., near_cache=N).
"""

from __future__ import annotations

import array
import functools
import mmap
import os
import socket
import threading
import time
import warnings
import weakref
import zlib
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Callable

from . import _commands as commands
from ._commands import Command
from ._errors import ProtocolError, ServerError
from ._platform import at_fork
from ._resp import Address, Arg, _Connection, call, drive, encode_command, parse_address

VALIDATE = True  # False: hits ignore every check (a test's broken near cache; see above)

# The table's layout, as go/server/near.go writes it (tests/test_near_cache.py holds them equal).
MAGIC = 0x315241454E434D54
LAYOUT = 1
HEADER = 8  # words before the first slot
WORD_MAGIC, WORD_LAYOUT, EPOCH, WORD_SLOTS = 0, 1, 2, 3
DEAD = 1 << 63

_RETRY = 1.0  # seconds between handover attempts after one failed for a passing reason

_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)  # Linux; elsewhere the descriptor is closed at once anyway
_MAX_HANDOVER = 4096  # bytes of reply a handover reads at most

MISS = object()  # hit()'s answer when it has no current value


def _miss(key: str) -> Any:
    return MISS


class Refused(Exception):
    """The server (or the address) cannot give this client a near cache; the message says why."""


def off_reason(addr: str) -> str:
    """Why addr can never have a near cache, or "" when it may (a unix socket)."""
    if addr.startswith("redis+cluster://"):
        return "redis+cluster://: a Redis Cluster shares no memory with its clients; the near cache is disabled (Redis's own client-side caching is not used)"
    if addr.startswith("redis://"):
        return "redis://: a Redis server shares no memory with its clients; the near cache is disabled (Redis's own client-side caching is not used)"
    if not addr.startswith("unix://"):
        return "tcp: no shared memory across a TCP connection; connect over a unix socket (unix:///path.sock) to the server on this machine"
    return ""


class _Handing(_Connection):
    """A connection that keeps the descriptors (SCM_RIGHTS) that come with its replies, and closes them with itself."""

    def __init__(self, address: Address, deadline: float):
        super().__init__(address, deadline)
        self.fds: list[int] = []

    def _receive(self, size: int) -> bytes:
        chunk, ancillary, _, _ = self.sock.recvmsg(size, socket.CMSG_SPACE(4), _CLOEXEC)
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(payload[: len(payload) - len(payload) % got.itemsize])
                self.fds += got
        return chunk  # type: ignore[no-any-return]

    def close(self) -> None:
        super().close()
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)


def handover(addr: str, timeout: float) -> memoryview:
    """Ask the server at a unix:// address for its table (CLIENT NEARCACHE) and map it read-only, as words.

    Raises Refused when the server says no, OSError when it cannot be
    reached or takes longer than timeout. The table is memory the server
    provides, and a read of a mapping whose file was shrunk faults
    (SIGBUS): so the file must be one that only this user or root can
    write, who could stop this process anyway.
    """
    address = parse_address(addr)
    steps = call(address, None, encode_command([b"CLIENT", b"NEARCACHE"]), 1, "CLIENT NEARCACHE", False, timeout,
                 timeout, _MAX_HANDOVER)
    try:
        (reply,), conn = drive(steps, functools.partial(_Handing, address))
    except ServerError as e:  # the handshake's AUTH or SELECT refused
        raise Refused(str(e)) from None
    try:
        if isinstance(reply, ServerError):
            raise Refused(str(reply))
        if reply != "OK":
            raise ProtocolError(f"CLIENT NEARCACHE: unexpected reply {reply!r:.80}")
        if len(conn.fds) != 1:
            raise Refused("no descriptor came with the server's reply")
        st = os.fstat(conn.fds[0])
        if st.st_uid not in (os.getuid(), 0) or st.st_mode & 0o022:
            raise Refused(
                f"the server's table is a file others could shrink (owner uid {st.st_uid}, mode {st.st_mode & 0o777:o}), "
                "and a read of a shrunk mapping would crash this process: the near cache needs a server run by this user or root"
            )
        size = st.st_size
        if size < HEADER * 8 or size % 8:
            raise Refused(f"the server's table has a wrong size ({size} bytes)")
        table = mmap.mmap(conn.fds[0], size, mmap.MAP_SHARED, mmap.PROT_READ)
    finally:
        conn.close()  # and the descriptor: the mapping keeps the table
    words = memoryview(table).cast("Q")
    slots = words[WORD_SLOTS]
    if words[WORD_MAGIC] != MAGIC or words[WORD_LAYOUT] != LAYOUT or slots & (slots - 1) or len(words) != HEADER + slots:
        raise Refused("the server's table has an unknown layout (a different version of tiny-mp-cache?)")
    return words


_nears: weakref.WeakSet[NearCache] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # A forked child keeps the entries and the mapping: both stay valid,
    # since every hit is checked against the table the server shares with
    # every process. Only the locks are new: another thread may have held
    # one at fork time.
    for near in list(_nears):
        near._lock = threading.Lock()


at_fork(after_in_child=_after_fork_in_child)

_warned: set[str] = set()


def _warn_once(reason: str) -> None:
    if reason not in _warned:
        _warned.add(reason)
        warnings.warn(f"tiny-mp-cache: near cache off: {reason}", RuntimeWarning, stacklevel=4)


def _size(key: str, value: bytes | None) -> int:
    """What an entry counts against near_cache_bytes: its key and value."""
    return len(key) if value is None else len(key) + len(value)


class NearCache:
    """A client's near cache: up to capacity entries (and max_bytes of keys and values), least recently used out first.

    An entry is (value, words, slot, version, epoch, deadline): the table it
    was filled against, the slot's version and the epoch read before the
    read was sent, and the key's deadline in Unix seconds (None: no TTL).
    """

    __slots__ = (
        "_lock", "_next_try", "_seen_epoch", "addr", "bytes", "capacity", "entries", "hit", "hits",
        "__weakref__", "max_bytes", "misses", "mode", "reason", "timeout", "words",
    )

    def __init__(self, addr: str, capacity: int, max_bytes: int | None, timeout: float):
        self.addr = addr
        self.capacity = capacity
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.entries: OrderedDict[str, tuple[Any, ...]] = OrderedDict()
        self.bytes = 0
        self.hits = 0
        self.misses = 0
        self.words: memoryview | None = None
        self.mode = "off"
        self.reason = off_reason(addr)
        self._next_try = 0.0 if not self.reason else float("inf")  # when handover may be tried (again)
        self._seen_epoch = -1
        self._lock = threading.Lock()  # guards bytes and changes to entries (hits only reorder them)
        _nears.add(self)
        self.hit = self.getter(_miss)  # MISS when there is no current value
        if self.reason:
            _warn_once(self.reason)
        else:
            self._attach()

    @property
    def available(self) -> bool:
        """False when this address can never have a near cache (TCP, redis://, a refusing server)."""
        return self._next_try != float("inf")

    def getter(self, fill: Callable[[str], Any]) -> Callable[[str], Any]:
        """A get(key) that serves a hit and calls fill(key) on a miss.

        One function rather than hit() and a call, since this is the path
        to keep short; hit() itself is the getter whose fill answers MISS.
        """
        lookup = self.entries.get
        to_end = self.entries.move_to_end
        now = time.time
        near = self

        if not VALIDATE:  # the seam: a near cache that ignores invalidation

            def get_unchecked(key: str) -> Any:
                try:
                    entry = lookup(key)
                except TypeError:
                    return fill(key)
                if entry is None:
                    return fill(key)
                near.hits += 1
                return entry[0]

            return get_unchecked

        def get(key: str) -> Any:
            try:
                entry = lookup(key)
            except TypeError:  # unhashable: the fill raises the usual TypeError
                return fill(key)
            if entry is not None:
                value, words, slot, version, epoch, deadline = entry
                if words[slot] == version and words[2] == epoch and (deadline is None or now() < deadline):
                    near.hits += 1
                    try:
                        to_end(key)
                    except KeyError:  # another thread dropped it meanwhile
                        pass
                    return value
            return fill(key)

        return get

    def _attach(self) -> memoryview | None:
        """Get the server's table (again); None, with reason set, when there is none for now."""
        if time.monotonic() < self._next_try:
            return None
        try:
            words = handover(self.addr, self.timeout)
        except Refused as e:
            self.reason, self._next_try = f"the server offers no near cache: {e}", float("inf")
            _warn_once(self.reason)
            return self._detach()
        except (OSError, ProtocolError) as e:
            self.reason = f"handover of the server's table failed ({e}); retried on a later miss"
            self._next_try = time.monotonic() + _RETRY
            return self._detach()
        self.clear()
        self.words, self.mode, self.reason = words, "shared-memory", ""
        self._seen_epoch = words[EPOCH]
        return words

    def _detach(self) -> None:
        self.clear()
        self.words, self.mode = None, "off"
        return None

    def stamp(self, key: bytes) -> tuple[memoryview, int, int, int] | None:
        """What a fill of key must record, read before the read is sent: (words, slot, version, epoch); None: do not keep it."""
        words = self.words
        if words is None or words[EPOCH] & DEAD:
            words = self._attach()  # the server stopped, or a new one fenced its table: ask again
            if words is None:
                return None
        epoch = words[EPOCH]
        if epoch & DEAD:
            return None
        slot = HEADER + (zlib.crc32(key) & (len(words) - HEADER - 1))
        version = words[slot]
        if epoch != self._seen_epoch:  # a flush: everything held is stale
            self.clear()
            self._seen_epoch = epoch
        return words, slot, version, epoch

    def keep(self, key: str, value: bytes | None, stamp: tuple[memoryview, int, int, int], expire_ms: int) -> None:
        """Keep value, read after stamp was taken, with its deadline (PEXPIRETIME's Unix ms, or -1/-2)."""
        with self._lock:
            self._put(key, value, stamp, expire_ms)
            self._evict()

    def _put(self, key: str, value: bytes | None, stamp: tuple[memoryview, int, int, int], expire_ms: int) -> None:
        """keep() without the lock (the caller holds it) and without evicting."""
        entries = self.entries
        old = entries.pop(key, None)
        if old is not None:
            self.bytes -= _size(key, old[0])
        size = _size(key, value)
        if self.max_bytes is not None and size > self.max_bytes:
            return  # bigger than the whole bound: not kept
        # The deadline is a millisecond early, so that rounding never keeps a value past it.
        entries[key] = (value, *stamp, None if expire_ms < 0 else (expire_ms - 1) / 1000)
        self.bytes += size

    def _evict(self) -> None:
        """Drop the least recently used entries until the bounds hold; the caller holds _lock."""
        entries = self.entries
        while len(entries) > self.capacity or (self.max_bytes is not None and self.bytes > self.max_bytes):
            k, e = entries.popitem(last=False)
            self.bytes -= _size(k, e[0])

    def drop(self, key: str) -> None:
        with self._lock:
            old = self.entries.pop(key, None)
            if old is not None:
                self.bytes -= _size(key, old[0])

    def clear(self) -> None:
        with self._lock:
            self.entries.clear()
            self.bytes = 0

    # --- what a client sends to fill, and what it does with the reply ---
    # The stamps are taken here, before the read is sent: read_* come before
    # the round trip, kept_* after it.

    def read_one(self, name: bytes) -> tuple[Command[Any], list[Arg], Any]:
        """The read that fills one key (GET and its deadline, in one round trip), and its stamp; a plain GET when the stamp is None."""
        self.misses += 1
        stamp = self.stamp(name)
        return (commands.GET if stamp is None else commands.GET_DEADLINE), [b"GET", name], stamp

    def kept_one(self, key: str, stamp: Any, result: Any) -> bytes | None:
        """Keep what read_one's command returned; the value."""
        if stamp is None:
            return result  # type: ignore[no-any-return]
        value, expire_ms = result
        self.keep(key, value, stamp, expire_ms)
        return value  # type: ignore[no-any-return]

    def read_many(self, names: list[bytes]) -> tuple[Command[Any], list[Arg], list[Any]]:
        """The read that fills several keys (MGET and their deadlines, in one round trip), and their stamps."""
        n = len(names)
        self.misses += n
        first = self.stamp(names[0])  # attaches, or clears on a flush, as each fill's first stamp does
        if first is None:
            return commands.mget_command(n), [b"MGET", *names], [None] * n
        words, _, _, epoch = first  # the epoch read before any slot: stamp()'s order, once for all
        mask = len(words) - HEADER - 1
        crc32 = zlib.crc32
        stamps = [first]
        for name in names[1:]:
            slot = HEADER + (crc32(name) & mask)
            stamps.append((words, slot, words[slot], epoch))
        return commands.mget_deadline_command(n), [b"MGET", *names], stamps

    def mget_plan(self, keys: Any) -> tuple[list[Any], tuple[Command[Any], list[Arg], Callable[[Any], list[Any]]] | None]:
        """An mget's hits, and the read that fills its misses: (values, None) when every key hit, else
        (values with MISS at the misses, (command, args, finish)), where finish(the command's result)
        keeps what was read and returns every value. Sans I/O: each client sends the command its way."""
        if isinstance(keys, (str, bytes, bytearray, memoryview)) or not isinstance(keys, Iterable):
            commands.keys_arg(keys)  # raises the usual TypeError
        keys = list(keys)
        hit = self.hit
        values = [hit(k) for k in keys]
        missing = [i for i, v in enumerate(values) if v is MISS]
        if not missing:
            return values, None
        names = [keys[i] for i in missing]
        command, args, stamps = self.read_many([commands.key_arg(k) for k in names])

        def finish(result: Any) -> list[Any]:
            for i, v in zip(missing, self.kept_many(names, stamps, result)):
                values[i] = v
            return values

        return values, (command, args, finish)

    def kept_many(self, keys: list[str], stamps: list[Any], result: Any) -> list[bytes | None]:
        """Keep what read_many's command returned; the values, in order."""
        if stamps[0] is None:  # no table for now: it was a plain MGET
            return result  # type: ignore[no-any-return]
        values, deadlines = result
        put = self._put
        with self._lock:  # once for all the keys
            for key, value, stamp, expire_ms in zip(keys, values, stamps, deadlines):
                # MGET's None is also its answer for a list, which GET answers with WRONGTYPE: keep it only
                # when PEXPIRETIME says there is no such key (-2; a list has -1 or a deadline).
                if value is not None or expire_ms == -2:
                    put(key, value, stamp, expire_ms)
            self._evict()
        return values  # type: ignore[no-any-return]

    def wrote(self, command: Command[Any], args: list[Arg]) -> None:
        """Drop what a write of this client's own changes (the server's bump makes it stale anyway).

        What a command writes is its Command's facts: writes, and where its
        keys are; a write that names no key (FLUSHDB) may change them all.
        """
        facts = commands.facts(command, args)
        if not facts.writes or not self.entries:
            return
        if facts.keys is None:
            self.clear()
            return
        for k in facts.key_args(args):
            self.drop(bytes(k).decode("utf-8", "surrogateescape"))

    def dropping_writes(self, execute: Callable[..., Any], execute_all: Callable[..., Any]) -> tuple[Callable[..., Any], Callable[..., Any]]:
        """A client's _execute and _execute_all, made to drop first what a write of its own changes (sync or async alike: they return what the originals return)."""
        wrote = self.wrote

        def _execute(command: Command[Any], args: list[Arg]) -> Any:
            wrote(command, args)
            return execute(command, args)

        def _execute_all(queue: list[tuple[Command[Any], list[Arg]]]) -> Any:
            for command, args in queue:
                wrote(command, args)
            return execute_all(queue)

        return _execute, _execute_all

    def stats(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "reason": self.reason,
            "hits": self.hits,
            "misses": self.misses,
            "entries": len(self.entries),
            "capacity": self.capacity,
            "bytes": self.bytes,
            "capacity_bytes": self.max_bytes,
        }


def off_stats(reason: str) -> dict[str, Any]:
    """near_cache_stats() of a client without a near cache."""
    return {"mode": "off", "reason": reason, "hits": 0, "misses": 0, "entries": 0, "capacity": 0,
            "bytes": 0, "capacity_bytes": None}


def check_options(near_cache: Any, near_cache_bytes: Any) -> int:
    """The checked near_cache (entries; 0 or None: off) and near_cache_bytes (None: no byte bound)."""
    if near_cache is None:
        near_cache = 0
    if isinstance(near_cache, bool) or not isinstance(near_cache, int):
        raise TypeError(f"near_cache must be an int (entries), not {type(near_cache).__name__}")
    if near_cache < 0:
        raise ValueError(f"near_cache must be >= 0 entries (0: off), got {near_cache}")
    if near_cache_bytes is not None:
        if isinstance(near_cache_bytes, bool) or not isinstance(near_cache_bytes, int):
            raise TypeError(f"near_cache_bytes must be an int (bytes) or None, not {type(near_cache_bytes).__name__}")
        if near_cache_bytes <= 0:
            raise ValueError(f"near_cache_bytes must be > 0 bytes, got {near_cache_bytes}")
    return near_cache
