"""Sphinx configuration of the xdepthdif documentation (``make docs``)."""

from __future__ import annotations

import os

import sphinx_autosummary_accessors

import xdepthdif

project = "xdepthdif"
author = "xdepthdif developers"
copyright = "xdepthdif developers"
version = release = xdepthdif.__version__

extensions = [
    "myst_nb",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "sphinx_autosummary_accessors",
]

templates_path = ["_templates", sphinx_autosummary_accessors.templates_path]
exclude_patterns = ["_build", "jupyter_execute", "**/.ipynb_checkpoints", "Thumbs.db", ".DS_Store"]
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"

# API reference: autosummary writes one page per object into generated/ (not committed).
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
# No intersphinx inventories are fetched (the build runs offline): links to other projects'
# objects stay plain text.
intersphinx_mapping: dict = {}

# MyST: markdown pages and text notebooks (jupytext "myst" format), executed at build time.
myst_enable_extensions = ["colon_fence", "dollarmath", "deflist"]
myst_heading_anchors = 3
nb_execution_mode = os.environ.get("NB_EXECUTION_MODE", "cache")
# One BLAS/torch thread in the notebook kernels (they inherit this environment): on a
# small shared machine, thread pools fighting for the cores made a training cell 10x slower.
os.environ.setdefault("OMP_NUM_THREADS", "1")
nb_execution_timeout = 600
nb_execution_raise_on_error = True
nb_execution_show_tb = True
nb_merge_streams = True

html_theme = "pydata_sphinx_theme"
html_title = f"xdepthdif {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": [], "installation": []}
html_show_sourcelink = False
