"""Run one function the way a user does (`functions-framework --source ... --target handle`) for a test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paymesh.local.ports import free_port, ready

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_FRAMEWORK = Path(sys.executable).parent / "functions-framework"


@dataclass
class Served:
    url: str
    process: subprocess.Popen[bytes]

    def post(self, body: bytes, headers: Mapping[str, str], timeout: float = 30) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + "/", data=body, headers=dict(headers), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def get(self, path: str) -> tuple[int, Any]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")


@contextmanager
def serve(function: str, env: Mapping[str, str], *, port: int | None = None,
          ready_timeout: float = 60) -> Iterator[Served]:
    port = port or free_port()
    environment = {**os.environ, "PAYMESH_LOG_LEVEL": "WARNING", **env}
    process = subprocess.Popen(
        [str(FUNCTIONS_FRAMEWORK), "--source", str(ROOT / "functions" / function / "main.py"),
         "--target", "handle", "--port", str(port)], env=environment, cwd=ROOT,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    served = Served(f"http://127.0.0.1:{port}", process)
    deadline = time.time() + ready_timeout
    try:
        while not ready(served.url + "/ready"):
            if process.poll() is not None:
                raise RuntimeError(f"{function} exited: {process.stderr.read().decode() if process.stderr else ''}")
            if time.time() > deadline:
                raise TimeoutError(f"{function} not ready in {ready_timeout} s")
            time.sleep(0.05)
        yield served
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
