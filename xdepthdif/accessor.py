"""The ``.depthdif`` accessor: stores the target and delegates; no logic, no state."""

from __future__ import annotations

import xarray as xr


@xr.register_dataset_accessor("depthdif")
class DepthDifAccessor:
    """Ocean temperature on this dataset's grid: ``target.depthdif.reconstruct(obs)``."""

    def __init__(self, obj: xr.Dataset) -> None:
        self._obj = obj

    def reconstruct(self, obs: xr.Dataset, **kwargs) -> xr.Dataset:
        """Lazy analysis of ``obs`` on this grid; see :func:`xdepthdif.reconstruct`."""
        from .reconstruct import reconstruct

        return reconstruct(self._obj, obs, **kwargs)
