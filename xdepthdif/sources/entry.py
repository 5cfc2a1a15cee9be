"""The readers of the catalog entries share one way of refusing a parameter: a
:class:`~xdepthdif.errors.CatalogError` naming the entry (``CATALOG/ENTRY``, recorded in the
entry's metadata by :func:`xdepthdif.sources.catalog.catalog`), the parameter and what it
accepts, whether the parameter is unknown, out of its set, of the wrong type or not a date, or
names files that do not exist.
"""

from __future__ import annotations

import glob
import inspect
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import pandas as pd
from intake.readers.readers import BaseReader

from ..errors import CatalogError

__all__ = ["ENTRY_KEY", "LABEL_KEY", "PARAMS_KEY", "EntryReader"]

# Keys of the entry metadata that :func:`catalog` adds: the entry's name, its catalog's, and
# the catalog-level parameters, for the readers' error messages.
ENTRY_KEY = "xdepthdif_entry"
LABEL_KEY = "xdepthdif_catalog"
PARAMS_KEY = "xdepthdif_catalog_parameters"
_UNEXPECTED = re.compile(r"unexpected keyword argument '(\w+)'")


class EntryReader(BaseReader):
    """A reader whose parameter errors are :class:`CatalogError` naming the entry.

    ``_passes_on`` says where its other keyword arguments go, for the message that refuses
    one that nothing takes.
    """

    _entry: ClassVar[str] = ""
    _passes_on: ClassVar[str] = ""

    @property
    def entry(self) -> str:
        """``CATALOG/ENTRY`` as loaded by :func:`catalog`, else the reader's usual entry."""
        return str(self.metadata.get(ENTRY_KEY) or self._entry or type(self).__name__)

    def read(self, *args: Any, **kwargs: Any) -> Any:
        """The entry's data; an unknown parameter is a :class:`CatalogError`."""
        try:
            return super().read(*args, **kwargs)
        except TypeError as err:
            found = _UNEXPECTED.search(str(err))
            if found is None or found.group(1) not in {**self.kwargs, **kwargs}:
                raise
            raise CatalogError(
                f"{self.entry}: {found.group(1)} is not a parameter of this entry; it takes "
                f"{', '.join(self.parameters())}{self._passes_on}."
            ) from err

    def parameters(self) -> list[str]:
        """The names of the entry's own parameters."""
        names = inspect.signature(self._read).parameters.values()
        return [p.name for p in names if p.kind is p.POSITIONAL_OR_KEYWORD]

    def error(self, message: str) -> CatalogError:
        """A :class:`CatalogError` about this entry."""
        return CatalogError(f"{self.entry}: {message}")

    def chunks(self, value: Any) -> dict:
        """``chunks`` checked to be a mapping of dimension names to chunk sizes."""
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool)
            for k, v in value.items()
        ):
            raise self.error(
                f"chunks={value!r} is not a mapping of dimension names to chunk sizes; give "
                'e.g. chunks={"time": 1} (JSON in a query: chunks={"time":1}).'
            )
        return dict(value)

    def choice(self, name: str, value: Any, allowed: Sequence[str]) -> str:
        """``value`` checked to be one of ``allowed``."""
        if str(value) not in allowed:
            raise self.error(f"{name}={value!r} is not accepted; it takes {', '.join(allowed)}.")
        return str(value)

    def day(self, name: str, value: Any) -> str:
        """``value`` checked to be a date (``"2020-01-31"``)."""
        try:
            pd.Timestamp(str(value))
        except (ValueError, TypeError) as err:
            raise self.error(
                f"{name}={value!r} is not a date ({err}); give e.g. {name}=2020-01-31."
            ) from err
        return str(value)

    def existing(self, paths: str | Sequence[str]) -> str | list[str]:
        """``paths`` checked to name files: a path or glob that matches none is refused,
        saying which catalog parameters build the paths."""
        for path in [paths] if isinstance(paths, str | os.PathLike) else paths:
            text = os.fspath(path)
            if "://" in text or os.path.exists(text) or glob.glob(text):
                continue
            params = self.metadata.get(PARAMS_KEY) or []
            label = self.metadata.get(LABEL_KEY, "sample")
            how = (
                f"the path is built from the catalog's {', '.join(params)}: point it at the "
                f"files with catalog({label!r}, {params[0]}='/folder/of/the/files')"
                if params
                else "pass paths='/folder/*.nc' to read() to point it at the files"
            )
            raise self.error(f"no file matches {text!r} (its paths); {how}.")
        return paths
