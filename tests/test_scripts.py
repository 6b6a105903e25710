"""The original's two test scripts pass when run as scripts."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import TESTS, need_go, run_isolated


def run_script(name: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
    need_go()
    return run_isolated([sys.executable, os.path.join(TESTS, name), *args], timeout=timeout)


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
