"""The benchmark is not a test, but its code must not rot: run it at a tiny scale."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_bench_runs_at_tiny_scale(tmp_path: Path) -> None:
    p = subprocess.run([sys.executable, str(ROOT / "bench" / "plant.py"), "--scale", "0.001",
                        "--out", str(tmp_path), "--json"], capture_output=True, text=True,
                       timeout=600, cwd=ROOT)
    assert p.returncode == 0, p.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())
    figures = results["figures"] if isinstance(results, dict) else results
    assert len(figures) >= 9


@pytest.mark.slow
@pytest.mark.parametrize("script,args", [
    ("spc.py", ["--scale", "0.005", "--runs", "1", "--chart-points", "500"]),
    ("packing.py", ["--units", "12"]),
    ("dhr.py", ["--units", "12"]),
    ("verify.py", ["--units", "2", "--runs", "1"]),
])
def test_each_bench_script_runs_small(script: str, args: list[str], tmp_path: Path) -> None:
    """Each benchmark builds its plant through the CLI: a new interlock must not break it
    unseen (bench/spc.py did when routing load began refusing unknown station types)."""
    extra = ["--out", str(tmp_path)] if script == "dhr.py" else []
    p = subprocess.run([sys.executable, str(ROOT / "bench" / script), *args, *extra],
                       capture_output=True, text=True, timeout=900, cwd=ROOT)
    assert p.returncode == 0, (p.stdout[-2000:], p.stderr[-3000:])
