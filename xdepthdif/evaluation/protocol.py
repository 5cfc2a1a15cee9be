"""The skill benchmark's protocol (``DESIGN.md`` §6) as settings: :class:`SkillConfig`, the depth
the overall scores cover, and the name of the real case. See :mod:`xdepthdif.evaluation.skill`."""

from __future__ import annotations

import dataclasses

__all__ = ["REAL_CASE", "SCORE_DEPTH", "SkillConfig"]

REAL_CASE = "real: South Atlantic cube"
SCORE_DEPTH = 2000.0  # profiles reach 2000 m: the overall scores cover 0–2000 m


@dataclasses.dataclass(frozen=True)
class SkillConfig:
    """What the skill benchmark runs.

    Attributes
    ----------
    resolution
        Grid spacing of the synthetic truth (degrees).
    test_months
        Months of the held-out truth (``"test"`` split of the synthetic ocean).
    tune_months
        Months of the training split (drawn from the training random stream but after the
        default model's training period, 2000–2019, and outside ``climatology_years``) on
        which OI's length scales are tuned and the ensemble spread is calibrated.
    climatology_years
        Training-split years averaged into the climatological background.
    fractions
        Shares of ocean columns observed.
    withheld
        Share of profiles withheld for scoring.
    noise_sd
        Observation noise (°C).
    steps
        Heun steps of the diffusion rows (``2 * steps - 1`` network evaluations each).
    members
        Ensemble size.
    model
        Diffusion checkpoint (``"default"`` or a path).
    sst_noise
        Noise (°C) of the synthetic satellite SST given to the "+ SST" rows (0: none).
    real_case, real_fraction
        Whether to score the real South Atlantic cube of ``iris-sample-data`` (its one monthly
        snapshot, once, on its own 6 × 8 grid), and the share of its 48 columns observed. There
        the first guess is the shipped climatology (``reconstruct``'s default) and OI keeps its
        default, fitted length scales.
    length_scales_km
        Candidates for OI's length scale.
    seed
        Seed of the sampling and of the ensembles.
    """

    resolution: float = 4.0
    test_months: tuple[str, ...] = ("2040-01", "2040-07")
    tune_months: tuple[str, ...] = ("2025-02", "2025-08")
    climatology_years: tuple[int, ...] = tuple(range(2000, 2010))
    fractions: tuple[float, ...] = (0.01, 0.03, 0.075)
    withheld: float = 0.2
    noise_sd: float = 0.02
    steps: tuple[int, ...] = (3, 5, 10, 25, 100)
    members: int = 8
    model: str = "default"
    sst_noise: float = 0.4
    real_case: bool = True
    real_fraction: float = 0.25
    length_scales_km: tuple[float, ...] = (
        200.0,
        300.0,
        450.0,
        650.0,
        900.0,
        1300.0,
        2000.0,
        3000.0,
    )
    seed: int = 0
