"""Command line: run a server until Ctrl-C or SIGTERM.

    python -m tiny_mp_cache serve --port N [--host H] [--password PW] [--allow-remote]
        (--port 0: any free port; the address is printed, and written to --ready-fd)
    python -m tiny_mp_cache serve --unix PATH [--unix-mode 600] [--password PW]
        [--max-memory 512MB] [--eviction-policy sieve|noeviction]
        [--max-clients N] [--log-level debug|info|warn|error] [--quiet] [--ready-fd FD]
        [--stop-on-stdin-eof]
    python -m tiny_mp_cache clean-shm
        (mark dead and remove the near cache's tables that this user's killed
        servers left in /dev/shm; prints the path of each)

`python -m tiny_mp_cache --version` prints the version. Also installed as
the `tiny-mp-cache` console script. Exits 0 when stopped by
a signal, 1 when the server cannot start (the port is taken, an option's
value is refused, a table cannot be removed), 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from typing import Any

from . import __version__
from ._errors import TinyCacheError
from ._server import LOG_FORMAT, OPTIONS_ENV, serve_tcp, serve_unix_path


def _octal(text: str) -> int:
    return int(text, 8)


def _size(text: str) -> int | str:
    """A --max-memory value: a number of bytes, or a size with a unit that the server parses ("512MB")."""
    return int(text) if text.isdigit() else text


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tiny-mp-cache", description="A small Redis-compatible key/value cache server (RESP2 and RESP3)."
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run a server until Ctrl-C or SIGTERM")
    where = run.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int, help="listen on TCP HOST:PORT (0: any free port)")
    where.add_argument("--unix", metavar="PATH", help="listen on a unix socket at PATH")
    run.add_argument("--host", default="127.0.0.1", help="TCP host to bind (default: 127.0.0.1)")
    run.add_argument("--password", help="require AUTH with this password")
    run.add_argument("--unix-mode", type=_octal, metavar="OCTAL", help="permissions of the unix socket file (default 600)")
    run.add_argument("--max-clients", type=int, metavar="N", help="maximum number of connected clients")
    run.add_argument(
        "--max-memory",
        type=_size,
        metavar="SIZE",
        help='bound the memory for keys and values: bytes, or "64MB", "2GB" (default: no bound)',
    )
    run.add_argument(
        "--max-query",
        type=int,
        metavar="BYTES",
        help="most bytes one request may take; a client over it is disconnected (default: 1 GiB)",
    )
    run.add_argument(
        "--max-output",
        type=int,
        metavar="BYTES",
        help="most reply bytes waiting for one client; a command over it disconnects the client (default: 1 GiB)",
    )
    run.add_argument(
        "--max-output-soft",
        type=int,
        metavar="BYTES",
        help="a client that leaves more reply bytes than this unread for --max-output-soft-seconds "
        "is disconnected (default: 64 MiB; --max-output or more: never)",
    )
    run.add_argument(
        "--max-output-soft-seconds",
        type=int,
        metavar="N",
        help="how long a client may stay past --max-output-soft (default: 60)",
    )
    run.add_argument(
        "--loops",
        type=int,
        metavar="N",
        help="event loops serving clients, each on a thread of its own (default: one per usable CPU)",
    )
    run.add_argument(
        "--eviction-policy",
        choices=["sieve", "noeviction"],
        help="at the --max-memory bound, evict keys with SIEVE (default), or refuse writes with an OOM error",
    )
    run.add_argument(
        "--log-level",
        choices=["debug", "info", "warn", "error"],
        help="what the server logs to stderr (default: warn, which is quiet in normal operation)",
    )
    run.add_argument(
        "--allow-remote",
        action="store_true",
        default=None,
        help="allow a non-loopback --host without --password",
    )
    run.add_argument("--quiet", action="store_true", help="do not print the listening address")
    run.add_argument(
        "--ready-fd",
        type=int,
        metavar="FD",
        help="once listening, write the address (a TinyCache address, one line) to this inherited file descriptor and close it",
    )
    run.add_argument(
        "--stop-on-stdin-eof",
        action="store_true",
        help="stop (as on SIGTERM) once standard input reaches its end: a pipe whose writers have all exited",
    )
    commands.add_parser(
        "clean-shm",
        help="mark dead and remove the near cache's tables (/dev/shm) of this user's servers that were killed",
        description="Mark dead, and remove, the near cache's tables in /dev/shm that this user's servers left "
        "when they were killed: those no running server holds. Prints the path of each. Nothing else is touched, "
        "and no symbolic link is followed.",
    )
    return parser


def _clean_shm() -> int:
    from . import _bindings

    try:
        lib = _bindings.library()
        if lib is None:
            raise TinyCacheError("clean-shm cannot call the Go library from a forked child")
        for path in _bindings.clean_near_tables(lib):
            print(path, flush=True)
    except (TinyCacheError, OSError) as e:
        print(f"tiny-mp-cache: error: {e}", file=sys.stderr)
        return 1
    return 0


def _sigterm_at_eof() -> None:
    """Read standard input to its end, then stop the server as SIGTERM does."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    os.kill(os.getpid(), signal.SIGTERM)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m tiny_mp_cache` and the `tiny-mp-cache` script."""
    args = _parser().parse_args(argv)
    if args.command == "clean-shm":
        return _clean_shm()
    # The server's log (the tiny_mp_cache.server logger) goes to stderr, at --log-level; warnings alone without it.
    logging.basicConfig(format=LOG_FORMAT, stream=sys.stderr)
    options: dict[str, Any] = json.loads(os.environ.pop(OPTIONS_ENV, "") or "{}")
    names = ("password", "unix_mode", "max_clients", "allow_remote", "max_memory", "max_query", "max_output",
             "max_output_soft", "max_output_soft_seconds", "loops")  # fmt: skip
    for name in names + ("eviction_policy", "log_level"):
        value = getattr(args, name)
        if value is not None:
            options[name] = value

    def ready(where: str) -> None:
        addr = f"unix://{where}" if args.unix is not None else where  # what a client is given
        if not args.quiet:
            print(f"tiny-mp-cache: serving on {addr} (pid {os.getpid()}); Ctrl-C to stop", file=sys.stderr, flush=True)
        if args.ready_fd is not None:
            with os.fdopen(args.ready_fd, "w", encoding="utf-8", newline="\n", closefd=True) as f:  # no \r on Windows
                f.write(addr + "\n")
        if args.stop_on_stdin_eof:
            threading.Thread(target=_sigterm_at_eof, daemon=True).start()

    try:
        if args.unix is not None:
            serve_unix_path(args.unix, options, ready)
        else:
            serve_tcp(args.port, args.host, options, ready)
    except (TinyCacheError, OSError, ValueError, TypeError) as e:
        print(f"tiny-mp-cache: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
