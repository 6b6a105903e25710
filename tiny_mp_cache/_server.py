"""serve() and serve_unix(): run the Go server in this process until Ctrl-C or SIGTERM."""

from __future__ import annotations

import atexit
import difflib
import json
import logging
import os
import signal
import sys
import threading
from typing import Any, Callable

from . import _standalone
from ._platform import at_fork, require_unix_sockets

# Extra keyword options travel to a re-executed server through this variable
# rather than argv, so that a password does not show up in `ps`.
OPTIONS_ENV = "TINY_MP_CACHE_SERVE_OPTIONS"

_POLL_SECONDS = 0.1

# The keyword options of serve(), serve_unix() and start_server(): the JSON
# names of go/server's Config, less network and addr, which the functions'
# own arguments set, and log_fd, which _run sets (tests/test_server.py holds
# the two lists equal).
SERVER_OPTIONS = frozenset({
    "password", "allow_remote", "unix_mode", "max_clients", "max_bulk", "max_args", "max_inline", "max_query",
    "max_output", "max_output_soft", "max_output_soft_seconds",
    "max_output_pubsub", "max_output_pubsub_soft", "max_output_pubsub_soft_seconds", "max_memory", "eviction_policy", "log_level", "tracking_table_max_keys", "loops",
    "busy_reply_threshold", "script_max_memory",
})


# The server's log: its records reach Python's logging on this logger (see ServerLog).
logger = logging.getLogger("tiny_mp_cache.server")

# How a record is written to stderr when logging has no handler for it, and by the command line.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_FALLBACK = logging.Formatter(LOG_FORMAT)

_LEVELS = {"DEBUG": logging.DEBUG, "INFO": logging.INFO, "WARN": logging.WARNING, "ERROR": logging.ERROR}


def log_level_of(level: int) -> str:
    """The server's log_level that lets through the records a logger of this (effective) level takes."""
    for name, most in (("debug", logging.DEBUG), ("info", logging.INFO), ("warn", logging.WARNING)):
        if level <= most:
            return name
    return "error"


def _text(value: Any) -> str:
    """An attribute's value as slog's text handler writes it: quoted when it has a space, a quote or an =."""
    text = value if isinstance(value, str) else json.dumps(value)
    return json.dumps(text) if not text or any(c in text for c in ' "=') else text


def _record(line: bytes) -> logging.LogRecord:
    """A LogRecord of one of the server's JSON lines ({"time", "level", "msg", attributes...})."""
    try:
        fields = json.loads(line)
        if not isinstance(fields, dict):
            raise ValueError
        level = _LEVELS.get(fields.pop("level", None), logging.WARNING)
        msg = str(fields.pop("msg", ""))
        fields.pop("time", None)
    except ValueError:
        level, msg, fields = logging.WARNING, line.decode("utf-8", "replace").rstrip("\n"), {}
    text = " ".join([msg, *(f"{k}={_text(v)}" for k, v in fields.items())])
    # The attributes are also the record's server_attrs, for a handler that wants them apart.
    return logger.makeRecord(logger.name, level, "(server)", 0, text, (), None, extra={"server_attrs": fields})


def _emit(line: bytes) -> None:
    record = _record(line)
    if logger.hasHandlers():
        logger.handle(record)  # not held to the logger's level: the server logs at the level it was given
    elif not logger.disabled and sys.stderr is not None:
        # Without any handler, logging would print only warnings (its lastResort): write what log_level asked for.
        sys.stderr.write(_FALLBACK.format(record) + "\n")
        sys.stderr.flush()


class ServerLog:
    """A pipe the Go server writes its log records to (Config.LogFD: JSON lines), and the thread that reads them into logging.

    A pipe rather than a callback from Go: the reader is a Python thread
    like any other, nothing calls into Python from a Go thread, and a
    forked child, which has no such thread, has nothing to undo. fd is
    what the server's log_fd is given.
    """

    def __init__(self) -> None:
        self._read_end, self._write_end = os.pipe()
        if os.name == "nt":
            import msvcrt

            self.fd = msvcrt.get_osfhandle(self._write_end)
        else:
            self.fd = self._write_end
        self._thread = threading.Thread(target=self._read, name="tiny-mp-cache server log", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        with open(self._read_end, "rb") as lines:
            for line in lines:
                if line == b"\n":  # close()'s end
                    return
                try:
                    _emit(line)
                except Exception:  # never stop reading: a server whose log pipe is full stops serving
                    pass

    def close(self, timeout: float = 5.0) -> None:
        """Once the server has stopped: let the reader emit what is left, then end it.

        The end is a line of its own rather than the pipe's end, which a
        child forked meanwhile, holding the server's copy, would hold off.
        """
        try:
            os.write(self._write_end, b"\n")
        finally:
            os.close(self._write_end)
        self._thread.join(timeout)


# Options of tiny-mp-cache 0.1.x (the Rust implementation) that 0.2 does not have.
_GONE = {"wal_dir": ": 0.1.x's write-ahead log is gone; a 0.2 server keeps nothing across restarts"}


def check_options(function: str, options: dict[str, Any]) -> None:
    """Raise TypeError, as Python does for any function, at a keyword option the server does not have."""
    unknown = sorted(set(options) - SERVER_OPTIONS)
    if unknown:
        close = difflib.get_close_matches(unknown[0], SERVER_OPTIONS, n=1)
        hint = f". Did you mean {close[0]!r}?" if close else _GONE.get(unknown[0], "")
        raise TypeError(f"{function}() got an unexpected keyword argument {unknown[0]!r}{hint}")

# The directory that holds this package (site-packages, or a source checkout).
PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# `python -m tiny_mp_cache`, except that sys.path starts with the directory
# given as the first argument rather than the current directory.
_BOOTSTRAP = "import sys; sys.path.insert(0, sys.argv.pop(1)); from tiny_mp_cache.__main__ import main; sys.exit(main())"


def server_argv(*cli_args: str) -> list[str]:
    """The command line of a server process that runs this very copy of the package.

    Like `python -m tiny_mp_cache serve --quiet ...`, but independent of the
    current directory: `-m` imports tiny_mp_cache from there first, and in a
    source checkout that is the source tree, which has no compiled library.
    Where the package ships the standalone server instead of the library
    (_standalone), that program itself, which takes the same options.
    """
    binary = _standalone.server_binary()
    if binary is not None:
        return [binary, "--quiet", *cli_args]
    return [sys.executable, "-c", _BOOTSTRAP, PACKAGE_PARENT, "serve", "--quiet", *cli_args]


def serve(port: int, host: str = "127.0.0.1", **options: Any) -> None:
    """Serve on TCP host:port until Ctrl-C (SIGINT) or SIGTERM, then return None.

    Extra keyword options go to the server's JSON config: password,
    max_clients, max_memory (bytes or a string such as "512MB"),
    eviction_policy ("sieve", the default, or "noeviction": writes past
    max_memory fail with an OOM error), log_level ("debug", "info", "warn"
    (the default: quiet) or "error"), allow_remote, the request limits
    max_bulk, max_args, max_inline and max_query, max_output (the most
    reply bytes waiting for one client), max_output_soft and
    max_output_soft_seconds (a client that leaves more than max_output_soft
    reply bytes unread for that many seconds on end is disconnected; 64 MiB
    and 60 s by default), max_output_pubsub, max_output_pubsub_soft and
    max_output_pubsub_soft_seconds (the same for a client subscribed to a
    channel: Redis's 32 MiB, 8 MiB and 60 s by default), loops (how many event loops
    serve clients; 0, the default, is one per usable CPU), and for Lua
    scripts busy_reply_threshold (milliseconds a script runs before other
    clients get BUSY and SCRIPT KILL may stop it; 5000) and
    script_max_memory (how much one script may grow the heap; "256MB").
    An unknown option
    raises TypeError, a bad value ValueError, a bind failure ConnectionError
    (an OSError).

    The server logs through Python's logging, on the logger
    "tiny_mp_cache.server" (a record's message is the server's, followed by
    its attributes as key=value; record.server_attrs holds them as a dict),
    at log_level when it is given, else at that logger's effective level
    when the server starts (WARNING, unless configured: quiet). Where
    logging has no handler at all, the records are written to stderr.
    """
    if type(port) is int and port == 0:
        raise ValueError("port must be in 1..65535, got 0 (start_server() serves on a free port and says which)")
    check_options("serve", options)
    serve_tcp(port, host, options)


def serve_tcp(port: int, host: str, options: dict[str, Any], on_ready: Callable[[str], None] | None = None) -> None:
    """serve(), with the options as a dict and a callback run once the server listens.

    Port 0 asks the system for a free port; on_ready gets the address the
    server listens on ("127.0.0.1:41234").
    """
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be int, not {type(port).__name__}")
    if not 0 <= port < 65536:
        raise ValueError(f"port must be in 1..65535 (or 0: any free port), got {port}")
    if not isinstance(host, str) or not host:
        raise TypeError("host must be a non-empty str")
    addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    _run({"network": "tcp", "addr": addr}, options, ["--port", str(port), "--host", host], on_ready)


def serve_unix(path: str | os.PathLike[str], **options: Any) -> None:
    """Serve on the unix socket at path until Ctrl-C (SIGINT) or SIGTERM, then return None.

    The socket file is removed when the server stops. A stale socket file
    at path (nobody answers on it) is replaced; anything else there raises
    ConnectionError and is left as it is. Extra keyword options
    are those of serve(), plus unix_mode (the socket file's permissions,
    0o600 by default). Where unix sockets are unsupported (Windows) it
    raises OSError (EAFNOSUPPORT): serve on TCP there.
    """
    check_options("serve_unix", options)
    serve_unix_path(path, options)


def serve_unix_path(
    path: str | os.PathLike[str], options: dict[str, Any], on_ready: Callable[[str], None] | None = None
) -> None:
    """serve_unix(), with the options as a dict and a callback run once the server listens (given the path)."""
    path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise TypeError("path must be a non-empty str or os.PathLike[str]")
    require_unix_sockets()
    _run({"network": "unix", "addr": path}, options, ["--unix", path], on_ready)


def _run(
    config: dict[str, Any], options: dict[str, Any], cli_args: list[str], on_ready: Callable[[str], None] | None
) -> None:
    clash = set(config) & set(options)
    if clash:
        raise TypeError(f"option {min(clash)!r} is set by the function's own arguments")
    from . import _bindings

    standalone = _standalone.server_binary() is not None
    lib = None if standalone else _bindings.library()
    if lib is None and not standalone:
        # This process inherited a loaded Go runtime through fork() and must
        # not call into it: become a fresh interpreter with the same pid.
        _reexec(cli_args, options)
    log = ServerLog()
    level = options.get("log_level") or log_level_of(logger.getEffectiveLevel())
    config = {**config, "log_fd": log.fd, "log_level": level}
    try:
        if standalone:
            # The standalone server in a child process, which serves until this call returns.
            env = dict(os.environ, **{OPTIONS_ENV: json.dumps({**options, **config})})
            _serve(lambda: _standalone.Server(server_argv(*cli_args), env, log.fd), on_ready)
        else:
            _serve(lambda: _bindings.Server(lib, {**options, **config}), on_ready, lib.tmc_server_stop_on_sigterm)
    finally:
        log.close()


def _reexec(cli_args: list[str], options: dict[str, Any]) -> None:
    env = dict(os.environ)
    if options:
        env[OPTIONS_ENV] = json.dumps(options)
    else:
        env.pop(OPTIONS_ENV, None)
    argv = server_argv(*cli_args)
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()
    os.execve(sys.executable, argv, env)


_at_fork_registered = False
_fork_mask = threading.local()  # the forking thread's signal mask before fork()


def _stop_on_sigterm_in_go(stop_on_sigterm: Callable[[], None]) -> None:
    """Have the Go library catch SIGTERM, stop the servers, then let SIGTERM end the process.

    A forked child inherits the Go library's SIGTERM handler but not the Go
    runtime that acts on it, so SIGTERM would do nothing there. Around every
    os.fork(), SIGTERM is therefore blocked, and the child gets back the
    handling Python believes in before it unblocks it: a SIGTERM sent at
    once still ends the child.
    """
    global _at_fork_registered
    if not _at_fork_registered:
        _at_fork_registered = True
        at_fork(before=_block_sigterm, after_in_parent=_unblock_sigterm, after_in_child=_sigterm_in_child)
    stop_on_sigterm()


def _block_sigterm() -> None:
    _fork_mask.old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def _unblock_sigterm() -> None:
    signal.pthread_sigmask(signal.SIG_SETMASK, _fork_mask.old)


def _sigterm_in_child() -> None:
    if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:  # unless the program set its own
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _unblock_sigterm()


# Servers that serve() and serve_unix() are running in this process. A
# server run by a daemon thread is still in here at interpreter exit, which
# neither waits for that thread nor ends its serve_unix(): it is stopped
# then, so that its socket file and near cache table go with it. A forked
# child starts with none: the Go runtime that runs them is not its own.
_running: set[Any] = set()
at_fork(after_in_child=_running.clear)


@atexit.register
def _stop_at_exit() -> None:
    for server in list(_running):
        server.stop()


class _Terminated(BaseException):
    """Raised by the temporary SIGTERM handler to leave the wait loop."""


def _serve(
    start: Callable[[], Any], on_ready: Callable[[str], None] | None, stop_on_sigterm: Callable[[], None] | None = None
) -> None:
    """Start the server and block until it stops, Ctrl-C or SIGTERM; always stop it.

    On the main thread, the SIGTERM handler is installed before the server
    starts, so that a SIGTERM at any moment still stops it cleanly (removing
    a unix socket). Another thread cannot handle signals in Python: there,
    if SIGTERM would kill the process, the Go library is asked, before the
    server starts, to stop it on SIGTERM and then let SIGTERM end the process.
    """
    stopping = False

    def on_sigterm(signum: int, frame: Any) -> None:
        if not stopping:
            raise _Terminated

    on_main_thread = threading.current_thread() is threading.main_thread()
    previous: Any = None
    if on_main_thread:
        previous = signal.signal(signal.SIGTERM, on_sigterm)
    elif stop_on_sigterm is not None and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        _stop_on_sigterm_in_go(stop_on_sigterm)
    server = None
    try:
        server = start()  # a bind failure raises here
        _running.add(server)
        if on_ready is not None:
            on_ready(server.addr())
        # Each wait releases the GIL for at most _POLL_SECONDS, so Python
        # signal handlers get to run on this (main) thread in between.
        while not server.wait(_POLL_SECONDS):
            pass
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        stopping = True
        try:
            if server is not None:
                _running.discard(server)
                server.stop()
        finally:
            if on_main_thread:
                signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
