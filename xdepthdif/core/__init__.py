"""Torch-only building blocks of the diffusion method; never imports xarray or dask."""

from .network import EDMDenoiser, UNet, UNetConfig, edm_loss

__all__ = ["EDMDenoiser", "UNet", "UNetConfig", "edm_loss"]
