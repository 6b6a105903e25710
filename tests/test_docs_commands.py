"""docs/commands.md's "Supported commands" table names exactly the commands the server has.

The server is asked itself (COMMAND and COMMAND COUNT, through redis-py), so
a command added to or removed from go/server's command table without the
table in the docs, or the other way round, fails here.
"""

from __future__ import annotations

import os
import re

import pytest
from conftest import TESTS, need_go

redis = pytest.importorskip("redis")
from tiny_mp_cache import start_server  # noqa: E402

COMMANDS_MD = os.path.join(os.path.dirname(TESTS), "docs", "commands.md")


def documented_commands() -> set[str]:
    """The commands of the table's tiny-mp-cache column, without their options.

    A cell reads like `GET` `SET` (`EX` `PX` ...) `CLIENT SETINFO/SETNAME`
    `SELECT 0`: what is in parentheses is options, and of a backticked item
    only the first word is the command.
    """
    with open(COMMANDS_MD, encoding="utf-8") as f:
        text = f.read()
    section = text.split("## Supported commands", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| group")]
    assert len(rows) >= 8, "the Supported commands table is not where it was"
    names = set()
    for row in rows:
        cell = re.sub(r"\([^)]*\)", "", row.split("|")[2])
        names |= {item.split()[0].upper() for item in re.findall(r"`([^`]+)`", cell)}
    return names


def test_the_supported_commands_table_is_the_servers_command_table():
    need_go()
    with start_server(password=False) as srv:
        r = redis.Redis.from_url(srv.addr if "://" in srv.addr else f"redis://{srv.addr}", socket_timeout=10)
        try:
            served = {name.upper() if isinstance(name, str) else name.decode().upper() for name in r.command()}
            count = r.command_count()
        finally:
            r.close()
    documented = documented_commands()
    assert count == len(served)
    assert documented == served, (
        f"in docs/commands.md but not served: {sorted(documented - served)}; "
        f"served but not in docs/commands.md: {sorted(served - documented)}"
    )
