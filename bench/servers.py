"""Start the servers under test on loopback: free TCP ports and unix sockets in a temp dir.

Every server is a child process registered with the Reaper, so it is stopped
at the end of the run whatever happens.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from .deps import REPO
from .procs import Reaper, free_port, unix_path, wait_listening


@dataclass
class Server:
    """A running server: its process and where it listens."""

    name: str
    proc: Any
    tcp: Optional[Tuple[str, int]] = None
    unix: Optional[str] = None

    @property
    def pid(self) -> int:
        return self.proc.pid

    def addr(self, transport: str) -> Any:
        return self.tcp if transport == "tcp" else self.unix


class Servers:
    """Starts servers; knows the tool paths and the run's temp dir."""

    def __init__(self, reaper: Reaper, tmpdir: str, tools: Dict[str, Optional[str]], env: Dict[str, str], loops: int = 0):
        self.reaper = reaper
        self.loops = loops  # our server's event loops; 0: its default (one per usable CPU)
        self.tmpdir = tmpdir
        self.tools = tools  # "tmc-server", "redis-server", "memcached", ...
        self.env = env  # environment for children (TINY_MP_CACHE_LIB, PYTHONPATH)
        self._n = 0

    def _sock(self, name: str) -> str:
        self._n += 1
        return unix_path(self.tmpdir, f"{name}-{self._n}.sock")

    def _start(self, name: str, argv: List[str], transport: str, sock: Optional[str], port: Optional[int], env=None) -> Server:
        proc = self.reaper.popen(argv, env=env or self.env, cwd=self.tmpdir)
        srv = Server(name, proc, tcp=("127.0.0.1", port) if port else None, unix=sock)
        try:
            wait_listening(srv.addr(transport), proc)
        except BaseException:
            self.reaper.stop(proc)
            raise
        return srv

    def stop(self, srv: Server) -> None:
        self.reaper.stop(srv.proc)

    # --- tiny-mp-cache -----------------------------------------------------

    def tmc_kind(self) -> str:
        return "standalone tiny-mp-cache-server" if self.tools.get("tmc-server") else "python -m tiny_mp_cache serve"

    def tmc(self, transport: str, max_memory: int = 0, policy: str = "") -> Server:
        """Our server, on one transport: the standalone binary if built, else Python's serve()."""
        port = free_port() if transport == "tcp" else None
        sock = self._sock("tmc") if transport == "unix" else None
        binary = self.tools.get("tmc-server")
        env = dict(self.env)
        if binary:
            argv = [binary, "--quiet"]  # the options of `tiny-mp-cache serve --quiet`, warn being the default
            argv += ["--port", str(port)] if port else ["--unix", sock]
            if max_memory:
                argv += ["--max-memory", str(max_memory)]
            if policy:
                argv += ["--eviction-policy", policy]
            if self.loops:
                argv += ["--loops", str(self.loops)]
        else:
            from tiny_mp_cache._server import server_argv  # `python -m tiny_mp_cache serve --quiet`

            argv = server_argv(*(["--port", str(port)] if port else ["--unix", sock]))
            options: Dict[str, Any] = {}
            if max_memory:
                options["max_memory"] = max_memory
            if policy:
                options["eviction_policy"] = policy
            if self.loops:
                options["loops"] = self.loops
            if options:
                env["TINY_MP_CACHE_SERVE_OPTIONS"] = json.dumps(options)
        return self._start("tiny-mp-cache", argv, transport, sock, port, env)

    # --- Redis ---------------------------------------------------------------

    def redis(self, max_memory: int = 0, policy: str = "") -> Optional[Server]:
        """redis-server on TCP and a unix socket at once, without persistence."""
        exe = self.tools.get("redis-server")
        if not exe:
            return None
        port, sock = free_port(), self._sock("redis")
        argv = [
            exe, "--port", str(port), "--bind", "127.0.0.1", "--unixsocket", sock, "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", self.tmpdir, "--logfile", "",
        ]
        if max_memory:
            argv += ["--maxmemory", str(max_memory)]
        if policy:
            argv += ["--maxmemory-policy", policy]
        srv = self._start("redis", argv, "tcp", sock, port)
        wait_listening(sock, srv.proc)
        return srv

    # --- memcached -----------------------------------------------------------

    def memcached(self, transport: str) -> Optional[Server]:
        """memcached on one transport (a unix socket disables its TCP listener)."""
        exe = self.tools.get("memcached")
        if not exe:
            return None
        argv = [exe, "-m", "1024", "-c", "1024"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            argv += ["-u", "root"]
        port = sock = None
        if transport == "tcp":
            port = free_port()
            argv += ["-l", "127.0.0.1", "-p", str(port), "-U", "0"]
        else:
            sock = self._sock("memcached")
            argv += ["-s", sock, "-a", "0700"]
        return self._start("memcached", argv, transport, sock, port)

    # --- the echo floor ------------------------------------------------------

    def echo(self, transport: str) -> Server:
        """The echo floor's server (bench/echo_server.py): one process, one thread, on one transport."""
        port = free_port() if transport == "tcp" else None
        sock = self._sock("echo") if transport == "unix" else None
        argv = [sys.executable, "-m", "bench.echo_server"] + (["--port", str(port)] if port else ["--unix", sock])
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
        return self._start("echo", argv, transport, sock, port, env)

    def pubsub_echo(self, transport: str) -> Server:
        """The pub/sub floor's server (bench/pubsub_echo.py): one process, one thread, on one transport."""
        port = free_port() if transport == "tcp" else None
        sock = self._sock("relay") if transport == "unix" else None
        argv = [sys.executable, "-m", "bench.pubsub_echo"] + (["--port", str(port)] if port else ["--unix", sock])
        env = dict(self.env)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (REPO, env.get("PYTHONPATH")) if p)
        return self._start("pubsub echo", argv, transport, sock, port, env)

    # --- multiprocessing.Manager ---------------------------------------------

    def manager(self, ctx: Any) -> Any:
        """A multiprocessing Manager (its server process is shut down at reap time)."""
        m = ctx.Manager()
        self.reaper.callback(m.shutdown)
        return m
