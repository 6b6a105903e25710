"""Packaging check: build the sdist, then a wheel from that sdist, and
verify what each contains. Run with the venv's python (needs `build`):

    python .ci/check_dist.py [--keep DIR]

* sdist: the Go module (go.mod, go.sum, vendor/, capi/main.go, capi/tmc.h),
  the Python package, setup.py, pyproject.toml, the build backend
  (build_backend/), README.md, CHANGELOG.md, LICENSE, and no prebuilt library (*.so,
  *.dylib, *.dll).
* wheel (built from the sdist, so the sdist is complete enough to build):
  version tiny_mp_cache.__version__, at least 0.2.0 (above PyPI's 0.1.x),
  tagged py3-none-<platform>, with tiny_mp_cache/libtinympcache.so,
  py.typed, the .py files and the console script; the .so loads and exports
  every function declared in go/capi/tmc.h (checked in a child process, so
  no Go runtime is loaded here).
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from tiny_mp_cache import __version__  # noqa: E402  (the package's own version; imports no library)

LIB = 'tiny_mp_cache/libtinympcache' + {'darwin': '.dylib', 'win32': '.dll'}.get(sys.platform, '.so')
# PyPI's tiny-mp-cache 0.1.x is the original Rust implementation; this one must sort above it.
MIN_VERSION = (0, 2, 0)
errors: list[str] = []


def check(cond: bool, msg: str) -> None:
    if not cond:
        errors.append(msg)
        print(f'FAIL: {msg}')


def abi_functions() -> list[str]:
    with open(os.path.join(ROOT, 'go', 'capi', 'tmc.h')) as f:
        text = re.sub(r'/\*.*?\*/', '', f.read(), flags=re.S)
    return sorted(set(re.findall(r'\b(tmc_\w+)\s*\(', text)))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--keep', help='build into this directory and keep it')
    args = ap.parse_args()
    out = args.keep or tempfile.mkdtemp(prefix='tmc-dist.')
    # `python -m build` = sdist first, then the wheel built from the sdist.
    subprocess.check_call(
        [sys.executable, '-m', 'build', '--outdir', out, ROOT],
        stdout=subprocess.DEVNULL,
    )
    sdists = [f for f in os.listdir(out) if f.endswith('.tar.gz')]
    wheels = [f for f in os.listdir(out) if f.endswith('.whl')]
    check(len(sdists) == 1 and len(wheels) == 1, f'expected 1 sdist + 1 wheel in {out}: {os.listdir(out)}')
    if errors:
        return 1

    with tarfile.open(os.path.join(out, sdists[0])) as tf:
        names = [n.split('/', 1)[1] for n in tf.getnames() if '/' in n]
    print(f'sdist {sdists[0]}: {len(names)} entries')
    required = ['setup.py', 'pyproject.toml', 'README.md', 'CHANGELOG.md', 'LICENSE',
                'build_backend/tmc_build.py', 'build_backend/tmc_toolchain.py',
                'go/go.mod', 'go/capi/main.go', 'go/capi/tmc.h',
                'tiny_mp_cache/__init__.py', 'tiny_mp_cache/py.typed']
    if os.path.exists(os.path.join(ROOT, 'go', 'go.sum')):
        required.append('go/go.sum')
    if os.path.isdir(os.path.join(ROOT, 'go', 'vendor')):
        required.append('go/vendor/modules.txt')
    for r in required:
        check(r in names, f'sdist lacks {r}')
    libs = [n for n in names if n.endswith(('.so', '.dylib', '.dll'))]
    check(not libs, f'sdist has prebuilt libraries: {libs}')

    whl = wheels[0]
    print(f'wheel {whl}')
    version = whl.split('-')[1]
    check(version == __version__, f'wheel version {version} is not tiny_mp_cache.__version__ {__version__}')
    check(tuple(int(p) for p in re.findall(r'\d+', version)[:3]) >= MIN_VERSION,
          f'version {version} does not supersede the published 0.1.x')
    check(re.fullmatch(r'tiny_mp_cache-[^-]+-py3-none-(?!any)[\w.]+\.whl', whl) is not None,
          f'wheel is not tagged py3-none-<platform>: {whl}')
    with zipfile.ZipFile(os.path.join(out, whl)) as zf:
        wnames = zf.namelist()
        for r in [LIB, 'tiny_mp_cache/py.typed', 'tiny_mp_cache/__init__.py']:
            check(r in wnames, f'wheel lacks {r}')
        check(not any(n.endswith('.h') for n in wnames), 'wheel has a C header')
        eps = [n for n in wnames if n.endswith('.dist-info/entry_points.txt')]
        check(bool(eps) and 'tiny-mp-cache = tiny_mp_cache.__main__:main'
              in zf.read(eps[0]).decode(), 'wheel lacks the tiny-mp-cache console script')
        wheel_meta = [n for n in wnames if n.endswith('.dist-info/WHEEL')]
        check(bool(wheel_meta) and 'Root-Is-Purelib: false' in zf.read(wheel_meta[0]).decode(),
              'wheel is marked pure')
        if LIB in wnames:
            lib_path = os.path.join(out, 'libtinympcache.so')
            with open(lib_path, 'wb') as f:
                f.write(zf.read(LIB))
            funcs = abi_functions()
            probe = ('import ctypes, sys\n'
                     'lib = ctypes.CDLL(sys.argv[1])\n'
                     'missing = [n for n in sys.argv[2:] if not hasattr(lib, n)]\n'
                     'print(" ".join(missing))\n')
            res = subprocess.run([sys.executable, '-c', probe, lib_path, *funcs],
                                 capture_output=True, text=True)
            check(res.returncode == 0, f'the .so does not load: {res.stderr.strip()}')
            missing = res.stdout.split()
            check(not missing, f'the .so lacks functions declared in tmc.h: {missing}')
            size = os.path.getsize(lib_path)
            print(f'{LIB}: {size / 1e6:.1f} MB, exports all {len(funcs)} tmc.h functions'
                  if not missing else f'{LIB}: {size / 1e6:.1f} MB')

    if args.keep:
        print(f'artifacts kept in {out}')
    else:
        shutil.rmtree(out, ignore_errors=True)
    print('packaging check:', 'FAILED' if errors else 'ok')
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main())
