"""The skill benchmark's protocol (``DESIGN.md`` §6.4): its settings (:class:`SkillConfig`,
:func:`quick_config`), the target grid of a truth (:func:`target_of`) and how a truth is
observed (:func:`observe`). See :mod:`xdepthdif.evaluation.skill`."""

from __future__ import annotations

import dataclasses

import xarray as xr

__all__ = ["REAL_CASE", "SCORE_DEPTH", "SkillConfig", "observe", "quick_config", "target_of"]

REAL_CASE = "real: South Atlantic cube"
SCORE_DEPTH = 2000.0  # profiles reach 2000 m: the overall scores cover 0–2000 m


def _spread_months(first_year: int, n: int) -> tuple[str, ...]:
    """``n`` months one year apart, cycling through the calendar: ``first_year``-01,
    ``first_year + 1``-02, …, so that each season is scored and months are nearly independent."""
    return tuple(f"{first_year + k}-{k % 12 + 1:02d}" for k in range(n))


@dataclasses.dataclass(frozen=True)
class SkillConfig:
    """What the skill benchmark runs.

    Attributes
    ----------
    grids
        Spacings (degrees) of the global target grids. 4° is the default model's native grid,
        1° the main case of a user.
    test_months
        Months of the truth: the ``"test"`` world of :func:`xdepthdif.prior.world.world_months`
        (its own knobs and a mean state that departs from the shipped climatology), one year
        apart so that the months are nearly independent for the bootstrap.
    validation_years
        Years of the ``"validation"`` world: the month of each test month's calendar month in
        these years makes the climatological ensemble's members and fits the SST vertical
        regression. Every choice
        of the benchmark is made on this split or on the observations; none on the test.
    fractions
        Shares of ocean columns observed.
    withheld
        Share of profiles withheld for scoring.
    noise_sd
        Observation noise (°C), also given to the analyses as the profiles' ``thetao_error``.
    steps
        Heun steps of the diffusion rows (``2 * steps - 1`` network evaluations each).
    members
        Ensemble size of the diffusion rows (their RMSE is also given corrected to M→∞).
    model
        Diffusion checkpoint (``"default"`` or a path).
    sst_noise
        Noise (°C) of the satellite SST given to the "SST" rows (0: no SST rows). The SST goes
        through the OSTIA reader (see :func:`xdepthdif.evaluation.sst.with_sst`).
    ceiling_months, multipliers
        The truth-tuned OI (the ceiling) is searched on the first ``ceiling_months`` test
        months, scaling the length scales and then the background error by ``multipliers``
        (see :func:`xdepthdif.evaluation.oi_evidence.truth_tuned_oi`), and then run on all.
    real_case, real_fraction
        Whether to score the real South Atlantic cube of ``iris-sample-data`` (one monthly
        snapshot, once, on its own 6 × 8 grid), and the share of its 48 columns observed.
    bootstrap
        Bootstrap resamplings of the test months for the 95 % intervals.
    seed
        Seed of the sampling, the ensembles and the bootstrap.
    """

    grids: tuple[float, ...] = (4.0, 1.0)
    test_months: tuple[str, ...] = _spread_months(2041, 12)
    validation_years: tuple[int, ...] = tuple(range(2001, 2009))
    fractions: tuple[float, ...] = (0.01, 0.03, 0.075, 0.2)
    withheld: float = 0.2
    noise_sd: float = 0.02
    steps: tuple[int, ...] = (3, 10)
    members: int = 8
    model: str = "default"
    sst_noise: float = 0.4
    ceiling_months: int = 2
    multipliers: tuple[float, ...] = (0.6, 1.5)
    real_case: bool = True
    real_fraction: float = 0.25
    bootstrap: int = 1000
    seed: int = 0


def quick_config(**overrides) -> SkillConfig:
    """The benchmark in about a minute (``xdepthdif bench skill --quick``): one 5° grid, two
    test months, one share, four members of three steps, 200 resamplings. It checks that the
    whole benchmark runs; its numbers are too noisy to compare methods."""
    quick = SkillConfig(
        grids=(5.0,),
        test_months=_spread_months(2041, 2),
        validation_years=(2001, 2002, 2003),
        fractions=(0.075,),
        steps=(3,),
        members=4,
        ceiling_months=1,
        multipliers=(1.5,),
        real_case=False,
        bootstrap=200,
    )
    return dataclasses.replace(quick, **overrides)


def target_of(truth: xr.DataArray) -> xr.Dataset:
    """The analysis grid of ``truth``, with its 3-D sea mask (land and sea floor known)."""
    target = xr.Dataset(coords={k: truth[k] for k in ("time", "depth", "lat", "lon")})
    target["sea_mask"] = truth.isel(time=0, drop=True).notnull().astype("int8")
    target["sea_mask"].attrs["standard_name"] = "sea_binary_mask"
    return target


def observe(
    truth: xr.DataArray, fraction: float, seed: int, noise_sd: float = 0.02, withheld: float = 0.2
) -> tuple[xr.Dataset, xr.Dataset]:
    """Argo-like profiles of ``truth`` (clustered, to 2000 m, thinning below 1000 m, with
    noise ``noise_sd`` °C) in ``fraction`` of its ocean columns: (used, withheld), the
    ``withheld`` share of the profiles set aside for scoring."""
    from ..obs import SamplingPlan, sample_profiles, split_profiles

    plan = SamplingPlan(
        fraction=fraction, max_depth=SCORE_DEPTH, noise_sd=noise_sd, cluster=True, seed=seed
    )
    return split_profiles(sample_profiles(truth, plan), withheld_fraction=withheld, seed=seed)
