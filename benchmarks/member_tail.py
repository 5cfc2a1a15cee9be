"""Members from the model's grid to the target's, before and now: regridding, the fill near
the coast, the sea mask, the mean and the spread, for 8 and 64 members.

The members' last steps in :func:`xdepthdif.analysis.native.diffusion_step`
(:func:`~xdepthdif.analysis.native.members_on_target`) on a global 1° target with 42 levels
(the test world's sea), from members on the 4° native grid (normal noise, NaN on the native
land), side by side in one run:

- *before*: the earlier code. On numpy the regridding made one sparse product of all the
  members (float64 intermediates of gigabytes for 64 members); the regridded members were
  brought to the host and filled there slice by slice (a neighbour search per level and a
  pattern per member and level, as the earlier ``fill_from_nearest`` did), masked and
  averaged;
- *now*: regridded a few fields at a time (numpy; another library as before), filled (the
  members of a level share their holes: one member's go to the host for the neighbour search,
  and one copy or gather fills them all), masked and averaged on the members' library, then
  brought to the host.

Both in all, and what follows the regridding alone (today's regridding done once for both).
On the CPU both are numpy (``--library numpy``, the default); on a GPU ``--library cupy`` times
the same with the members as CuPy arrays, as ``array_library="cupy"`` has them. Prints a
markdown table: median seconds of ``--repeats`` calls after a warm-up.

Run: ``.venv/bin/python benchmarks/member_tail.py [--library cupy] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from xdepthdif.analysis.native import members_on_target
from xdepthdif.array_library import namespace, to_library, to_numpy
from xdepthdif.grid.fill import _unit_vectors
from xdepthdif.grid.rectilinear import Regridder
from xdepthdif.prior.world import world_months


def earlier_fill(field: np.ndarray, where: np.ndarray, lat, lon) -> np.ndarray:
    """The earlier ``fill_from_nearest``: on the host, slice by slice."""
    out = np.array(field, dtype=np.result_type(field.dtype, np.float32), copy=True)
    n = out.shape[-2] * out.shape[-1]
    todo = np.broadcast_to(where, out.shape) & np.isnan(out)
    grid = _unit_vectors(*np.meshgrid(lat, lon, indexing="ij")).reshape(-1, 3)
    flat, flat_todo = out.reshape(-1, n), todo.reshape(-1, n)
    sources: dict[bytes, np.ndarray] = {}
    for k in range(flat.shape[0]):
        if not flat_todo[k].any():
            continue
        finite = np.isfinite(flat[k])
        if not finite.any():
            continue
        key = np.packbits(finite).tobytes() + np.packbits(flat_todo[k]).tobytes()
        if key not in sources:
            _, nearest = cKDTree(grid[finite]).query(grid[flat_todo[k]])
            sources[key] = np.flatnonzero(finite)[nearest]
        flat[k, flat_todo[k]] = flat[k, sources[key]]
    return out


def earlier_regrid(regridder: Regridder, field):
    """The earlier regridding on numpy: one sparse product of every field at once."""
    if not isinstance(regridder, Regridder) or not isinstance(field, np.ndarray):
        return regridder(field)
    flat = field.reshape(-1, regridder.src_shape[0] * regridder.src_shape[1]).T
    valid = np.isfinite(flat)
    values = regridder.weights @ np.where(valid, flat, 0.0)
    frac = regridder.weights @ valid.astype(float)
    ok = (frac > 0) & (frac >= regridder.min_weight - 1e-12)
    out = np.full(values.shape, np.nan)
    np.divide(values, frac, out=out, where=ok)
    dtype = np.result_type(field.dtype, np.float32)
    return out.T.reshape(*field.shape[:-2], *regridder.dst_shape).astype(dtype, copy=False)


def earlier(members, sea, lat, lon, regridder):
    """The earlier tail: regridded, then the rest on the host."""
    members = earlier_fill(to_numpy(earlier_regrid(regridder, members)), sea, lat, lon)
    members[:, ~sea] = np.nan
    return members.mean(axis=0), members.std(axis=0, ddof=1), members


def identity(members):
    return members


def synchronizer(library: str):
    """A function that waits for the library's device to finish its work."""
    if library != "cupy":
        return lambda: None
    import cupy

    return cupy.cuda.Device().synchronize


def interleaved(members, tails, repeats: int, rest: tuple, sync) -> tuple[list, list]:
    """Each tail's result (after a warm-up call) and its wall times over ``repeats`` rounds
    that call every tail in turn."""
    results = [tail(members, *rest) for tail in tails]
    sync()
    times: list[list[float]] = [[] for _ in tails]
    for _ in range(repeats):
        for tail, spent in zip(tails, times, strict=True):
            start = time.perf_counter()
            tail(members, *rest)
            sync()
            spent.append(time.perf_counter() - start)
    return results, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", default="numpy", choices=("numpy", "cupy"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--members", type=int, nargs="+", default=[8, 64])
    args = parser.parse_args()
    xp = namespace(args.library)
    sync = synchronizer(args.library)
    truth = world_months(pd.DatetimeIndex(["2021-03-15"]), 1.0, "test")
    sea = np.isfinite(truth.values[0])
    lat, lon = truth["lat"].values, truth["lon"].values
    nlat, nlon = np.arange(-88.0, 90.0, 4.0), np.arange(2.0, 360.0, 4.0)
    native_sea = np.nan_to_num(Regridder.conservative(lat, lon, nlat, nlon)(sea * 1.0)) >= 0.5
    back = Regridder.bilinear(nlat, nlon, lat, lon)
    print(f"global 1°, {sea.shape[0]} levels, {args.library}")
    print("| members | in all: before (s) | now (s) | speed-up | after the regridding: before "
          "(s) | now (s) | speed-up | largest difference |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in args.members:
        noise = np.random.default_rng(0).normal(10.0, 1.0, (m, *native_sea.shape))
        members = to_library(xp, np.where(native_sea, noise, np.nan).astype(np.float32))
        tails = (earlier, members_on_target)
        results, times = interleaved(members, tails, args.repeats, (sea, lat, lon, back), sync)
        before, now = (statistics.median(t) for t in times)
        regridded = back(members)  # what follows it, on today's regridding for both
        rest = (sea, lat, lon, identity)
        _, times = interleaved(regridded, tails, args.repeats, rest, sync)
        after_before, after_now = (statistics.median(t) for t in times)
        diff = max(float(np.nanmax(np.abs(a - b))) for a, b in zip(*results, strict=True))
        print(f"| {m} | {before:.2f} | {now:.2f} | {before / now:.2f}× | {after_before:.2f} "
              f"| {after_now:.2f} | {after_before / after_now:.2f}× | {diff:.1e} |",
              flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
