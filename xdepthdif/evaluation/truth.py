"""Known truths to score analyses against: the real 3-D temperature cube of ``iris-sample-data``
(tropical South Atlantic, 40 levels to 4478 m, 6 × 8 columns, stored in kelvin), used by the demo
and by the skill benchmark's real case."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import xarray as xr

__all__ = ["atlantic_truth"]


def atlantic_truth(months: int = 6, year: int = 1985) -> xr.DataArray:
    """The real 3-D potential temperature cube from ``iris-sample-data``, in °C, repeated as
    the truth of ``months`` consecutive months."""
    try:
        import iris_sample_data
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "The demo needs iris-sample-data: pip install 'xdepthdif[demo]'."
        ) from err
    path = Path(iris_sample_data.__file__).parent / "sample_data" / "atlantic_profiles.nc"
    with xr.open_dataset(path) as ds:
        theta = ds["theta"].load()
    if theta.attrs.get("units") != "K":
        raise ValueError(f"Expected the sample cube in kelvin, found {theta.attrs.get('units')}.")
    celsius = (theta - 273.15).astype("float64")
    times = pd.date_range(f"{year}-01-01", periods=months, freq="MS") + pd.Timedelta(days=14)
    truth = celsius.drop_vars("time", errors="ignore").expand_dims(time=times.values)
    truth.attrs = {"standard_name": "sea_water_potential_temperature", "units": "degC"}
    truth["lat"].attrs.update(units="degrees_north")
    truth["lon"].attrs.update(units="degrees_east")
    return truth.rename("thetao")
