"""The original's two test scripts pass when run as scripts, from the repository root."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import tiny_mp_cache
from conftest import ROOT, TESTS, need_go, run_isolated


def run_script(name: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    """Run tests/NAME as the original says: `python tests/NAME` from the repository root."""
    need_go()
    return run_isolated([sys.executable, os.path.join("tests", name), *args], timeout=timeout, cwd=ROOT)


@pytest.mark.timeout(180)
def test_cache_api_script():
    result = run_script("cache_api_test.py", timeout=150)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.splitlines()[-1] == b"ALL OK"
    assert b"FAIL" not in result.stdout


@pytest.mark.timeout(600)
def test_full_script():
    result = run_script("full_test.py", timeout=540)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert "[spawn] processed  : total=10000, unique=10000, duplicates=0" in out
    assert "[fork] processed  : total=10000, unique=10000, duplicates=0" in out
    assert out.splitlines()[-1] == "ALL OK"


@pytest.mark.timeout(180)
def test_cache_api_script_ignores_a_source_tree_in_the_current_directory(tmp_path):
    """The servers it starts import the package this script imported, not ./tiny_mp_cache.

    The original says: install, then run `python tests/cache_api_test.py`
    from the repository root, whose tiny_mp_cache/ has no compiled library.
    A copy of the package without its library, in the current directory,
    stands for that source tree.
    """
    need_go()
    package = os.path.dirname(os.path.abspath(tiny_mp_cache.__file__))
    shutil.copytree(package, tmp_path / "tiny_mp_cache", ignore=shutil.ignore_patterns("libtinympcache*", "__pycache__"))
    env = {k: v for k, v in os.environ.items() if k != "TINY_MP_CACHE_LIB"}
    result = run_isolated(
        [sys.executable, os.path.join(TESTS, "cache_api_test.py")], timeout=150, cwd=str(tmp_path), env=env
    )
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    assert result.stdout.splitlines()[-1] == b"ALL OK"
