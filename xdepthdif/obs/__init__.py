"""Observations: readers, the profile layout, vertical interpolation, binning and sampling.

Every reader returns the same *profile layout* (see :mod:`xdepthdif.obs.layout`): dims
``(profile, level)``, ``time``/``lat``/``lon`` per profile, ``depth`` (m, positive down) and
``thetao`` (°C) per level, and a tally in which every profile read is used or counted as
rejected, by reason.

Examples
--------
>>> from xdepthdif import obs
>>> sorted(n for n in obs.__all__ if n.startswith("read") or n.startswith("from"))
['from_argo', 'from_points', 'read_en4']
"""

from __future__ import annotations

from .argo import from_argo
from .binning import bin_profiles
from .en4 import en4_filename, read_en4
from .en4_write import write_en4, write_en4_months
from .layout import concat_profiles, merge_tallies, tally, validate_profiles
from .points import from_points
from .sampling import SamplingPlan, sample_profiles, split_profiles
from .vertical import interpolate_to_levels, level_tolerance

__all__ = [
    "SamplingPlan",
    "bin_profiles",
    "concat_profiles",
    "en4_filename",
    "from_argo",
    "from_points",
    "interpolate_to_levels",
    "level_tolerance",
    "merge_tallies",
    "read_en4",
    "sample_profiles",
    "split_profiles",
    "tally",
    "validate_profiles",
    "write_en4",
    "write_en4_months",
]
