"""cffi bindings to libtinympcache (.so, .dylib or .dll: the Go library): the cdef, lazy loading, status mapping.

The library is never loaded at import. It is dlopened on first use and
stamped with the pid that loaded it. A Go runtime does not survive fork():
a child that inherited the loaded library hangs on its first call into Go,
and a second Go runtime cannot be loaded next to the dead one. So in such a
child library() returns None and callers use the pure-Python paths instead.

A call into Go waits for the server with the GIL released. When a signal
interrupts that wait, Go calls back _signal_check, which lets Python run its
signal handlers there, as Python's own sockets do: if one raises (SIGINT's
KeyboardInterrupt) the call ends with TMC_ERR_INTR and that exception is
raised; if none does, the wait goes on within the call's deadline.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Sequence
from typing import Any

from cffi import FFI  # type: ignore[import-untyped, unused-ignore]

from . import _commands as commands
from ._errors import ConnectionError, ProtocolError, ServerError, TimeoutError, TinyCacheError
from ._platform import at_fork, library_name
from ._resp import DEFAULT_MAX_REPLY, Arg, Reply, parse_replies
from ._standalone import BINARY_NAME

# Copied from go/capi/tmc.h, which documents ownership and semantics
# (tests/test_bindings.py checks that they agree). The status codes are
# read from here (STATUS), never written again as numbers, and so are the
# fast paths' operations (_FAST).
CDEF = """
enum tmc_status {
    TMC_OK          = 0,
    TMC_NIL         = 1,
    TMC_ERR_CONN    = -1,
    TMC_ERR_TIMEOUT = -2,
    TMC_ERR_PROTO   = -3,
    TMC_ERR_SERVER  = -4,
    TMC_ERR_ARG     = -5,
    TMC_ERR_INTR    = -6,
};

enum tmc_set_op { TMC_SET };
enum tmc_value_op { TMC_GET, TMC_GETDEL, TMC_GET_DEADLINE, TMC_GET_SHARED, TMC_GETDEL_SHARED };
enum tmc_int_op { TMC_DEL, TMC_DBSIZE, TMC_RPUSH, TMC_LPUSH };
enum tmc_list_op { TMC_KEYS, TMC_MGET, TMC_MGET_DEADLINE };

int  tmc_open(const char *addr, size_t addr_len, double timeout, size_t max_reply,
              uint64_t *out, char *err, size_t err_cap);
void tmc_close(uint64_t h);

int tmc_set(uint64_t h, const char *key, size_t key_len,
            const char *val, size_t val_len, char *err, size_t err_cap);
int tmc_value(uint64_t h, int op, const char *key, size_t key_len, char *buf, size_t buf_cap,
              char **out, size_t *out_len, int64_t *deadline, char *err, size_t err_cap);
int tmc_int(uint64_t h, int op, const char *key, size_t key_len, const char *val, size_t val_len,
            int64_t *out, char *err, size_t err_cap);
int tmc_list(uint64_t h, int op, int n, const char **keys, const size_t *key_len,
             char **out, size_t *out_len, int64_t *count, int64_t *deadlines,
             char *err, size_t err_cap);
int tmc_command(uint64_t h, int retry, int argc, const char **argv, const size_t *arglen,
                char **out, size_t *out_len, char *err, size_t err_cap);
int tmc_command_wait(uint64_t h, double wait, int argc, const char **argv,
                     const size_t *arglen, char **out, size_t *out_len,
                     char *err, size_t err_cap);
int tmc_pipeline(uint64_t h, int retry, int ncmds, const int *argcs, const char **argv,
                 const size_t *arglen, char **out, size_t *out_len,
                 char *err, size_t err_cap);
void tmc_free(char *p);
void tmc_set_signal_check(int (*check)(void));

int tmc_server_start(const char *config, size_t config_len, uint64_t *out,
                     char *err, size_t err_cap);
int tmc_server_wait(uint64_t h, double timeout);
int tmc_server_stop(uint64_t h, char *err, size_t err_cap);
int tmc_server_addr(uint64_t h, char *buf, size_t buf_cap);
void tmc_server_stop_on_sigterm(void);
int tmc_near_clean(char **out, size_t *out_len, char *err, size_t err_cap);
"""

ERR_CAP = 512

ffi = FFI()
ffi.cdef(CDEF)

_load_lock = threading.Lock()  # guards _lib and _lib_pid
_lib: Any = None
_lib_pid: int | None = None  # the pid that dlopened _lib


def library_path() -> str:
    """Where the library is loaded from: $TINY_MP_CACHE_LIB or next to this file."""
    return os.environ.get("TINY_MP_CACHE_LIB") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), library_name()
    )


def library() -> Any:
    """Return the Go library, loading it on first use.

    Returns None when this process inherited an already loaded library
    through fork(): calling into it would hang.
    """
    global _lib, _lib_pid
    with _load_lock:
        if _lib is None:
            path = library_path()
            try:
                _lib = ffi.dlopen(path)
            except OSError as e:
                here = os.path.dirname(os.path.abspath(__file__))
                neither = "" if os.path.exists(path) or os.path.exists(os.path.join(here, BINARY_NAME)) else (
                    f" (this installation has neither the Go library nor the standalone server {BINARY_NAME})"
                )
                raise OSError(
                    f"tiny_mp_cache: cannot load the Go library {path!r}: {e}{neither}. "
                    "Build it with `go build -buildmode=c-shared`, set TINY_MP_CACHE_LIB, "
                    "or set TINY_MP_CACHE_PURE=1 to use the pure-Python client."
                ) from None
            _lib_pid = os.getpid()
            if _signal_check is not None:
                _lib.tmc_set_signal_check(_signal_check)
        if _lib_pid != os.getpid():
            return None
        return _lib


def _after_fork_in_child() -> None:
    # The lock may have been held by another thread at fork time. _lib and
    # _lib_pid stay as they are: the pid stamp now marks _lib as inherited.
    global _load_lock
    _load_lock = threading.Lock()


at_fork(after_in_child=_after_fork_in_child)


_interrupted = threading.local()  # .exc: what a signal handler raised during this thread's call into Go


def _stop_the_call(exc_type: Any, exc: BaseException, tb: Any) -> int:
    _interrupted.exc = exc
    return 1


def _run_signal_handlers() -> int:
    # Python runs the pending signal handlers as this function starts, in
    # the main thread; one that raises ends up in _stop_the_call.
    return 0


try:
    _signal_check: Any = ffi.callback("int(void)", _run_signal_handlers, onerror=_stop_the_call)
except (MemoryError, OSError):  # no executable memory for callbacks: calls end at their deadline
    _signal_check = None


# The status codes, by name, as the cdef declares them.
STATUS: dict[str, int] = ffi.typeof("enum tmc_status").relements
OK = STATUS["TMC_OK"]
NIL = STATUS["TMC_NIL"]
INTERRUPTED = STATUS["TMC_ERR_INTR"]  # raise what the signal handler raised
_EXCEPTIONS: dict[int, type[Exception]] = {
    STATUS["TMC_ERR_CONN"]: ConnectionError,
    STATUS["TMC_ERR_TIMEOUT"]: TimeoutError,
    STATUS["TMC_ERR_PROTO"]: ProtocolError,
    STATUS["TMC_ERR_SERVER"]: ServerError,
    STATUS["TMC_ERR_ARG"]: ValueError,
    STATUS["TMC_ERR_INTR"]: TinyCacheError,  # when no signal handler's exception was kept
}


def error(status: int, err: Any) -> BaseException:
    """The exception for a failed status, carrying Go's message (or the one a signal handler raised)."""
    if status == INTERRUPTED:
        exc: BaseException | None = getattr(_interrupted, "exc", None)
        _interrupted.exc = None
        if exc is not None:
            return exc
    message = ffi.string(err).decode("utf-8", "replace")
    cls = _EXCEPTIONS.get(status)
    if cls is None:
        return TinyCacheError(f"unexpected status {status}: {message}")
    return cls(message)


VALUE_BUF = 64 << 10  # values up to this size (less 2) come back without a malloc


class _Scratch:
    """A thread's reusable out-parameters for the calls into Go."""

    def __init__(self) -> None:
        self.out = ffi.new("char **")
        self.out_len = ffi.new("size_t *")
        self.n = ffi.new("int64_t *")
        self.err = ffi.new("char[]", ERR_CAP)
        self.buf = ffi.new("char[]", VALUE_BUF)
        self.deadline = ffi.new("int64_t *")


_spare: list[_Scratch] = []  # scratches no call is using; a call pops one (or makes one) and puts it back


class GoClient:
    """A client handle in the Go library. Go serialises calls per handle."""

    def __init__(self, lib: Any, addr: str, timeout: float, max_reply_size: int = DEFAULT_MAX_REPLY):
        self._lib = lib
        self.pid = os.getpid()
        self._handle: int | None = None
        raw = addr.encode("utf-8")
        out = ffi.new("uint64_t *")
        err = ffi.new("char[]", ERR_CAP)
        status = lib.tmc_open(raw, len(raw), timeout, max_reply_size, out, err, ERR_CAP)
        if status != OK:
            raise error(status, err)
        self._handle = out[0]

    def close(self) -> None:
        handle, self._handle = self._handle, None
        # Never call into a Go runtime inherited through fork().
        if handle is not None and self.pid == os.getpid():
            self._lib.tmc_close(handle)

    def __del__(self) -> None:
        self.close()

    def run(self, command: Any, args: list[Arg]) -> Reply:
        """Run one command of the command layer (a _commands.Command and its args) and return its reply.

        A command with a fast path (command.fast names its operation in
        tmc.h, run by the export of its enum: TMC_GET by tmc_value) takes it, and gets its reply already parsed by Go; any other goes
        through tmc_command (tmc_command_wait when it blocks) as raw RESP,
        parsed here. An error reply is returned as a ServerError.
        """
        fast = command.fast
        if fast is not None:
            adapter, op, deadlines = _FAST[fast]
            return adapter(self, op, deadlines, args)
        return self._command(command, args)

    def _command(self, command: Any, args: list[Arg]) -> Reply:
        """run() for a command without a fast path: tmc_command (tmc_command_wait when it blocks)."""
        argv, lens, buffers = _argv(args)  # buffers: alive until the call returns
        if command.blocking:
            wait = command.wait(args)
            limit = -1.0 if wait is None else wait
            return self._replies(1, self._lib.tmc_command_wait, self._h(), limit, len(args), argv, lens)[0]
        return self._replies(1, self._lib.tmc_command, self._h(), command.idempotent, len(args), argv, lens)[0]

    def pipeline(self, commands: list[list[Arg]], retry: bool = False) -> list[Reply]:
        """Send the commands in one write (tmc_pipeline); error replies are returned as ServerError values.

        retry: every command is safe to repeat, so the pipeline is resent once on a broken connection.
        """
        argcs = ffi.new("int[]", [len(args) for args in commands])
        argv, lens, buffers = _argv([arg for args in commands for arg in args])
        return self._replies(len(commands), self._lib.tmc_pipeline, self._h(), retry, len(commands), argcs, argv, lens)

    # --- the fast paths, one per export (tmc_set, tmc_value, tmc_int, tmc_list): each takes
    # its operation, a command's args, and returns its reply as RESP parsing would.
    # They are the costliest Python of a get or set, so each reads the handle
    # itself and takes a spare scratch (list.pop and append: no Python frame) ---

    def _set(self, op: int, deadlines: bool, args: list[Arg]) -> Reply:  # SET key value
        key, value = args[1], args[2]
        # cffi passes bytes to a char * as a pointer to its contents; other
        # buffers need a cdata view, which costs as much again.
        data = value if value.__class__ is bytes else ffi.from_buffer(value)
        h = self._handle
        if h is None:
            raise ValueError("operation on a closed TinyCache")
        s = _spare.pop() if _spare else _Scratch()
        try:
            status = self._lib.tmc_set(h, key, len(key), data, len(value), s.err, ERR_CAP)
            if status != OK:
                raise error(status, s.err)
            return "OK"
        finally:
            _spare.append(s)

    def _value(self, op: int, deadlines: bool, args: list[Arg]) -> Reply:  # GET key, GETDEL key; [value, deadline]
        key = args[1]
        h = self._handle
        if h is None:
            raise ValueError("operation on a closed TinyCache")
        s = _spare.pop() if _spare else _Scratch()
        try:
            status = self._lib.tmc_value(h, op, key, len(key), s.buf, VALUE_BUF, s.out, s.out_len, s.deadline, s.err, ERR_CAP)
            if status == NIL:
                return [None, s.deadline[0]] if deadlines else None
            if status != OK:
                raise error(status, s.err)
            p = s.out[0]
            if p == s.buf:
                value = ffi.unpack(p, s.out_len[0])
            else:
                try:
                    value = ffi.unpack(p, s.out_len[0])
                finally:
                    self._lib.tmc_free(p)
            return [value, s.deadline[0]] if deadlines else value
        finally:
            _spare.append(s)

    def _int(self, op: int, deadlines: bool, args: list[Arg]) -> Reply:  # DEL key, DBSIZE, RPUSH/LPUSH key value
        if len(args) > 3:  # a push of several values: tmc_int takes one
            return self._command(commands.RAW, args)
        key = args[1] if len(args) > 1 else b""
        value = args[2] if len(args) > 2 else b""
        data = value if value.__class__ is bytes else ffi.from_buffer(value)
        h = self._h()
        s = _spare.pop() if _spare else _Scratch()
        try:
            status = self._lib.tmc_int(h, op, key, len(key), data, len(value), s.n, s.err, ERR_CAP)
            if status != OK:
                raise error(status, s.err)
            return int(s.n[0])
        finally:
            _spare.append(s)

    def _list(self, op: int, deadlines: bool, args: list[Arg]) -> Reply:  # KEYS pattern, MGET key...; [values, deadline...]
        keys = args[1:]
        argv, lens, buffers = _argv(keys)  # buffers: alive until the call returns
        times = ffi.new("int64_t[]", len(keys)) if deadlines else ffi.NULL
        h = self._h()
        s = _spare.pop() if _spare else _Scratch()
        try:
            status = self._lib.tmc_list(h, op, len(keys), argv, lens, s.out, s.out_len, s.n, times, s.err, ERR_CAP)
            if status != OK:
                raise error(status, s.err)
            p = s.out[0]
            try:
                packed = ffi.unpack(p, s.out_len[0]) if s.out_len[0] else b""
            finally:
                self._lib.tmc_free(p)
            values = unpack_values(packed, s.n[0])
        finally:
            _spare.append(s)
        return [values, *ffi.unpack(times, len(keys))] if deadlines else values

    def _replies(self, count: int, fn: Any, *args: Any) -> list[Reply]:
        """Call fn(*args, out, out_len, err, cap) and parse the count raw replies it returns."""
        s = _spare.pop() if _spare else _Scratch()
        try:
            status = fn(*args, s.out, s.out_len, s.err, ERR_CAP)
            if status != OK:
                raise error(status, s.err)
            p, n = s.out[0], s.out_len[0]
            try:
                raw = ffi.unpack(p, n) if n else b""
            finally:
                self._lib.tmc_free(p)
        finally:
            _spare.append(s)
        return parse_replies(raw, count)

    def _h(self) -> int:
        if self._handle is None:
            raise ValueError("operation on a closed TinyCache")
        return self._handle


def _fast_paths() -> dict[str, tuple[Any, int, bool]]:
    """A Command's fast path, by the operation its `fast` names: derived from the cdef's enums
    (enum tmc_X_op lists the operations of export tmc_X, which GoClient._X calls), not written again.
    Each is (GoClient._X, its operation, whether it also returns deadlines), which run() unpacks
    and calls: no Python frame of its own, and no keywords to merge on every call."""
    paths = {}
    for export in ("set", "value", "int", "list"):
        adapter = getattr(GoClient, "_" + export)
        for name, op in ffi.typeof(f"enum tmc_{export}_op").relements.items():
            paths[name] = (adapter, op, name.endswith("_DEADLINE"))
    return paths


_FAST: dict[str, tuple[Any, int, bool]] = _fast_paths()


def _argv(args: Sequence[Arg]) -> tuple[Any, Any, list[Any]]:
    """The argv and arglen arrays of a command, and the buffers that must stay alive meanwhile."""
    buffers = [ffi.from_buffer(arg) for arg in args]
    return ffi.new("const char *[]", buffers), ffi.new("size_t[]", [len(arg) for arg in args]), buffers


_MISSING = 0xFFFFFFFF  # the length tmc_list gives a missing value


def unpack_values(packed: bytes, count: int, what: str = "value") -> list[bytes | None]:
    """Split tmc_list output: count entries of [4-byte LE length][bytes], length 0xFFFFFFFF for None."""
    values: list[bytes | None] = []
    view = memoryview(packed)
    pos = 0
    for _ in range(count):
        if pos + 4 > len(view):
            raise ProtocolError(f"truncated {what} list from the Go library")
        n = int.from_bytes(view[pos:pos + 4], "little")
        pos += 4
        if n == _MISSING:
            values.append(None)
            continue
        if pos + n > len(view):
            raise ProtocolError(f"truncated {what} list from the Go library")
        values.append(bytes(view[pos:pos + n]))
        pos += n
    if pos != len(view):
        raise ProtocolError(f"trailing bytes in the {what} list from the Go library")
    return values


class Server:
    """A running Go server: start() binds, wait() polls, stop() shuts it down."""

    def __init__(self, lib: Any, config: dict[str, Any]):
        self._lib = lib
        raw = json.dumps(config).encode("utf-8")
        out = ffi.new("uint64_t *")
        err = ffi.new("char[]", ERR_CAP)
        status = lib.tmc_server_start(raw, len(raw), out, err, ERR_CAP)
        if status != OK:
            # A bind failure is a ConnectionError, which is also an OSError.
            raise error(status, err)
        self._handle = out[0]

    def wait(self, timeout: float) -> bool:
        """Wait up to timeout seconds; True once the server has stopped."""
        return bool(self._lib.tmc_server_wait(self._handle, timeout))

    def addr(self) -> str:
        """The address it listens on: "HOST:PORT" (the real port after port 0) or the socket path."""
        buf = ffi.new("char[]", ERR_CAP)
        status = self._lib.tmc_server_addr(self._handle, buf, ERR_CAP)
        if status != OK:
            raise error(status, buf)
        return ffi.string(buf).decode("utf-8", "surrogateescape")

    def stop(self) -> None:
        err = ffi.new("char[]", ERR_CAP)
        status = self._lib.tmc_server_stop(self._handle, err, ERR_CAP)
        if status != OK:
            raise error(status, err)


def clean_near_tables(lib: Any) -> list[str]:
    """Mark dead and remove the near cache's tables of this user's killed servers (tmc_near_clean); their paths."""
    out = ffi.new("char **")
    out_len = ffi.new("size_t *")
    err = ffi.new("char[]", ERR_CAP)
    status = lib.tmc_near_clean(out, out_len, err, ERR_CAP)
    if status != OK:
        raise error(status, err)
    try:
        listing = ffi.unpack(out[0], out_len[0]) if out_len[0] else b""
    finally:
        lib.tmc_free(out[0])
    return listing.decode("utf-8", "surrogateescape").splitlines()
