"""The address grammar: tests/addresses.json is its table, and both parsers pass it.

The Go client (go/client, TestParseAddrTable) reads the same file, so the
two parsers cannot drift apart without one of these tests failing.
"""

from __future__ import annotations

import json
import os

import pytest
from conftest import ROOT
from tiny_mp_cache._resp import parse_address

with open(os.path.join(ROOT, "tests", "addresses.json"), encoding="utf-8") as f:
    CASES = json.load(f)["cases"]


@pytest.mark.parametrize("case", [c for c in CASES if "error" not in c], ids=lambda c: c["addr"])
def test_an_address_parses_as_the_table_says(case):
    address = parse_address(case["addr"])
    want = case["path"] if "path" in case else (case["host"], case["port"])
    assert (address.sockaddr, address.password, address.db) == (want, case.get("password", ""), case.get("db", 0))


@pytest.mark.parametrize("case", [c for c in CASES if "error" in c], ids=lambda c: c["addr"])
def test_a_malformed_address_is_refused_as_the_table_says(case):
    with pytest.raises(ValueError, match="invalid address"):
        parse_address(case["addr"])
