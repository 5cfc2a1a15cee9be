"""Observations: readers, validation, vertical interpolation and sampling of profiles."""
