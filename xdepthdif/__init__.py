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

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("xdepthdif")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0+unknown"

from . import accessor as _accessor  # noqa: F401  (registers .depthdif)
from .catalog import catalog
from .cluster import cluster  # imports distributed only when called
from .reconstruct import reconstruct
from .regrid import regrid

__all__ = ["__version__", "catalog", "cluster", "reconstruct", "regrid"]
