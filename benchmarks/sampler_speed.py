"""Guided diffusion sampler: speed of its variants side by side, and what bfloat16 costs.

Speed (default): seconds per guided network evaluation (one forward and ``cg_iters = 2``
vector-Jacobian products, 8 members; three before the final update reused the iterations'
products) and per time step (``2 * steps - 1`` evaluations) of the synthetic guided prior
(``model="synthetic"``) on the global 4° grid of the synthetic ocean, for

- *before*: the earlier sampler (convolutions on a copy of their input padded by
  ``F.pad(mode="circular")``, ``torch.func.vjp``, the final update by one more product),
- *periodic pad*: the concatenating pad in longitude, the zeros in latitude the convolution's
  own padding; still ``torch.func.vjp`` and one more product,
- *autograd.grad*: the periodic pad and ``torch.autograd.grad``, one more product,
- *now*: that, the final update summed from the iterations' products (the default),
- *bfloat16*: now, under bfloat16 autocast (``precision="bfloat16"``),
- *compile*: now, ``torch.compile``-d (``compile=True``; only with ``--compile``);

each first on glibc's default heap (how the earlier code ran), then with the heap kept mapped
by :func:`xdepthdif.analysis.heap.heap_kept` (how ``reconstruct`` runs the sampler now).

Accuracy (``--accuracy``): the analysis (mean, spread) of two months of the skill benchmark's
validation split (the ``"validation"`` world of :func:`xdepthdif.prior.world.world_months`) at
4° with float32 and with the faster options, scored against the truth at unobserved points and
against the float32 analysis.

Reuse (``--reuse``, alone): the analysis of those two months by the ``"world"`` prior with the
final MMPS update summed from the conjugate gradient's products and with one more product.

Run: ``.venv/bin/python benchmarks/sampler_speed.py [--compile] [--accuracy] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import vjp

from xdepthdif.analysis.diffusion import SIGMA_MAX, load_denoiser
from xdepthdif.analysis.heap import heap_kept
from xdepthdif.core import guidance as guidance_module
from xdepthdif.core import network
from xdepthdif.core.accelerate import sampling_denoiser
from xdepthdif.core.guidance import MMPSGuidance, conjugate_gradient
from xdepthdif.core.sampler import sample_heun
from xdepthdif.core.schedule import denoise_last_sigmas
from xdepthdif.evaluation.calibration import CALIBRATION_MONTHS
from xdepthdif.evaluation.protocol import observe, target_of
from xdepthdif.evaluation.scores import score
from xdepthdif.evaluation.truth import synthetic_truth
from xdepthdif.prior.model import resolve_model, verify
from xdepthdif.prior.world import world_months

MONTHS = CALIBRATION_MONTHS  # training split, after the synthetic prior's training years
FRACTION = 0.03
VALIDATION_MONTHS = ["2003-01-15", "2003-07-15"]  # the skill benchmark's validation years


def circular_pad_hw(x, top, bottom, left, right, periodic):
    """The earlier padding: ``F.pad(mode="circular")`` in longitude, then zeros in latitude."""
    if periodic:
        if left or right:
            x = F.pad(x, (left, right, 0, 0), mode="circular")
        return F.pad(x, (0, 0, top, bottom))
    return F.pad(x, (left, right, top, bottom))


def conv3_padded_copy(self, x, periodic=False):
    """The earlier 3×3 convolution: on a padded copy of its input (``network._pad_hw``)."""
    return F.conv2d(network._pad_hw(x, 1, 1, 1, 1, periodic), self.weight, self.bias, self.stride)


def func_vjp(denoiser, x, sigma, extra_args):
    """The earlier linearisation: ``torch.func.vjp``."""
    with torch.enable_grad():
        denoised, fn = vjp(lambda z: denoiser(z, sigma, **extra_args), x)
    return denoised, lambda v: fn(v)[0]


def mmps_one_more_product(self, denoiser, x, sigma, extra_args):
    """The earlier MMPS update: the solution, then one more vector-Jacobian product of it."""
    denoised, cov, m, innovation = self._linearise(denoiser, x, sigma, extra_args)
    var = sigma.reshape(-1, *([1] * (x.ndim - 1))) ** 2
    u = conjugate_gradient(
        lambda v: m * (cov(m * v) + self.r * v), innovation, self.cg_iters,
        m / (var / (1.0 + var) + self.r),
    )  # fmt: skip
    return denoised + cov(m * u)


@contextmanager
def earlier(pad: bool, linearise: bool, update: bool = False) -> Iterator[None]:
    """Swap in the earlier pad, linearisation and/or final update for the duration."""
    saved = network._pad_hw, guidance_module.denoise_with_vjp, MMPSGuidance.__call__
    conv = network.Conv3.forward
    if pad:
        network._pad_hw = circular_pad_hw
        network.Conv3.forward = conv3_padded_copy
    if linearise:
        guidance_module.denoise_with_vjp = func_vjp
    if update:
        MMPSGuidance.__call__ = mmps_one_more_product
    try:
        yield
    finally:
        network._pad_hw, guidance_module.denoise_with_vjp, MMPSGuidance.__call__ = saved
        network.Conv3.forward = conv


def problem(members: int = 8) -> tuple:
    """The synthetic guided prior, 8 members of noise and 3 % of the columns observed, global 4°."""
    weights = resolve_model("synthetic")
    denoiser = load_denoiser(weights, verify(weights).sha256, "cpu")
    truth = synthetic_truth(MONTHS[:1], 4.0, "train").sel(depth=list(denoiser.card.levels))
    field = truth.isel(time=0).values
    std = np.asarray(denoiser.card.normalisation["std"], float)[:, None, None]
    observed = np.isfinite(field) & (np.random.default_rng(0).random(field.shape[1:]) < FRACTION)
    y = np.where(observed, np.nan_to_num(field) / std, 0.0)
    guide = MMPSGuidance(
        mask=torch.as_tensor(observed)[None],
        y=torch.tensor(y, dtype=torch.float32)[None],
        r=torch.full((1, *field.shape), 0.01),
        cg_iters=2,
    )
    g = torch.Generator().manual_seed(0)
    x = SIGMA_MAX * torch.randn((members, *field.shape), generator=g)
    lat = torch.tensor(truth["lat"].values, dtype=torch.float32)
    lon = torch.tensor(truth["lon"].values, dtype=torch.float32)
    extra = {"lat": lat, "lon": lon, "doy": torch.full((members,), 46.0), "periodic": True}
    return denoiser, guide, x, extra


def interleaved_medians(runs: list[Callable[[], object]], repeats: int) -> list[float]:
    """Median wall time of each call over ``repeats`` rounds that call every one in turn
    (after one warm-up round), so that a load on the machine weighs on all alike."""
    for run in runs:
        run()
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(repeats):
        for run, spent in zip(runs, times, strict=True):
            start = time.perf_counter()
            run()
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in times]


def speed_table(repeats: int, steps: int, with_compile: bool, step_rounds: int = 1) -> list[tuple]:
    """Rows ``(variant, (s per guided evaluation, s per time step) with glibc's default heap,
    the same with the heap kept)``: medians of ``repeats`` rounds of evaluations and
    ``step_rounds`` rounds of time steps.

    The default-heap rows run first, before anything in this process has set the allocator:
    the earlier code ran that way. Then every variant runs again with
    :func:`~xdepthdif.analysis.heap.heap_kept`, as ``reconstruct`` runs the sampler now: a
    time step in one block, and the evaluations (which belong to one time step) in one block.
    """
    denoiser, guide, x, extra = problem()
    sigma = torch.full((x.shape[0],), 2.0)
    sigmas = denoise_last_sigmas(steps, sigma_max=SIGMA_MAX, dtype=torch.float64)
    variants = [
        ("before (circular pad, torch.func.vjp, 3 products)", "float32", False, True, True, True),
        ("periodic pad, torch.func.vjp, 3 products", "float32", False, False, True, True),
        ("periodic pad, torch.autograd.grad, 3 products", "float32", False, False, False, True),
        ("now: the same, 2 products", "float32", False, False, False, False),
        ("now + precision='bfloat16'", "bfloat16", False, False, False, False),
    ]
    if with_compile:
        variants.append(("now + compile=True", "float32", True, False, False, False))

    def variant(precision, compile_, old_pad, old_vjp, old_update, step, kept):
        net = sampling_denoiser(denoiser, precision, compile_)

        def run():
            with earlier(old_pad, old_vjp, old_update):
                if step:  # a time step is one block, as in reconstruct
                    with heap_kept() if kept else nullcontext():
                        return sample_heun(net, x, sigmas, extra, guide)
                return guide(net, x, sigma, extra)

        return run

    if with_compile:
        start = time.perf_counter()
        guide(sampling_denoiser(denoiser, "float32", True), x, sigma, extra)
        print(f"  torch.compile: {time.perf_counter() - start:.0f} s on the first evaluation")
    times = {}
    for kept in (False, True):
        with heap_kept() if kept else nullcontext():  # the evaluations of one time step
            evals = interleaved_medians([variant(*v[1:], False, kept) for v in variants], repeats)
        steps_ = interleaved_medians([variant(*v[1:], True, kept) for v in variants], step_rounds)
        times[kept] = list(zip(evals, steps_, strict=True))
    return [(v[0], d, k) for v, d, k in zip(variants, times[False], times[True], strict=True)]


def speed_lines(rows: list[tuple]) -> list[str]:
    """Markdown table of :func:`speed_table`'s rows; speed-ups against the first row on
    glibc's default heap."""
    eval0, step0 = rows[0][1]
    lines = [
        "| variant | s per guided evaluation: default heap, heap kept | s per time step: "
        "default heap, heap kept | speed-up per evaluation | speed-up per step |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (e1, s1), (e2, s2) in rows:
        lines.append(
            f"| {name} | {e1:.3f}, {e2:.3f} | {s1:.1f}, {s2:.1f} | {eval0 / e1:.2f}×, "
            f"{eval0 / e2:.2f}× | {step0 / s1:.2f}×, {step0 / s2:.2f}× |"
        )
    return lines


def accuracy_table(with_compile: bool) -> list[tuple[str, dict, tuple[float, float]]]:
    """Rows ``(variant, scores against the truth, (RMS, max) of mean minus float32's)``: two
    months of the validation world at 4°, 3 % of the columns observed, 8 members, 10 steps."""
    truth = world_months(VALIDATION_MONTHS, 4.0, "validation")
    used, withheld = observe(truth, FRACTION, seed=0)
    target = target_of(truth)
    options = [("float32", "float32", False), ("precision='bfloat16'", "bfloat16", False)]
    if with_compile:
        options.append(("compile=True", "float32", True))
    rows, reference = [], None
    for name, precision, compile_ in options:
        res = target.depthdif.reconstruct(
            obs=used, method="diffusion", precision=precision, compile=compile_,
            keep_members=True,
        ).compute(scheduler="synchronous")  # fmt: skip
        mean = res["thetao"].values
        scores = score(
            mean, truth, res["obs_count"].values, withheld,
            sd=res["thetao_sd"].values, members=res["thetao_members"].values,
        )  # fmt: skip
        reference = mean if reference is None else reference
        diff = mean - reference
        rms, worst = float(np.sqrt(np.nanmean(diff**2))), float(np.nanmax(np.abs(diff)))
        rows.append((name, scores, (rms, worst)))
        print(f"  {name}: {scores['rmse_unobserved']:.4f} °C, vs float32 {rms:.1e} °C")
    return rows


def reuse_table() -> None:
    """The analysis with the final update summed from the CG products (today) and by one more
    product (before): the ``"world"`` prior, the two validation months at 4°, 3 % of the
    columns, 8 members, 10 steps; scores and the largest differences (°C)."""
    truth = world_months(VALIDATION_MONTHS, 4.0, "validation")
    used, withheld = observe(truth, FRACTION, seed=0)
    target = target_of(truth)
    print("\n| final update | RMSE unobserved (°C) | RMSE withheld (°C) | spread-skill "
          "| CRPS (°C) |")  # fmt: skip
    print("|---|---:|---:|---:|---:|")
    out = {}
    for name, old in (("summed from the CG products (now)", False), ("one more product", True)):
        with earlier(False, False, old):
            res = target.depthdif.reconstruct(
                obs=used, method="diffusion", model="world", keep_members=True
            ).compute(scheduler="synchronous")
        values = (res[k].values for k in ("thetao", "obs_count", "thetao_sd", "thetao_members"))
        mean, count, sd, members = values
        sc = score(mean, truth, count, withheld, sd=sd, members=members)
        out[name] = (mean, members)
        print(f"| {name} | {sc['rmse_unobserved']:.5f} | {sc['rmse_withheld']:.5f} | "
              f"{sc['spread_skill']:.5f} | {sc['crps']:.5f} |", flush=True)  # fmt: skip
    (m1, e1), (m2, e2) = out.values()
    print(
        f"\nLargest difference: ensemble mean {np.nanmax(np.abs(m1 - m2)):.1e} °C, "
        f"members {np.nanmax(np.abs(e1 - e2)):.1e} °C."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per variant")
    parser.add_argument("--steps", type=int, default=10, help="steps of a time step")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--accuracy", action="store_true", help="the bfloat16 accuracy table")
    parser.add_argument(
        "--reuse", action="store_true", help="only: the update from the CG products vs one more"
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.reuse:
        return reuse_table()
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.steps} steps, 8 members")
    print("", *speed_lines(speed_table(args.repeats, args.steps, args.compile)), sep="\n")
    if args.accuracy:
        table = accuracy_table(args.compile)
        print(
            "\n| analysis | RMSE unobserved (°C) | RMSE withheld (°C) | spread-skill "
            "| CRPS (°C) | mean minus float32's: RMS, max (°C) |"
        )
        print("|---|---:|---:|---:|---:|---:|")
        for name, sc, (rms, worst) in table:
            print(
                f"| {name} | {sc['rmse_unobserved']:.4f} | {sc['rmse_withheld']:.4f} | "
                f"{sc['spread_skill']:.3f} | {sc['crps']:.4f} | {rms:.1e}, {worst:.1e} |"
            )


if __name__ == "__main__":
    main()
