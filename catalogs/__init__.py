"""The intake 2 catalogs shipped with xdepthdif, installed as ``xdepthdif.catalogs``.

This folder sits at the top of the repository and is mapped onto the package by
``[tool.setuptools] package-dir`` in ``pyproject.toml``; code finds the YAML files with
``importlib.resources.files("xdepthdif.catalogs")``.
"""
