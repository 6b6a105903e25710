"""What differs between Linux, macOS and Windows, decided in one place.

Each decision is a function of the platform facts it depends on, with the
running interpreter's as defaults, so tests can check every platform's
answer on any one machine.
"""

from __future__ import annotations

import errno
import os
import socket
import sys
from typing import Callable

LIBRARY_STEM = "libtinympcache"


def library_name(platform: str | None = None) -> str:
    """The file name of the Go library for a sys.platform value (default: this one's).

    go build -buildmode=c-shared makes a DLL on Windows, a Mach-O dylib on
    macOS and an ELF shared object elsewhere; the build names it so.
    """
    platform = sys.platform if platform is None else platform
    if platform == "win32":
        return LIBRARY_STEM + ".dll"
    if platform == "darwin":
        return LIBRARY_STEM + ".dylib"
    return LIBRARY_STEM + ".so"


def unix_sockets(platform: str | None = None, has_af_unix: bool | None = None) -> bool:
    """Whether serve_unix() and "unix://" addresses are supported (default: here).

    They are where Python has AF_UNIX, except on Windows: there a socket
    file's permissions (unix_mode) mean nothing, the path grammar differs,
    and nothing here tests them. Windows users serve on 127.0.0.1.
    """
    platform = sys.platform if platform is None else platform
    has_af_unix = hasattr(socket, "AF_UNIX") if has_af_unix is None else has_af_unix
    return has_af_unix and platform != "win32"


def require_unix_sockets() -> None:
    """Raise OSError (EAFNOSUPPORT) with a way out where unix sockets are unsupported."""
    if not unix_sockets():
        raise OSError(
            errno.EAFNOSUPPORT,
            f"unix sockets are not supported on {sys.platform}; "
            'serve on TCP with serve(port) and connect to "127.0.0.1:PORT"',
        )


def at_fork(**hooks: Callable[[], None]) -> None:
    """os.register_at_fork(**hooks) where there is fork; nothing on Windows, which has none."""
    register = getattr(os, "register_at_fork", None)
    if register is not None:
        register(**hooks)
