"""One time step, numpy in and out: optimal interpolation and the torch bridges of the diffusion
method. Nothing here imports xarray."""
