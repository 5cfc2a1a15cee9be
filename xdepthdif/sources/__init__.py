"""Where data comes from: intake catalogs, downloads (pooch, resumable), CMIP6 and OSTIA."""
