"""Long runs: the zarr store with manifest and resume, and the dask cluster factory."""
