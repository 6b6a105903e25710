"""The command layer: every operation of the clients, written once and sans-IO.

A command is what it sends (the RESP arguments its Commands method builds,
after checking them: a wrong type raises TypeError, a wrong value
ValueError, before anything is sent) and how its reply is read (its
Command's parse). Commands holds one method per operation; each ends in
self._execute(command, args), and the clients differ only in that method:

    TinyCache._execute       sends now, through the Go library or the pure-Python client
    Pipeline._execute        queues; Pipeline.execute() sends the queue in one round trip
    AsyncTinyCache._execute  a coroutine over asyncio streams

A transport moves bytes and returns the raw Reply; finish() turns it into
the result. The Go fast path (TMC_GET and friends, which skip RESP parsing
in Python) is a property of a Command: its `fast` names the operation in
go/capi/tmc.h.

This is the only place that knows which command each operation sends.
"""

from __future__ import annotations

import json
import math
import pickle
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Generic, TypeVar, Union

from ._errors import ProtocolError, ServerError
from ._resp import Arg, Reply

BytesLike = Union[bytes, bytearray, memoryview]
InfoValue = Union[str, int, float]

# The longest value sent: the server's default max_bulk, and Redis's
# proto-max-bulk-len. A longer one would be sent whole only for the server to
# drop the connection at its length line.
MAX_VALUE = 512 << 20

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


T = TypeVar("T")


# Where a command's keys are in its args, as Redis's COMMAND INFO gives them:
# (first, last, step), last counted from the end when negative.
ONE_KEY = (1, 1, 1)
EVERY_ARG = (1, -1, 1)  # DEL a b c, MGET a b c
PAIRS = (1, -1, 2)  # MSET k1 v1 k2 v2
BEFORE_LAST = (1, -2, 1)  # BLPOP a b timeout


class Command(Generic[T]):
    """Everything known about a command apart from its arguments, as Valkey's command table says it.

    names are the command names it sends (RPUSH and LPUSH are one Command).
    keys are where its keys are in its args ((first, last, step), see
    ONE_KEY; None: it names no key), and writes says it changes them: a
    write that names no key (FLUSHDB) may change every key. The near cache
    drops what a write of its own client changes, from these two.
    request and response say how a Redis Cluster runs it, with Valkey's
    request and response policies: None (sent to the master of its first
    key, or to any master when it has none), "all_shards" (to every
    master), "multi_shard" (its keys split by slot, one command per
    master), "special" (SCAN), "transaction" (MULTI: a pipeline that opens with it
    goes whole to the master of its keys); the replies merged by "agg_sum" (added),
    "all_succeeded" (OK if every master said so), or for None the
    policy's default (all_shards: the lists joined, sorted; multi_shard:
    the values in the order of the keys).

    parse turns the reply into the result (raising Unexpected on a reply
    of the wrong shape). fast names the Go library's operation that runs
    the command and returns its reply already parsed into the value RESP
    parsing would give (TMC_GET returns the value, or None; see
    go/capi/tmc.h); the Go transport uses it when the library is there.
    idempotent commands, those safe to send
    twice (reads, and DEL), are resent once on a fresh connection when the
    one they were sent on turns out broken, on every path: a fast path
    knows its own, and tmc_command and tmc_pipeline are told. A pipeline is
    resent only if every command in it is idempotent. A blocking command (BLPOP)
    waits on the server: its last argument is that wait in seconds, 0 for
    no limit, and the call's time limit grows by as much (wait()).

    Sent with no args at all, a command is answered locally with
    parse(None): mget([]) is [] without a round trip (MGET with no keys is
    an error in Redis).

    sends, when set, makes one Command of several RESP commands written at
    once: sends(args) lists them, and parse gets the list of their replies
    (error replies as ServerError values in it), as a fast path returns it
    too. Only TinyCache and AsyncTinyCache send such a Command, not a
    Pipeline.

    shares marks the commands of values in shared memory (TMC.SETFD,
    TMC.GETFD; see _shared): TinyCache sends them on a connection that
    passes descriptors, or, where the server cannot, as unshared() says.
    """

    __slots__ = ("blocking", "fast", "idempotent", "keys", "names", "parse", "request", "response", "sends", "shares", "writes")

    def __init__(
        self,
        parse: Callable[[Reply], T],
        *names: bytes,
        keys: tuple[int, int, int] | None = None,
        writes: bool = False,
        request: str | None = None,
        response: str | None = None,
        fast: str | None = None,
        idempotent: bool = False,
        blocking: bool = False,
        sends: Callable[[list[Arg]], list[list[Arg]]] | None = None,
        shares: bool = False,
    ):
        self.parse = parse
        self.names = names
        self.keys = keys
        self.writes = writes
        self.request = request
        self.response = response
        self.fast = fast
        self.idempotent = idempotent
        self.blocking = blocking
        self.sends = sends
        self.shares = shares

    def then(self, after: Callable[[T], Any]) -> Command[Any]:
        """This command with after applied to its result, as it travels: every fact (fast path, retry, wait, keys, writes) stays."""
        parse = self.parse
        return self.parsing(lambda reply: after(parse(reply)))

    def parsing(self, parse: Callable[[Reply], Any]) -> Command[Any]:
        """This command with another parse: every other fact stays written once (mget_command's count check)."""
        copy: Command[Any] = Command.__new__(Command)
        for slot in Command.__slots__:
            setattr(copy, slot, getattr(self, slot))
        copy.parse = parse
        return copy

    def key_args(self, args: list[Arg]) -> list[Arg]:
        """The keys among args, where keys says they are."""
        if self.keys is None:
            return []
        first, last, step = self.keys
        return args[first : (last + 1) or None : step]

    def facts(self) -> tuple[Any, ...]:
        """What a name says about a command, whichever Command of that name sends it (tests hold them equal)."""
        return (self.keys, self.writes, self.request, self.response)

    def wait(self, args: list[Arg]) -> float | None:
        """How much longer than the client's timeout a call may take: 0.0, seconds, or None (no limit)."""
        if not self.blocking:
            return 0.0
        seconds = float(bytes(args[-1]))
        return None if seconds == 0 else seconds


class Unexpected(Exception):
    """A reply of the wrong shape; finish() turns it into a ProtocolError."""


def finish(command: Command[T], args: list[Arg], reply: Reply) -> T:
    """The result of command, given its reply. An error reply is raised as ServerError."""
    if isinstance(reply, ServerError):
        raise reply
    try:
        return command.parse(reply)
    except Unexpected:
        name = bytes(args[0]).decode("utf-8", "replace") if args else "?"
        text = repr(reply)
        raise ProtocolError(f"{name}: unexpected reply {text if len(text) <= 80 else text[:77] + '...'}") from None


def idempotent(queue: list[tuple[Command[Any], list[Arg]]]) -> bool:
    """Whether a pipeline's queue may be sent twice: every command in it that is sent may."""
    return all(command.idempotent for command, args in queue if args)


def finish_all(queue: list[tuple[Command[Any], list[Arg]]], replies: list[Reply]) -> list[Any]:
    """The results of a pipeline's queue, given the replies of the commands it sent (those with args).

    If any command got an error reply (or a reply of the wrong shape), the
    first such error is raised once every reply has been read.
    """
    sent = iter(replies)
    results: list[Any] = []
    first_error: Exception | None = None
    for command, args in queue:
        try:
            results.append(finish(command, args, next(sent)) if args else command.parse(None))
        except (ServerError, ProtocolError) as e:
            results.append(e)
            first_error = first_error or e
    if first_error is not None:
        raise first_error
    return results


# --- argument checks ------------------------------------------------------------


def key_arg(key: Any, what: str = "key") -> bytes:
    """A key (or pattern) as bytes. Keys are str; surrogateescape round-trips non-UTF-8 keys."""
    if not isinstance(key, str):
        raise TypeError(f"{what} must be str, not {type(key).__name__}")
    return key.encode("utf-8", "surrogateescape")


def value_arg(value: Any, what: str = "value") -> Arg:
    """A bytes-like value as bytes or a flat byte view, without a copy when it is contiguous.

    bytes, the usual value, is returned as it is: it is flat already, and a
    memoryview of it would cost a set() about as much as its own call into Go.
    """
    if value.__class__ is bytes:
        if len(value) > MAX_VALUE:
            raise _too_long(what, len(value))
        return value
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(value).__name__}")
    view = memoryview(value)
    if view.nbytes > MAX_VALUE:
        raise _too_long(what, view.nbytes)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


def _too_long(what: str, size: int) -> ValueError:
    return ValueError(
        f"{what} of {size} bytes ({size / (1 << 20):.1f} MiB) is over the 512 MiB limit of one value, "
        "a server's max_bulk (Redis: proto-max-bulk-len) unless raised; nothing was sent. "
        "Store it in parts under several keys"
    )


def keys_arg(keys: Any, what: str = "keys") -> list[bytes]:
    """A list (or other iterable, but not a single str) of keys."""
    if isinstance(keys, (str, bytes, bytearray, memoryview)) or not isinstance(keys, Iterable):
        raise TypeError(f"{what} must be a list of str, not {type(keys).__name__}")
    return [key_arg(k, "each key") for k in keys]


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, not {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    return value


def ttl_ms(ttl: Any, what: str = "ttl") -> bytes:
    """A time to live in seconds (> 0, float allowed) as whole milliseconds, rounded up.

    Rounding up means a tiny ttl is 1 ms, never 0 (which Redis refuses).
    """
    seconds = _number(ttl, what)
    if seconds <= 0:
        raise ValueError(f"{what} must be > 0 seconds, got {ttl!r}; use delete() to remove a key now")
    # round() first, so that 0.3 s is 300 ms and not 301 (0.3 * 1000 = 300.00000000000006).
    ms = max(1, math.ceil(round(seconds * 1000, 6)))
    if ms > INT64_MAX:
        raise ValueError(f"{what} is too large: {ttl!r} seconds")
    return b"%d" % ms


def int64_arg(n: Any, what: str) -> bytes:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{what} must be int, not {type(n).__name__}")
    if not INT64_MIN <= n <= INT64_MAX:
        raise ValueError(f"{what} must fit in a signed 64-bit integer, got {n}")
    return b"%d" % n


def command_arg(arg: Any) -> Arg:
    """An argument of execute_command: str (UTF-8), bytes-like, int or float."""
    if isinstance(arg, str):
        return arg.encode("utf-8", "surrogateescape")
    if isinstance(arg, (bytes, bytearray, memoryview)):
        return value_arg(arg, "each argument")
    if isinstance(arg, int) and not isinstance(arg, bool):
        return b"%d" % arg
    if isinstance(arg, float):
        if not math.isfinite(arg):
            raise ValueError(f"a float argument must be finite, got {arg!r}")
        return repr(arg).encode()
    raise TypeError(f"each argument must be str, bytes-like, int or float, not {type(arg).__name__}")


# --- reply converters -------------------------------------------------------------


def _ok(reply: Reply) -> None:
    if reply != "OK":
        raise Unexpected
    return None


def _bulk(reply: Reply) -> bytes | None:
    if reply is not None and not isinstance(reply, bytes):
        raise Unexpected
    return reply


def _int(reply: Reply) -> int:
    if not isinstance(reply, int):
        raise Unexpected
    return reply


def _bool(reply: Reply) -> bool:
    if reply not in (0, 1) or not isinstance(reply, int):
        raise Unexpected
    return reply == 1


def _seconds(reply: Reply) -> float:
    """PTTL's milliseconds as seconds; -1 (no TTL) and -2 (no key) become -1.0 and -2.0."""
    ms = _int(reply)
    return float(ms) if ms < 0 else ms / 1000


def _bulks(reply: Reply) -> list[bytes | None]:
    if not isinstance(reply, list) or not all(v is None or isinstance(v, bytes) for v in reply):
        raise Unexpected
    return reply


def _status(reply: Reply) -> str:
    if not isinstance(reply, str):
        raise Unexpected
    return reply


def _decode_key(key: Reply) -> str:
    if not isinstance(key, bytes):
        raise Unexpected
    return key.decode("utf-8", "surrogateescape")


def _keys(reply: Reply) -> list[str]:
    if not isinstance(reply, list):
        raise Unexpected
    return [_decode_key(k) for k in reply]


def _popped(reply: Reply) -> tuple[str, bytes] | None:
    if reply is None:
        return None
    if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[1], bytes):
        raise Unexpected
    return _decode_key(reply[0]), reply[1]


def _scanned(reply: Reply) -> tuple[bytes, list[str]]:
    if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[0], bytes):
        raise Unexpected
    return reply[0], _keys(reply[1])


def _raw(reply: Reply) -> Reply:
    return reply


_INT = re.compile(r"-?[0-9]+\Z")
_FLOAT = re.compile(r"-?[0-9]+\.[0-9]+\Z")


def parse_info(text: str) -> dict[str, InfoValue]:
    """Parse INFO's "field:value" lines; "# Section" headers and blank lines are skipped.

    Integers become int and decimals float; everything else, and every
    field whose name ends in "version", stays str.
    """
    info: dict[str, InfoValue] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        field, sep, value = line.partition(":")
        if not sep:
            continue
        if field.endswith("version"):
            info[field] = value
        elif _INT.match(value):
            info[field] = int(value)
        elif _FLOAT.match(value):
            info[field] = float(value)
        else:
            info[field] = value
    return info


def _info(reply: Reply) -> dict[str, InfoValue]:
    if not isinstance(reply, bytes):
        raise Unexpected
    return parse_info(reply.decode("utf-8", "replace"))


# stats() key -> INFO field. These fields have the same names in Redis.
STATS_FIELDS = {
    "used_memory": "used_memory",
    "max_memory": "maxmemory",
    "hits": "keyspace_hits",
    "misses": "keyspace_misses",
    "evictions": "evicted_keys",
    "expirations": "expired_keys",
    "connected_clients": "connected_clients",
    "commands_processed": "total_commands_processed",
}


def _stats_of(db: int) -> Callable[[Reply], dict[str, int]]:
    def convert(reply: Reply) -> dict[str, int]:
        info = _info(reply)
        # The Keyspace section has "db0:keys=3,expires=1,avg_ttl=0", and no
        # line at all for an empty database.
        keyspace = dict(
            item.partition("=")[::2] for item in str(info.get(f"db{db}", "keys=0")).split(",")
        )
        found: dict[str, Any] = {"keys": keyspace.get("keys")}
        for name, field in STATS_FIELDS.items():
            found[name] = info.get(field)
        stats: dict[str, int] = {}
        for name, value in found.items():
            if isinstance(value, str) and _INT.match(value):
                value = int(value)
            if not isinstance(value, int):
                raise ProtocolError(f"INFO has no integer {STATS_FIELDS.get(name, f'db{db} keys')}")
            stats[name] = value
        return stats

    return convert


# --- the commands ----------------------------------------------------------------

SET = Command(_ok, b"SET", keys=ONE_KEY, writes=True, fast="TMC_SET")  # SET key value: TMC_SET takes exactly these
SET_TTL = Command(_ok, b"SET", keys=ONE_KEY, writes=True)  # SET key value PX ms
GET = Command(_bulk, b"GET", keys=ONE_KEY, fast="TMC_GET", idempotent=True)
GETDEL = Command(_bulk, b"GETDEL", keys=ONE_KEY, writes=True, fast="TMC_GETDEL")
DEL = Command(_int, b"DEL", keys=EVERY_ARG, writes=True, request="multi_shard", response="agg_sum",
              fast="TMC_DEL", idempotent=True)
KEYS = Command(_keys, b"KEYS", request="all_shards", fast="TMC_KEYS", idempotent=True)
DBSIZE = Command(_int, b"DBSIZE", request="all_shards", response="agg_sum", fast="TMC_DBSIZE", idempotent=True)
MGET = Command(_bulks, b"MGET", keys=EVERY_ARG, request="multi_shard", fast="TMC_MGET", idempotent=True)
MSET = Command(_ok, b"MSET", keys=PAIRS, writes=True, request="multi_shard", response="all_succeeded")
PEXPIRE = Command(_bool, b"PEXPIRE", keys=ONE_KEY, writes=True)
PTTL = Command(_seconds, b"PTTL", keys=ONE_KEY, idempotent=True)
PERSIST = Command(_bool, b"PERSIST", keys=ONE_KEY, writes=True)
RPUSH = Command(_int, b"RPUSH", keys=ONE_KEY, writes=True, fast="TMC_RPUSH")  # TMC_RPUSH takes one value; more go as a plain command
LPUSH = Command(_int, b"LPUSH", keys=ONE_KEY, writes=True, fast="TMC_LPUSH")
BLPOP = Command(_popped, b"BLPOP", keys=BEFORE_LAST, writes=True, blocking=True)
LLEN = Command(_int, b"LLEN", keys=ONE_KEY, idempotent=True)
INCRBY = Command(_int, b"INCRBY", b"DECRBY", keys=ONE_KEY, writes=True)
EXISTS = Command(_int, b"EXISTS", keys=EVERY_ARG, request="multi_shard", response="agg_sum", idempotent=True)
TYPE = Command(_status, b"TYPE", keys=ONE_KEY, idempotent=True)
FLUSHDB = Command(_ok, b"FLUSHDB", writes=True, request="all_shards", response="all_succeeded")
SCAN = Command(_scanned, b"SCAN", request="special", idempotent=True)
INFO = Command(_info, b"INFO", idempotent=True)
# execute_command's: its reply as it is, and the facts of its name's command (facts_of), or
# an unknown command's: its key, if any, is its first argument, as most commands'.
RAW = Command(_raw, keys=ONE_KEY)

# Commands no method sends, only execute_command: here for their facts alone (facts_of).
FLUSHALL = Command(_raw, b"FLUSHALL", writes=True, request="all_shards", response="all_succeeded")
UNLINK = Command(_raw, b"UNLINK", keys=EVERY_ARG, writes=True, request="multi_shard", response="agg_sum")
TOUCH = Command(_raw, b"TOUCH", keys=EVERY_ARG, request="multi_shard", response="agg_sum")
KEYLESS = Command(_raw, b"PING", b"ECHO", b"CONFIG", b"CLIENT", b"TIME", b"HELLO")
MULTI = Command(_raw, b"MULTI", request="transaction")  # a cluster sends the whole transaction to its keys' master


# --- values in shared memory (see _shared) ---


def _unmapped(view: memoryview) -> bytes:
    """The bytes of a shared value's mapping, which is then unmapped at once."""
    data = bytes(view)
    mapping = view.obj
    view.release()
    mapping.close()  # type: ignore[union-attr]  # an mmap: see _shared.map_sealed
    return data


def _shared_bytes(reply: Reply) -> bytes | None:
    """TMC.GETFD's reply as GET's: a shared value arrives mapped (a memoryview), any other as bytes."""
    if reply.__class__ is memoryview:
        return _unmapped(reply)  # type: ignore[arg-type]
    return _bulk(reply)


def _shared_view(reply: Reply) -> memoryview | None:
    """TMC.GETFD's (or GET's) reply as a read-only buffer: the mapping itself, or a view of the bytes."""
    if reply.__class__ is memoryview:
        return reply  # type: ignore[return-value]
    value = _bulk(reply)
    return None if value is None else memoryview(value)


def _array(view: memoryview | None) -> Any:
    from . import _arrays

    return None if view is None else _arrays.load(view)


# TMC.SETFD key value [PX ms]: the transport writes value (a buffer, or a tuple of buffers sent one
# after another) into a sealed memfd, and sends its size in its place, with the descriptor.
SETFD = Command(_ok, b"TMC.SETFD", keys=ONE_KEY, writes=True, shares=True)
GETFD = Command(_shared_bytes, b"TMC.GETFD", keys=ONE_KEY, idempotent=True, shares=True)
# get()'s and pop()'s where values may be shared: GET and GETDEL, but a shared value's reply is the
# error "TMCSHARED <size>" (and TMC.GETDEL leaves it); TinyCache then reads it with TMC.GETFD or TMC.GETDELFD.
GET_SHARED = Command(_shared_bytes, b"TMC.GET", keys=ONE_KEY, fast="TMC_GET_SHARED", idempotent=True, shares=True)
GETDEL_SHARED = Command(_shared_bytes, b"TMC.GETDEL", keys=ONE_KEY, writes=True, fast="TMC_GETDEL_SHARED", shares=True)
GETDELFD = Command(_shared_bytes, b"TMC.GETDELFD", keys=ONE_KEY, writes=True, shares=True)
GETFD_VIEW = GETFD.parsing(_shared_view)
GETFD_ARRAY = GETFD_VIEW.then(_array)
GET_VIEW = GET.parsing(_shared_view)  # get_buffer and get_array where nothing is shared: a view of the bytes
GET_ARRAY = GET_VIEW.then(_array)


_BY_FD = {b"TMC.GET": b"TMC.GETFD", b"TMC.GETDEL": b"TMC.GETDELFD"}


def read_by_fd(args: list[Arg]) -> list[Arg] | None:
    """For get()'s TMC.GET and pop()'s TMC.GETDEL (GET_SHARED, GETDEL_SHARED): the command that reads a shared value they met."""
    name = _BY_FD.get(bytes(args[0]))
    return None if name is None else [name, args[1]]


def unshared(command: Command[Any], args: list[Arg]) -> tuple[Command[Any], list[Arg]]:
    """What to send instead of a shared-value command where the server keeps none: the plain command, same result."""
    name = command.names[0]
    if name == b"TMC.SETFD":
        value = args[2]
        if isinstance(value, tuple):
            value = b"".join(value)
        return (SET_TTL if len(args) > 3 else SET), [b"SET", args[1], value, *args[3:]]
    plain = GET if name in (b"TMC.GETFD", b"TMC.GET") else GETDEL
    return plain.parsing(command.parse), [plain.names[0], args[1]]


def mget_command(count: int) -> Command[list[bytes | None]]:
    """MGET of count keys: its reply must have count values."""

    def parse(reply: Reply) -> list[bytes | None]:
        if reply is None and count == 0:
            return []  # answered locally
        values = _bulks(reply)
        if len(values) != count:
            raise Unexpected
        return values

    return MGET.parsing(parse)


def _replies(reply: Reply, count: int) -> list[Reply]:
    """The replies of a Command with sends: count of them; the first error reply among them is raised."""
    if not isinstance(reply, list) or len(reply) != count:
        raise Unexpected
    for r in reply:
        if r.__class__ is ServerError:
            raise r
    return reply


def _value_deadline(reply: Reply) -> tuple[bytes | None, int]:
    # _replies(reply, 2), _bulk and _int, inlined: this is every near-cache fill's path.
    if reply.__class__ is not list or len(reply) != 2:  # type: ignore[arg-type]
        raise Unexpected
    value, deadline = reply  # type: ignore[misc]
    if value.__class__ is ServerError:
        raise value
    if deadline.__class__ is ServerError:
        raise deadline
    if (value is not None and value.__class__ is not bytes) or deadline.__class__ is not int:
        raise Unexpected
    return value, deadline


# GET key and PEXPIRETIME key in one write: (value, the key's deadline in Unix ms; -1: none, -2: no key).
# What the near cache reads on a miss; TMC_GET_DEADLINE skips RESP parsing in Python, as TMC_GET does.
GET_DEADLINE = Command(
    _value_deadline, b"GET", keys=ONE_KEY, fast="TMC_GET_DEADLINE", idempotent=True,
    sends=lambda args: [args, [b"PEXPIRETIME", args[1]]],
)


def _mget_deadlines(args: list[Arg]) -> list[list[Arg]]:
    return [args, *([b"PEXPIRETIME", k] for k in args[1:])]


MGET_DEADLINE = Command(
    _raw, b"MGET", keys=EVERY_ARG, request="multi_shard", fast="TMC_MGET_DEADLINE", idempotent=True, sends=_mget_deadlines
)


def mget_deadline_command(count: int) -> Command[tuple[list[bytes | None], list[int]]]:
    """MGET of count keys and PEXPIRETIME of each, in one write: (values, deadlines as GET_DEADLINE gives them)."""

    def parse(reply: Reply) -> tuple[list[bytes | None], list[int]]:
        replies = _replies(reply, 1 + count)
        values = _bulks(replies[0])
        deadlines = replies[1:]
        if len(values) != count or any(d.__class__ is not int for d in deadlines):
            raise Unexpected
        return values, deadlines

    return MGET_DEADLINE.parsing(parse)


def stats_command(db: int) -> Command[dict[str, int]]:
    return INFO.parsing(_stats_of(db))


def _local_none(reply: Reply) -> None:
    return None


NOTHING = Command(_local_none)  # mset({}): nothing to send, nothing to return


def _by_name(table: Iterable[Any]) -> dict[bytes, Command[Any]]:
    """Each name's Command, from the table of Commands above; two Commands of one name must agree on its facts."""
    by_name: dict[bytes, Command[Any]] = {}
    for command in table:
        if isinstance(command, Command):
            for name in command.names:
                other = by_name.setdefault(name, command)
                if other.facts() != command.facts():
                    raise AssertionError(f"two Commands of {name!r} disagree on its keys, writes or cluster policy")
    return by_name


# The one name -> Command lookup, derived from the table: for what execute_command and a cluster pipeline send.
BY_NAME = _by_name(list(globals().values()))


def facts_of(args: list[Arg]) -> Command[Any]:
    """The Command that says what args (a command, named by args[0]) touch: RAW's defaults for an unknown name."""
    return BY_NAME.get(bytes(args[0]).upper(), RAW) if args else RAW


def facts(command: Command[Any], args: list[Arg]) -> Command[Any]:
    """command itself, or for execute_command's RAW the Command its name is (facts_of)."""
    return facts_of(args) if command is RAW else command


# --- values: bytes, or a serializer's -----------------------------------------------


class _Json:
    """serializer="json": compact UTF-8 JSON."""

    @staticmethod
    def dumps(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")

    loads = staticmethod(json.loads)


class _Pickle:
    """serializer="pickle": the highest protocol."""

    @staticmethod
    def dumps(value: Any) -> bytes:
        return pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)

    loads = staticmethod(pickle.loads)


_SERIALIZERS: dict[str, Any] = {"json": _Json, "pickle": _Pickle}


class Values:
    """How a client's values travel: as bytes, the default (BYTES), or through a serializer.

    encode(value) is the argument set, mset and push send for a value; GET,
    GETDEL, BLPOP and mget(count) are the commands whose results hold
    values, which with a serializer end in its loads (None stays None).
    load is that loads for one value or None (None: values are bytes), for
    what does not come through a command: the near cache's hits.
    serializer is what the client was given, for pickling it.
    """

    __slots__ = ("BLPOP", "GET", "GETDEL", "GETDELFD", "GETFD", "encode", "load", "mget", "serializer")  # GETFD, GETDELFD: get()'s and pop()'s where values may be shared

    def __init__(self, serializer: Any = None):
        self.serializer = serializer
        if serializer is None:
            self.encode, self.load = value_arg, None
            self.GET, self.GETDEL, self.BLPOP, self.mget = GET, GETDEL, BLPOP, mget_command
            self.GETFD, self.GETDELFD = GET_SHARED, GETDEL_SHARED
            return
        if isinstance(serializer, str):
            if serializer not in _SERIALIZERS:
                raise ValueError(f"serializer must be None, \"json\", \"pickle\" or an object with dumps and loads, not {serializer!r}")
            serializer = _SERIALIZERS[serializer]
        dumps, loads = getattr(serializer, "dumps", None), getattr(serializer, "loads", None)
        if not (callable(dumps) and callable(loads)):
            raise TypeError(f"serializer must be None, \"json\", \"pickle\" or an object with dumps and loads, not {type(serializer).__name__}")

        def encode(value: Any) -> Arg:
            data = dumps(value)
            if isinstance(data, str):
                data = data.encode("utf-8")
            elif not isinstance(data, (bytes, bytearray, memoryview)):
                raise TypeError(f"the serializer's dumps() must return bytes or str, not {type(data).__name__}")
            return value_arg(data, "serialized value")

        def load(value: bytes | None) -> Any:
            return None if value is None else loads(value)

        def load_all(values: list[bytes | None]) -> list[Any]:
            return [None if v is None else loads(v) for v in values]

        def load_popped(popped: tuple[str, bytes] | None) -> tuple[str, Any] | None:
            return None if popped is None else (popped[0], loads(popped[1]))

        self.encode, self.load = encode, load
        self.GET, self.GETDEL, self.BLPOP = GET.then(load), GETDEL.then(load), BLPOP.then(load_popped)
        self.GETFD, self.GETDELFD = GET_SHARED.then(load), GETDEL_SHARED.then(load)
        self.mget = lambda count: mget_command(count).then(load_all)


BYTES = Values()


class Commands:
    """Every operation of the clients, written once. A subclass defines only _execute (and _db).

    Each method checks its arguments and builds the command, then returns
    self._execute(command, args): the result for TinyCache, an awaitable of
    it for AsyncTinyCache, the Pipeline itself for a Pipeline (which queues
    the call). The return types written here are TinyCache's.
    """

    __slots__ = ()

    # How values travel (see Values): bytes unless the client was given a serializer.
    _values: Values = BYTES
    # Values of at least this many bytes go through shared memory (_shared): None but in a
    # TinyCache on a unix socket whose server keeps them.
    _share_from: int | None = None

    def _execute(self, command: Command[T], args: list[Arg]) -> Any:
        raise NotImplementedError

    def _db(self) -> int:
        raise NotImplementedError

    # --- strings and keys ---

    def set(self, key: str, value: Any, ttl: float | None = None) -> Any:
        """Store value under key, replacing any value and TTL it had.

        value is bytes-like, or whatever the client's serializer takes.

        With ttl (seconds, > 0, a float is fine) the key expires after that
        long (SET key value PX ms, rounded up to whole milliseconds); an
        expired key is never returned. Without it the key never expires.
        """
        name = key_arg(key)
        data = self._values.encode(value)
        return self._set(name, data, len(data), ttl)

    def _set(self, name: bytes, data: Any, size: int, ttl: float | None) -> Any:
        """SET name data [PX ms], or TMC.SETFD when data (a buffer, or a tuple of them, of size bytes) is big enough to share."""
        share_from = self._share_from
        if share_from is not None and size >= share_from:
            return self._execute(SETFD, [b"TMC.SETFD", name, data] + ([] if ttl is None else [b"PX", ttl_ms(ttl)]))
        if isinstance(data, tuple):
            data = b"".join(data)
        if ttl is None:
            return self._execute(SET, [b"SET", name, data])
        return self._execute(SET_TTL, [b"SET", name, data, b"PX", ttl_ms(ttl)])

    def get(self, key: str) -> Any:
        """Return the value stored under key (bytes, or as the serializer loads it), or None when there is none."""
        if self._share_from is not None:
            return self._execute(self._values.GETFD, [b"TMC.GET", key_arg(key)])
        return self._execute(self._values.GET, [b"GET", key_arg(key)])

    def pop(self, key: str) -> Any:
        """Atomically take the value under key and delete the key (GETDEL): bytes or None.

        When several processes pop the same key, exactly one gets the value.
        """
        if self._share_from is not None:
            return self._execute(self._values.GETDELFD, [b"TMC.GETDEL", key_arg(key)])
        return self._execute(self._values.GETDEL, [b"GETDEL", key_arg(key)])

    def get_buffer(self, key: str) -> Any:
        """Return the bytes stored under key as a read-only buffer (memoryview), or None when there is none.

        A value kept in shared memory (see TinyCache's shared_from) comes
        without a copy: the view is a mapping of it, and stays valid, its
        bytes unchanged, for as long as it is held, even if the key is
        overwritten, deleted, evicted or expires meanwhile; the memory is
        then this process's until the view is released. Any other value is
        a view of its bytes. The serializer is not used.
        """
        if self._share_from is not None:
            return self._execute(GETFD_VIEW, [b"TMC.GETFD", key_arg(key)])
        return self._execute(GET_VIEW, [b"GET", key_arg(key)])

    def set_array(self, key: str, array: Any, ttl: float | None = None) -> Any:
        """Store a numpy array (dtype, shape and memory order) under key, without pickling and, if it is contiguous, without copying it.

        The value is the array as an .npy file (numpy.lib.format), so
        np.load(io.BytesIO(cache.get(key))) reads it too; a big one goes
        through shared memory, like any big value. The serializer is not
        used. ttl as for set(). Needs numpy.
        """
        from . import _arrays

        name = key_arg(key)
        header, data = _arrays.pieces(array)
        return self._set(name, (header, data), len(header) + data.nbytes, ttl)

    def get_array(self, key: str) -> Any:
        """Return the numpy array set_array stored under key, or None: read-only, and for a shared value without a copy (see get_buffer)."""
        if self._share_from is not None:
            return self._execute(GETFD_ARRAY, [b"TMC.GETFD", key_arg(key)])
        return self._execute(GET_ARRAY, [b"GET", key_arg(key)])

    def delete(self, key: str) -> Any:
        """Delete key: 1 if it existed, 0 if not."""
        return self._execute(DEL, [b"DEL", key_arg(key)])

    def keys(self, pattern: str) -> Any:
        """Return the keys (list of str) matching a Redis glob pattern ("job:*", "?", "[a-c]")."""
        return self._execute(KEYS, [b"KEYS", key_arg(pattern, "pattern")])

    def len(self) -> Any:
        """Return the number of keys on the server (DBSIZE)."""
        return self._execute(DBSIZE, [b"DBSIZE"])

    def mget(self, keys: Iterable[str]) -> Any:
        """Return the values of keys, in order: None where a key is missing (or holds a list). One round trip."""
        names = keys_arg(keys)
        return self._execute(self._values.mget(len(names)), [b"MGET", *names] if names else [])

    def mset(self, mapping: Mapping[str, Any]) -> Any:
        """Store every key and value of mapping at once (MSET). The keys lose any TTL they had."""
        if not isinstance(mapping, Mapping):
            raise TypeError(f"mapping must be a Mapping of str to bytes, not {type(mapping).__name__}")
        args: list[Arg] = [b"MSET"]
        encode = self._values.encode
        for key, value in mapping.items():
            args += [key_arg(key), encode(value)]
        return self._execute(MSET, args) if len(args) > 1 else self._execute(NOTHING, [])

    def incr(self, key: str, amount: int = 1) -> Any:
        """Add amount to the integer stored under key (0 when absent) and return the result (INCRBY).

        A value that is not a decimal 64-bit integer raises ServerError.
        """
        return self._execute(INCRBY, [b"INCRBY", key_arg(key), int64_arg(amount, "amount")])

    def decr(self, key: str, amount: int = 1) -> Any:
        """Subtract amount from the integer stored under key (0 when absent) and return the result (DECRBY)."""
        return self._execute(INCRBY, [b"DECRBY", key_arg(key), int64_arg(amount, "amount")])

    def exists(self, *keys: str) -> Any:
        """Return how many of keys exist; a key named twice counts twice, as in Redis."""
        if not keys:
            raise TypeError("exists() needs at least one key")
        return self._execute(EXISTS, [b"EXISTS", *(key_arg(k) for k in keys)])

    def type(self, key: str) -> Any:
        """Return the type of the value under key: "string", "list", or "none" when there is none."""
        return self._execute(TYPE, [b"TYPE", key_arg(key)])

    def flush(self) -> Any:
        """Delete every key of the database (FLUSHDB)."""
        return self._execute(FLUSHDB, [b"FLUSHDB"])

    # --- expiry ---

    def expire(self, key: str, ttl: float) -> Any:
        """Make key expire ttl seconds from now (> 0, float allowed). False when there is no such key."""
        return self._execute(PEXPIRE, [b"PEXPIRE", key_arg(key), ttl_ms(ttl)])

    def ttl(self, key: str) -> Any:
        """Return the seconds key has left to live, to the millisecond.

        As in Redis, -1.0 means the key exists but never expires, and -2.0
        that there is no such key.
        """
        return self._execute(PTTL, [b"PTTL", key_arg(key)])

    def persist(self, key: str) -> Any:
        """Remove key's TTL, so it never expires. False when the key is missing or had no TTL."""
        return self._execute(PERSIST, [b"PERSIST", key_arg(key)])

    # --- lists: a queue that does not poll ---

    def push(self, key: str, *values: Any, left: bool = False) -> Any:
        """Append values to the list under key, creating it, and return the list's new length (RPUSH).

        left=True prepends them instead (LPUSH), each in turn, so the last
        one ends up first. Together with bpop(), which takes from the left,
        push() makes a FIFO queue.
        """
        k = key_arg(key)
        if not values:
            raise TypeError("push() needs at least one value")
        encode = self._values.encode
        if left:
            return self._execute(LPUSH, [b"LPUSH", k, *(encode(v) for v in values)])
        return self._execute(RPUSH, [b"RPUSH", k, *(encode(v) for v in values)])

    def llen(self, key: str) -> Any:
        """Return the length of the list under key (0 when there is none)."""
        return self._execute(LLEN, [b"LLEN", key_arg(key)])

    def bpop(self, keys: str | Iterable[str], timeout: float) -> Any:
        """Take the first value of the first non-empty list among keys, waiting for one if needed (BLPOP).

        Returns (key, value), or None when timeout seconds pass first;
        timeout=0 waits forever. A blocked bpop wakes as soon as a value is
        pushed, and each value goes to exactly one waiter, the one that has
        waited longest. The wait is not cut short by the client's own
        timeout. It happens on a connection of its own, so other calls
        go on meanwhile. Not available in a Pipeline.
        """
        names = [key_arg(keys)] if isinstance(keys, str) else keys_arg(keys)
        if not names:
            raise ValueError("bpop() needs at least one key")
        seconds = _number(timeout, "timeout")
        if seconds < 0:
            raise ValueError(f"timeout must be >= 0 seconds (0 waits forever), got {timeout!r}")
        if seconds == 0:
            return self._execute(self._values.BLPOP, [b"BLPOP", *names, b"0"])
        ms = int(ttl_ms(seconds, "timeout"))  # at least 1 ms: "0.000" would wait forever
        return self._execute(self._values.BLPOP, [b"BLPOP", *names, b"%d.%03d" % divmod(ms, 1000)])

    # --- the server ---

    def info(self, section: str | None = None) -> Any:
        """Return the server's INFO (or one section of it, such as "memory") as a dict.

        Integer values are int, decimals float, the rest str (including
        versions such as redis_version).
        """
        if section is None:
            return self._execute(INFO, [b"INFO"])
        return self._execute(INFO, [b"INFO", key_arg(section, "section")])

    def stats(self) -> Any:
        """Return the server's counters, from INFO, under names that work with Redis too.

        keys (in this database), used_memory and max_memory (bytes; 0 = no
        bound), hits and misses (of reads), evictions, expirations,
        connected_clients and commands_processed.
        """
        return self._execute(stats_command(self._db()), [b"INFO"])

    def execute_command(self, *args: str | BytesLike | int | float) -> Any:
        """Send any command and return its reply: str for a status, bytes, int, None or a list.

        Arguments are str (sent as UTF-8), bytes-like, int or float. An
        error reply raises ServerError. The call is bounded by the timeout;
        commands that switch the connection's protocol (HELLO 3) or mode
        (SUBSCRIBE) break the connection for later calls.
        """
        if not args:
            raise TypeError("execute_command() needs at least the command name")
        return self._execute(RAW, [command_arg(a) for a in args])


def scan_args(match: Any, count: Any) -> tuple[bytes, bytes]:
    """The checked MATCH and COUNT of scan_iter."""
    pattern = key_arg(match, "match")
    n = int64_arg(count, "count")
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    return pattern, n


def scan(cursor: bytes, match: bytes, count: bytes) -> list[Arg]:
    return [b"SCAN", cursor, b"MATCH", match, b"COUNT", count]


class BytesView(Commands):
    """A client's commands with bytes values, whatever its serializer: memoize's, which serializes and signs its own.

    Its calls go through the client's _execute, connection, near cache
    bookkeeping and all; its reads go to the server, not to near-cache hits.
    """

    __slots__ = ("_client",)

    def __init__(self, client: Commands):
        self._client = client

    def _execute(self, command: Command[T], args: list[Arg]) -> Any:
        return self._client._execute(command, args)

    def _db(self) -> int:
        return self._client._db()
