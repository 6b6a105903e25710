"""Big values through shared memory: memfds handed over a unix socket, not bytes copied through it.

Over a unix socket to a tiny-mp-cache server on Linux, a value of at
least TinyCache's shared_from bytes (THRESHOLD by default) is copied into
this connection's staging memfd, which the server maps once (TMC.STAGE,
its descriptor sent with SCM_RIGHTS, as the near cache's table comes the
other way, see _near); TMC.SETSTAGED has the server copy it from there
into a slab, a memfd of its own that only it can write and whose pages it
reuses once the value has gone and nobody maps it. Both copies land in
memory already in place: new memory is what a big value costs the kernel
(see go/server/slabs.go). The first value of its size on a connection, and
every value to a server without slabs, goes in a new memfd of this
process's instead, sealed (no write, no shrink, no grow) and sent with
TMC.SETFD: new memory once, where the staging memfd and a new slab would
be new memory twice.

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
import functools
import mmap
import os
import socket
import stat
import sys
import threading
import time
import weakref
from typing import Any, Callable

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


def checked(fd: int, size: int) -> tuple[os.stat_result, bool]:
    """fd's status, and whether it is a slab's, once fd, a descriptor for size bytes a server sent, is shown to be a sealed memfd that holds them.

    A slab is sealed against future writes: the server writes it, and may
    reuse it once given back; any other memfd is sealed against all writes.
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
    return st, seals & SEALS != SEALS


class _Descriptor(int):
    """The first piece of a command to send: the descriptor that goes with it (SCM_RIGHTS)."""


class SlabMapping(mmap.mmap):
    """A read-only mapping of a whole slab, kept by a connection's _Slabs while the server may rewrite the slab."""

    leases = 0  # this connection's leases of the slab not yet given back
    retire = False  # whether they are given back saying RETIRE: a process forked while this was in use
    used = 0.0  # when a reply last passed it (time.monotonic())


def _refs(table: dict[int, Any], key: int) -> int:
    """How many references CPython counts to table[key], this call's own included."""
    return sys.getrefcount(table[key])


# What _refs says of a value only its table refers to; more, and something else (a memoryview
# of a mapping, an array over that) uses it. Measured, not assumed: the count is CPython's.
_ALONE = _refs({0: object()}, 0)


class _Slabs:
    """A connection's mappings of the server's slabs, by inode number, and its leases of them.

    Each reply of a slab (TMC.GETFD) is a lease: the server does not
    rewrite the slab until the connection gives it back (TMC.RELEASE), once
    nothing here uses the mapping any more; its next command takes the
    release with it. The mapping itself is kept: when the server passes the
    slab again, holding a later value, the same mapping shows it, its pages
    already mapped (mapping a slab anew costs about as much as copying it:
    a page table entry for each 4 KiB). At most KEEP mappings and
    KEEP_BYTES are kept, each for IDLE seconds after its last use; while
    kept, their pages stay in memory even once the server has let the slab
    go. At fork, each mapping in use comes to say RETIRE when its leases
    are given back: the child holds a copy of it, which no lease covers;
    the child starts with no mappings of its own.
    """

    KEEP = 32
    KEEP_BYTES = 1 << 30
    IDLE = 10.0

    def __init__(self, give_back: Callable[[], None]) -> None:
        self._give_back = weakref.WeakMethod(give_back)  # the client's, which sends commands() (not kept alive by its timer)
        self._lock = threading.Lock()
        self._kept: dict[int, SlabMapping] = {}  # least recently used first
        self._given: list[tuple[bool, int]] = []  # (retire, inode number) of leases of mappings let go
        self._timer: threading.Timer | None = None
        _all_slabs.add(self)

    def view(self, fd: int, st: os.stat_result, size: int) -> memoryview:
        """The first size bytes of the slab fd (checked) holds, read-only, under a new lease."""
        with self._lock:
            mapping = self._kept.pop(st.st_ino, None)
            if mapping is None or mapping.closed:
                mapping = SlabMapping(fd, st.st_size, mmap.MAP_SHARED, mmap.PROT_READ)
            mapping.leases += 1
            mapping.used = now = time.monotonic()
            self._kept[st.st_ino] = mapping
            self._let_go(now - self.IDLE)
            if self._timer is None:
                self._arm()
            return memoryview(mapping)[:size]

    def _in_use(self, ino: int) -> bool:
        """Whether something but this table refers to the mapping of ino. _lock is held."""
        return _refs(self._kept, ino) > _ALONE

    def _arm(self) -> None:
        """Start the timer that lets idle mappings go. _lock is held."""
        self._timer = threading.Timer(self.IDLE, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def commands(self) -> list[list[Arg]]:
        """The TMC.RELEASE commands of the leases of mappings no longer in use, which are given back with them."""
        release: list[Arg] = []
        retire: list[Arg] = []
        with self._lock:
            given, self._given = self._given, []
            for ino in self._kept:
                if self._kept[ino].leases and not self._in_use(ino):
                    given += [(self._kept[ino].retire, ino)] * self._kept[ino].leases
                    self._kept[ino].leases = 0
            for forked, ino in given:
                (retire if forked else release).append(b"%d" % ino)
        return ([[b"TMC.RELEASE", *release]] if release else []) + ([[b"TMC.RELEASE", b"RETIRE", *retire]] if retire else [])

    def _let_go(self, idle_since: float) -> None:
        """Unmap the mappings not in use past KEEP, KEEP_BYTES, or idle since then, least recently used first. _lock is held."""
        count, size = len(self._kept), sum(len(m) for m in self._kept.values())
        for ino in list(self._kept):
            if count <= self.KEEP and size <= self.KEEP_BYTES and self._kept[ino].used > idle_since:
                break
            if self._in_use(ino):
                continue
            mapping = self._kept.pop(ino)
            self._given += [(mapping.retire, ino)] * mapping.leases
            count, size = count - 1, size - len(mapping)
            mapping.close()

    def _expire(self) -> None:
        """The timer's: unmap the mappings idle for IDLE, give back the leases due (an idle reader's), and come back while any are kept."""
        with self._lock:
            self._timer = None
            self._let_go(time.monotonic() - self.IDLE)
            if self._kept:
                self._arm()
        give_back = self._give_back()
        if give_back is not None:
            give_back()

    def close(self) -> None:
        """Unmap every mapping not in use (the server retires the slabs of a connection that closes)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._let_go(float("inf"))
            self._given.clear()

    def forking(self) -> None:
        with self._lock:
            for ino in self._kept:
                if self._in_use(ino):
                    self._kept[ino].retire = True

    def forked(self) -> None:
        """In the child: its connection is its own, and holds no lease."""
        self._lock = threading.Lock()
        self._kept, self._given, self._timer = {}, [], None


_all_slabs: weakref.WeakSet[_Slabs] = weakref.WeakSet()


def _forking() -> None:
    for slabs in list(_all_slabs):
        slabs.forking()


def _forked() -> None:
    for slabs in list(_all_slabs):
        slabs.forked()


at_fork(before=_forking, after_in_child=_forked)


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


def _fits(staging_size: int, size: int) -> bool:
    """Whether a staging memfd of staging_size bytes is the one for a value of size: it holds it, and is not 4x too big."""
    return size <= staging_size <= 4 * _staging_size(size)


class _Passing(_Handing):
    """A connection whose commands may carry a descriptor, and whose integer replies are shared values, mapped."""

    def __init__(self, address: Any, deadline: float, slabs: _Slabs):
        super().__init__(address, deadline)
        self.slabs = slabs

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
                st, slab = checked(fds[0], reply)  # type: ignore[arg-type]
                if slab:
                    return self.slabs.view(fds[0], st, reply)  # type: ignore[arg-type]
                return memoryview(mmap.mmap(fds[0], reply, mmap.MAP_SHARED, mmap.PROT_READ))  # type: ignore[arg-type]
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
        self._mappings = _Slabs(self._give_back)
        self._connection = functools.partial(_Passing, slabs=self._mappings)  # type: ignore[assignment]
        self._staging: _Staging | None = None
        self._staged_on: Any = None  # the connection the server maps _staging on
        self._staging_lock = threading.Lock()  # held from the copy into _staging until the server has copied it out
        self._staging_user: int | None = None  # the thread that holds it
        self._next_staging = 0  # the size of staging memfd the last value sent without one would want
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
        return self._set_sealed(args, pieces)

    def _set_sealed(self, args: list[Arg], pieces: tuple[Any, ...]) -> Reply:
        """TMC.SETFD itself: the value in a new memfd of this process's, sealed, its descriptor sent with the command."""
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
        staging = self._staging
        if staging is None or not _fits(staging.size, size):
            if staging is not None:  # a much smaller or a bigger value lets it go
                staging.close()
                self._staging = self._staged_on = None
            if not _fits(self._next_staging, size):
                # The first value of its size on this connection: one new memfd (TMC.SETFD), not
                # two (a staging memfd and a slab), whose new pages would cost it twice; a second
                # one of that size makes the staging memfd, which the values after it reuse.
                self._next_staging = _staging_size(size)
                return self._set_sealed(args, pieces)
            staging = self._staging = _Staging(self._next_staging)
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
        due = self._mappings.commands()
        if not due:
            return super()._exchange(pieces, count, what, idempotent, timeout)
        first = pieces[:1] if pieces and isinstance(pieces[0], _Descriptor) else []
        pieces = [*first, *encode_commands(due), *pieces[len(first):]]
        return super()._exchange(pieces, count + len(due), what, idempotent, timeout)[len(due):]

    def _give_back(self) -> None:
        """Send the leases due now, not with the next command: _Slabs's timer's, for a reader gone idle."""
        if self._conn is None or self.pid != os.getpid():
            return  # nothing to give back on: the server retires what a closed connection leased
        due = self._mappings.commands()  # taken only once there is a connection to send them on
        if not due:
            return
        try:
            super()._exchange(encode_commands(due), len(due), "TMC.RELEASE", False, self._timeout)
        except (OSError, ProtocolError, ValueError):
            pass  # the connection is gone or going, and the server retires what it leased

    def close(self) -> None:
        super().close()
        self._mappings.close()
        if self._staging is not None and self.pid == os.getpid():
            self._staging.close()
            self._staging = None


def address_can_share(addr: str) -> bool:
    """Whether a TinyCache at addr may try shared values: a unix socket, on a platform with memfds."""
    return addr.startswith("unix://") and available()
