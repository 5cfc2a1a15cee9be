"""The accessor shows what it calls: full signatures, docstrings, the methods users need."""

import inspect
import re

import numpy as np
import pytest
import xarray as xr
from conftest import make_profiles, make_target

import xdepthdif
from xdepthdif.errors import ProfileLayoutError


@pytest.mark.parametrize("name", ["reconstruct", "climatology", "regrid"])
def test_methods_have_the_signature_and_docs_of_the_functions(name):
    method = getattr(xr.Dataset().depthdif, name)
    function = getattr(xdepthdif, name)
    wanted = list(inspect.signature(function).parameters.values())
    if name == "regrid":  # the dataset is the regrid's target, its second argument
        wanted = [wanted[0], *wanted[2:]]
    elif name == "climatology":  # the dataset gives every axis
        wanted = []
    else:  # the dataset is the first argument
        wanted = wanted[1:]
    got = list(inspect.signature(method).parameters.values())
    assert [(p.name, p.kind, p.default) for p in got] == [
        (p.name, p.kind, p.default) for p in wanted
    ]
    doc = method.__doc__
    summary = inspect.getdoc(function).splitlines()[0].replace("``target``", "this dataset")
    assert summary in doc and f"xdepthdif.{name}" in doc
    for p in got:  # every option of the method is explained, the dataset itself is not
        assert re.search(rf"(?m)^(\*\*)?{p.name}\b", doc), p.name
    assert not re.search(r"(?m)^target\b", doc)
    # no entry for an argument the method does not take
    section = doc.split("Parameters\n----------\n")[1] if "Parameters\n" in doc else ""
    section = re.split(r"\n\S[^\n]*\n-{3,}\n", section)[0]
    entries = re.findall(r"(?m)^(?:\*\*)?(\w[\w, ]*?)(?: : [^\n]*)?$", section)
    assert {n.strip() for e in entries for n in e.split(",")} == {p.name for p in got}


def test_dir_lists_the_methods():
    public = [n for n in dir(xr.Dataset().depthdif) if not n.startswith("_")]
    assert public == ["climatology", "reconstruct", "regrid"]


def test_accessor_equals_the_functions():
    target = make_target()
    obs = make_profiles()
    via_accessor = target.depthdif.reconstruct(obs=obs, background="level_mean").compute()
    direct = xdepthdif.reconstruct(target, obs, background="level_mean").compute()
    for ds in (via_accessor, direct):
        del ds.attrs["history"]  # a timestamp
    xr.testing.assert_identical(via_accessor, direct)
    xr.testing.assert_identical(
        target.depthdif.climatology().compute(), xdepthdif.climatology(target).compute()
    )


def test_observations_as_a_data_array_get_a_typed_error():
    target = make_target()
    obs = make_profiles()
    with pytest.raises(ProfileLayoutError, match=r"not DataArray.*reader"):
        target.depthdif.reconstruct(obs=obs["thetao"])
    with pytest.raises(ProfileLayoutError, match="not ndarray"):
        target.depthdif.reconstruct(obs=np.zeros((3, 4)))
