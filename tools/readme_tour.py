"""Rerun the commands of README.md's "A short tour (real output)" and paste their output.

Each fenced block in that section starts with ``$ gpuplan ...``; the command is run (160
columns, no colour) and the block's body replaced by what it prints. A trailing comment picks a
part: ``# first table`` keeps the output up to the end of the first table, ``# summary`` keeps
the summary table and the lines after it. Run: ``.venv/bin/python tools/readme_tour.py``
(``--check`` exits 1 when the README is stale instead of writing it).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## A short tour (real output)"
#: Terminal width the outputs are rendered at [columns].
COLUMNS = 160
#: Folder (git-ignored) the tour's commands write their reports into.
OUT_DIR = "out"
BLOCK = re.compile(r"```\n\$ (gpuplan [^\n]*)\n(.*?)```", re.S)


def _run(command: str) -> str:
    cmd, _, part = command.partition("#")
    exe = Path(sys.executable).with_name("gpuplan")
    env = dict(os.environ, COLUMNS=str(COLUMNS), NO_COLOR="1", TERM="dumb")
    run = subprocess.run([str(exe), *shlex.split(cmd)[1:]], capture_output=True, text=True,
                         env=env, cwd=README.parent, check=False)
    if run.returncode != 0:  # never paste an error (or nothing) into the README
        sys.exit(f"readme_tour: `{cmd.strip()}` exited {run.returncode}: {run.stderr.strip()}")
    lines = [ln.rstrip() for ln in run.stdout.splitlines()]
    part = part.strip()
    if part == "first table":
        end = next((i for i, ln in enumerate(lines) if ln.startswith("└")), len(lines) - 1)
        lines = lines[:end + 1]
    elif part == "summary":
        start = next((i for i, ln in enumerate(lines) if "Summary" in ln), 0)
        lines = lines[start:]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    check = ap.parse_args().check
    (README.parent / OUT_DIR).mkdir(exist_ok=True)  # the tour's reports are written there
    text = README.read_text(encoding="utf-8")
    head, _, rest = text.partition(SECTION)
    tour, nxt, tail = rest.partition("\n## ")
    new_tour = BLOCK.sub(lambda m: f"```\n$ {m.group(1)}\n{_run(m.group(1))}```", tour)
    new = head + SECTION + new_tour + nxt + tail
    if check:
        sys.exit(0 if new == text else 1)
    README.write_text(new, encoding="utf-8")
    print(f"rewrote {len(BLOCK.findall(tour))} blocks of {README.name}")


if __name__ == "__main__":
    main()
