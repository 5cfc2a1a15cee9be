"""Global targets from 0.5° to 5°: time, memory and skill of one time step, OI and diffusion.

One month of the test world (July 2045, 42 levels) on each global grid, Argo-like profiles in
3 % of its ocean columns (20 % of them withheld), reconstructed by ``reconstruct`` with the
default OI and with the default diffusion model (8 members, 10 steps), each in a process of its
own with one thread (``OMP_NUM_THREADS=1``, the synchronous scheduler), as a dask worker of one
thread runs a time step. Printed per grid and method: the wall time of the time step (model
load included), the resident memory before it (interpreter, libraries, the truth and the
profiles) and at its peak, RMSE at unobserved points (0–2000 m), its ratio to the OI's, the
spread-skill ratio there, and how many member values the diffusion clipped to sea water
(:func:`xdepthdif.screening.clip_members`, counted from its warnings). The 4° grid is the
models' own; finer targets carry the members' residuals about the target's OI, coarser ones
average the members conservatively (``docs/model.md``, "The native grid").

Run: ``.venv/bin/python benchmarks/target_grids.py [--grids 0.5 1 2 4 5]`` (about 8 minutes
on the 2-core machine).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import xarray as xr

MONTH = "2045-07-15"
FRACTION = 0.03


def _memory_mb(field: str) -> float:
    """This process's resident memory now (``"VmRSS"``) or at its peak (``"VmHWM"``), MB.

    Read from ``/proc``: ``getrusage``'s peak would be the parent's when the parent's was
    larger, as it carries over through fork and exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_case(grid: float, folder: Path) -> int:
    """The truth, used and withheld profiles of ``grid`` in netCDF files in ``folder``; the
    number of profiles used."""
    from xdepthdif.evaluation.protocol import observe
    from xdepthdif.prior.world import world_months

    truth = world_months([MONTH], grid, "test")
    used, withheld = observe(truth, FRACTION, seed=0)
    truth.to_netcdf(folder / "truth.nc")
    used.to_netcdf(folder / "used.nc")
    withheld.to_netcdf(folder / "withheld.nc")
    return int(used.sizes["profile"])


def child(folder: Path, method: str) -> None:
    """Reconstruct one case with ``method`` and print a JSON line of what it cost and scored."""
    import xdepthdif  # noqa: F401  (the depthdif accessor)
    from xdepthdif.errors import ImplausibleOutputWarning
    from xdepthdif.evaluation.protocol import target_of
    from xdepthdif.evaluation.scores import score

    truth = xr.load_dataarray(folder / "truth.nc")
    used, withheld = (xr.load_dataset(folder / f"{n}.nc") for n in ("used", "withheld"))
    target = target_of(truth)
    before = _memory_mb("VmRSS")
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImplausibleOutputWarning)
        res = target.depthdif.reconstruct(obs=used, method=method).compute(scheduler="synchronous")
    seconds = time.perf_counter() - start
    peak = _memory_mb("VmHWM")
    clipped = 0  # the last clipping is the target's (a finer one's follows the model grid's)
    for w in caught:
        if getattr(w.message, "clipped", False):
            clipped = w.message.below + w.message.above
    sc = score(
        res["thetao"].values, truth, res["obs_count"].values, withheld, sd=res["thetao_sd"].values
    )
    out = {"seconds": seconds, "before_mb": before, "peak_mb": peak, "clipped": clipped}
    out |= {k: float(sc[k]) for k in ("rmse_unobserved", "spread_skill")}
    print(json.dumps(out))  # the parent reads the last line


def run_child(folder: Path, method: str) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, __file__, "--child", str(folder), method]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{method} in {folder} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grids", type=float, nargs="+", default=[0.5, 1.0, 2.0, 4.0, 5.0])
    parser.add_argument("--child", nargs=2, metavar=("FOLDER", "METHOD"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(Path(args.child[0]), args.child[1])
    print(f"test world {MONTH[:7]}, 42 levels, {FRACTION:.0%} of the columns, one thread each\n")
    print(
        "| grid | profiles used | method | s per time step | resident memory before → peak (MB) "
        "| RMSE unobserved (°C) | ÷ OI | spread-skill | member values clipped |"
    )
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for grid in args.grids:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            n = write_case(grid, folder)
            rows = {m: run_child(folder, m) for m in ("oi", "diffusion")}
        oi = rows["oi"]["rmse_unobserved"]
        for method, r in rows.items():
            clipped = f"{r['clipped']}" if method == "diffusion" else "–"
            print(
                f"| {grid:g}° | {n} | {method} | {r['seconds']:.1f} | {r['before_mb']:.0f} → "
                f"{r['peak_mb']:.0f} | {r['rmse_unobserved']:.3f} | "
                f"{r['rmse_unobserved'] / oi:.2f} | {r['spread_skill']:.2f} | {clipped} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
