"""Time and peak memory of one time step of ``reconstruct``, OI and diffusion, per grid.

Each benchmark builds and computes the analysis of one monthly time step on the synchronous
scheduler (so the time is that of one task on one worker). Diffusion uses an untrained prior
with the target's levels and native grid, 4 members and 5 Heun steps; the model is loaded in
``setup``, as a worker has it cached after its first time step.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from .common import GRIDS, case, make_prior

CHANNELS = {"5deg-10lev": 8, "4deg-20lev": 16}  # diffusion network width per grid
DIFFUSION = {"method": "diffusion", "members": 4, "steps": 5}


def analyse(target, obs, **options):
    return target.depthdif.reconstruct(obs=obs, **options).compute(scheduler="synchronous")


class OIStep:
    """One OI time step on a small (5°, 10 levels) and a medium (2°, 42 levels) global grid."""

    params: ClassVar = ["5deg-10lev", "2deg-42lev"]
    param_names: ClassVar = ["grid"]
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    timeout = 600

    def setup(self, grid):
        import xdepthdif  # noqa: F401  (registers .depthdif)

        self.target, self.obs = case(grid)

    def time_step(self, grid):
        analyse(self.target, self.obs, method="oi")

    def peakmem_step(self, grid):
        analyse(self.target, self.obs, method="oi")


class DiffusionStep:
    """One diffusion time step on a small (5°, 10 levels) and a medium (4°, 20 levels) global
    grid, with small networks (8 and 16 channels at full resolution)."""

    params: ClassVar = ["5deg-10lev", "4deg-20lev"]
    param_names: ClassVar = ["grid"]
    number = 1
    repeat = (1, 5, 60.0)
    warmup_time = 0.0
    timeout = 600

    def setup_cache(self):
        """Save the priors in asv's cache directory (the working directory here)."""
        priors = {}
        for grid in self.params:
            resolution, n_levels, _ = GRIDS[grid]
            stem = Path.cwd() / f"prior-{grid}"
            priors[grid] = str(make_prior(stem, resolution, n_levels, CHANNELS[grid]))
        return priors

    def setup(self, priors, grid):
        import xdepthdif  # noqa: F401
        from xdepthdif.analysis.diffusion import load_denoiser
        from xdepthdif.prior.model import verify

        self.target, self.obs = case(grid)
        self.model = priors[grid]
        load_denoiser(self.model, verify(self.model).sha256)  # cached, as on a busy worker

    def time_step(self, priors, grid):
        analyse(self.target, self.obs, model=self.model, **DIFFUSION)

    def peakmem_step(self, priors, grid):
        analyse(self.target, self.obs, model=self.model, **DIFFUSION)
