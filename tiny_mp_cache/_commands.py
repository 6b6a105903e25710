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
import mmap
import pickle
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Generic, TypeVar, Union

from ._copyout import copy_out
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
    ONE_KEY; None: it names no key); numkeys, for a command whose keys
    follow a count of them (ZUNION 2 a b), is that count's index, and the
    keys it counts are keys too (Redis's movablekeys); writes says it changes them: a
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

    __slots__ = ("blocking", "fast", "idempotent", "keys", "names", "numkeys", "parse", "request", "response", "sends", "shares", "writes")

    def __init__(
        self,
        parse: Callable[[Reply], T],
        *names: bytes,
        keys: tuple[int, int, int] | None = None,
        numkeys: int | None = None,
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
        self.numkeys = numkeys
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
        """The keys among args, where keys and numkeys say they are."""
        found: list[Arg] = []
        if self.keys is not None:
            first, last, step = self.keys
            found = args[first : (last + 1) or None : step]
        if self.numkeys is not None and self.numkeys < len(args):
            try:
                count = int(bytes(args[self.numkeys]))
            except ValueError:
                count = 0
            if 0 < count < len(args) - self.numkeys:
                found = found + args[self.numkeys + 1 : self.numkeys + 1 + count]
        return found

    def facts(self) -> tuple[Any, ...]:
        """What a name says about a command, whichever Command of that name sends it (tests hold them equal)."""
        return (self.keys, self.numkeys, self.writes, self.request, self.response)

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


def _channel_arg(channel: Any) -> bytes:
    if isinstance(channel, str):
        return channel.encode("utf-8", "surrogateescape")
    if isinstance(channel, (bytes, bytearray, memoryview)):
        return bytes(channel)
    raise TypeError(f"channel must be str or bytes, not {type(channel).__name__}")


def _message_arg(message: Any) -> Arg:
    if isinstance(message, str):
        return message.encode("utf-8", "surrogateescape")
    if isinstance(message, (bytes, memoryview)):
        return message
    if isinstance(message, bytearray):
        return bytes(message)
    if isinstance(message, (int, float)) and not isinstance(message, bool):
        return repr(message).encode()
    raise TypeError(f"message must be str, bytes or a number, not {type(message).__name__}")


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


def name_arg(name: Any, what: str = "field") -> Arg:
    """A hash's field name or a set's member: str (sent as UTF-8) or bytes-like."""
    if isinstance(name, str):
        return name.encode("utf-8", "surrogateescape")
    if isinstance(name, (bytes, bytearray, memoryview)):
        return value_arg(name, what)
    raise TypeError(f"{what} must be str or bytes-like, not {type(name).__name__}")


def names_arg(names: Any, what: str = "fields") -> list[Arg]:
    """A list (or other iterable, but not a single str or bytes) of field names or members."""
    if isinstance(names, (str, bytes, bytearray, memoryview)) or not isinstance(names, Iterable):
        raise TypeError(f"{what} must be a list of str or bytes, not {type(names).__name__}")
    return [name_arg(n, "each of " + what) for n in names]


def keys_arg(keys: Any, what: str = "keys") -> list[bytes]:
    """A list (or other iterable, but not a single str) of keys."""
    if isinstance(keys, (str, bytes, bytearray, memoryview)) or not isinstance(keys, Iterable):
        raise TypeError(f"{what} must be a list of str, not {type(keys).__name__}")
    return [key_arg(k, "each key") for k in keys]


def _keys_and_args(numkeys: Any, keys_and_args: tuple[Any, ...]) -> list[bytes]:
    if isinstance(numkeys, bool) or not isinstance(numkeys, int):
        raise TypeError(f"numkeys must be int, not {type(numkeys).__name__}")
    if not 0 <= numkeys <= len(keys_and_args):
        raise ValueError(f"numkeys must be between 0 and the {len(keys_and_args)} keys and args given, got {numkeys}")
    return [b"%d" % numkeys, *(command_arg(a) for a in keys_and_args)]



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


def wait_arg(timeout: Any) -> bytes:
    """A blocking command's timeout: seconds >= 0 (0 waits forever), sent in whole milliseconds, at least 1."""
    seconds = _number(timeout, "timeout")
    if seconds < 0:
        raise ValueError(f"timeout must be >= 0 seconds (0 waits forever), got {timeout!r}")
    if seconds == 0:
        return b"0"
    ms = int(ttl_ms(seconds, "timeout"))  # at least 1 ms: "0.000" would wait forever
    return b"%d.%03d" % divmod(ms, 1000)


def data_arg(value: Any, what: str = "value") -> Arg:
    """Bytes for a string command (APPEND, SETRANGE): str (sent as UTF-8) or bytes-like."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return value_arg(value, what)


def member_arg(member: Any) -> Arg:
    """A sorted set's member: str (sent as UTF-8) or bytes-like."""
    if isinstance(member, str):
        return member.encode("utf-8", "surrogateescape")
    return value_arg(member, "member")


def score_arg(score: Any, what: str = "score") -> bytes:
    """A score: an int or a float (inf and -inf too, not NaN), written so that it reads back exactly."""
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise TypeError(f"{what} must be int or float, not {type(score).__name__}")
    if isinstance(score, int):
        return b"%d" % score
    if math.isnan(score):
        raise ValueError(f"{what} must not be NaN")
    return b"inf" if score == math.inf else b"-inf" if score == -math.inf else repr(score).encode()


def bound_arg(bound: Any, what: str) -> bytes:
    """One end of a score range: a number, or a str as Redis reads it ("(1" exclusive, "-inf", "+inf")."""
    if isinstance(bound, str):
        return bound.encode()
    return score_arg(bound, what)


def stream_id_arg(id: Any) -> bytes:
    """A stream ID, or one end of a range: str ("1-2", "*", "-", "(1-2") or bytes."""
    if isinstance(id, str):
        return id.encode()
    if isinstance(id, bytes):
        return id
    raise TypeError(f"a stream ID must be str or bytes, not {type(id).__name__}")


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


def _sha(reply: Reply) -> str:
    if not isinstance(reply, bytes):
        raise Unexpected
    return reply.decode()


def _exists(reply: Reply) -> list[bool]:
    if not isinstance(reply, list) or not all(x in (0, 1) and isinstance(x, int) for x in reply):
        raise Unexpected
    return [x == 1 for x in reply]


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


def _pairs(reply: Reply) -> dict[bytes, bytes]:
    """HGETALL's fields and values: a RESP3 map, or RESP2's flat array of them."""
    if isinstance(reply, dict):
        items = list(reply.items())
    elif isinstance(reply, list) and len(reply) % 2 == 0:
        items = list(zip(reply[::2], reply[1::2]))
    else:
        raise Unexpected
    if not all(isinstance(f, bytes) and isinstance(v, bytes) for f, v in items):
        raise Unexpected
    return dict(items)


def _members(reply: Reply) -> set[bytes]:
    """A set's members: a RESP3 set, or RESP2's array of them."""
    if not isinstance(reply, (list, set)) or not all(isinstance(m, bytes) for m in reply):
        raise Unexpected
    return set(reply)


def _lpos(reply: Reply) -> int | list[int] | None:
    """LPOS's index, None, or with COUNT a list of indexes."""
    if isinstance(reply, list):
        return [_int(i) for i in reply]
    return _rank(reply)


def _score(reply: Reply) -> float | None:
    """A score: a bulk string in RESP2 ("inf" included), a double in RESP3; None for no member."""
    if reply is None or isinstance(reply, float):
        return reply
    if not isinstance(reply, bytes):
        raise Unexpected
    try:
        return float(reply)
    except ValueError:
        raise Unexpected from None


def _rank(reply: Reply) -> int | None:
    return None if reply is None else _int(reply)


def _scored(reply: Reply) -> list[tuple[bytes, float]]:
    """Members with their scores: RESP2's flat member, score, ... or RESP3's pairs, as (member, score) tuples."""
    if not isinstance(reply, list):
        raise Unexpected
    if reply and isinstance(reply[0], list):
        pairs = reply
    elif len(reply) % 2 == 0:
        pairs = [reply[i : i + 2] for i in range(0, len(reply), 2)]
    else:
        raise Unexpected
    out = []
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2 or not isinstance(pair[0], bytes):
            raise Unexpected
        score = _score(pair[1])
        if score is None:
            raise Unexpected
        out.append((pair[0], score))
    return out


def _entries(reply: Reply) -> list[tuple[bytes, dict[bytes, bytes]]]:
    """A stream's entries: (ID, {field: value}) each; a null array (COUNT 0) is none."""
    if reply is None:
        return []
    if not isinstance(reply, list):
        raise Unexpected
    out = []
    for entry in reply:
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], bytes) or not isinstance(entry[1], list):
            raise Unexpected
        fields = entry[1]
        if len(fields) % 2 or not all(isinstance(f, bytes) for f in fields):
            raise Unexpected
        out.append((entry[0], dict(zip(fields[::2], fields[1::2]))))
    return out


def _zpopped(reply: Reply) -> tuple[str, bytes, float] | None:
    if reply is None:
        return None
    if not isinstance(reply, list) or len(reply) != 3 or not isinstance(reply[1], bytes):
        raise Unexpected
    score = _score(reply[2])
    if score is None:
        raise Unexpected
    return _decode_key(reply[0]), reply[1], score


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
# Hashes and sets. Field names and members come back as bytes; hash values through the serializer (Values).
HSET = Command(_int, b"HSET", keys=ONE_KEY, writes=True)
HGET = Command(_bulk, b"HGET", keys=ONE_KEY, idempotent=True)
HMGET = Command(_bulks, b"HMGET", keys=ONE_KEY, idempotent=True)
HGETALL = Command(_pairs, b"HGETALL", keys=ONE_KEY, idempotent=True)
HDEL = Command(_int, b"HDEL", keys=ONE_KEY, writes=True)
HEXISTS = Command(_bool, b"HEXISTS", keys=ONE_KEY, idempotent=True)
HLEN = Command(_int, b"HLEN", keys=ONE_KEY, idempotent=True)
HKEYS = Command(_bulks, b"HKEYS", b"HVALS", keys=ONE_KEY, idempotent=True)
HINCRBY = Command(_int, b"HINCRBY", keys=ONE_KEY, writes=True)
SADD = Command(_int, b"SADD", b"SREM", keys=ONE_KEY, writes=True)
SMEMBERS = Command(_members, b"SMEMBERS", keys=ONE_KEY, idempotent=True)
SISMEMBER = Command(_bool, b"SISMEMBER", keys=ONE_KEY, idempotent=True)
SCARD = Command(_int, b"SCARD", keys=ONE_KEY, idempotent=True)
SPOP = Command(_bulk, b"SPOP", keys=ONE_KEY, writes=True)
SPOP_COUNT = Command(_members, b"SPOP", keys=ONE_KEY, writes=True)
SINTER = Command(_members, b"SINTER", b"SUNION", b"SDIFF", keys=EVERY_ARG, idempotent=True)

# Pub/sub: PUBLISH is a command like any; subscribing is TinyCache.pubsub()'s (_pubsub).
PUBLISH = Command(_int, b"PUBLISH")

# Streams, and the set operations of sorted sets (whose keys follow a count of them).
XADD = Command(_bulk, b"XADD", keys=ONE_KEY, writes=True)
XRANGE = Command(_entries, b"XRANGE", b"XREVRANGE", keys=ONE_KEY, idempotent=True)
XLEN = Command(_int, b"XLEN", keys=ONE_KEY, idempotent=True)
XDEL = Command(_int, b"XDEL", b"XTRIM", keys=ONE_KEY, writes=True)
ZSTORE = Command(_int, b"ZUNIONSTORE", b"ZINTERSTORE", b"ZDIFFSTORE", keys=ONE_KEY, numkeys=2, writes=True)
ZSETOPS = Command(_raw, b"ZUNION", b"ZINTER", b"ZDIFF", b"ZINTERCARD", numkeys=1, idempotent=True)  # execute_command's

# Sorted sets.
ZADD = Command(_int, b"ZADD", keys=ONE_KEY, writes=True)
ZADD_INCR = Command(_score, b"ZADD", keys=ONE_KEY, writes=True)  # ZADD ... INCR: the new score, or None
ZINCRBY = Command(_score, b"ZINCRBY", keys=ONE_KEY, writes=True)
ZREM = Command(_int, b"ZREM", keys=ONE_KEY, writes=True)
ZREMRANGEBYSCORE = Command(_int, b"ZREMRANGEBYSCORE", keys=ONE_KEY, writes=True)
ZSCORE = Command(_score, b"ZSCORE", keys=ONE_KEY, idempotent=True)
ZCARD = Command(_int, b"ZCARD", b"ZCOUNT", keys=ONE_KEY, idempotent=True)
ZRANK = Command(_rank, b"ZRANK", b"ZREVRANK", keys=ONE_KEY, idempotent=True)
ZRANGE = Command(_bulks, b"ZRANGE", b"ZRANGEBYSCORE", keys=ONE_KEY, idempotent=True)
ZRANGE_WITHSCORES = Command(_scored, b"ZRANGE", b"ZRANGEBYSCORE", keys=ONE_KEY, idempotent=True)
ZPOP = Command(_scored, b"ZPOPMIN", b"ZPOPMAX", keys=ONE_KEY, writes=True)
BZPOP = Command(_zpopped, b"BZPOPMIN", b"BZPOPMAX", keys=BEFORE_LAST, writes=True, blocking=True)

# Scripting. A script may write any key (keys=None, writes=True: the near
# cache drops everything it holds), and is never resent: it may have run.
EVAL = Command(_raw, b"EVAL", b"EVALSHA", writes=True)
EVAL_RO = Command(_raw, b"EVAL_RO", b"EVALSHA_RO", idempotent=True)  # reads only: safe twice
SCRIPT = Command(_raw, b"SCRIPT", request="all_shards", idempotent=True)  # LOAD, EXISTS, FLUSH: each safe twice
SCRIPT_LOAD, SCRIPT_EXISTS, SCRIPT_FLUSH = SCRIPT.parsing(_sha), SCRIPT.parsing(_exists), SCRIPT.parsing(_ok)

# More strings, keys and lists.
TWO_KEYS = (1, 2, 1)  # RENAME src dst, COPY src dst [...], RPOPLPUSH src dst
APPEND = Command(_int, b"APPEND", b"SETRANGE", keys=ONE_KEY, writes=True)
GETRANGE = Command(_bulk, b"GETRANGE", b"SUBSTR", b"LINDEX", keys=ONE_KEY, idempotent=True)
STRLEN = Command(_int, b"STRLEN", keys=ONE_KEY, idempotent=True)
MSETNX = Command(_bool, b"MSETNX", keys=PAIRS, writes=True)  # atomic: a cluster sends it whole to its keys' master
RENAME = Command(_ok, b"RENAME", keys=TWO_KEYS, writes=True)
RENAMENX = Command(_bool, b"RENAMENX", b"COPY", keys=TWO_KEYS, writes=True)
RANDOMKEY = Command(_bulk, b"RANDOMKEY", idempotent=True)
LEDIT = Command(_ok, b"LSET", b"LTRIM", keys=ONE_KEY, writes=True)
LCOUNT = Command(_int, b"LINSERT", b"LREM", b"LPUSHX", b"RPUSHX", keys=ONE_KEY, writes=True)
LPOS = Command(_lpos, b"LPOS", keys=ONE_KEY, idempotent=True)
RPOPLPUSH = Command(_bulk, b"RPOPLPUSH", keys=TWO_KEYS, writes=True)
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
    """The bytes of a shared value's mapping, which is then let go: unmapped at once, but a slab's (kept, see _shared._Slabs)."""
    data = copy_out(view)
    mapping = view.obj
    view.release()
    if mapping.__class__ is mmap.mmap:  # a memfd of this value alone
        mapping.close()
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
        return self._execute(self._values.BLPOP, [b"BLPOP", *names, wait_arg(timeout)])

    # --- sorted sets ---

    def zadd(
        self, name: str, mapping: Mapping[Any, float], nx: bool = False, xx: bool = False, ch: bool = False,
        incr: bool = False, gt: bool = False, lt: bool = False,
    ) -> Any:  # fmt: skip
        """Add the members of mapping (member: score) to the sorted set under name, or update their scores (ZADD).

        Returns the number of members added (with ch, added or changed).
        nx only adds new members, xx only updates existing ones, gt and lt
        update only to a greater or lesser score; with incr, mapping's one
        score is added to the member's and the new score returned (None if
        a condition refused it). Members are str or bytes-like.
        """
        if not isinstance(mapping, Mapping) or not mapping:
            raise ValueError("zadd() needs a non-empty mapping of member to score")
        if nx and xx:
            raise ValueError("zadd() takes nx or xx, not both")
        if gt and lt or nx and (gt or lt):
            raise ValueError("zadd() takes one of nx, gt and lt")
        if incr and len(mapping) != 1:
            raise ValueError("zadd(incr=True) takes a mapping of exactly one member")
        args: list[Arg] = [b"ZADD", key_arg(name)]
        args += [flag for flag, on in ((b"NX", nx), (b"XX", xx), (b"GT", gt), (b"LT", lt), (b"CH", ch), (b"INCR", incr)) if on]
        for member, score in mapping.items():
            args += [score_arg(score), member_arg(member)]
        return self._execute(ZADD_INCR if incr else ZADD, args)

    def zincrby(self, name: str, amount: float, value: Any) -> Any:
        """Add amount to value's score in the sorted set under name (0 when absent) and return the new score (ZINCRBY)."""
        return self._execute(ZINCRBY, [b"ZINCRBY", key_arg(name), score_arg(amount, "amount"), member_arg(value)])

    def zrem(self, name: str, *values: Any) -> Any:
        """Remove values from the sorted set under name; return how many were there (ZREM)."""
        if not values:
            raise TypeError("zrem() needs at least one member")
        return self._execute(ZREM, [b"ZREM", key_arg(name), *(member_arg(v) for v in values)])

    def zscore(self, name: str, value: Any) -> Any:
        """Return value's score (float) in the sorted set under name, or None (ZSCORE)."""
        return self._execute(ZSCORE, [b"ZSCORE", key_arg(name), member_arg(value)])

    def zcard(self, name: str) -> Any:
        """Return the number of members of the sorted set under name (0 when there is none)."""
        return self._execute(ZCARD, [b"ZCARD", key_arg(name)])

    def zcount(self, name: str, min: Any, max: Any) -> Any:
        """Return how many members score between min and max: numbers, or str such as "(1" (exclusive) and "-inf"."""
        return self._execute(ZCARD, [b"ZCOUNT", key_arg(name), bound_arg(min, "min"), bound_arg(max, "max")])

    def zrank(self, name: str, value: Any) -> Any:
        """Return value's rank in the sorted set under name, lowest score first from 0, or None (ZRANK)."""
        return self._execute(ZRANK, [b"ZRANK", key_arg(name), member_arg(value)])

    def zrange(
        self, name: str, start: Any, end: Any, desc: bool = False, withscores: bool = False,
        byscore: bool = False, bylex: bool = False, offset: int | None = None, num: int | None = None,
    ) -> Any:  # fmt: skip
        """Return members of the sorted set under name, as ZRANGE selects them: a list of bytes,
        or of (member, score) tuples with withscores.

        By rank (start and end are ints, negative counting from the end),
        by score (byscore: numbers, or str such as "(1" and "+inf") or by
        member (bylex: "[a", "(a", "-", "+"); desc reverses the order (by
        score or member, give start as the upper end). offset and num, both
        or neither, skip and keep members of a byscore or bylex range.
        """
        if byscore and bylex:
            raise ValueError("zrange() takes byscore or bylex, not both")
        if (offset is None) != (num is None):
            raise ValueError("zrange() takes offset and num together")
        if offset is not None and not (byscore or bylex):
            raise ValueError("zrange(offset=, num=) needs byscore or bylex")
        if bylex and withscores:
            raise ValueError("zrange(bylex=True) returns no scores")
        if byscore:
            ends = [bound_arg(start, "start"), bound_arg(end, "end"), b"BYSCORE"]
        elif bylex:
            ends = [member_arg(start), member_arg(end), b"BYLEX"]
        else:
            ends = [int64_arg(start, "start"), int64_arg(end, "end")]
        args: list[Arg] = [b"ZRANGE", key_arg(name), *ends]
        if desc:
            args.append(b"REV")
        if offset is not None:
            args += [b"LIMIT", int64_arg(offset, "offset"), int64_arg(num, "num")]
        if withscores:
            args.append(b"WITHSCORES")
        return self._execute(ZRANGE_WITHSCORES if withscores else ZRANGE, args)

    def zrangebyscore(
        self, name: str, min: Any, max: Any, start: int | None = None, num: int | None = None, withscores: bool = False,
    ) -> Any:  # fmt: skip
        """Return the members scoring between min and max, lowest first (ZRANGEBYSCORE); start and num: a LIMIT."""
        if (start is None) != (num is None):
            raise ValueError("zrangebyscore() takes start and num together")
        args: list[Arg] = [b"ZRANGEBYSCORE", key_arg(name), bound_arg(min, "min"), bound_arg(max, "max")]
        if start is not None:
            args += [b"LIMIT", int64_arg(start, "start"), int64_arg(num, "num")]
        if withscores:
            args.append(b"WITHSCORES")
        return self._execute(ZRANGE_WITHSCORES if withscores else ZRANGE, args)

    def zremrangebyscore(self, name: str, min: Any, max: Any) -> Any:
        """Remove the members scoring between min and max; return how many (ZREMRANGEBYSCORE)."""
        return self._execute(ZREMRANGEBYSCORE, [b"ZREMRANGEBYSCORE", key_arg(name), bound_arg(min, "min"), bound_arg(max, "max")])

    def zpopmin(self, name: str, count: int | None = None) -> Any:
        """Remove and return the count (default 1) members with the lowest scores, as (member, score) tuples."""
        return self._zpop(b"ZPOPMIN", name, count)

    def zpopmax(self, name: str, count: int | None = None) -> Any:
        """Remove and return the count (default 1) members with the highest scores, as (member, score) tuples."""
        return self._zpop(b"ZPOPMAX", name, count)

    def _zpop(self, command: bytes, name: str, count: int | None) -> Any:
        args: list[Arg] = [command, key_arg(name)]
        if count is not None:
            args.append(int64_arg(count, "count"))
            if count < 0:
                raise ValueError(f"count must be >= 0, got {count}")
        return self._execute(ZPOP, args)

    def bzpopmin(self, keys: str | Iterable[str], timeout: float = 0) -> Any:
        """Take the lowest-scored member of the first non-empty sorted set among keys, waiting for one (BZPOPMIN).

        Returns (key, member, score), or None when timeout seconds pass
        first; as bpop(): timeout=0 waits forever, on a connection of its
        own, and each member goes to exactly one waiter.
        """
        return self._bzpop(b"BZPOPMIN", keys, timeout)

    def bzpopmax(self, keys: str | Iterable[str], timeout: float = 0) -> Any:
        """bzpopmin() for the highest-scored member (BZPOPMAX)."""
        return self._bzpop(b"BZPOPMAX", keys, timeout)

    def _bzpop(self, command: bytes, keys: str | Iterable[str], timeout: float) -> Any:
        names = [key_arg(keys)] if isinstance(keys, str) else keys_arg(keys)
        if not names:
            raise ValueError(f"{command.decode().lower()}() needs at least one key")
        return self._execute(BZPOP, [command, *names, wait_arg(timeout)])

    # --- streams (job results: RQ 3) ---

    def xadd(
        self, name: str, fields: Mapping[Any, Any], id: Any = "*", maxlen: int | None = None, approximate: bool = True,
        nomkstream: bool = False, minid: Any = None, limit: int | None = None,
    ) -> Any:  # fmt: skip
        """Append an entry of fields (field: value) to the stream under name and return its ID as bytes (XADD).

        id is "*" (the server picks one from its clock), "ms-*" or an
        explicit "ms-seq" above the stream's last. maxlen (the newest
        entries kept) or minid (the lowest ID kept) trims the stream after,
        about as much with approximate ("~"), exactly without; limit bounds
        an approximate trim. With nomkstream a missing stream is not
        created, and None returned. Fields and values are str, bytes-like,
        int or float.
        """
        if not isinstance(fields, Mapping) or not fields:
            raise ValueError("xadd() needs a non-empty mapping of field to value")
        args: list[Arg] = [b"XADD", key_arg(name)]
        if nomkstream:
            args.append(b"NOMKSTREAM")
        args += self._trim_args("xadd", maxlen, approximate, minid, limit)
        args.append(stream_id_arg(id))
        for field, value in fields.items():
            args += [command_arg(field), command_arg(value)]
        return self._execute(XADD, args)

    @staticmethod
    def _trim_args(method: str, maxlen: Any, approximate: bool, minid: Any, limit: Any) -> list[Arg]:
        if maxlen is not None and minid is not None:
            raise ValueError(f"{method}() takes maxlen or minid, not both")
        if limit is not None and not approximate:
            raise ValueError(f"{method}(limit=) needs approximate=True")
        if maxlen is not None:
            if int(int64_arg(maxlen, "maxlen")) < 0:
                raise ValueError(f"maxlen must be >= 0, got {maxlen}")
            args = [b"MAXLEN", b"~" if approximate else b"=", b"%d" % maxlen]
        elif minid is not None:
            args = [b"MINID", b"~" if approximate else b"=", stream_id_arg(minid)]
        else:
            if limit is not None:
                raise ValueError(f"{method}(limit=) needs maxlen or minid")
            return []
        if limit is not None:
            if int(int64_arg(limit, "limit")) < 0:
                raise ValueError(f"limit must be >= 0, got {limit}")
            args += [b"LIMIT", b"%d" % limit]
        return args

    def xtrim(self, name: str, maxlen: int | None = None, approximate: bool = True, minid: Any = None, limit: int | None = None) -> Any:
        """Trim the stream under name to its newest maxlen entries, or to those from minid on; return how many went (XTRIM)."""
        if maxlen is None and minid is None:
            raise ValueError("xtrim() needs maxlen or minid")
        return self._execute(XDEL, [b"XTRIM", key_arg(name), *self._trim_args("xtrim", maxlen, approximate, minid, limit)])

    def xrange(self, name: str, min: Any = "-", max: Any = "+", count: int | None = None) -> Any:
        """Return the entries of the stream under name from ID min to max, oldest first, as (id, {field: value}) (XRANGE).

        "-" and "+" are the lowest and highest IDs; "(" before an ID
        excludes it. count keeps the first count entries.
        """
        return self._xrange(b"XRANGE", name, min, max, count)

    def xrevrange(self, name: str, max: Any = "+", min: Any = "-", count: int | None = None) -> Any:
        """xrange(), newest first (XREVRANGE): note max comes first."""
        return self._xrange(b"XREVRANGE", name, max, min, count)

    def _xrange(self, command: bytes, name: str, first: Any, second: Any, count: Any) -> Any:
        args: list[Arg] = [command, key_arg(name), stream_id_arg(first), stream_id_arg(second)]
        if count is not None:
            args += [b"COUNT", int64_arg(count, "count")]
        return self._execute(XRANGE, args)

    def xlen(self, name: str) -> Any:
        """Return the number of entries of the stream under name, 0 if there is none (XLEN)."""
        return self._execute(XLEN, [b"XLEN", key_arg(name)])

    def xdel(self, name: str, *ids: Any) -> Any:
        """Delete the entries with these IDs from the stream under name; return how many there were (XDEL)."""
        if not ids:
            raise TypeError("xdel() needs at least one ID")
        return self._execute(XDEL, [b"XDEL", key_arg(name), *map(stream_id_arg, ids)])

    # --- sorted sets' set operations ---

    def zunionstore(self, dest: str, keys: Any, aggregate: str | None = None) -> Any:
        """Store the union of the sorted sets under keys as dest's sorted set; return its size (ZUNIONSTORE).

        keys is a list of names, or a mapping of name to weight (each
        score multiplied by it); aggregate ("SUM", the default, "MIN" or
        "MAX") says how a member's scores from several sets combine.
        """
        return self._zstore(b"ZUNIONSTORE", dest, keys, aggregate)

    def zinterstore(self, dest: str, keys: Any, aggregate: str | None = None) -> Any:
        """Store the intersection of the sorted sets under keys as dest's sorted set; return its size (ZINTERSTORE).

        keys and aggregate as for zunionstore().
        """
        return self._zstore(b"ZINTERSTORE", dest, keys, aggregate)

    def _zstore(self, command: bytes, dest: str, keys: Any, aggregate: Any) -> Any:
        weights = None
        if isinstance(keys, Mapping):
            weights = [score_arg(w, "each weight") for w in keys.values()]
            keys = list(keys)
        names = keys_arg(keys)
        if not names:
            raise ValueError(f"{command.decode().lower()}() needs at least one key")
        args: list[Arg] = [command, key_arg(dest), b"%d" % len(names), *names]
        if weights is not None:
            args += [b"WEIGHTS", *weights]
        if aggregate is not None:
            if not isinstance(aggregate, str) or aggregate.upper() not in ("SUM", "MIN", "MAX"):
                raise ValueError(f"aggregate must be 'SUM', 'MIN' or 'MAX', got {aggregate!r}")
            args += [b"AGGREGATE", aggregate.upper().encode()]
        return self._execute(ZSTORE, args)
    # --- pub/sub ---

    def publish(self, channel: str | BytesLike, message: str | BytesLike | int | float) -> Any:
        """Send message to every subscriber of channel (and of the patterns it matches); return how many got it.

        message is sent as it is (str as UTF-8, numbers as their digits),
        not through the serializer. Subscribe with pubsub().
        """
        return self._execute(PUBLISH, [b"PUBLISH", _channel_arg(channel), _message_arg(message)])

    # --- hashes ---
    # Field names are str or bytes and come back as bytes (hkeys, hgetall's
    # keys); values are bytes-like, or with a serializer whatever it takes,
    # and come back through it (hget, hmget, hgetall's values, hvals).

    def _loading(self, command: Command[Any], each: bool = False, mapping: bool = False) -> Command[Any]:
        """command, its values loaded by the serializer if the client has one: one value, each of a list, or a dict's."""
        load = self._values.load
        if load is None:
            return command
        if mapping:
            return command.then(lambda d: {k: load(v) for k, v in d.items()})
        return command.then(lambda vs: [load(v) for v in vs]) if each else command.then(load)

    def hset(self, name: str, key: Any = None, value: Any = None, mapping: Mapping[Any, Any] | None = None) -> Any:
        """Set field key of the hash under name to value, and/or every field of mapping; return how many fields are new (HSET)."""
        args: list[Arg] = [b"HSET", key_arg(name)]
        encode = self._values.encode
        if key is not None:
            args += [name_arg(key), encode(value)]
        if mapping is not None:
            if not isinstance(mapping, Mapping):
                raise TypeError(f"mapping must be a Mapping, not {type(mapping).__name__}")
            for k, v in mapping.items():
                args += [name_arg(k), encode(v)]
        if len(args) == 2:
            raise ValueError("hset() needs a key and value, or a non-empty mapping")
        return self._execute(HSET, args)

    def hget(self, name: str, key: Any) -> Any:
        """Return the value of field key in the hash under name, or None."""
        return self._execute(self._loading(HGET), [b"HGET", key_arg(name), name_arg(key)])

    def hmget(self, name: str, keys: Any, *args: Any) -> Any:
        """Return the values of the fields keys (a list, or several arguments), in order: None where missing."""
        single = isinstance(keys, (str, bytes, bytearray, memoryview))
        fields = ([name_arg(keys)] if single else names_arg(keys)) + [name_arg(a) for a in args]
        if not fields:
            raise ValueError("hmget() needs at least one field")
        return self._execute(self._loading(HMGET, each=True), [b"HMGET", key_arg(name), *fields])

    def hgetall(self, name: str) -> Any:
        """Return the hash under name as a dict of field (bytes) to value; {} when there is none."""
        return self._execute(self._loading(HGETALL, mapping=True), [b"HGETALL", key_arg(name)])

    def hdel(self, name: str, *keys: Any) -> Any:
        """Delete fields keys from the hash under name; return how many were there. An emptied hash is deleted."""
        if not keys:
            raise TypeError("hdel() needs at least one field")
        return self._execute(HDEL, [b"HDEL", key_arg(name), *(name_arg(k) for k in keys)])

    def hexists(self, name: str, key: Any) -> Any:
        """Whether the hash under name has field key."""
        return self._execute(HEXISTS, [b"HEXISTS", key_arg(name), name_arg(key)])

    def hlen(self, name: str) -> Any:
        """Return the number of fields of the hash under name (0 when there is none)."""
        return self._execute(HLEN, [b"HLEN", key_arg(name)])

    def hkeys(self, name: str) -> Any:
        """Return the field names (bytes) of the hash under name, in no particular order."""
        return self._execute(HKEYS, [b"HKEYS", key_arg(name)])

    def hvals(self, name: str) -> Any:
        """Return the values of the hash under name, in no particular order."""
        return self._execute(self._loading(HKEYS, each=True), [b"HVALS", key_arg(name)])

    def hincrby(self, name: str, key: Any, amount: int = 1) -> Any:
        """Add amount to the integer in field key (0 when absent) and return the result (HINCRBY)."""
        return self._execute(HINCRBY, [b"HINCRBY", key_arg(name), name_arg(key), int64_arg(amount, "amount")])

    # --- sets ---
    # Members are str or bytes, and come back as bytes: the serializer is for
    # values, and a member is a name (as redis-py gives them without decode_responses).

    def sadd(self, name: str, *values: Any) -> Any:
        """Add members to the set under name, creating it; return how many were not there."""
        if not values:
            raise TypeError("sadd() needs at least one member")
        return self._execute(SADD, [b"SADD", key_arg(name), *(name_arg(v, "member") for v in values)])

    def srem(self, name: str, *values: Any) -> Any:
        """Remove members from the set under name; return how many were there. An emptied set is deleted."""
        if not values:
            raise TypeError("srem() needs at least one member")
        return self._execute(SADD, [b"SREM", key_arg(name), *(name_arg(v, "member") for v in values)])

    def smembers(self, name: str) -> Any:
        """Return the members of the set under name, a set of bytes (empty when there is none)."""
        return self._execute(SMEMBERS, [b"SMEMBERS", key_arg(name)])

    def sismember(self, name: str, value: Any) -> Any:
        """Whether the set under name holds value."""
        return self._execute(SISMEMBER, [b"SISMEMBER", key_arg(name), name_arg(value, "member")])

    def scard(self, name: str) -> Any:
        """Return the number of members of the set under name (0 when there is none)."""
        return self._execute(SCARD, [b"SCARD", key_arg(name)])

    def spop(self, name: str, count: int | None = None) -> Any:
        """Remove and return a random member (bytes, or None), or with count a set of up to count of them."""
        if count is None:
            return self._execute(SPOP, [b"SPOP", key_arg(name)])
        if isinstance(count, int) and not isinstance(count, bool) and count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        return self._execute(SPOP_COUNT, [b"SPOP", key_arg(name), int64_arg(count, "count")])

    def _combine(self, op: bytes, keys: Any, args: tuple[Any, ...]) -> Any:
        names = [key_arg(keys)] if isinstance(keys, str) else keys_arg(keys)
        names += [key_arg(a) for a in args]
        if not names:
            raise ValueError(f"{op.decode().lower()}() needs at least one key")
        return self._execute(SINTER, [op, *names])

    def sinter(self, keys: str | Iterable[str], *args: str) -> Any:
        """Return the members every one of the sets under keys has, a set of bytes (a missing key is an empty set)."""
        return self._combine(b"SINTER", keys, args)

    def sunion(self, keys: str | Iterable[str], *args: str) -> Any:
        """Return the members any of the sets under keys has, a set of bytes."""
        return self._combine(b"SUNION", keys, args)

    def sdiff(self, keys: str | Iterable[str], *args: str) -> Any:
        """Return the members of the first set that none of the others has, a set of bytes."""
        return self._combine(b"SDIFF", keys, args)

    # --- scripting ---

    def eval(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        """Run a Lua script on the server, atomically, and return its reply (EVAL), as redis-py's eval.

        The first numkeys of keys_and_args are the keys (KEYS in the
        script), the rest its arguments (ARGV); each is str, bytes or a
        number. The reply is the script's value as Redis converts it: int,
        bytes, a list, None, or a status str; an error the script raises
        is raised as ServerError.
        """
        return self._execute(EVAL, [b"EVAL", command_arg(script), *_keys_and_args(numkeys, keys_and_args)])

    def evalsha(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        """Run the script the server holds under sha (SCRIPT LOAD or an earlier eval): EVALSHA.

        Raises ServerError NOSCRIPT when the server does not hold it.
        """
        return self._execute(EVAL, [b"EVALSHA", command_arg(sha), *_keys_and_args(numkeys, keys_and_args)])

    def eval_ro(self, script: str, numkeys: int, *keys_and_args: Any) -> Any:
        """Run a script that only reads (EVAL_RO): one that calls a write command gets an error."""
        return self._execute(EVAL_RO, [b"EVAL_RO", command_arg(script), *_keys_and_args(numkeys, keys_and_args)])

    def evalsha_ro(self, sha: str, numkeys: int, *keys_and_args: Any) -> Any:
        """Run a held script that only reads (EVALSHA_RO)."""
        return self._execute(EVAL_RO, [b"EVALSHA_RO", command_arg(sha), *_keys_and_args(numkeys, keys_and_args)])

    def script_load(self, script: str) -> Any:
        """Have the server hold a script and return its SHA1 (hex str) for evalsha (SCRIPT LOAD)."""
        return self._execute(SCRIPT_LOAD, [b"SCRIPT", b"LOAD", command_arg(script)])

    def script_exists(self, *shas: str) -> Any:
        """Whether the server holds each script: a list of bool (SCRIPT EXISTS)."""
        if not shas:
            raise TypeError("script_exists() needs at least one sha")
        return self._execute(SCRIPT_EXISTS, [b"SCRIPT", b"EXISTS", *(command_arg(h) for h in shas)])

    def script_flush(self) -> Any:
        """Drop every script the server holds (SCRIPT FLUSH). Returns None."""
        return self._execute(SCRIPT_FLUSH, [b"SCRIPT", b"FLUSH"])

    # --- more strings, keys and lists ---

    def append(self, key: str, value: Any) -> Any:
        """Append value (str, sent as UTF-8, or bytes-like) to the string under key, creating it; return its new length (APPEND)."""
        return self._execute(APPEND, [b"APPEND", key_arg(key), data_arg(value)])

    def getrange(self, key: str, start: int, end: int) -> Any:
        """Return the bytes start..end (inclusive; negative counts from the end) of the string under key (GETRANGE)."""
        return self._execute(GETRANGE, [b"GETRANGE", key_arg(key), int64_arg(start, "start"), int64_arg(end, "end")])

    def setrange(self, name: str, offset: int, value: Any) -> Any:
        """Overwrite the string under name from offset with value, zero-padding past its end; return its new length (SETRANGE)."""
        return self._execute(APPEND, [b"SETRANGE", key_arg(name), int64_arg(offset, "offset"), data_arg(value)])

    def strlen(self, name: str) -> Any:
        """Return the length of the string under name (0 when there is none)."""
        return self._execute(STRLEN, [b"STRLEN", key_arg(name)])

    def msetnx(self, mapping: Mapping[str, Any]) -> Any:
        """Store every key and value of mapping, only if none of the keys exists; return whether it did (MSETNX)."""
        if not isinstance(mapping, Mapping) or not mapping:
            raise ValueError("msetnx() needs a non-empty mapping of str to value")
        args: list[Arg] = [b"MSETNX"]
        for key, value in mapping.items():
            args += [key_arg(key), self._values.encode(value)]
        return self._execute(MSETNX, args)

    def rename(self, src: str, dst: str) -> Any:
        """Move src's value (any type) and TTL to dst, replacing dst; True (RENAME). A missing src raises ServerError."""
        return self._execute(RENAME.then(lambda _: True), [b"RENAME", key_arg(src, "src"), key_arg(dst, "dst")])

    def renamenx(self, src: str, dst: str) -> Any:
        """rename() only if dst does not exist: whether it moved (RENAMENX)."""
        return self._execute(RENAMENX, [b"RENAMENX", key_arg(src, "src"), key_arg(dst, "dst")])

    def copy(self, source: str, destination: str, destination_db: int | None = None, replace: bool = False) -> Any:
        """Copy source's value (any type) and TTL to destination, which must not exist unless replace; whether it copied (COPY).

        The server has only database 0: another destination_db is an error.
        """
        args: list[Arg] = [b"COPY", key_arg(source, "source"), key_arg(destination, "destination")]
        if destination_db is not None:
            args += [b"DB", int64_arg(destination_db, "destination_db")]
        if replace:
            args.append(b"REPLACE")
        return self._execute(RENAMENX, args)

    def randomkey(self) -> Any:
        """Return a key picked at random (str), or None when there is none."""
        return self._execute(RANDOMKEY.then(lambda k: None if k is None else _decode_key(k)), [b"RANDOMKEY"])

    def lindex(self, name: str, index: int) -> Any:
        """Return the value at index (negative counts from the end) of the list under name, or None."""
        return self._execute(self._loading(GETRANGE), [b"LINDEX", key_arg(name), int64_arg(index, "index")])

    def linsert(self, name: str, where: str, refvalue: Any, value: Any) -> Any:
        """Insert value "BEFORE" or "AFTER" the first refvalue in the list under name (LINSERT).

        Returns the new length, -1 if refvalue is not there, 0 if there is no list.
        """
        if not isinstance(where, str) or where.upper() not in ("BEFORE", "AFTER"):
            raise ValueError(f'where must be "BEFORE" or "AFTER", not {where!r}')
        encode = self._values.encode
        return self._execute(LCOUNT, [b"LINSERT", key_arg(name), where.upper().encode(), encode(refvalue), encode(value)])

    def lset(self, name: str, index: int, value: Any) -> Any:
        """Replace the value at index of the list under name; True (LSET). A missing list or index raises ServerError."""
        return self._execute(LEDIT.then(lambda _: True), [b"LSET", key_arg(name), int64_arg(index, "index"), self._values.encode(value)])

    def ltrim(self, name: str, start: int, end: int) -> Any:
        """Keep only the values start..end (inclusive; negative counts from the end) of the list under name; True (LTRIM)."""
        return self._execute(LEDIT.then(lambda _: True), [b"LTRIM", key_arg(name), int64_arg(start, "start"), int64_arg(end, "end")])

    def lrem(self, name: str, count: int, value: Any) -> Any:
        """Remove the first count values equal to value from the list under name (from the tail if count < 0, all if 0); return how many (LREM)."""
        return self._execute(LCOUNT, [b"LREM", key_arg(name), int64_arg(count, "count"), self._values.encode(value)])

    def lpos(self, name: str, value: Any, rank: int | None = None, count: int | None = None, maxlen: int | None = None) -> Any:
        """Return the index of value in the list under name, or None (LPOS).

        rank picks the rank-th match (negative: counting from the tail),
        maxlen looks at that many values only; with count, a list of up to
        count indexes (0: all) is returned instead.
        """
        args: list[Arg] = [b"LPOS", key_arg(name), self._values.encode(value)]
        for option, n in ((b"RANK", rank), (b"COUNT", count), (b"MAXLEN", maxlen)):
            if n is not None:
                args += [option, int64_arg(n, option.decode().lower())]
        return self._execute(LPOS, args)

    def rpoplpush(self, src: str, dst: str) -> Any:
        """Move the last value of the list under src to the head of dst's, and return it; None if src is empty (RPOPLPUSH)."""
        return self._execute(self._loading(RPOPLPUSH), [b"RPOPLPUSH", key_arg(src, "src"), key_arg(dst, "dst")])

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
