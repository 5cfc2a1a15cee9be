"""The ``.depthdif`` accessor: stores the target grid and delegates; no logic, no state.

Every method has the full signature and docstring of the function it calls, so ``help()`` and
Jupyter's Shift-Tab show every option.

Examples
--------
>>> import numpy as np, xarray as xr
>>> import xdepthdif
>>> target = xr.Dataset(coords={
...     "time": ("time", np.array(["2020-07-15"], "datetime64[ns]")),
...     "depth": ("depth", [10.0, 500.0], {"units": "m", "positive": "down"}),
...     "lat": ("lat", [-30.5, 0.5, 30.5], {"units": "degrees_north"}),
...     "lon": ("lon", [200.5, 210.5], {"units": "degrees_east"})})
>>> [name for name in dir(target.depthdif) if not name.startswith("_")]
['climatology', 'reconstruct', 'regrid']
>>> target.depthdif.climatology().shape
(1, 2, 3, 2)
"""

from __future__ import annotations

import inspect
import re

import xarray as xr

from .background import climatology as _climatology
from .grid.regrid import regrid as _regrid
from .reconstruct import reconstruct as _reconstruct


def _doc(function, first: str, drop: tuple[str, ...] = ("target",)) -> str:
    """``function``'s docstring for a method whose ``target`` argument is this dataset: the
    entries of its Parameters section named in ``drop`` are left out."""
    names = "|".join(map(re.escape, drop))
    body = re.sub(
        rf"(?ms)^(?:{names})\b[^\n]*\n(?:    [^\n]*\n|\n(?=    ))*",
        "",
        inspect.getdoc(function) or "",
    )
    body = re.sub(r"(?m)^Parameters\n-+\n\n", "", body)  # none left
    body = body.replace("``target``", "this dataset")
    return f"{first}\n\nCalls :func:`xdepthdif.{function.__name__}`:\n\n{body}"


@xr.register_dataset_accessor("depthdif")
class DepthDifAccessor:
    """Ocean temperature on this dataset's grid: ``target.depthdif.reconstruct(obs=...)``,
    ``target.depthdif.climatology()``, ``target.depthdif.regrid(field)``."""

    def __init__(self, obj: xr.Dataset) -> None:
        self._obj = obj

    def reconstruct(
        self,
        obs: xr.Dataset,
        *,
        method: str = "oi",
        background: str | xr.DataArray = "climatology",
        window: str | None = None,
        keep_members: bool = False,
        array_library: str = "numpy",
        **options,
    ) -> xr.Dataset:
        return _reconstruct(
            self._obj,
            obs,
            method=method,
            background=background,
            window=window,
            keep_members=keep_members,
            array_library=array_library,
            **options,
        )

    def climatology(self) -> xr.DataArray:
        return _climatology(self._obj)

    def regrid(
        self,
        obj: xr.Dataset | xr.DataArray,
        method: str = "auto",
        *,
        weights=None,
        radius_km: float | None = None,
        engine: str | None = None,
    ) -> xr.Dataset | xr.DataArray:
        return _regrid(obj, self._obj, method, weights=weights, radius_km=radius_km, engine=engine)

    reconstruct.__doc__ = _doc(_reconstruct, "Lazy analysis of ``obs`` on this dataset's grid.")
    climatology.__doc__ = _doc(
        _climatology,
        "The shipped climatology on this dataset's grid.",
        ("target", "time, depth, lat, lon"),
    )
    regrid.__doc__ = _doc(_regrid, "``obj`` regridded onto this dataset's horizontal grid.")
