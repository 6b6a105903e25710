"""A small pure-Python RESP2 client, and the RESP2 reply parser of both clients.

PureClient is the fallback used where Go cannot run.

A process that inherited the Go library through fork() must never call into
it (the child's Go runtime is dead), so TinyCache talks to the server with
this client instead. It is also selectable on purpose (TINY_MP_CACHE_PURE=1)
so the test suite runs over both paths.

It behaves like the Go client (go/client): one connection, calls serialised
by a lock, every call bounded by the timeout, a lost connection re-dialled on
the next call, and only idempotent calls retried once within the same call.
Those rules are call()'s, a sans-IO generator that PureClient, AsyncTinyCache
and the near cache's handover each drive over their own sockets.

The Go library hands back the raw replies of tmc_command and tmc_pipeline;
parse_replies turns them into the same Python values as PureClient's.
"""

from __future__ import annotations

import builtins
import functools
import os
import socket
import struct
import sys
import threading
import time
from collections.abc import Generator
from typing import Any, Callable, Union
from urllib.parse import unquote, urlsplit

from ._errors import ConnectionError, ProtocolError, ServerError, TimeoutError

# Longest reply line we accept (status, error, integer, length headers).
_MAX_LINE = 64 * 1024
# How many bytes of replies one call may read unless TinyCache's
# max_reply_size says otherwise: Redis's default proto-max-bulk-len.
DEFAULT_MAX_REPLY = 512 * 1024 * 1024
# How deeply aggregates may nest in a reply (as go/resp.MaxReplyDepth).
MAX_DEPTH = 64
# A bulk string bigger than this is read into memory that grows as its
# bytes arrive, not all at once for whatever length the server declared.
_GROW_STEP = 1024 * 1024
# Values at most this big are copied into the command buffer; bigger ones are
# sent from the caller's buffer without a copy.
_INLINE_VALUE = 64 * 1024
_RECV_CHUNK = 256 * 1024

# The error of a call made from a signal handler on the client whose call
# the signal interrupted (as go/client says it).
_REENTERED = "a signal handler used the client whose call the signal interrupted"

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

    def where(self) -> str:
        """The address as errors name it: the socket path, or HOST:PORT."""
        if isinstance(self.sockaddr, str):
            return self.sockaddr
        host, port = self.sockaddr
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    def handshake(self) -> list[list[Arg]]:
        """The commands a new connection sends first, each answered +OK: AUTH and SELECT, as the address asks."""
        sent: list[list[Arg]] = []
        if self.password:
            sent.append([b"AUTH", self.password.encode()])
        if self.db:
            sent.append([b"SELECT", str(self.db).encode()])
        return sent


def unix_hint(path: str) -> str:
    """What to write instead for a unix socket at path (go/client's unixHint says the same)."""
    if path.startswith("/"):
        return f'for a unix socket write "unix://{path}"'
    return 'a unix socket address is "unix://" and then the absolute path, as in "unix:///tmp/cache.sock"'


def parse_address(addr: str) -> Address:
    """Parse an address the way the Go client (go/client.ParseAddr) does: both pass tests/addresses.json.

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
        except ValueError as e:
            raise bad(str(e)) from None
        if not url.hostname:
            raise bad("missing host")
        password = unquote(url.password or url.username or "")
        db = 0
        name = url.path.strip("/")
        if name:
            if not _digits(name) or int(name) > _MAX_DB:
                raise bad("the database must be a number")
            db = int(name)
        host_port = url.netloc.rpartition("@")[2]
        _, colon, port_text = host_port.rpartition(":")
        port = 6379
        if colon and port_text and not host_port.endswith("]"):  # "[::1]" has colons but no port
            if not _is_port(port_text):
                raise bad("the port must be a number from 1 to 65535")
            port = int(port_text)
        return Address((url.hostname, port), password, db)
    if addr.startswith("unix:") and not _digits(addr[len("unix:"):]):  # not the host "unix" and a port
        raise bad(unix_hint(addr[len("unix:"):]))
    if "://" in addr:
        raise bad("unknown scheme")
    host, sep, port_text = addr.rpartition(":")
    if not sep:
        if "/" in addr or addr.endswith(".sock"):
            raise bad(f"missing port; {unix_hint(addr)}")
        raise bad("missing port")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise bad("too many colons; write IPv6 hosts in brackets, [::1]:PORT")
    if not host:
        raise bad("missing host")
    if not _is_port(port_text):
        raise bad("the port must be a number from 1 to 65535")
    return Address((host, int(port_text)))


_MAX_DB = (1 << 31) - 1  # a database index is an int in Redis


def _digits(text: str) -> bool:
    """ASCII digits only, at least one (str.isdigit alone takes "\u0661", and int() takes "+1")."""
    return text.isascii() and text.isdigit()


def _is_port(text: str) -> bool:
    """A port number: at most 5 ASCII digits, 1 to 65535."""
    return len(text) <= 5 and _digits(text) and 0 < int(text) < 65536


def encode_command(args: list[Arg]) -> list[Arg]:
    """Encode a command as a RESP2 array of bulk strings, in pieces for sendall.

    Small arguments are joined into one buffer; big ones are passed through
    as they are so that a 16 MiB value is not copied.
    """
    return encode_commands([args])


def encode_commands(commands: list[list[Arg]]) -> list[Arg]:
    """encode_command for a pipeline: all the commands, in as few pieces as possible."""
    pieces: list[Arg] = []
    head = bytearray()
    for args in commands:
        head += b"*%d\r\n" % len(args)
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


LINE = -1  # what parse_reply asks for: a line (without its CRLF), or else that many bytes


class ReplyLimit:
    """How many more bytes of reply a call may read (max_reply_size); every reader of replies counts with one."""

    __slots__ = ("left", "max")

    def __init__(self, max_reply: int):
        self.max = self.left = max_reply

    def take(self, n: int, what: str) -> None:
        if n > self.left:
            raise ProtocolError(f"{what} exceeds the client's limit of {self.max} bytes of reply per call (max_reply_size)")
        self.left -= n


def parse_reply(limit: ReplyLimit, depth: int = 0) -> Generator[int, Any, Reply]:
    """Parse one RESP2 reply, sans-IO: a generator that asks for bytes and returns the reply.

    It yields LINE for the next line, or n for the next n bytes, and is sent
    them (bytes or bytearray); it returns the parsed reply, an error reply as
    a ServerError value. Every byte counts against limit, and a bulk
    string's declared length is checked before it is asked for, so nothing
    is allocated for a reply too big; aggregates nest at most MAX_DEPTH
    deep. The socket, buffer and asyncio readers all drive this one parser.
    """
    line = yield LINE
    limit.take(len(line) + 2, "the reply")
    kind, rest = line[:1], bytes(line[1:])
    if kind == b"+":
        return rest.decode("utf-8", "replace")
    if kind == b"-":
        return ServerError(rest.decode("utf-8", "replace"))
    if kind == b":":
        return _int(rest)
    if kind == b"$":
        n = _int(rest)
        if n == -1:
            return None
        if n < 0:
            raise ProtocolError(f"bad bulk string length {n}")
        limit.take(n, f"a bulk string of {n} bytes")
        data = yield n
        limit.take(2, "the reply")
        if (yield 2) != b"\r\n":
            raise ProtocolError("bulk string not terminated by CRLF")
        return bytes(data)
    if kind == b"*":
        n = _int(rest)
        if n == -1:
            return None
        if n < 0:
            raise ProtocolError(f"bad array length {n}")
        if n and depth == MAX_DEPTH:
            raise ProtocolError(f"reply nested deeper than {MAX_DEPTH} levels")
        items: list[Any] = []
        for _ in range(n):
            items.append((yield from parse_reply(limit, depth + 1)))
        return items
    raise ProtocolError(f"unknown reply type {bytes(line[:16])!r}")


def _int(text: bytes) -> int:
    try:
        return int(text)
    except ValueError:
        raise ProtocolError(f"bad integer {text[:32]!r}") from None


class ReplyReader:
    """Feeds parse_reply from the bytes its _line and _exact give.

    A deadline is a time.monotonic() value, or None for no limit.
    """

    def read_reply(self, deadline: float | None, limit: ReplyLimit) -> Reply:
        """Read one complete reply. An error reply is returned, not raised."""
        parser = parse_reply(limit)
        want = next(parser)
        while True:
            data = self._line(deadline) if want == LINE else self._exact(want, deadline)
            try:
                want = parser.send(data)
            except StopIteration as done:
                return done.value

    def _line(self, deadline: float | None) -> bytes | bytearray:
        raise NotImplementedError

    def _exact(self, n: int, deadline: float | None) -> bytes | bytearray:
        raise NotImplementedError


class _BufferReader(ReplyReader):
    """Reads replies from bytes already received in full (the Go library's raw replies)."""

    def __init__(self, data: bytes):
        self._data = data
        self.pos = 0

    def _line(self, deadline: float | None) -> bytes:
        end = self._data.find(b"\r\n", self.pos)
        if end < 0:
            raise ProtocolError("truncated reply")
        line = self._data[self.pos:end]
        self.pos = end + 2
        return line

    def _exact(self, n: int, deadline: float | None) -> bytes:
        if self.pos + n > len(self._data):
            raise ProtocolError("truncated reply")
        data = self._data[self.pos:self.pos + n]
        self.pos += n
        return data


def parse_replies(data: bytes, count: int) -> list[Reply]:
    """Parse exactly count concatenated replies; error replies become ServerError values."""
    reader = _BufferReader(data)
    limit = ReplyLimit(1 << 63)  # Go has applied max_reply_size already
    replies = [reader.read_reply(None, limit) for _ in range(count)]
    if reader.pos != len(data):
        raise ProtocolError(f"{len(data) - reader.pos} unexpected bytes after {count} replies")
    return replies


# On Linux a connection's socket stays blocking, and a call's deadline is
# the kernel's receive and send timeouts (SO_RCVTIMEO, SO_SNDTIMEO), set
# again only when the time left has moved more than _ARM_SLACK from them,
# as the Go client does: a GET is one sendto and one recvfrom. With
# settimeout, each of them came after an ioctl (settimeout sets the mode
# every time) and a poll: six system calls. Elsewhere, settimeout.
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")
_ARM_SLACK = 0.01  # seconds a wait may end after the deadline; it never ends before


class _Connection(ReplyReader):
    """One socket to the server plus the read buffer of its replies."""

    _rcv = _snd = 0.0  # the socket's kernel timeouts, seconds; 0: none

    def __init__(self, address: Address, deadline: float):
        self._buf = bytearray()
        self._chunk = memoryview(bytearray(_RECV_CHUNK))  # what each receive fills: no bytes allocated per reply
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
        if _KERNEL_TIMEOUTS:
            sock.settimeout(None)
        self.sock = sock

    def _arm(self, deadline: float | None, receiving: bool) -> None:
        """Ready the socket for a wait that must end by deadline (None: no limit); socket.timeout once it has passed."""
        if not _KERNEL_TIMEOUTS:
            self.sock.settimeout(_remaining(deadline))
            return
        want = 0.0 if deadline is None else max(_remaining(deadline), 1e-6)  # type: ignore[type-var]
        cur = self._rcv if receiving else self._snd
        if want == cur or (want and cur and cur - _ARM_SLACK <= want <= cur + _ARM_SLACK):
            return
        sec = int(want)
        opt = socket.SO_RCVTIMEO if receiving else socket.SO_SNDTIMEO
        self.sock.setsockopt(socket.SOL_SOCKET, opt, struct.pack("@ll", sec, int((want - sec) * 1e6)))
        if receiving:
            self._rcv = want
        else:
            self._snd = want

    def close(self) -> None:
        self.sock.close()

    def buffered(self) -> bool:
        """Whether bytes received are waiting to be parsed (a pub/sub connection's next message)."""
        return len(self._buf) > self._pos

    def send(self, pieces: list[Arg], deadline: float | None) -> None:
        try:
            for piece in pieces:
                self._arm(deadline, False)
                self.sock.sendall(piece)
        except BlockingIOError:  # the kernel's timeout: the deadline has passed
            raise socket.timeout("timed out") from None

    def _line(self, deadline: float | None) -> bytearray:
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = self._buf[self._pos:end]
                self._pos = end + 2
                return line
            if len(self._buf) - self._pos > _MAX_LINE:
                raise ProtocolError("reply line too long")
            self._recv(deadline)

    def _exact(self, n: int, deadline: float | None) -> bytes | bytearray:
        have = len(self._buf) - self._pos
        if have >= n:
            data = self._buf[self._pos:self._pos + n]
            self._pos += n
            return data
        if n <= _GROW_STEP:
            data = bytearray(n)
            data[:have] = memoryview(self._buf)[self._pos:]
            self._fill(memoryview(data)[have:], deadline)
            del self._buf[:]
            self._pos = 0
            return data
        # Memory grows as the bytes arrive, chunk by doubling chunk.
        chunks: list[bytes | bytearray] = [bytes(memoryview(self._buf)[self._pos:])]
        del self._buf[:]
        self._pos = 0
        while have < n:
            chunk = bytearray(min(n - have, max(have, _GROW_STEP)))
            self._fill(memoryview(chunk), deadline)
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)

    def _fill(self, view: memoryview, deadline: float | None) -> None:
        """Receive exactly len(view) bytes into view."""
        have = 0
        while have < len(view):
            self._arm(deadline, True)
            try:
                got = self.sock.recv_into(view[have:])
            except BlockingIOError:  # the kernel's timeout: the deadline has passed
                raise socket.timeout("timed out") from None
            if not got:
                raise EOFError("connection closed by the server")
            have += got

    def _recv(self, deadline: float | None) -> None:
        if self._pos:
            del self._buf[:self._pos]
            self._pos = 0
        self._arm(deadline, True)
        try:
            chunk = self._receive(_RECV_CHUNK)
        except BlockingIOError:  # the kernel's timeout: the deadline has passed
            raise socket.timeout("timed out") from None
        if not chunk:
            raise EOFError("connection closed by the server")
        self._buf += chunk

    def _receive(self, size: int) -> bytes | memoryview:
        # recv(size) would allocate size bytes per call, above glibc's mmap
        # threshold: an mmap, an mremap and a munmap per reply.
        return self._chunk[: self.sock.recv_into(self._chunk, size)]


def _remaining(deadline: float | None) -> float | None:
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout("timed out")
    return left


# --- one call, sans-IO -----------------------------------------------------------------
#
# call() is every client's call, written once: it fixes the deadline, dials
# and logs in when there is no connection, sends, reads, drops a connection
# whose state is unknown, resends an idempotent call once on a fresh
# connection, and maps what went wrong to the client's errors. It does no
# I/O: it yields what it needs done, and a driver (drive() on sockets, for
# PureClient and the near cache's handover; AsyncTinyCache._drive) does it and sends back the
# result, or throws in what the attempt raised:
#
#   (DIAL, deadline)                        -> a new connection
#   (SEND, conn, pieces, deadline)          -> None
#   (READ, conn, count, limit, deadline)    -> count replies, read by parse_reply
#   (DROP, conn)                            -> None: close it, and forget it
#
# A deadline is a time.monotonic() value, or None for no limit. A driver
# raises builtins.TimeoutError (or socket.timeout) past it, OSError or
# EOFError when the connection breaks.

DIAL, SEND, READ, DROP = "dial", "send", "read", "drop"
_TIMEOUTS = (socket.timeout, builtins.TimeoutError)


Steps = Generator[tuple[Any, ...], Any, Any]


def call(
    address: Address, conn: Any, pieces: list[Arg], count: int, what: str, idempotent: bool,
    timeout: float | None, dial_timeout: float, max_reply: int,
) -> Steps:
    """Send pieces and read count replies, on conn (None: a new one); returns (the replies, the connection).

    One deadline, timeout seconds from now (None: no limit), covers dialling,
    the exchange and its retry. Only an idempotent call, sent on a connection
    that may have gone stale since the last call, is sent again. Error
    replies are returned as ServerError values.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    retry = idempotent and conn is not None
    while True:
        if conn is None:
            # A connection dropped by an earlier call is re-dialled here,
            # before anything is sent, so this is safe for every command.
            conn = yield from connect(address, dial_timeout if deadline is None else deadline - time.monotonic(), max_reply)
        try:
            yield (SEND, conn, pieces, deadline)
            return (yield (READ, conn, count, ReplyLimit(max_reply), deadline)), conn
        except GeneratorExit:
            raise
        except BaseException as e:
            yield (DROP, conn)  # its state is unknown
            lost = _lost(e)
            if lost is None:
                raise _failed(e, address) from None
            if not retry:
                raise ConnectionError(f"{what}: connection lost: {lost}") from None
        retry, conn = False, None


def connect(address: Address, timeout: float, max_reply: int) -> Steps:
    """Dial, and log in and select the database as the address asks, all within timeout; returns the connection."""
    deadline = time.monotonic() + timeout
    try:
        conn = yield (DIAL, deadline)
    except _TIMEOUTS:
        raise TimeoutError(f"cannot connect to {address.where()}: timed out") from None
    except OSError as e:
        raise ConnectionError(f"cannot connect to {address.where()}: {e.strerror or e}") from None
    for args in address.handshake():
        try:
            yield (SEND, conn, encode_command(args), deadline)
            reply = (yield (READ, conn, 1, ReplyLimit(max_reply), deadline))[0]
        except GeneratorExit:
            raise
        except BaseException as e:
            yield (DROP, conn)
            lost = _lost(e)
            if lost is not None:
                raise ConnectionError(f"cannot connect to {address.where()}: {lost}") from None
            raise _failed(e, address) from None
        if reply != "OK":
            yield (DROP, conn)
            if isinstance(reply, ServerError):
                raise reply
            raise ProtocolError(f"{_name(args)}: unexpected reply {_short(reply)}")
    return conn


def _lost(e: BaseException) -> str | None:
    """Why the connection broke, when e says it did (reset, closed by the peer); None for any other failure."""
    if isinstance(e, _TIMEOUTS) or not isinstance(e, (OSError, EOFError)):  # asyncio's IncompleteReadError is an EOFError
        return None
    return getattr(e, "strerror", None) or str(e) or "connection closed by the server"


def _failed(e: BaseException, address: Address) -> BaseException:
    """What a call raises for e, a failure that is not a broken connection."""
    if isinstance(e, _TIMEOUTS):
        return TimeoutError(f"call to {address.where()} timed out")
    if isinstance(e, MemoryError):
        return ProtocolError(f"no memory for the reply from {address.where()}")
    return e  # a malformed reply, a signal handler's exception, a cancelled task: as it is


def drive(steps: Steps, dial: Callable[[float], _Connection]) -> Any:
    """Run steps (call, connect) to their end on sockets, doing each request (a _Connection;
    dial(deadline) opens one): the sync driver, PureClient's and the handover's. What the steps return."""
    try:
        request = next(steps)
        while True:
            try:
                kind = request[0]
                if kind is READ:
                    _, conn, count, limit, deadline = request
                    result: Any = [conn.read_reply(deadline, limit) for _ in range(count)]
                elif kind is SEND:
                    result = request[1].send(request[2], request[3])
                elif kind is DIAL:
                    result = dial(request[1])
                else:  # DROP
                    result = request[1].close()
            except BaseException as e:  # the steps decide what it means
                request = steps.throw(e)
            else:
                request = steps.send(result)
    except StopIteration as done:
        return done.value


class PureClient:
    """A RESP2 client over one connection. Thread-safe: calls are serialised."""

    _connection: Callable[[Address, float], _Connection] = _Connection  # what it dials (_shared's passes descriptors)

    def __init__(self, addr: str, timeout: float, max_reply_size: int = DEFAULT_MAX_REPLY):
        self._address = parse_address(addr)
        self._timeout = timeout
        self._max_reply = max_reply_size
        self._lock = threading.Lock()  # guards _conn and the bytes on the wire
        self._caller: int | None = None  # the thread whose call holds _lock
        self._conn: _Connection | None = None
        self.pid = os.getpid()
        self._dial = functools.partial(self._connection, self._address)
        with self._lock:
            self._conn = drive(connect(self._address, timeout, max_reply_size), self._dial)

    def close(self) -> None:
        if self._caller == threading.get_ident():
            # From a signal handler that interrupted this thread's call: it
            # holds the lock, and finds its connection gone when it resumes.
            self._drop()
            return
        with self._lock:
            self._drop()

    def run(self, command: Any, args: list[Arg]) -> Reply:
        """Send one command of the command layer (a _commands.Command and its args); return its parsed reply.

        An error reply is returned as a ServerError. Only an idempotent
        command is resent, once, when the connection it found was broken.
        A blocking one may take as much longer than the timeout as it waits.
        """
        wait = command.wait(args)
        timeout = None if wait is None else self._timeout + wait
        if command.sends is not None:  # several commands in one write: the list of their replies
            sent = command.sends(args)
            return self._exchange(encode_commands(sent), len(sent), _name(args), command.idempotent, timeout)
        return self._exchange(encode_command(args), 1, _name(args), command.idempotent, timeout)[0]

    def pipeline(self, commands: list[list[Arg]], retry: bool = False) -> list[Reply]:
        """Send all the commands in one write, then read their replies, in order.

        Error replies are returned as ServerError values. The whole exchange
        is bounded by the timeout. Resent once on a broken connection only
        if retry says every command is safe to repeat.
        """
        return self._exchange(encode_commands(commands), len(commands), "pipeline", retry, self._timeout)

    def _exchange(self, pieces: list[Arg], count: int, what: str, idempotent: bool, timeout: float | None) -> list[Reply]:
        """call(), driven on this client's connection while the call holds it."""
        me = threading.get_ident()
        if self._caller == me:
            # A signal handler that interrupted this thread's call would
            # otherwise wait forever for the lock that call holds.
            raise ValueError(_REENTERED)
        with self._lock:
            self._caller = me
            try:
                steps = call(self._address, self._conn, pieces, count, what, idempotent, timeout, self._timeout, self._max_reply)
                replies, self._conn = drive(steps, self._dial)
                return replies  # type: ignore[no-any-return]
            except BaseException:
                self._conn = None  # a call that raises has dropped its connection
                raise
            finally:
                self._caller = None

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _name(args: list[Arg]) -> str:
    return bytes(args[0]).decode()


def _short(reply: Reply) -> str:
    text = repr(reply)
    return text if len(text) <= 80 else text[:77] + "..."
