"""xdepthdif: dense 3-D ocean temperature analyses from sparse in-situ profiles, in xarray.

Importing the package registers the ``.depthdif`` accessor on :class:`xarray.Dataset`. It does
not import torch.

Examples
--------
>>> import xarray as xr
>>> import xdepthdif
>>> hasattr(xr.Dataset(), "depthdif")
True
"""

from __future__ import annotations

from . import accessor as _accessor  # noqa: F401  (registers .depthdif)
from ._version import __version__
from .background import climatology
from .batch.cluster import cluster  # imports distributed only when called
from .grid.regrid import regrid
from .reconstruct import reconstruct
from .sources.catalog import catalog, catalog_names

__all__ = [
    "__version__",
    "catalog",
    "catalog_names",
    "climatology",
    "cluster",
    "reconstruct",
    "regrid",
]
