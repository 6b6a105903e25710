"""README.md and the documentation's pages (docs/*.md) hold what they show.

Every ```python block runs as shown (tests/readme_snippets.py), every code
block names its language, and the README's relative links reach files (and
headings) that exist; mkdocs build --strict (.ci/docs) checks the links
between the pages themselves.
"""

from __future__ import annotations

import os
import re
import sys

import pytest
from conftest import TESTS, need_go, run_isolated
from test_examples import port_5002
from readme_snippets import documents, snippets

ROOT = os.path.dirname(TESTS)
README = os.path.join(ROOT, "README.md")
DOCUMENTS = documents()


def name(path: str) -> str:
    return os.path.relpath(path, ROOT)


def test_the_readme_and_the_docs_have_python_snippets():
    assert len(snippets(README)) >= 2  # the quickstart and the API tour
    assert len(DOCUMENTS) >= 10 and sum(len(snippets(d)) for d in DOCUMENTS[1:]) >= 7


@pytest.mark.parametrize("document", DOCUMENTS, ids=name)
def test_every_code_block_names_its_language(document):
    with open(document, encoding="utf-8") as f:
        fences = [(n, line.rstrip("\n")) for n, line in enumerate(f, 1) if line.startswith("```")]
    openings = fences[::2]
    assert len(fences) % 2 == 0
    untagged = [n for n, line in openings if line == "```"]
    assert not untagged, f"{name(document)}: code blocks without a language, at lines {untagged}"


@pytest.mark.timeout(600)
def test_every_snippet_runs():
    need_go()
    with port_5002():  # the snippets serve on the README's port, 5002
        result = run_isolated([sys.executable, os.path.join(TESTS, "readme_snippets.py"), *DOCUMENTS], timeout=580)
    out = result.stdout.decode()
    assert result.returncode == 0, out + result.stderr.decode()
    assert out.splitlines()[-1] == "ALL OK"
    for document in DOCUMENTS:  # each page's blocks ran, none was skipped
        for line, _ in snippets(document):
            assert f"ok   {name(document)} line {line}" in out.splitlines()


def anchors(markdown_file: str) -> set[str]:
    """The ids of a page's headings, as the site (mkdocs' toc) and GitHub make them."""
    with open(markdown_file, encoding="utf-8") as f:
        text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)
    headings = re.findall(r"^#{1,6} (.+)$", text, flags=re.M)
    return {re.sub(r"[\s]+", "-", re.sub(r"[^\w\s-]", "", h.strip().lower())) for h in headings}


def test_the_readmes_relative_links_reach_files_and_headings():
    with open(README, encoding="utf-8") as f:
        text = re.sub(r"^```.*?^```", "", f.read(), flags=re.S | re.M)
    targets = re.findall(r"\]\(([^)\s]+)\)", text)
    relative = [t for t in targets if not re.match(r"[a-z]+:", t)]
    assert len(relative) >= 10
    broken = []
    for target in relative:
        path, _, anchor = target.partition("#")
        file = os.path.join(ROOT, path) if path else README
        if not os.path.exists(file):
            broken.append(f"{target}: no file {path}")
        elif anchor and anchor not in anchors(file):
            broken.append(f"{target}: no heading #{anchor} in {path or 'README.md'}")
    assert not broken, "README.md links that lead nowhere:\n" + "\n".join(broken)
