"""A real three-master Redis Cluster on loopback ports, for the redis+cluster:// tests.

    cluster = RedisCluster.start(tmpdir)   # redis-server x3, then redis-cli --cluster create
    ... cluster.addr ...                   # "redis+cluster://127.0.0.1:PORT"
    cluster.stop()                         # SIGTERM, SIGKILL after a bound; every process reaped

Every wait is bounded. Ports come from binding port 0 and releasing it (the
cluster bus uses port + 10000, so a port above 55535 is skipped).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time

READY_TIMEOUT = 30.0  # seconds, for the nodes to listen and the cluster to agree


def _free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port <= 55535:  # its bus port, port + 10000, must exist too
            return port


def _cli(redis_cli: str, port: int, *args: str, timeout: float = 10.0) -> str:
    result = subprocess.run(
        [redis_cli, "-h", "127.0.0.1", "-p", str(port), *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=timeout,
        text=True,
    )
    return result.stdout + result.stderr


class RedisCluster:
    def __init__(self, procs: list[subprocess.Popen], ports: list[int], workdir: str):
        self.procs = procs
        self.ports = ports
        self.workdir = workdir
        self.addr = f"redis+cluster://127.0.0.1:{ports[0]}" if ports else ""

    @classmethod
    def start(cls, workdir: str, masters: int = 3) -> RedisCluster:
        redis_server, redis_cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if redis_server is None or redis_cli is None:
            raise FileNotFoundError("redis-server and redis-cli are needed for a Redis Cluster")
        cluster = cls([], [], workdir)
        try:
            for i in range(masters):
                port = _free_port()
                node_dir = os.path.join(workdir, f"node{i}")
                os.makedirs(node_dir, exist_ok=True)
                argv = [
                    redis_server, "--port", str(port), "--bind", "127.0.0.1",
                    "--cluster-enabled", "yes", "--cluster-config-file", os.path.join(node_dir, "nodes.conf"),
                    "--cluster-node-timeout", "5000", "--dir", node_dir,
                    "--save", "", "--appendonly", "no", "--logfile", os.path.join(node_dir, "log"),
                ]
                cluster.procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL))
                cluster.ports.append(port)
            cluster.addr = f"redis+cluster://127.0.0.1:{cluster.ports[0]}"
            deadline = time.monotonic() + READY_TIMEOUT
            for port in cluster.ports:
                cluster._wait(deadline, lambda p=port: "PONG" in _cli(redis_cli, p, "PING", timeout=2))
            nodes = [f"127.0.0.1:{p}" for p in cluster.ports]
            out = _cli(redis_cli, cluster.ports[0], "--cluster", "create", *nodes,
                       "--cluster-replicas", "0", "--cluster-yes", timeout=READY_TIMEOUT)
            if "[OK] All 16384 slots covered" not in out:
                raise RuntimeError(f"redis-cli --cluster create failed: {out}")
            for port in cluster.ports:
                cluster._wait(deadline, lambda p=port: "cluster_state:ok" in _cli(redis_cli, p, "CLUSTER", "INFO", timeout=2))
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _wait(self, deadline: float, ready) -> None:
        while not ready():
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(f"redis-server {proc.args} exited with {proc.returncode}: {self.logs()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the Redis Cluster was not ready within {READY_TIMEOUT}s: {self.logs()}")
            time.sleep(0.05)

    def logs(self) -> str:
        text = []
        for i in range(len(self.ports)):
            try:
                with open(os.path.join(self.workdir, f"node{i}", "log"), errors="replace") as f:
                    text.append(f.read()[-2000:])
            except OSError:
                pass
        return "\n".join(text)

    def stop(self, timeout: float = 10.0) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
