"""The package layout of DESIGN §3, checked by reading every module's imports with ``ast``.

Subpackages by responsibility (obs, grid, analysis, prior, core, sources, batch, evaluation);
``core/`` never imports xarray or dask; imports point downward only (no cycles, lazy imports
included); only the I/O packages reach the network; no module grows past ``MAX_LINES``.
"""

import ast
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SRC = ROOT / "xdepthdif"
PKG = "xdepthdif"

#: Line budget of one module (DESIGN §3 asks for about 400; this is the hard limit).
MAX_LINES = 450
#: Top-level modules of libraries that reach the network.
NETWORK = {
    "aiohttp",
    "fsspec",
    "ftplib",
    "gcsfs",
    "http",
    "httpx",
    "intake_esm",
    "pooch",
    "requests",
    "socket",
    "urllib",
    "urllib3",
}
#: The subpackages allowed to download or talk to servers.
IO_PACKAGES = ("obs", "sources", "batch")


def modules(src: Path = SRC) -> dict[str, Path]:
    """Every module of the package under ``src``, by dotted name (packages by their own name)."""
    out = {}
    for path in sorted(src.rglob("*.py")):
        parts = path.relative_to(src.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(path: Path, name: str, known: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """``(dotted target, line)`` of every import in the module, at any depth (lazy imports
    inside functions count), relative imports resolved against the module's package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                sub = f"{module}.{alias.name}"
                yield (sub if sub in known else module), node.lineno


def external_imports(path: Path) -> set[str]:
    """Top-level names of the modules outside the package that ``path`` imports."""
    name = next(n for n, p in modules().items() if p == path)
    return {t.split(".")[0] for t, _ in _imports(path, name, modules()) if t.split(".")[0] != PKG}


def import_graph(src: Path = SRC) -> dict[str, dict[str, int]]:
    """Module -> {imported module of the package: line}. Importing ``a.b.c`` also runs the
    ``__init__`` of ``a.b`` (unless the importer lives inside it); the package's own facade,
    ``xdepthdif/__init__.py``, runs first in any case and counts only when named."""
    known = modules(src)
    root = src.name
    graph: dict[str, dict[str, int]] = {}
    for name, path in known.items():
        edges: dict[str, int] = {}
        for target, line in _imports(path, name, known):
            while target and target not in known:
                target = target.rpartition(".")[0]
            if not target or target == name:
                continue
            edges.setdefault(target, line)
            parent = target.rpartition(".")[0]
            while parent and parent != root:
                if not (name == parent or name.startswith(parent + ".")):
                    edges.setdefault(parent, line)
                parent = parent.rpartition(".")[0]
        graph[name] = edges
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def _describe(component: list[str], graph: dict[str, dict[str, int]]) -> str:
    members = set(component)
    ties = [
        f"{a} -> {b} (line {line})"
        for a in component
        for b, line in sorted(graph[a].items())
        if b in members
    ]
    return "; ".join(ties)


# --- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((SRC / "core").glob("*.py")), ids=lambda p: p.name)
def test_core_never_imports_xarray_or_dask(path):
    bad = external_imports(path) & {"xarray", "dask", "distributed", "cf_xarray", "pandas"}
    assert not bad, f"core/{path.name} imports {sorted(bad)}; core/ is torch (and numpy) only"


@pytest.mark.parametrize("path", sorted((SRC / "analysis").glob("*.py")), ids=lambda p: p.name)
def test_analysis_sees_numpy_arrays_only(path):
    bad = external_imports(path) & {"xarray", "dask", "distributed", "cf_xarray", "pandas"}
    assert not bad, f"analysis/{path.name} imports {sorted(bad)}; analysis/ is numpy in and out"


def test_reconstruct_never_imports_torch():
    bad = external_imports(SRC / "reconstruct.py") & {"torch", "safetensors"}
    assert not bad, f"reconstruct.py imports {sorted(bad)}"


def test_import_xdepthdif_imports_neither_torch_nor_distributed():
    code = (
        "import sys, xdepthdif; "
        "print(sorted({'torch', 'distributed', 'matplotlib'} & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]", f"import xdepthdif imported {out.stdout.strip()}"


def test_imports_point_downward_only():
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(_describe(c, graph) for c in found)


def test_no_module_imports_the_package_facade():
    graph = import_graph()
    bad = sorted(name for name, edges in graph.items() if PKG in edges and name != PKG)
    assert not bad, f"{bad} import xdepthdif/__init__.py; import the defining module instead"


def test_only_the_io_packages_use_the_network():
    bad = {}
    for name, path in modules().items():
        parts = name.split(".")
        if len(parts) > 1 and parts[1] in IO_PACKAGES:
            continue
        used = external_imports(path) & NETWORK
        if used:
            bad[name] = sorted(used)
    assert not bad, f"network libraries outside {IO_PACKAGES}: {bad}"


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_no_module_is_too_long(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{path.relative_to(ROOT)} has {n} lines (> {MAX_LINES}): split it"


def test_every_subpackage_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {n for n, p in modules().items() if p.name == "__init__.py"}
    assert on_disk <= listed, f"subpackages missing from pyproject.toml: {sorted(on_disk - listed)}"
    assert config["package-dir"]["xdepthdif.catalogs"] == "catalogs"
    assert sorted(p.name for p in (ROOT / "catalogs").glob("*.yaml"))


# --- the checker finds what it should -------------------------------------------------------


def test_the_checks_catch_a_cycle_a_facade_import_and_a_lazy_import(tmp_path):
    pkg = tmp_path / "xdepthdif"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from .top import f\n")
    (pkg / "top.py").write_text("from .sub.low import g\n\ndef f():\n    return g()\n")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "sub" / "low.py").write_text("def g():\n    from ..top import f  # lazy\n    return f\n")
    (pkg / "sub" / "face.py").write_text("from .. import f\n")
    graph = import_graph(pkg)
    assert graph["xdepthdif.sub.low"] == {"xdepthdif.top": 2}
    assert cycles(graph) == [["xdepthdif.sub.low", "xdepthdif.top"]]
    assert "xdepthdif" in graph["xdepthdif.sub.face"]
    assert "xdepthdif.sub" in graph["xdepthdif.top"]  # the subpackage's __init__ runs too
