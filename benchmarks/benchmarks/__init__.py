"""asv benchmarks of xdepthdif: time and peak memory of one time step (see ``asv.conf.json``)."""
