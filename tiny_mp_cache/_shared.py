"""Big values through shared memory: memfds handed over a unix socket, not bytes copied through it.

Over a unix socket to a tiny-mp-cache server on Linux, a value of at
least TinyCache's shared_from bytes (THRESHOLD by default) is copied into
this connection's staging memfd, which the server maps once (TMC.STAGE,
its descriptor sent with SCM_RIGHTS, as the near cache's table comes the
other way, see _near); TMC.SETSTAGED has the server copy it from there
into a slab, a memfd of its own that only it can write and whose pages it
reuses once the value has gone and nobody maps it. Both copies land in
memory already in place: new memory is what a big value costs the kernel
(see go/server/slabs.go). A server without slabs gets the value in a new
memfd of this process's instead, sealed (no write, no shrink, no grow)
and sent with TMC.SETFD.

A read (TMC.GETFD) of a shared value gets a read-only descriptor with the
reply, and maps it: get() copies it into bytes once, at memory speed;
get_buffer() returns the mapping itself as a read-only memoryview, which
stays valid while it is held, whatever happens to the key. A slab's
mapping holds a lease, which the connection gives back (TMC.RELEASE, with
its next command) once the mapping is gone; until then the server does
not rewrite the slab. A mapping held while the process forks retires its
slab instead (the child's copy of it lives on). A memfd has no name: it
is freed with the last descriptor and mapping of it, so no process's
death can leave one behind. See go/server/shared.go.

What a server sends is checked before it is mapped, as the near cache
checks its table: a regular file, sealed against writes (or, a slab,
future writes), shrinking and growth, of at least the size the reply says. Anything else (a pipe, a file that
could be truncated under the mapping and fault) is a ProtocolError, and
the connection is dropped.
"""

from __future__ import annotations

import array
import collections
import functools
import mmap
import os
import socket
import stat
import threading
import weakref
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no sealed memfds (available() is False), and no fcntl module
    fcntl = None  # type: ignore[assignment]

from ._errors import ProtocolError, ServerError
from ._near import _Handing
from ._platform import at_fork
from ._resp import _REENTERED, Arg, PureClient, ReplyLimit, Reply, _remaining, encode_command, encode_commands

# Values from this size up go through shared memory. Measured (a set and
# a get, unix socket, loaded 2-core machine): at 128 KiB the memfd's system
# calls (create, write, seal, map, unmap) still cost more than the socket's
# copies (0.7x), at 256 KiB the shared path wins by 1.2x, at 512 KiB by
# 1.9x, at 1 MiB by 2.7x, and past that by the ratio of a socket's speed to
# memory's (python -m bench --only shared_values).
THRESHOLD = 256 << 10

_F_SEAL_SHRINK = getattr(fcntl, "F_SEAL_SHRINK", 2)
SEALS = _F_SEAL_SHRINK | getattr(fcntl, "F_SEAL_GROW", 4) | getattr(fcntl, "F_SEAL_WRITE", 8)
_F_SEAL_SEAL = getattr(fcntl, "F_SEAL_SEAL", 1)
_F_SEAL_FUTURE_WRITE = getattr(fcntl, "F_SEAL_FUTURE_WRITE", 0x10)
SLAB_SEALS = SEALS & ~getattr(fcntl, "F_SEAL_WRITE", 8) | _F_SEAL_FUTURE_WRITE  # only the server's mapping writes it
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


def map_sealed(fd: int, size: int) -> tuple[memoryview, int | None]:
    """Map fd, a descriptor for size bytes a server sent, read-only, once it is shown to be a sealed memfd that holds them.

    Returns the mapping and, for a slab (sealed against future writes:
    the server writes it, and may reuse it once given back), its inode
    number, by which the lease is given back; None for a memfd sealed
    against all writes.
    """
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        raise ProtocolError("the server sent a descriptor that is not a memfd (not a regular file)")
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:
        raise ProtocolError("the server sent a descriptor that is not a memfd (it takes no seals)") from None
    if seals & SEALS != SEALS and seals & SLAB_SEALS != SLAB_SEALS:
        raise ProtocolError(f"the server sent a memfd not sealed against write, shrink and grow (seals {seals:#x}): "
                            "a mapping of it could change or fault")
    if st.st_size < size or size <= 0:
        raise ProtocolError(f"the server sent a memfd of {st.st_size} bytes for a value of {size}")
    view = memoryview(mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ))
    return view, (None if seals & SEALS == SEALS else st.st_ino)


class _Descriptor(int):
    """The first piece of a command to send: the descriptor that goes with it (SCM_RIGHTS)."""


class _Leases:
    """A connection's leases of slabs: one per mapping of one, given back (TMC.RELEASE) once the mapping has gone.

    A mapping's finalizer queues its slab's inode number, from whatever
    thread drops it; the connection's next command takes the queue with it.
    At fork, each mapping held then comes to say RETIRE when it goes: the
    child holds a copy of it, which no lease covers.
    """

    def __init__(self) -> None:
        self.due: collections.deque[tuple[bool, int]] = collections.deque()  # (retire, inode number)
        self._live: set[weakref.finalize] = set()
        _leases.add(self)

    def hold(self, mapping: mmap.mmap, ino: int, retire: bool = False) -> None:
        end = weakref.finalize(mapping, self.due.append, (retire, ino))
        end.atexit = False  # at exit the connection goes, and the server retires what it leased
        if len(self._live) >= 64:
            self._live = {e for e in self._live if e.alive}
        self._live.add(end)

    def forking(self) -> None:
        for end in list(self._live):
            held = end.detach()
            if held is not None:
                mapping, _, ((_, ino),), _ = held
                self.hold(mapping, ino, retire=True)

    def commands(self) -> list[list[Arg]]:
        """The TMC.RELEASE commands of the leases due, which leave the queue."""
        release: list[Arg] = []
        retire: list[Arg] = []
        while self.due:
            forked, ino = self.due.popleft()
            (retire if forked else release).append(b"%d" % ino)
        return ([[b"TMC.RELEASE", *release]] if release else []) + ([[b"TMC.RELEASE", b"RETIRE", *retire]] if retire else [])


_leases: weakref.WeakSet[_Leases] = weakref.WeakSet()


def _forking() -> None:
    for leases in list(_leases):
        leases.forking()


at_fork(before=_forking)


class _Staging:
    """A connection's staging memfd: a value to set is copied into it, and the server copies it from there.

    Sealed against shrinking, so that the server's mapping of it can never
    fault; this process keeps writing it. Its pages stay in place from one
    value to the next: that is the point.
    """

    def __init__(self, size: int):
        self.size = size
        self.fd = os.memfd_create("tiny-mp-cache staging", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(self.fd, size)
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS, _F_SEAL_SHRINK)
            self.mem = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self.fd)
            raise
        self._close_fd = weakref.finalize(self, os.close, self.fd)  # also where a forked child drops its parent's

    def write(self, pieces: tuple[Any, ...]) -> int:
        """Copy pieces (buffers) in, one after another; return their size."""
        at = 0
        for piece in pieces:
            view = memoryview(piece).cast("B")
            self.mem[at : at + len(view)] = view
            at += len(view)
        return at

    def close(self) -> None:
        self.mem.close()
        self._close_fd()


def _staging_size(size: int) -> int:
    """The size of staging memfd for values of size bytes: a quarter more, in whole pages."""
    return (size + size // 4 + mmap.PAGESIZE - 1) // mmap.PAGESIZE * mmap.PAGESIZE


class _Passing(_Handing):
    """A connection whose commands may carry a descriptor, and whose integer replies are shared values, mapped."""

    def __init__(self, address: Any, deadline: float, leases: _Leases):
        super().__init__(address, deadline)
        self.leases = leases

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
        fd, command = pieces[0], b"".join(pieces[1:])  # the commands alone: a value is in a memfd
        self.sock.settimeout(_remaining(deadline))
        sent = self.sock.sendmsg([command], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [fd]))])
        if sent < len(command):
            self.sock.sendall(command[sent:])

    def read_reply(self, deadline: float | None, limit: ReplyLimit) -> Reply:
        reply = super().read_reply(deadline, limit)
        if reply.__class__ is not int and self.buffered():
            return reply  # descriptors that came are a later reply's (TMC.RELEASE's +OK comes before TMC.GETFD's)
        fds, self.fds = self.fds, []
        try:
            if reply.__class__ is int:  # TMC.GETFD's: the value's size, its descriptor with it
                if not fds:
                    raise ProtocolError("no descriptor came with the server's reply of a shared value")
                view, ino = map_sealed(fds[0], reply)  # type: ignore[arg-type]
                if ino is not None:
                    self.leases.hold(view.obj, ino)  # type: ignore[arg-type]
                return view
            return reply
        finally:
            for fd in fds:  # mapped, or sent for nothing (a buggy or hostile server): closed
                os.close(fd)


class SharedClient(PureClient):
    """The connection of a TinyCache's shared values: a PureClient that passes descriptors.

    Opening it asks the server whether it keeps shared values (a
    TMC.GETFD of no key) and slabs (a TMC.RELEASE of nothing); supported
    is False where it keeps none (the portable loop, an older server,
    Redis), and the TinyCache then sends such values through the socket.
    """

    def __init__(self, addr: str, timeout: float, max_reply_size: int):
        self._leases = _Leases()
        self._connection = functools.partial(_Passing, leases=self._leases)  # type: ignore[assignment]
        self._staging: _Staging | None = None
        self._staged_on: Any = None  # the connection the server maps _staging on
        self._staging_lock = threading.Lock()  # held from the copy into _staging until the server has copied it out
        self._staging_user: int | None = None  # the thread that holds it
        super().__init__(addr, timeout, max_reply_size)
        probes = encode_commands([[b"TMC.GETFD", b""], [b"TMC.RELEASE", b"0"]])
        shares, slabs = self._exchange(probes, 2, "TMC.GETFD", True, timeout)
        self.supported = not isinstance(shares, ServerError)
        self._slabs = not isinstance(slabs, ServerError)

    def run(self, command: Any, args: list[Arg]) -> Reply:
        if command.names[0] != b"TMC.SETFD":
            return super().run(command, args)
        value = args[2]
        pieces = value if isinstance(value, tuple) else (value,)
        if self._slabs:
            return self._set_staged(args, pieces)
        fd, size = sealed_memfd(pieces)
        try:
            sent = encode_command([args[0], args[1], b"%d" % size, *args[3:]])
            return self._exchange([_Descriptor(fd), *sent], 1, "TMC.SETFD", False, self._timeout)[0]
        finally:
            os.close(fd)  # the server has its own now

    def _set_staged(self, args: list[Arg], pieces: tuple[Any, ...]) -> Reply:
        """TMC.SETFD by the staging memfd: copied in, then TMC.SETSTAGED (with TMC.STAGE first where the server has not mapped it)."""
        me = threading.get_ident()
        if self._staging_user == me:  # a signal handler's set, within this thread's: it would overwrite its value
            raise ValueError(_REENTERED)
        with self._staging_lock:
            self._staging_user = me
            try:
                return self._stage_and_set(args, pieces)
            finally:
                self._staging_user = None

    def _stage_and_set(self, args: list[Arg], pieces: tuple[Any, ...]) -> Reply:
        size = sum(memoryview(p).nbytes for p in pieces)
        staging, fit = self._staging, _staging_size(size)
        if staging is None or staging.size < size or staging.size > 4 * fit:
            # Made to fit; a much smaller value lets a big one go.
            if staging is not None:
                staging.close()
            self._staging = self._staged_on = None
            staging = self._staging = _Staging(fit)
        staging.write(pieces)
        command = [[b"TMC.SETSTAGED", args[1], b"%d" % size, *args[3:]]]
        if self._conn is None or self._staged_on is not self._conn:
            command.insert(0, [b"TMC.STAGE", b"%d" % staging.size])
            replies = self._exchange([_Descriptor(staging.fd), *encode_commands(command)], 2, "TMC.SETFD", False, self._timeout)
            self._staged_on = self._conn
            return replies[0] if isinstance(replies[0], ServerError) else replies[1]
        return self._exchange(encode_commands(command), 1, "TMC.SETFD", False, self._timeout)[0]

    def _exchange(self, pieces: list[Arg], count: int, what: str, idempotent: bool, timeout: float | None) -> list[Reply]:
        """PureClient's, with the leases due given back first, in the same write."""
        due = self._leases.commands()
        if not due:
            return super()._exchange(pieces, count, what, idempotent, timeout)
        first = pieces[:1] if pieces and isinstance(pieces[0], _Descriptor) else []
        pieces = [*first, *encode_commands(due), *pieces[len(first):]]
        return super()._exchange(pieces, count + len(due), what, idempotent, timeout)[len(due):]

    def close(self) -> None:
        super().close()
        if self._staging is not None and self.pid == os.getpid():
            self._staging.close()
            self._staging = None


def address_can_share(addr: str) -> bool:
    """Whether a TinyCache at addr may try shared values: a unix socket, on a platform with memfds."""
    return addr.startswith("unix://") and available()
