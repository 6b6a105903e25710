"""A small pure-Python RESP2 client: the fallback used where Go cannot run.

A process that inherited the Go library through fork() must never call into
it (the child's Go runtime is dead), so TinyCache talks to the server with
this client instead. It is also selectable on purpose (TINY_MP_CACHE_PURE=1)
so the test suite runs over both paths.

It behaves like the Go client (go/client): one connection, calls serialised
by a lock, every call bounded by the timeout, a lost connection re-dialled on
the next call, and only idempotent calls retried once within the same call.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any, Union
from urllib.parse import unquote, urlsplit

from ._errors import ConnectionError, ProtocolError, ServerError, TimeoutError

# Longest reply line we accept (status, error, integer, length headers).
_MAX_LINE = 64 * 1024
# Longest bulk string we accept, as Redis's default proto-max-bulk-len.
_MAX_BULK = 512 * 1024 * 1024
# Values at most this big are copied into the command buffer; bigger ones are
# sent from the caller's buffer without a copy.
_INLINE_VALUE = 64 * 1024
_RECV_CHUNK = 256 * 1024

# A parsed reply; an error reply is returned as a ServerError, not raised.
Reply = Union[str, int, bytes, None, list[Any], ServerError]
Arg = Union[bytes, memoryview]


class Address:
    """A parsed client address: where to dial, and how to log in and select a database."""

    __slots__ = ("db", "password", "sockaddr")

    def __init__(self, sockaddr: str | tuple[str, int], password: str = "", db: int = 0):
        self.sockaddr = sockaddr  # a unix socket path, or (host, port)
        self.password = password
        self.db = db

    def __repr__(self) -> str:
        return f"Address({self.sockaddr!r})"


def parse_address(addr: str) -> Address:
    """Parse an address the way the Go client (go/client.ParseAddr) does.

    Accepted: "HOST:PORT", "[IPv6]:PORT", "unix:///path.sock",
    "unix://:password@/path.sock" and "redis://[:password@]HOST[:PORT][/DB]".
    A malformed address raises ValueError.
    """

    def bad(why: str) -> ValueError:
        return ValueError(
            f"invalid address {addr!r}: {why}; "
            'expected "HOST:PORT", "unix:///path.sock" or "redis://HOST:PORT/0"'
        )

    if addr.startswith("unix://"):
        rest = addr[len("unix://"):]
        password = ""
        at = rest.find("@/")
        if at >= 0:
            password = rest[:at][1:] if rest.startswith(":") else rest[:at]
            rest = rest[at + 1:]
        if not rest.startswith("/") or len(rest) < 2:
            raise bad("the socket path must be absolute")
        return Address(rest, password)
    if addr.startswith("redis://"):
        try:
            url = urlsplit(addr)
            port = url.port
        except ValueError as e:
            raise bad(str(e)) from None
        if not url.hostname:
            raise bad("missing host")
        password = unquote(url.password or url.username or "")
        db = 0
        name = url.path.strip("/")
        if name:
            if not name.isdigit():
                raise bad("the database must be a number")
            db = int(name)
        return Address((url.hostname, 6379 if port is None else port), password, db)
    if "://" in addr:
        raise bad("unknown scheme")
    host, sep, port_text = addr.rpartition(":")
    if not sep:
        raise bad("missing port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise bad("too many colons; write IPv6 hosts in brackets, [::1]:PORT")
    if not host:
        raise bad("missing host")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise bad("the port must be a number from 1 to 65535")
    return Address((host, int(port_text)))


def encode_command(args: list[Arg]) -> list[Arg]:
    """Encode a command as a RESP2 array of bulk strings, in pieces for sendall.

    Small arguments are joined into one buffer; big ones are passed through
    as they are so that a 16 MiB value is not copied.
    """
    pieces: list[Arg] = []
    head = bytearray(b"*%d\r\n" % len(args))
    for arg in args:
        head += b"$%d\r\n" % len(arg)
        if len(arg) <= _INLINE_VALUE:
            head += arg
            head += b"\r\n"
        else:
            pieces.append(bytes(head))
            pieces.append(arg)
            head = bytearray(b"\r\n")
    pieces.append(bytes(head))
    return pieces


class _Lost(Exception):
    """The connection broke (reset, closed by the peer): nothing more can be read."""


class _Connection:
    """One socket to the server plus the read buffer of its replies."""

    def __init__(self, address: Address, deadline: float):
        self._buf = bytearray()
        self._pos = 0
        if isinstance(address.sockaddr, str):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(_remaining(deadline))
                sock.connect(address.sockaddr)
            except BaseException:
                sock.close()
                raise
        else:
            # Tries every address the host resolves to, like Go's dialer.
            sock = socket.create_connection(address.sockaddr, timeout=_remaining(deadline))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock

    def close(self) -> None:
        self.sock.close()

    def send(self, pieces: list[Arg], deadline: float) -> None:
        for piece in pieces:
            self.sock.settimeout(_remaining(deadline))
            self.sock.sendall(piece)

    def read_reply(self, deadline: float) -> Reply:
        """Read one complete reply. An error reply is returned, not raised."""
        line = self._line(deadline)
        kind, rest = line[:1], bytes(line[1:])
        if kind == b"+":
            return rest.decode("utf-8", "replace")
        if kind == b"-":
            return ServerError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return self._int(rest)
        if kind == b"$":
            n = self._int(rest)
            if n == -1:
                return None
            if not 0 <= n <= _MAX_BULK:
                raise ProtocolError(f"bad bulk string length {n}")
            data = self._exact(n, deadline)
            if self._exact(2, deadline) != b"\r\n":
                raise ProtocolError("bulk string not terminated by CRLF")
            return bytes(data)
        if kind == b"*":
            n = self._int(rest)
            if n == -1:
                return None
            if n < 0:
                raise ProtocolError(f"bad array length {n}")
            return [self.read_reply(deadline) for _ in range(n)]
        raise ProtocolError(f"unknown reply type {bytes(line[:16])!r}")

    @staticmethod
    def _int(text: bytes) -> int:
        try:
            return int(text)
        except ValueError:
            raise ProtocolError(f"bad integer {text[:32]!r}") from None

    def _line(self, deadline: float) -> bytearray:
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = self._buf[self._pos:end]
                self._pos = end + 2
                return line
            if len(self._buf) - self._pos > _MAX_LINE:
                raise ProtocolError("reply line too long")
            self._recv(deadline)

    def _exact(self, n: int, deadline: float) -> bytearray:
        have = len(self._buf) - self._pos
        if have >= n:
            data = self._buf[self._pos:self._pos + n]
            self._pos += n
            return data
        data = bytearray(n)
        view = memoryview(data)
        view[:have] = memoryview(self._buf)[self._pos:]
        del self._buf[:]
        self._pos = 0
        while have < n:
            self.sock.settimeout(_remaining(deadline))
            got = self.sock.recv_into(view[have:], n - have)
            if not got:
                raise _Lost("connection closed by the server")
            have += got
        return data

    def _recv(self, deadline: float) -> None:
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self.sock.settimeout(_remaining(deadline))
        chunk = self.sock.recv(_RECV_CHUNK)
        if not chunk:
            raise _Lost("connection closed by the server")
        self._buf += chunk


def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out")
    return left


class PureClient:
    """A RESP2 client over one connection. Thread-safe: calls are serialised."""

    def __init__(self, addr: str, timeout: float):
        self._address = parse_address(addr)
        self._timeout = timeout
        self._lock = threading.Lock()  # guards _conn and the bytes on the wire
        self._conn: _Connection | None = None
        self.pid = os.getpid()
        with self._lock:
            self._dial()

    def close(self) -> None:
        with self._lock:
            self._drop()

    def set(self, key: bytes, value: memoryview) -> None:
        reply = self._call([b"SET", key, value], idempotent=False)
        if reply != "OK":
            raise ProtocolError(f"SET: unexpected reply {reply!r}")

    def get(self, key: bytes) -> bytes | None:
        return self._bulk(self._call([b"GET", key], idempotent=True), "GET")

    def pop(self, key: bytes) -> bytes | None:
        return self._bulk(self._call([b"GETDEL", key], idempotent=False), "GETDEL")

    def delete(self, key: bytes) -> int:
        return self._int(self._call([b"DEL", key], idempotent=True), "DEL")

    def keys(self, pattern: bytes) -> list[bytes]:
        reply = self._call([b"KEYS", pattern], idempotent=True)
        if not isinstance(reply, list) or not all(isinstance(k, bytes) for k in reply):
            raise ProtocolError(f"KEYS: unexpected reply {_short(reply)}")
        return reply

    def len(self) -> int:
        return self._int(self._call([b"DBSIZE"], idempotent=True), "DBSIZE")

    @staticmethod
    def _bulk(reply: Reply, command: str) -> bytes | None:
        if reply is not None and not isinstance(reply, bytes):
            raise ProtocolError(f"{command}: unexpected reply {_short(reply)}")
        return reply

    @staticmethod
    def _int(reply: Reply, command: str) -> int:
        if not isinstance(reply, int):
            raise ProtocolError(f"{command}: unexpected reply {_short(reply)}")
        return reply

    def _call(self, args: list[Arg], idempotent: bool) -> Reply:
        pieces = encode_command(args)
        with self._lock:
            conn = self._conn
            reused = conn is not None
            if conn is None:
                # A connection dropped by an earlier call is re-dialled here,
                # before anything is sent, so this is safe for every command.
                conn = self._dial()
            try:
                return self._round_trip(conn, pieces)
            except _Lost as e:
                # Only a command that is safe to repeat, sent on a connection
                # that may have gone stale since the last call, is retried.
                if not (idempotent and reused):
                    raise ConnectionError(f"{_name(args)}: connection lost: {e}") from None
            try:
                return self._round_trip(self._dial(), pieces)
            except _Lost as e:
                raise ConnectionError(f"{_name(args)}: connection lost: {e}") from None

    def _round_trip(self, conn: _Connection, pieces: list[Arg]) -> Reply:
        """Send one command and read its reply within the timeout.

        On any failure but an error reply the connection is dropped, since
        its state is unknown. A broken connection raises _Lost.
        """
        deadline = time.monotonic() + self._timeout
        try:
            conn.send(pieces, deadline)
            reply = conn.read_reply(deadline)
        except socket.timeout:
            self._drop()
            raise TimeoutError(f"call to {self._where()} timed out after {self._timeout:g}s") from None
        except OSError as e:
            self._drop()
            raise _Lost(e.strerror or str(e)) from None
        except BaseException:
            self._drop()
            raise
        if isinstance(reply, ServerError):
            raise reply
        return reply

    def _dial(self) -> _Connection:
        address = self._address
        try:
            conn = _Connection(address, time.monotonic() + self._timeout)
        except socket.timeout:
            raise TimeoutError(f"cannot connect to {self._where()}: timed out") from None
        except OSError as e:
            raise ConnectionError(f"cannot connect to {self._where()}: {e.strerror or e}") from None
        self._conn = conn
        try:
            if address.password:
                self._expect_ok(conn, [b"AUTH", address.password.encode()])
            if address.db:
                self._expect_ok(conn, [b"SELECT", str(address.db).encode()])
        except _Lost as e:
            raise ConnectionError(f"cannot connect to {self._where()}: {e}") from None
        except BaseException:
            self._drop()
            raise
        return conn

    def _expect_ok(self, conn: _Connection, args: list[Arg]) -> None:
        reply = self._round_trip(conn, encode_command(args))
        if reply != "OK":
            self._drop()
            raise ProtocolError(f"{_name(args)}: unexpected reply {_short(reply)}")

    def _where(self) -> str:
        sockaddr = self._address.sockaddr
        if isinstance(sockaddr, str):
            return sockaddr
        host, port = sockaddr
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _name(args: list[Arg]) -> str:
    return bytes(args[0]).decode()


def _short(reply: Reply) -> str:
    text = repr(reply)
    return text if len(text) <= 80 else text[:77] + "..."
