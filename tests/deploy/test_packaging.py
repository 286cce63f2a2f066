"""What installing paymesh puts into site-packages.

paymesh is an application: `make install` puts it into the project's own .venv (editable) and the image copies
the source to /app with only the dependencies installed (Dockerfile). Its wheel still holds three top-level
names (`paymesh`, `shared`, `functions`, the layout the customer fixed), so this pins them: a new top-level
name, or a test or bench package, cannot slip into someone else's site-packages unnoticed.
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_installs_exactly_the_three_top_level_packages(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("paymesh-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert top_level == {"paymesh", "shared", "functions"}
    # Every function's migrations ship with it (they are data files, not packages).
    for function in ("payments", "ledger", "notifications", "audit"):
        assert f"functions/{function}/migrations/env.py" in names
    metadata = next(name for name in names if name.endswith(".dist-info/METADATA"))
    assert "License-Expression: Apache-2.0" in zipfile.ZipFile(wheel).read(metadata).decode()
