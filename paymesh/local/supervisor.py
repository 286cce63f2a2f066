"""The four functions under functions-framework, as Knative Serving would run them, publishing via KafkaSinks."""

from __future__ import annotations

import base64
import contextlib
import ctypes
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

PORTS = {"payments": 8081, "ledger": 8082, "notifications": 8083, "audit": 8084}
# A local set serves this machine only (functions-framework would listen on every interface).
LISTEN_HOST = "127.0.0.1"


def ports_from(base_port: int) -> dict[str, int]:
    """The functions' ports counted up from `base_port`, in PORTS order (8081 gives PORTS itself)."""
    return {name: base_port + index for index, name in enumerate(PORTS)}


LOCAL_THREADS = "32"


def local_defaults(home: Path) -> dict[str, str]:
    """What a one-machine set needs that a cluster gets from its Secrets: webhooks to local receivers (the SSRF
    guard stays on for every other host) and a webhook signing secret, generated once per PAYMESH_HOME."""
    secret_file = home / "webhook-secret"
    if not secret_file.exists():
        secret_file.write_text("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode())
        secret_file.chmod(0o600)
    return {"PAYMESH_NOTIFICATIONS_WEBHOOK_ALLOW_HOSTS": "127.0.0.1,localhost",
            "PAYMESH_NOTIFICATIONS_WEBHOOK_SECRET": secret_file.read_text().strip(),
            # A function has up to one delivery in flight per partition it consumes (12 on the busiest topics),
            # each possibly waiting on a stalled KafkaSink; functions-framework's default (4 threads per core)
            # would leave no thread for /ready and the query routes then.
            "THREADS": LOCAL_THREADS}


def _libc() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _libc()  # loaded in the parent: the child between fork and exec only makes one C call
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: the child gets SIGTERM if `paymesh up` itself is killed, instead of living on as an orphan."""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=0.5) as response:  # noqa: S310 (loopback URL we built)
            return bool(response.status == 200)
    except OSError:
        return False


@dataclass
class RunningFunction:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def ready(self) -> bool:
        return ready(f"http://127.0.0.1:{self.port}/ready")

    def tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Supervisor:
    root: Path
    home: Path
    environment: Mapping[str, str]
    ports: Mapping[str, int] = field(default_factory=lambda: dict(PORTS))
    per_function: Mapping[str, Mapping[str, str]] = field(default_factory=dict)  # e.g. each one's PAYMESH_AUTH_*
    functions: dict[str, RunningFunction] = field(default_factory=dict)
    _logs: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str) -> RunningFunction:
        port = self.ports[name]
        if port_in_use(port):
            raise RuntimeError(f"port {port} for {name} is in use (another `paymesh up`?)")
        self.home.mkdir(parents=True, exist_ok=True)
        log_path = self.home / "logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log_file = log_path.open("ab")
        self._logs.append(log_file)
        env = {**local_defaults(self.home), **os.environ, "PAYMESH_HOME": str(self.home),
               "PAYMESH_PUBLISHER": "kafkasink", **self.environment, **self.per_function.get(name, {})}
        env.pop("KAFKA_BOOTSTRAP_SERVERS", None)  # functions publish through the KafkaSink path, as on Knative
        if "OTEL_SERVICE_NAME" not in self.environment:
            env.pop("OTEL_SERVICE_NAME", None)  # each function's spans carry its own name
        command = [str(Path(sys.executable).parent / "functions-framework"), "--source",
                   str(self.root / "functions" / name / "main.py"), "--target", "handle",
                   "--host", LISTEN_HOST, "--port", str(port)]
        process = subprocess.Popen(command,  # noqa: S603 (our venv's functions-framework, fixed arguments)
                                   cwd=self.root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   start_new_session=True,
                                   preexec_fn=die_with_parent)  # noqa: PLW1509 (a single prctl call, no locks)
        running = RunningFunction(name, port, process, log_path)
        self.functions[name] = running
        return running

    def start_all(self, names: tuple[str, ...] = tuple(PORTS)) -> None:
        for name in names:
            self.start(name)

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait for every /ready; a function that exits or stays unready raises with its log's tail."""
        deadline = time.monotonic() + timeout
        pending = dict(self.functions)
        while pending:
            for name, function in list(pending.items()):
                if function.process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {function.process.returncode}:\n{function.tail()}")
                if function.ready():
                    del pending[name]
            if pending and time.monotonic() > deadline:
                names = ", ".join(pending)
                raise TimeoutError(f"not ready after {timeout:.0f} s: {names}\n"
                                   + "\n".join(function.tail() for function in pending.values()))
            time.sleep(0.05)

    def kill(self, name: str) -> None:
        """SIGKILL the function's process group (gunicorn master and workers), as a node failure would: no
        in-flight request finishes, no transaction commits, nothing is flushed."""
        function = self.functions[name]
        with contextlib.suppress(ProcessLookupError):  # already gone
            os.killpg(function.process.pid, signal.SIGKILL)
        function.process.wait()

    def restart(self, name: str, timeout: float = 60.0) -> RunningFunction:
        """Start `name` again (killing it first if it still runs) on the same port with the same environment,
        and wait for its /ready; raises with its log's tail if it exits or stays unready.

        Call it from a thread that outlives the function: the child's PR_SET_PDEATHSIG fires when the *thread*
        that started it ends, not only the process."""
        self.kill(name)
        port = self.ports[name]
        deadline = time.monotonic() + timeout
        while port_in_use(port):  # the kernel closes a killed process's listening socket at once; be sure
            if time.monotonic() > deadline:
                raise TimeoutError(f"port {port} of {name} is still in use after the kill")
            time.sleep(0.02)
        function = self.start(name)
        while not function.ready():
            if function.process.poll() is not None:
                raise RuntimeError(f"{name} exited with {function.process.returncode}:\n{function.tail()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready {timeout:.0f} s after its restart\n{function.tail()}")
            time.sleep(0.02)
        return function

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGTERM (gunicorn finishes in-flight requests and the runtime flushes), then SIGKILL the stragglers."""
        for function in self.functions.values():
            if function.process.poll() is None:
                os.killpg(function.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for function in self.functions.values():
            try:
                function.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(function.process.pid, signal.SIGKILL)
                function.process.wait()
        for log_file in self._logs:
            log_file.close()
        self._logs.clear()
