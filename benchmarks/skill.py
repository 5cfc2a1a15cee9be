"""Skill benchmark (DESIGN §6): level mean, OI and the diffusion prior on held-out truth.

Writes ``docs/skill/skill.md`` (tables), ``docs/skill/skill.json`` (every number) and the
figures under ``docs/skill/images``. Same as ``xdepthdif bench skill --out docs/skill``.

Run: ``.venv/bin/python benchmarks/skill.py`` (or ``make skill``); about 20 minutes on 2 cores.
"""

from pathlib import Path

from xdepthdif.evaluation.protocol import SkillConfig
from xdepthdif.evaluation.skill import run_skill

if __name__ == "__main__":
    out = Path(__file__).resolve().parents[1] / "docs" / "skill"
    run_skill(out, SkillConfig())
    print(f"wrote {out / 'skill.md'}")
