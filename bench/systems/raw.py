"""A raw Python socket speaking RESP: what a server costs with no client library.

set, get and pop send the exact bytes a client library sends for SET, GET
and GETDEL (an array of bulk strings, with sendall) and read the reply into
a preallocated buffer with recv_into, parsing only what a reply of those
commands can be: +OK, $-1, $n and the value, or an error (and :n, the
reply of HSET, SADD, ZADD and PUBLISH, which it also sends). Pointed at our
server or at Redis it is a diagnostic row; pointed at the echo server
(echo.py) it is the floor.
"""

from __future__ import annotations

import socket
from typing import Any, Dict, Optional

from .base import Adapter, Spec, Unsupported

# What set/get/pop send, formatted with (key length, key[, value length, value]).
REQUESTS: Dict[str, bytes] = {
    "set": b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
    "get": b"*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n",
    "pop": b"*2\r\n$6\r\nGETDEL\r\n$%d\r\n%s\r\n",
}
_SET, _GET, _POP = REQUESTS["set"], REQUESTS["get"], REQUESTS["pop"]


def request(op: str, key: str, value: Optional[bytes] = None) -> bytes:
    """The bytes op sends for key (and value, for set)."""
    k = key.encode()
    return REQUESTS[op] % ((len(k), k, len(value), value) if op == "set" else (len(k), k))


def command(*args: bytes) -> bytes:
    """The bytes a client sends for the command args (RESP: an array of bulk strings)."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a), a) for a in args)


def reply(op: str, value: Optional[bytes]) -> bytes:
    """What our server and Redis answer to op: +OK for set; the value (or nil, for None) for get and pop."""
    if op == "set":
        return b"+OK\r\n"
    return b"$-1\r\n" if value is None else b"$%d\r\n%s\r\n" % (len(value), value)


def spec(addr: Any, transport: str, server: str) -> Spec:
    return Spec("raw", f"raw socket -> {server}", transport, {"addr": addr})


class RawAdapter(Adapter):
    notes = {"pop": "GETDEL"}

    def __init__(self, addr: Any):
        family = socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET
        self.sock = s = socket.socket(family, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(addr)
        if family == socket.AF_INET:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sendall = s.sendall
        self._recv_into = s.recv_into
        self.buf = bytearray(1 << 16)
        self.view = memoryview(self.buf)

    def set(self, key: str, value: bytes) -> Any:
        k = key.encode()
        self._sendall(_SET % (len(k), k, len(value), value))
        return self._reply()

    def get(self, key: str) -> Optional[bytes]:
        k = key.encode()
        self._sendall(_GET % (len(k), k))
        return self._reply()

    def pop(self, key: str) -> Optional[bytes]:
        k = key.encode()
        self._sendall(_POP % (len(k), k))
        return self._reply()

    # Hashes, sets, sorted sets and pub/sub, as bench/scenarios/types.py calls them (redis-py's signatures).

    def hset(self, name: str, key: bytes, value: bytes) -> Any:
        return self.call(b"HSET", name.encode(), key, value)

    def hget(self, name: str, key: bytes) -> Any:
        return self.call(b"HGET", name.encode(), key)

    def sadd(self, name: str, member: bytes) -> Any:
        return self.call(b"SADD", name.encode(), member)

    def zadd(self, name: str, mapping: Dict[bytes, int]) -> Any:
        (member, score), = mapping.items()
        return self.call(b"ZADD", name.encode(), b"%d" % score, member)

    def publish(self, channel: bytes, message: bytes) -> Any:
        return self.call(b"PUBLISH", channel, message)

    def call(self, *args: bytes) -> Any:
        """Send the command args and return its reply."""
        self._sendall(command(*args))
        return self._reply()

    def _more(self, got: int, want: int = 0) -> int:
        """Read more of the reply after got bytes (up to want, growing the buffer to hold it)."""
        if want > len(self.buf):
            bigger = bytearray(want)
            bigger[:got] = self.view[:got]
            self.buf, self.view = bigger, memoryview(bigger)
        n = self._recv_into(self.view[got:want or len(self.buf)])
        if not n:
            raise ConnectionError("the server closed the connection")
        return got + n

    def _reply(self) -> Any:
        buf = self.buf
        got = self._recv_into(self.view)
        if not got:
            raise ConnectionError("the server closed the connection")
        end = buf.find(b"\r\n", 0, got)
        while end < 0:
            got = self._more(got)
            end = buf.find(b"\r\n", 0, got)
        kind = buf[0]
        if kind == 36:  # $
            n = int(buf[1:end])
            if n < 0:
                return None
            total = end + 2 + n + 2
            while got < total:
                got = self._more(got, total)
            return bytes(self.view[end + 2:end + 2 + n])
        if kind == 43:  # +
            return bytes(buf[1:end])
        if kind == 58:  # :
            return int(buf[1:end])
        if kind == 45:  # -
            raise RuntimeError(buf[1:end].decode("utf-8", "replace"))
        raise ValueError(f"unexpected reply {bytes(buf[:min(got, 32)])!r}")

    def mget(self, keys):
        raise Unsupported("the raw socket does set, get and pop only")

    def mset(self, mapping):
        raise Unsupported("the raw socket does set, get and pop only")

    def flush(self) -> None:
        self._sendall(b"*1\r\n$8\r\nFLUSHALL\r\n")
        self._reply()

    def close(self) -> None:
        self.sock.close()


def connect(s: Spec) -> Adapter:
    return RawAdapter(s.params["addr"])
