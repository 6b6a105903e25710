"""The client's command table: each TinyCache operation as RESP arguments plus a reply converter.

An Op is built, and its arguments checked, before anything is sent: a wrong
type raises TypeError, a wrong value ValueError. TinyCache sends an Op at
once; a Pipeline queues Ops and sends them in one round trip. Either way,
finish() turns the reply into the operation's result.

This is the only place that knows which command each operation sends.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any, Callable, Generic, TypeVar, Union

from ._errors import ProtocolError, ServerError
from ._resp import Arg, Reply

BytesLike = Union[bytes, bytearray, memoryview]
InfoValue = Union[str, int, float]

INT64_MIN = -(1 << 63)
INT64_MAX = (1 << 63) - 1


T = TypeVar("T")


class Op(Generic[T]):
    """One command to send (args), and how its reply becomes the result (convert).

    An Op without args is answered locally with convert(None): mget([]) is
    [] without a round trip (MGET with no keys is an error in Redis).
    """

    __slots__ = ("args", "convert")

    def __init__(self, args: list[Arg], convert: Callable[[Reply], T]):
        self.args = args
        self.convert = convert


class _Unexpected(Exception):
    """A reply of the wrong shape; finish() turns it into a ProtocolError."""


def finish(op: Op[T], reply: Reply) -> T:
    """The result of op, given its reply. An error reply is raised as ServerError."""
    if isinstance(reply, ServerError):
        raise reply
    try:
        return op.convert(reply)
    except _Unexpected:
        name = bytes(op.args[0]).decode("utf-8", "replace") if op.args else "?"
        text = repr(reply)
        raise ProtocolError(f"{name}: unexpected reply {text if len(text) <= 80 else text[:77] + '...'}") from None


# --- argument checks ------------------------------------------------------------


def key_arg(key: Any, what: str = "key") -> bytes:
    """A key (or pattern) as bytes. Keys are str; surrogateescape round-trips non-UTF-8 keys."""
    if not isinstance(key, str):
        raise TypeError(f"{what} must be str, not {type(key).__name__}")
    return key.encode("utf-8", "surrogateescape")


def value_arg(value: Any, what: str = "value") -> memoryview:
    """A bytes-like value as a flat byte view, without a copy when it is contiguous."""
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{what} must be bytes, bytearray or memoryview, not {type(value).__name__}")
    view = memoryview(value)
    if not view.c_contiguous:
        view = memoryview(view.tobytes())
    return view.cast("B") if view.format != "B" or view.ndim != 1 else view


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
        raise _Unexpected
    return None


def _bulk(reply: Reply) -> bytes | None:
    if reply is not None and not isinstance(reply, bytes):
        raise _Unexpected
    return reply


def _int(reply: Reply) -> int:
    if not isinstance(reply, int):
        raise _Unexpected
    return reply


def _bool(reply: Reply) -> bool:
    if reply not in (0, 1) or not isinstance(reply, int):
        raise _Unexpected
    return reply == 1


def _seconds(reply: Reply) -> float:
    """PTTL's milliseconds as seconds; -1 (no TTL) and -2 (no key) become -1.0 and -2.0."""
    ms = _int(reply)
    return float(ms) if ms < 0 else ms / 1000


def _bulks(reply: Reply) -> list[bytes | None]:
    if not isinstance(reply, list) or not all(v is None or isinstance(v, bytes) for v in reply):
        raise _Unexpected
    return reply


def _status(reply: Reply) -> str:
    if not isinstance(reply, str):
        raise _Unexpected
    return reply


def _decode_key(key: Reply) -> str:
    if not isinstance(key, bytes):
        raise _Unexpected
    return key.decode("utf-8", "surrogateescape")


def _keys(reply: Reply) -> list[str]:
    if not isinstance(reply, list):
        raise _Unexpected
    return [_decode_key(k) for k in reply]


def _popped(reply: Reply) -> tuple[str, bytes] | None:
    if reply is None:
        return None
    if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[1], bytes):
        raise _Unexpected
    return _decode_key(reply[0]), reply[1]


def _scanned(reply: Reply) -> tuple[bytes, list[str]]:
    if not isinstance(reply, list) or len(reply) != 2 or not isinstance(reply[0], bytes):
        raise _Unexpected
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
        raise _Unexpected
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


# --- the operations -------------------------------------------------------------


def set_value(key: str, value: BytesLike, ttl: float | None = None) -> Op[None]:
    args: list[Arg] = [b"SET", key_arg(key), value_arg(value)]
    if ttl is not None:
        args += [b"PX", ttl_ms(ttl)]
    return Op(args, _ok)


def get_value(key: str) -> Op[bytes | None]:
    return Op([b"GET", key_arg(key)], _bulk)


def pop_value(key: str) -> Op[bytes | None]:
    return Op([b"GETDEL", key_arg(key)], _bulk)


def delete(key: str) -> Op[int]:
    return Op([b"DEL", key_arg(key)], _int)


def keys(pattern: str) -> Op[list[str]]:
    return Op([b"KEYS", key_arg(pattern, "pattern")], _keys)


def dbsize() -> Op[int]:
    return Op([b"DBSIZE"], _int)


def mget(keys: Iterable[str]) -> Op[list[bytes | None]]:
    args = keys_arg(keys)
    if not args:
        return Op([], lambda reply: [])  # MGET needs at least one key

    def convert(reply: Reply) -> list[bytes | None]:
        values = _bulks(reply)
        if len(values) != len(args):
            raise _Unexpected
        return values

    return Op([b"MGET", *args], convert)


def mset(mapping: Mapping[str, BytesLike]) -> Op[None]:
    if not isinstance(mapping, Mapping):
        raise TypeError(f"mapping must be a Mapping of str to bytes, not {type(mapping).__name__}")
    args: list[Arg] = [b"MSET"]
    for key, value in mapping.items():
        args += [key_arg(key), value_arg(value)]
    if len(args) == 1:
        return Op([], lambda reply: None)
    return Op(args, _ok)


def expire(key: str, ttl: float) -> Op[bool]:
    return Op([b"PEXPIRE", key_arg(key), ttl_ms(ttl)], _bool)


def ttl(key: str) -> Op[float]:
    return Op([b"PTTL", key_arg(key)], _seconds)


def persist(key: str) -> Op[bool]:
    return Op([b"PERSIST", key_arg(key)], _bool)


def push(key: str, values: tuple[BytesLike, ...], left: bool) -> Op[int]:
    k = key_arg(key)
    if not values:
        raise TypeError("push() needs at least one value")
    return Op([b"LPUSH" if left else b"RPUSH", k, *(value_arg(v) for v in values)], _int)


def bpop(keys: str | Iterable[str], timeout: float) -> tuple[Op[tuple[str, bytes] | None], float | None]:
    """BLPOP, and how long past the client's timeout its reply may take (None: forever)."""
    names = [key_arg(keys)] if isinstance(keys, str) else keys_arg(keys)
    if not names:
        raise ValueError("bpop() needs at least one key")
    seconds = _number(timeout, "timeout")
    if seconds < 0:
        raise ValueError(f"timeout must be >= 0 seconds (0 waits forever), got {timeout!r}")
    if seconds == 0:
        return Op([b"BLPOP", *names, b"0"], _popped), None
    ms = int(ttl_ms(seconds, "timeout"))  # at least 1 ms: "0.000" would wait forever
    return Op([b"BLPOP", *names, b"%d.%03d" % divmod(ms, 1000)], _popped), ms / 1000


def llen(key: str) -> Op[int]:
    return Op([b"LLEN", key_arg(key)], _int)


def incr(key: str, amount: int) -> Op[int]:
    return Op([b"INCRBY", key_arg(key), int64_arg(amount, "amount")], _int)


def decr(key: str, amount: int) -> Op[int]:
    return Op([b"DECRBY", key_arg(key), int64_arg(amount, "amount")], _int)


def exists(keys: tuple[str, ...]) -> Op[int]:
    if not keys:
        raise TypeError("exists() needs at least one key")
    return Op([b"EXISTS", *(key_arg(k) for k in keys)], _int)


def key_type(key: str) -> Op[str]:
    return Op([b"TYPE", key_arg(key)], _status)


def flush() -> Op[None]:
    return Op([b"FLUSHDB"], _ok)


def scan(cursor: bytes, match: bytes, count: bytes) -> Op[tuple[bytes, list[str]]]:
    return Op([b"SCAN", cursor, b"MATCH", match, b"COUNT", count], _scanned)


def info(section: str | None = None) -> Op[dict[str, InfoValue]]:
    if section is None:
        return Op([b"INFO"], _info)
    return Op([b"INFO", key_arg(section, "section")], _info)


def stats(db: int = 0) -> Op[dict[str, int]]:
    return Op([b"INFO"], _stats_of(db))


def raw(args: tuple[Any, ...]) -> Op[Reply]:
    if not args:
        raise TypeError("execute_command() needs at least the command name")
    return Op([command_arg(a) for a in args], _raw)
