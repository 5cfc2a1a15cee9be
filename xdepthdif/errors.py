"""Typed errors and warnings.

Every message says what was found, what was expected and how to fix the input, so that a user
reading a traceback in a notebook knows their next step without opening the source.

Examples
--------
>>> from xdepthdif.errors import UnitsError, XDepthDifError
>>> issubclass(UnitsError, XDepthDifError) and issubclass(UnitsError, ValueError)
True
"""

from __future__ import annotations


class XDepthDifError(Exception):
    """Base class of every error raised by xdepthdif."""


class InputError(XDepthDifError, ValueError):
    """The input does not have the form xdepthdif expects."""


class UnitsError(InputError):
    """A variable has missing, unknown or implausible units."""


class GridError(InputError):
    """The target grid cannot be understood (missing or malformed depth/lat/lon/time)."""


class ProfileLayoutError(InputError):
    """Observations are not in the profile layout (dims ``profile``, ``level``)."""


class CalendarError(InputError):
    """Observations and target use calendars that cannot be compared."""


class EmptyObservationsError(InputError):
    """No usable observation is left after quality control and selection."""


class CatalogError(InputError):
    """A catalog name or path that does not exist, a catalog that cannot be loaded, or an
    entry parameter out of range."""


class FileFormatError(XDepthDifError, OSError):
    """A file is not in the format its reader expects."""


class CheckpointError(XDepthDifError):
    """A model checkpoint is missing, corrupt, not safetensors, or not the one expected."""


class ModelCardError(CheckpointError, ValueError):
    """A model card (the ``.json`` beside the weights) lacks a key or holds an invalid value."""


class XDepthDifWarning(UserWarning):
    """Base class of every warning issued by xdepthdif."""


class EmptyTimeStepWarning(XDepthDifWarning):
    """Some target time steps have no observation; they are returned as background or NaN."""


class RejectedDataWarning(XDepthDifWarning):
    """Part of the observations was rejected (outside grid, outside time range, bad values)."""


class SuspiciousDataWarning(XDepthDifWarning):
    """Observations were kept but lie at the edge of plausibility (near freezing, very warm,
    deeper than any trench): worth a look at their units and quality flags."""


class ImplausibleOutputWarning(XDepthDifWarning):
    """Computed output lies outside the range of sea water (below the freezing point of its
    depth or above 40 °C).

    The counts in the message are attributes too, for code that tallies them over time steps:
    ``below`` and ``above`` (values outside the range), ``values`` (finite values looked at)
    and ``clipped`` (whether they were set to the bounds: ensemble members are, an analysis
    is not).

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from xdepthdif.screening import clip_members
    >>> members = np.array([[[-2.5, 20.0]], [[41.0, np.nan]]])  # 2 members, 1 level, 2 cells
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     _ = clip_members(members, np.array([0.0]))
    >>> w = caught[0].message
    >>> w.below, w.above, w.values, w.clipped
    (1, 1, 3, True)
    """

    def __init__(
        self, message: str, below: int = 0, above: int = 0, values: int = 0, clipped: bool = False
    ) -> None:
        super().__init__(message)
        self.below, self.above, self.values, self.clipped = below, above, values, clipped


class IncompleteBackgroundWarning(XDepthDifWarning):
    """A first guess given as data has no value at some of the target's sea cells: the
    analysis is NaN there and the observations there are not used.

    ``cells`` (sea cells without a first guess) and ``observed`` (those of them holding
    observations) are attributes too.
    """

    def __init__(self, message: str, cells: int = 0, observed: int = 0) -> None:
        super().__init__(message)
        self.cells, self.observed = cells, observed
