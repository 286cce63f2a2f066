"""KafkaJS, the upstream services' Kafka client (npm), as an outside producer for the local engine."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

PRODUCER = Path(__file__).resolve().parents[2] / "bench" / "kafkajs"


def installed() -> Path:
    """The producer folder with its node_modules (installed from the lock file on first use)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node and npm are needed (apt-get install nodejs npm); .ci/run installs them")
    if not (PRODUCER / "node_modules" / "kafkajs").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(PRODUCER)], check=True,
                       capture_output=True, timeout=300)
    return PRODUCER


def produce(bootstrap: str, topic: str, records: Iterable[tuple[str | None, Any]], timeout: float = 60) -> int:
    """Send (key, JSON value) records with KafkaJS; returns how many the broker acknowledged."""
    folder = installed()
    lines = "".join(json.dumps({"key": key, "value": value}) + "\n" for key, value in records)
    done = subprocess.run(["node", str(folder / "produce.mjs"), bootstrap, topic], input=lines, text=True,
                          capture_output=True, timeout=timeout, check=True)
    return int(json.loads(done.stdout.strip().splitlines()[-1])["produced"])
