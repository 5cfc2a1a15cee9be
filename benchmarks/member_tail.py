"""Members from the model's grid to the target's, before and now: regridding, the fill near
the coast, the sea mask, the mean and the spread, for 8 and 64 members.

The members' last steps in :func:`xdepthdif.analysis.native.diffusion_step`
(:func:`~xdepthdif.analysis.native.members_on_target`) on a global 1° target with 42 levels
(the test world's sea), from members on the 4° native grid (normal noise, NaN on the native
land), side by side in one run:

- the regridding (on the members' library, the same before and now; timed once);
- *before*: the regridded members brought to the host, filled there slice by slice (a
  neighbour search per level and a pattern per member and level, as the earlier
  ``fill_from_nearest`` did), masked, averaged;
- *now*: filled (the members of a level share their holes: one member's go to the host for
  the neighbour search, and one gather or copy fills them all), masked and averaged on the
  members' library, then brought to the host.

On the CPU both are numpy (``--library numpy``, the default); on a GPU ``--library cupy`` times
the same with the members as CuPy arrays, as ``array_library="cupy"`` has them. Prints a
markdown table: median seconds of ``--repeats`` calls after a warm-up, in all and per member.

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
from xdepthdif.grid.rectilinear import Regridder, _unit_vectors
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


def earlier(regridded, sea, lat, lon):
    """The earlier tail after the regridding: the rest on the host."""
    members = earlier_fill(to_numpy(regridded), sea, lat, lon)
    members[:, ~sea] = np.nan
    return members.mean(axis=0), members.std(axis=0, ddof=1), members


def now(regridded, sea, lat, lon):
    """Today's tail after the regridding (:func:`members_on_target`, the regridding already
    done: an identity in its place)."""
    return members_on_target(regridded, sea, lat, lon, regridder=lambda m: m)


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
    print("| members | regridding (s, both) | after it: before (s) | now (s) | speed-up "
          "| per member: before (s) | now (s) | largest difference |")  # fmt: skip
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for m in args.members:
        noise = np.random.default_rng(0).normal(10.0, 1.0, (m, *native_sea.shape))
        members = to_library(xp, np.where(native_sea, noise, np.nan).astype(np.float32))
        start = time.perf_counter()
        regridded = back(members)
        sync()
        regrid = time.perf_counter() - start
        results, times = interleaved(regridded, (earlier, now), args.repeats, (sea, lat, lon), sync)
        before, after = (statistics.median(t) for t in times)
        diff = max(float(np.nanmax(np.abs(a - b))) for a, b in zip(*results, strict=True))
        print(f"| {m} | {regrid:.2f} | {before:.2f} | {after:.2f} | {before / after:.2f}× "
              f"| {before / m:.3f} | {after / m:.3f} | {diff:.1e} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
