"""Big values through shared memory: sealed memfds handed over a unix socket, not bytes copied through it.

Over a unix socket to a tiny-mp-cache server on Linux, a value of at
least TinyCache's shared_from bytes (THRESHOLD by default) is written
into a memfd of this process's, which is then sealed (no write, no
shrink, no grow: immutable for everyone, and a mapping of it can never
fault), and its descriptor goes to the server with TMC.SETFD (SCM_RIGHTS,
as the near cache's table comes the other way, see _near). A read
(TMC.GETFD) of such a value gets a read-only descriptor of it with the
reply, and maps it: get() copies it into bytes once, at memory speed;
get_buffer() returns the mapping itself as a read-only memoryview, which
stays valid while it is held, whatever happens to the key. A memfd has no
name: it is freed with the last descriptor and mapping of it, so no
process's death can leave one behind. See go/server/shared.go.

What a server sends is checked before it is mapped, as the near cache
checks its table: a regular file, sealed against writes, shrinking and
growth, of the size the reply says. Anything else (a pipe, a file that
could be truncated under the mapping and fault) is a ProtocolError, and
the connection is dropped.
"""

from __future__ import annotations

import array
import mmap
import os
import socket
import stat
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no sealed memfds (available() is False), and no fcntl module
    fcntl = None  # type: ignore[assignment]

from ._errors import ProtocolError, ServerError
from ._near import _Handing
from ._resp import Arg, PureClient, ReplyLimit, Reply, _remaining, encode_command

# Values from this size up go through shared memory. Measured (a set and
# a get, unix socket, loaded 2-core machine): at 128 KiB the memfd's system
# calls (create, write, seal, map, unmap) still cost more than the socket's
# copies (0.7x), at 256 KiB the shared path wins by 1.2x, at 512 KiB by
# 1.9x, at 1 MiB by 2.7x, and past that by the ratio of a socket's speed to
# memory's (python -m bench --only shared_values).
THRESHOLD = 256 << 10

SEALS = getattr(fcntl, "F_SEAL_SHRINK", 2) | getattr(fcntl, "F_SEAL_GROW", 4) | getattr(fcntl, "F_SEAL_WRITE", 8)
_F_SEAL_SEAL = getattr(fcntl, "F_SEAL_SEAL", 1)
_MAX_FDS = 4  # descriptors one read of replies takes; more are closed by the kernel
_CLOEXEC = getattr(socket, "MSG_CMSG_CLOEXEC", 0)


def available() -> bool:
    """Whether this platform has sealed memfds (Linux)."""
    return hasattr(os, "memfd_create") and hasattr(fcntl, "F_ADD_SEALS")


def sealed_memfd(pieces: tuple[Any, ...]) -> tuple[int, int]:
    """A new memfd holding the bytes of pieces (buffers) one after another, sealed; (its descriptor, its size)."""
    fd = os.memfd_create("tiny-mp-cache", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        size = 0
        for piece in pieces:
            view = memoryview(piece).cast("B")
            done = 0
            while done < len(view):
                done += os.write(fd, view[done:])
            size += done
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS | _F_SEAL_SEAL)
    except BaseException:
        os.close(fd)
        raise
    return fd, size


def map_sealed(fd: int, size: int) -> memoryview:
    """Map fd, a descriptor of size bytes a server sent, read-only, once it is shown to be a sealed memfd of that size."""
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ProtocolError("the server sent a descriptor that is not a memfd (not a regular file)")
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:
        raise ProtocolError("the server sent a descriptor that is not a memfd (it takes no seals)") from None
    if seals & SEALS != SEALS:
        raise ProtocolError(f"the server sent a memfd not sealed against write, shrink and grow (seals {seals:#x}): "
                            "a mapping of it could change or fault")
    if st.st_size != size or size <= 0:
        raise ProtocolError(f"the server sent a memfd of {st.st_size} bytes for a value of {size}")
    return memoryview(mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ))


def release(view: memoryview) -> None:
    """Unmap a view map_sealed made, now: its bytes have been copied out."""
    mapping = view.obj
    view.release()
    if isinstance(mapping, mmap.mmap):
        mapping.close()


class _Descriptor(int):
    """The first piece of a command to send: the descriptor that goes with it (SCM_RIGHTS)."""


class _Passing(_Handing):
    """A connection whose commands may carry a descriptor, and whose integer replies are shared values, mapped."""

    def _receive(self, size: int) -> bytes:
        chunk, ancillary, _, _ = self.sock.recvmsg(size, socket.CMSG_SPACE(4 * _MAX_FDS), _CLOEXEC)
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(payload[: len(payload) - len(payload) % got.itemsize])
                self.fds += got
        return chunk  # type: ignore[no-any-return]

    def send(self, pieces: list[Arg], deadline: float | None) -> None:
        if not (pieces and isinstance(pieces[0], _Descriptor)):
            return super().send(pieces, deadline)
        fd, command = pieces[0], b"".join(pieces[1:])  # the command alone: the value is in the memfd
        self.sock.settimeout(_remaining(deadline))
        sent = self.sock.sendmsg([command], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        if sent < len(command):
            self.sock.sendall(command[sent:])

    def read_reply(self, deadline: float | None, limit: ReplyLimit) -> Reply:
        reply = super().read_reply(deadline, limit)
        fds, self.fds = self.fds, []
        try:
            if reply.__class__ is int:  # TMC.GETFD's: the value's size, its descriptor with it
                if not fds:
                    raise ProtocolError("no descriptor came with the server's reply of a shared value")
                return map_sealed(fds[0], reply)  # type: ignore[arg-type]
            return reply
        finally:
            for fd in fds:  # mapped, or sent for nothing (a buggy or hostile server): closed
                os.close(fd)


class SharedClient(PureClient):
    """The connection of a TinyCache's shared values: a PureClient that passes descriptors.

    Opening it asks the server whether it keeps shared values (a
    TMC.GETFD of no key); supported is False where it cannot (the portable
    loop, an older server, Redis), and the TinyCache then sends such
    values through the socket.
    """

    _connection = _Passing

    def __init__(self, addr: str, timeout: float, max_reply_size: int):
        super().__init__(addr, timeout, max_reply_size)
        probe = self._exchange(encode_command([b"TMC.GETFD", b""]), 1, "TMC.GETFD", True, timeout)[0]
        self.supported = not isinstance(probe, ServerError)

    def run(self, command: Any, args: list[Arg]) -> Reply:
        if command.names[0] != b"TMC.SETFD":
            return super().run(command, args)
        value = args[2]
        fd, size = sealed_memfd(value if isinstance(value, tuple) else (value,))
        try:
            sent = encode_command([args[0], args[1], b"%d" % size, *args[3:]])
            return self._exchange([_Descriptor(fd), *sent], 1, "TMC.SETFD", False, self._timeout)[0]
        finally:
            os.close(fd)  # the server has its own now


def address_can_share(addr: str) -> bool:
    """Whether a TinyCache at addr may try shared values: a unix socket, on a platform with memfds."""
    return addr.startswith("unix://") and available()
