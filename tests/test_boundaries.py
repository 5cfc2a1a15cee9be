"""Architecture rules, checked rather than hoped for."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).parents[1] / "xdepthdif"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_importing_the_package_does_not_import_torch_or_matplotlib():
    code = (
        "import sys, xdepthdif, xdepthdif.obs; "
        "bad = {'torch', 'matplotlib'} & set(sys.modules); assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    "path",
    [
        *sorted((SRC / "analysis").glob("*.py")),
        SRC / "grid" / "geo.py",
        SRC / "obs" / "binning.py",
        SRC / "obs" / "vertical.py",
    ],
    ids=lambda p: p.name,
)
def test_numpy_cores_know_nothing_of_xarray_or_dask(path):
    assert not imported_modules(path) & {"xarray", "dask", "distributed", "cf_xarray"}


def test_the_xarray_layer_never_touches_torch():
    for name in ("reconstruct.py", "accessor.py", "grid/target.py", "cf.py", "timing.py"):
        assert "torch" not in imported_modules(SRC / name), name
