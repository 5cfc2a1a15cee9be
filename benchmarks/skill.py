"""Skill benchmark v2 (DESIGN §6.4): climatology, climatological ensemble, OI, its truth-tuned
ceiling, SST vertical regression and the diffusion prior against the test world.

Writes ``docs/skill/skill.md`` (tables and targets), ``docs/skill/skill.json`` (every score
with its bootstrap interval), ``docs/skill/cases/`` (every tally) and the figures under
``docs/skill/images``: the same as ``xdepthdif bench skill --out docs/skill``. One process per
grid, so the two cores of a small machine both work; a stopped run resumes.

Run: ``.venv/bin/python benchmarks/skill.py`` (or ``make skill``); see docs/benchmarks.md for
its wall time. Further arguments go to every grid's ``xdepthdif bench skill``, e.g.
``--rerun OI`` to redo only the OI's rows after a change to the OI.
"""

import os
import subprocess
import sys
from pathlib import Path

from xdepthdif.evaluation.protocol import SkillConfig
from xdepthdif.evaluation.report import write_report

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "skill"
    command = [sys.executable, "-m", "xdepthdif.cli", "bench", "skill", "--out", str(out)]
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    grids = SkillConfig().grids
    runs = [
        subprocess.Popen(
            [*command, "--grids", f"{g:g}", *([] if i == 0 else ["--no-real"]), *sys.argv[1:]],
            env=env,
        )
        for i, g in enumerate(grids)
    ]
    if any(run.wait() for run in runs):
        sys.exit("a grid's run failed; rerun to resume it")
    write_report(out)
    print(f"wrote {out / 'skill.md'}")
