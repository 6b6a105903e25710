"""serve() and serve_unix() log through Python's logging, on the "tiny_mp_cache.server" logger.

The Go server writes its records to a pipe; a thread of the serving process
reads them into logging. Each test runs a server in a process of its own
(serve() blocks until SIGTERM), which prints what its handler got once
serve() has returned.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

import pytest
from conftest import ServerProcess, listen_place, need_go

SERVE = """
import json, logging, os, signal, sys, threading, time
from tiny_mp_cache import TinyCache, serve, serve_unix

transport, where, setup = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
records = []

class Keep(logging.Handler):
    def emit(self, record):
        records.append({"name": record.name, "level": record.levelname, "message": record.getMessage(),
                        "attrs": record.server_attrs})

log = logging.getLogger("tiny_mp_cache.server")
if setup.get("handler"):
    log.addHandler(Keep())
if setup.get("logger_level"):
    log.setLevel(setup["logger_level"])
child = None
if setup.get("fork"):
    def fork_a_child():  # a child that holds a copy of every descriptor, the log pipe's too
        global child
        while True:
            try:
                TinyCache(("unix://" if transport == "unix" else "") + where, _pure=True).close()
                break
            except Exception:
                time.sleep(0.02)
        child = os.fork()
        if child == 0:
            time.sleep(30)
            os._exit(0)
        open(setup["fork"], "w").close()
    threading.Thread(target=fork_a_child, daemon=True).start()
options = setup.get("options", {})
if transport == "tcp":
    serve(int(where), **options)
else:
    serve_unix(where, **options)
if child:
    os.kill(child, signal.SIGKILL)
    os.waitpid(child, 0)
readers = [t.name for t in threading.enumerate() if t.name == "tiny-mp-cache server log"]
print(json.dumps({"records": records, "readers": readers}), flush=True)
"""


def serve_and_stop(transport: str, **setup: object) -> tuple[str, dict, str]:
    """Run SERVE with setup, stop it with SIGTERM; (the address, what it printed, its stderr)."""
    need_go()
    where, addr = listen_place(transport)
    server = ServerProcess([sys.executable, "-c", SERVE, transport, where, json.dumps(setup)], addr)
    if setup.get("fork"):  # the child is forked once the server answers: stop the server after that
        deadline = time.monotonic() + 10
        while not os.path.exists(str(setup["fork"])) and time.monotonic() < deadline:
            time.sleep(0.02)
    out, err = server.stop(signal.SIGTERM, timeout=10)
    assert server.proc.returncode == 0, err
    return addr, json.loads(out.decode().splitlines()[-1]), err.decode()


def listening(addr: str) -> str:
    """What the server says it listens on: the address without unix://."""
    return addr[len("unix://"):] if addr.startswith("unix://") else addr


@pytest.mark.timeout(60)
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_log_level_info_gives_a_record_with_the_listening_address(transport: str) -> None:
    addr, got, err = serve_and_stop(transport, handler=True, options={"log_level": "info"})
    first, last = got["records"][0], got["records"][-1]
    assert first["name"] == "tiny_mp_cache.server" and first["level"] == "INFO"
    assert first["attrs"] == {"network": transport, "addr": listening(addr)}
    assert first["message"] == f"listening network={transport} addr={listening(addr)}"
    assert last["message"].startswith("stopped")  # every record is in before serve() returns
    assert got["readers"] == []
    assert err == ""  # through the handler only


@pytest.mark.timeout(60)
def test_the_loggers_level_is_the_servers_when_log_level_is_not_given() -> None:
    _, got, _ = serve_and_stop("tcp", handler=True, logger_level="INFO")
    assert [r["message"].split()[0] for r in got["records"]] == ["listening", "stopped"]


@pytest.mark.timeout(60)
def test_quiet_by_default() -> None:
    _, got, err = serve_and_stop("tcp", handler=True)
    assert got["records"] == [] and err == ""


@pytest.mark.timeout(60)
def test_without_any_handler_log_level_still_writes_to_stderr() -> None:
    addr, got, err = serve_and_stop("tcp", options={"log_level": "info"})
    assert got["records"] == []
    assert f"INFO tiny_mp_cache.server: listening network=tcp addr={addr}" in err


@pytest.mark.timeout(60)
@pytest.mark.skipif(sys.platform == "win32", reason="fork")
def test_a_forked_child_holding_the_pipe_does_not_hold_up_the_log(tmp_path) -> None:
    forked = str(tmp_path / "forked")
    _, got, _ = serve_and_stop("unix", handler=True, fork=forked, options={"log_level": "info"})
    assert os.path.exists(forked)
    assert got["records"][-1]["message"].startswith("stopped")
    assert got["readers"] == []  # the reader ended, although the child still held the pipe's write end
