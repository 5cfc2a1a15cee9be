"""Target grids and geometry: target discovery (cf-xarray), spherical geometry, regridding."""
