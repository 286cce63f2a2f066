"""The Dockerfile, read the way `docker build` would (no container engine runs here): what it copies
exists and is not excluded by .dockerignore, and the /app tree it builds for one function really
serves that function, with nothing from the other functions and nothing from the repository."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from paymesh.deploy import FUNCTIONS
from tests.deploy.manifests import REPO

DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
STAGES = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[1:]
RUNTIME = STAGES[-1]


def _instructions(stage: str, name: str) -> list[str]:
    joined = re.sub(r"\\\n", " ", stage)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def _runtime_copies(function: str) -> list[tuple[str, str]]:
    copies = []
    for args in _instructions(RUNTIME, "COPY"):
        if args.startswith("--from"):
            continue
        source, target = args.replace("${FUNCTION}", function).split()
        copies.append((source, target))
    return copies


def _runtime_env(function: str) -> dict[str, str]:
    text = " ".join(_instructions(RUNTIME, "ENV"))
    pairs = dict(item.split("=", 1) for item in shlex.split(text))
    return {key: value.replace("${FUNCTION}", function) for key, value in pairs.items()}


def test_multi_stage_slim_base_non_root_runtime() -> None:
    assert len(STAGES) == 2
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim", DOCKERFILE, flags=re.MULTILINE)
    assert all(stage.startswith("${PYTHON_IMAGE}") for stage in STAGES)
    assert _instructions(RUNTIME, "USER") == ["1001:1001"]
    assert "useradd --system --uid 1001" in RUNTIME
    assert 'pip install ".[postgres]"' in STAGES[0]  # runtime extra only, no dev tools


def test_the_command_is_the_local_run_command() -> None:
    (cmd,) = _instructions(RUNTIME, "CMD")
    assert 'exec functions-framework --source \\"functions/${FUNCTION}/main.py\\" --target handle --port \\"${PORT}\\"' in cmd
    assert _runtime_env("payments")["PORT"] == "8080"


def test_copied_paths_exist_and_are_in_the_build_context() -> None:
    ignore = [line for line in (REPO / ".dockerignore").read_text().splitlines() if line and not line.startswith("#")]
    assert ignore[0] == "*", "the .dockerignore is an allow-list"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for function in FUNCTIONS:
        for source, _ in _runtime_copies(function):
            assert (REPO / source).exists(), source
            assert source.split("/")[0] in allowed, f"{source} is excluded from the build context"
    for args in _instructions(STAGES[0], "COPY"):
        sources = args.split()[:-1]
        assert all(s.split("/")[0] in allowed and (REPO / s).exists() for s in sources), args


def _build_app_tree(function: str, root: Path) -> Path:
    app = root / "app"
    for source, target in _runtime_copies(function):
        destination = app / target
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(REPO / source, destination)
    return app


PROBE = """
import sys
from functions_framework import create_app
app = create_app("handle", sys.argv[1])
client = app.test_client()
import functions, shared
assert functions.__file__.startswith(sys.argv[2]) and shared.__file__.startswith(sys.argv[2]), "imported from the repo"
for path in ("/live", "/ready"):
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True))
print("ok")
"""


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_image_tree_serves_its_function(function: str, tmp_path: Path) -> None:
    app = _build_app_tree(function, tmp_path)
    others = [fn for fn in FUNCTIONS if fn != function]
    assert not any((app / "functions" / fn).exists() for fn in others)
    env = {**os.environ, **_runtime_env(function), "PAYMESH_HOME": str(tmp_path / "home"), "PYTHONPATH": str(app)}
    env.pop("DATABASE_URL", None)
    env.pop("PAYMESH_DATABASE_URL", None)
    result = subprocess.run([sys.executable, "-c", PROBE, f"functions/{function}/main.py", str(app)], cwd=app,
                            env=env, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]
