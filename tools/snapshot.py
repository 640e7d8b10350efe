"""Snapshot every user-visible number, and compare two snapshots.

``python tools/snapshot.py write DIR`` runs ``gpuplan validate --json``, the four example plans
and one call of each demand/supply/money command with ``--json``, one JSON file each.
``python tools/snapshot.py compare BEFORE AFTER`` prints every value that differs (numbers
beyond a relative 1e-9), so a refactor can show it moved nothing, or say what moved and by how much.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
GPUPLAN = str(ROOT / ".venv" / "bin" / "gpuplan")
#: Relative difference under which two numbers count as equal.
REL_TOL = 1e-9

COMMANDS: dict[str, list[str]] = {
    "validate": ["validate"],
    "fit": ["fit", "llama-3.1-70b", "--gpu", "h100-sxm", "--mode", "finetune"],
    "train": ["train", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "1024", "--tokens", "2e12",
              "--seq-len", "8192"],
    "serve": ["serve", "llama-3.1-70b", "--gpu", "h100-sxm", "--rate", "10"],
    "cluster": ["cluster", "--gpu", "h100-sxm", "--gpus", "1024"],
    "tco": ["tco", "--gpu", "h100-sxm", "--gpus", "1024"],
    "budget": ["budget", "1e9", "--gpu", "b200"],
}


def write(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    runs = dict(COMMANDS)
    for f in sorted((ROOT / "examples").glob("*.yaml")):
        runs[f"plan_{f.stem}"] = ["plan", str(f)]
    for name, args in runs.items():
        r = subprocess.run([GPUPLAN, *args, "--json"], capture_output=True, text=True, check=True)
        (out / f"{name}.json").write_text(r.stdout)
        print(f"wrote {out / name}.json")


def _diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k not in a or k not in b:
                out.append(f"{path}.{k}: {'added' if k not in a else 'removed'}")
            else:
                _diff(a[k], b[k], f"{path}.{k}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{path}: length {len(a)} -> {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            _diff(x, y, f"{path}[{i}]", out)
    elif isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        if not math.isclose(a, b, rel_tol=REL_TOL, abs_tol=1e-12):
            rel = (b - a) / abs(a) if a else math.inf
            out.append(f"{path}: {a!r} -> {b!r} ({rel:+.3%})")
    elif a != b:
        out.append(f"{path}: {str(a)[:80]!r} -> {str(b)[:80]!r}")


def compare(before: Path, after: Path) -> int:
    n = 0
    for f in sorted(before.glob("*.json")):
        g = after / f.name
        if not g.exists():
            print(f"{f.name}: missing in {after}")
            n += 1
            continue
        out: list[str] = []
        _diff(json.loads(f.read_text()), json.loads(g.read_text()), f.stem, out)
        print(f"{f.name}: {len(out)} differences")
        for line in out:
            print(f"  {line}")
        n += len(out)
    return 1 if n else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "write":
        write(Path(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "compare":
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    else:
        sys.exit(__doc__)
