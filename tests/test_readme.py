"""Every ```python block of README.md runs as shown (tests/readme_snippets.py)."""

from __future__ import annotations

import os
import sys

import pytest
from conftest import TESTS, need_go, run_isolated
from test_examples import port_5002
from readme_snippets import snippets

README = os.path.join(os.path.dirname(TESTS), "README.md")


def test_the_readme_has_python_snippets():
    assert len(snippets(README)) >= 2  # the quickstart and the API tour; the rest run from docs/


def test_every_readme_code_block_names_its_language():
    with open(README, encoding="utf-8") as f:
        fences = [(n, line.rstrip("\n")) for n, line in enumerate(f, 1) if line.startswith("```")]
    openings = fences[::2]
    assert len(fences) % 2 == 0 and openings
    untagged = [n for n, line in openings if line == "```"]
    assert not untagged, f"README.md code blocks without a language, at lines {untagged}"


@pytest.mark.timeout(300)
def test_every_readme_snippet_runs(tmp_path):
    need_go()
    with port_5002():  # the snippets serve on the README's port, 5002
        result = run_isolated([sys.executable, os.path.join(TESTS, "readme_snippets.py"), README], timeout=280)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert out.splitlines()[-1] == "ALL OK"
