"""Build script: compiles the Go code in go/ into tiny_mp_cache/libtinympcache.so.

Project metadata lives in pyproject.toml; this file only wires the Go build
into setuptools through setuptools-golang (pinned in pyproject.toml).

How the build works:

* One Extension, ``tiny_mp_cache.libtinympcache``, whose single source is the
  Go main package ``go/capi/main.go`` (listing it also puts it in the sdist).
* ``build_ext`` is setuptools-golang's class, obtained through its public
  ``set_build_ext`` hook, and subclassed here:
  - it chdirs into ``go/`` before building, because setuptools-golang copies
    the *current directory* into a temporary GOPATH: this way only the Go
    module is copied, never ``.venv/``, ``build/`` or ``.git/``;
  - the output path is made absolute relative to the project root first;
  - the library is named plainly ``libtinympcache.so`` (no CPython ABI
    suffix: it is loaded with dlopen by cffi and does not link libpython);
  - Go runs with ``-mod=vendor -buildvcs=false -trimpath``, GOTOOLCHAIN=local
    and CGO_ENABLED=1, so the build uses only the vendored modules in
    ``go/vendor`` and neither the network nor git;
  - setuptools-golang's ``go get -d`` step is skipped: with vendored modules
    it has nothing to do, and it would try to download every dependency into
    an empty module cache (ignoring -mod=vendor), which fails offline;
  - its linker-flag probe runs with its (expected) compiler errors silenced.
  The two hooks replace module functions of setuptools_golang for the
  duration of the build, which is why the version is pinned exactly.
* ``bdist_wheel`` tags the wheel ``py3-none-<platform>``: the .so depends on
  the platform but not on the Python version or ABI.
"""
from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
import tempfile

from setuptools import Extension
from setuptools import setup

import setuptools_golang

try:
    from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
except ImportError:  # setuptools < 70.1
    from wheel.bdist_wheel import bdist_wheel as _bdist_wheel

ROOT = os.path.dirname(os.path.abspath(__file__))
GO_DIR = 'go'
GO_MODULE = 'github.com/tiny-mp-cache/tiny-mp-cache'
EXT_NAME = 'tiny_mp_cache.libtinympcache'

# Environment for every go command of the build (on top of os.environ).
GO_ENV = {
    'GOFLAGS': '-mod=vendor -buildvcs=false -trimpath',
    'GOTOOLCHAIN': 'local',
    'CGO_ENABLED': '1',
}


class _DistLike:
    """Just enough of a Distribution for setuptools_golang.set_build_ext."""

    def __init__(self) -> None:
        self.cmdclass: dict[str, type] = {}


def _golang_build_ext_base() -> type:
    dist = _DistLike()
    setuptools_golang.set_build_ext(dist, 'build_golang', {'root': GO_MODULE})
    return dist.cmdclass['build_ext']


def _go_env() -> dict[str, str]:
    env = dict(GO_ENV)
    if not (os.environ.get('GOCACHE') or os.environ.get('XDG_CACHE_HOME')
            or os.environ.get('HOME')):
        env['GOCACHE'] = os.path.join(tempfile.gettempdir(), 'tmc-gocache')
    return env


def _quiet_ldflags() -> str:
    """setuptools_golang._get_ldflags without its compiler noise.

    It probes which "ignore unresolved symbols" linker flag the C compiler
    takes by linking a test program with each; the failed probe prints a
    linker error into the build log, which looks like a real failure.
    """
    if sys.platform == 'win32':
        return setuptools_golang._get_ldflags()
    cc = subprocess.check_output(
        ('go', 'env', 'CC'), env=dict(os.environ, **GO_ENV),
    ).decode().strip()
    with tempfile.TemporaryDirectory() as tmpdir:
        with open(os.path.join(tmpdir, 'test.c'), 'w') as f:
            f.write('int f(int); int main(void) { return f(0); }\n')
        for lflag in setuptools_golang.LFLAGS:
            res = subprocess.run(
                (cc, 'test.c', lflag), cwd=tmpdir,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            if res.returncode == 0:
                return lflag
    return setuptools_golang.LFLAG_GCC


class build_ext(_golang_build_ext_base()):  # type: ignore[misc]
    def get_ext_filename(self, fullname: str) -> str:
        # "tiny_mp_cache.libtinympcache" -> "tiny_mp_cache/libtinympcache.so"
        return os.path.join(*fullname.split('.')) + '.so'

    def get_ext_fullpath(self, ext_name: str) -> str:
        # Absolute, so that it stays right after the chdir into go/.
        return os.path.join(ROOT, super().get_ext_fullpath(ext_name))

    def build_extension(self, ext: Extension) -> None:
        if not any(s.endswith('.go') for s in ext.sources):
            return super().build_extension(ext)
        if shutil.which('go') is None:
            raise OSError(
                'building tiny-mp-cache needs the Go toolchain (go >= 1.22) '
                'on PATH, and a C compiler for cgo; see README.md',
            )
        go_dir = os.path.join(ROOT, GO_DIR)
        go_ext = copy.copy(ext)
        go_ext.sources = [
            os.path.relpath(os.path.join(ROOT, s), go_dir) for s in ext.sources
        ]
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        extra_env = _go_env()
        orig_check_call = setuptools_golang._check_call

        def check_call(cmd, cwd, env):  # type: ignore[no-untyped-def]
            if tuple(cmd[:2]) == ('go', 'get'):
                print('tiny-mp-cache: skipping `go get`: modules are vendored '
                      'in go/vendor', file=sys.stderr)
                return
            env = dict(env, **extra_env)
            if 'CGO_CFLAGS' in env:
                # setuptools-golang sets CGO_CFLAGS to include flags only,
                # dropping Go's default -O2 for the cgo glue: put it back.
                env['CGO_CFLAGS'] = f"-O2 {env['CGO_CFLAGS']}".strip()
            return orig_check_call(tuple(cmd), cwd, env)

        cwd = os.getcwd()
        orig_get_ldflags = setuptools_golang._get_ldflags
        setuptools_golang._check_call = check_call
        setuptools_golang._get_ldflags = _quiet_ldflags
        try:
            os.chdir(go_dir)
            super().build_extension(go_ext)
        finally:
            os.chdir(cwd)
            setuptools_golang._check_call = orig_check_call
            setuptools_golang._get_ldflags = orig_get_ldflags
        # cgo also writes a C header next to the library; tmc.h documents
        # the ABI, so keep the package (and the wheel) free of it.
        header = os.path.splitext(out)[0] + '.h'
        if os.path.exists(header):
            os.remove(header)


class bdist_wheel(_bdist_wheel):
    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self) -> tuple[str, str, str]:
        _, _, plat = super().get_tag()
        return 'py3', 'none', plat


setup(
    ext_modules=[Extension(EXT_NAME, sources=[f'{GO_DIR}/capi/main.go'])],
    cmdclass={'build_ext': build_ext, 'bdist_wheel': bdist_wheel},
)
