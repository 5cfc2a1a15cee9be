"""EN4: round trips in both netCDF flavours, many files, each QC reason, raw format checks."""

import netCDF4
import numpy as np
import pytest
import xarray as xr

from xdepthdif.errors import FileFormatError, InputError, RejectedDataWarning
from xdepthdif.obs import (
    en4_filename,
    read_en4,
    tally,
    validate_profiles,
    write_en4,
    write_en4_months,
)


def make(n=6, n_lev=5, seed=0, month="2010-01"):
    rng = np.random.default_rng(seed)
    depth = np.sort(rng.uniform(1, 1500, (n, n_lev)), axis=1)
    theta = 25 * np.exp(-depth / 500) + 2 + rng.normal(0, 0.1, depth.shape)
    depth[0, -2:] = theta[0, -2:] = np.nan  # a shorter profile
    start = np.datetime64(f"{month}-01T00:00:00", "ns")
    time = start + (rng.integers(0, 27 * 86400, n) * np.timedelta64(1, "s"))
    ds = xr.Dataset(
        {"thetao": (("profile", "level"), theta, {"units": "degC"})},
        coords={
            "depth": (("profile", "level"), depth, {"units": "m", "positive": "down"}),
            "time": ("profile", time),
            "lat": ("profile", rng.uniform(-60, 60, n)),
            "lon": ("profile", rng.uniform(-180, 180, n)),
            "platform": ("profile", [f"{6900000 + i}" for i in range(n)]),
        },
    )
    return validate_profiles(ds)


def check_invariant(ds):
    t = tally(ds)
    assert t["profiles_read"] == t["profiles_used"] + sum(
        v for k, v in t.items() if k.startswith("rejected_")
    )
    assert t["profiles_used"] == ds.sizes["profile"]
    return t


def assert_same(a, b):
    assert a.sizes == b.sizes
    np.testing.assert_allclose(a.thetao.values, b.thetao.values, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a.depth.values, b.depth.values, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(a.lat.values, b.lat.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.lon.values, b.lon.values, rtol=0, atol=1e-12)
    dt = np.abs((a.time.values - b.time.values) / np.timedelta64(1, "us"))
    assert dt.max() < 1000


@pytest.mark.parametrize("fmt", ["NETCDF4", "NETCDF3_CLASSIC"])
@pytest.mark.parametrize("n_levels", [None, 400])
def test_round_trip(tmp_path, fmt, n_levels):
    prof = make()
    path = write_en4(tmp_path / en4_filename(2010, 1), prof, format=fmt, n_levels=n_levels)
    back = read_en4(path)
    assert_same(prof, back)
    assert back.platform.values.tolist() == prof.platform.values.tolist()
    assert check_invariant(back) == {
        "profiles_read": 6,
        "profiles_used": 6,
        **{k: 0 for k in tally(back) if k not in ("profiles_read", "profiles_used")},
    }
    with netCDF4.Dataset(path) as nc:
        assert nc.data_model == fmt


def test_raw_file_has_the_en4_structure(tmp_path):
    path = write_en4(tmp_path / "f.nc", make(), n_levels=400)
    with netCDF4.Dataset(path) as nc:
        assert nc.dimensions["N_PROF"].size == 6 and nc.dimensions["N_LEVELS"].size == 400
        assert nc.dimensions["DATE_TIME"].size == 14 and nc.dimensions["N_HISTORY"].isunlimited()
        for name in ("DEPH_CORRECTED", "POTM_CORRECTED", "TEMP", "PSAL_CORRECTED"):
            assert nc[name].dtype == np.float32 and nc[name].dimensions == ("N_PROF", "N_LEVELS")
            assert nc[name]._FillValue == np.float32(99999)
        for name in ("JULD", "LATITUDE", "LONGITUDE"):
            assert nc[name].dtype == np.float64 and nc[name]._FillValue == 99999.0
        for name in ("QC_FLAGS_PROFILES", "QC_FLAGS_LEVELS"):
            assert nc[name].dtype == np.int32
        assert nc["JULD"].units == "days since 1950-01-01 00:00:00 utc"
        assert nc["PLATFORM_NUMBER"].dimensions == ("N_PROF", "STRING8")
        ref = netCDF4.chartostring(nc["REFERENCE_DATE_TIME"][:])
        assert str(ref) == "19500101000000"
        nc.set_auto_mask(False)
        assert nc["POTM_CORRECTED"][0, 3] == np.float32(99999)  # storage beyond the data
    raw = xr.open_dataset(path, decode_times=False)
    for name in ("POSITION_QC", "PROFILE_POTM_QC", "POTM_CORRECTED_QC", "JULD_QC"):
        assert raw[name].dtype == np.dtype("S1"), name
    assert raw["POTM_CORRECTED_QC"].dims == ("N_PROF", "N_LEVELS")
    assert raw["POTM_CORRECTED_QC"].values[1, 0] == b"1"
    assert raw["PLATFORM_NUMBER"].dtype == np.dtype("S8")
    raw.close()


def test_many_files_glob_and_list(tmp_path):
    months = [make(seed=i, month=f"2010-{i + 1:02d}") for i in range(3)]
    for i, prof in enumerate(months):
        write_en4(
            tmp_path / en4_filename(2010, i + 1),
            prof,
            format="NETCDF3_CLASSIC" if i % 2 else "NETCDF4",
            n_levels=5 + i,
        )
    by_glob = read_en4(str(tmp_path / "EN.4.2.2.f.profiles.g10.2010*.nc"))
    by_list = read_en4(sorted(tmp_path.glob("*.nc")))
    assert by_glob.sizes["profile"] == 18 and check_invariant(by_glob)["profiles_read"] == 18
    np.testing.assert_array_equal(by_glob.thetao.values, by_list.thetao.values)
    assert by_glob.attrs["source_files"].count("EN.4.2.2") == 3


def test_write_en4_months_splits_by_calendar_month(tmp_path):
    prof = xr.concat([make(seed=1, month="2011-11"), make(seed=2, month="2011-12")], "profile")
    paths = write_en4_months(prof, tmp_path)
    assert [p.name for p in paths] == [en4_filename(2011, 11), en4_filename(2011, 12)]
    assert read_en4(paths[1]).sizes["profile"] == 6


def test_each_qc_reason_rejects_exactly_the_injected_profiles_and_levels(tmp_path):
    n, n_lev = 8, 5
    prof = make(n=n, n_lev=n_lev)
    good = np.full(n, b"1")
    pos = good.copy()
    pos[[1, 2]] = b"4"
    potm = good.copy()
    potm[[2, 3]] = b"4"  # profile 2 counts once, under position_qc
    flags = np.zeros(n, int)
    flags[4] = 1 | 1 << 8  # bit 0 (temperature rejected) + a reason bit
    flags[5] = 2  # bit 1 only: salinity, not temperature
    lvl_qc = np.full((n, n_lev), b"1")
    lvl_qc[6, 0] = b"4"
    lvl_bits = np.zeros((n, n_lev), int)
    lvl_bits[6, 0] = 1  # same level: counted once, under potm_qc
    lvl_bits[7, [1, 2]] = 1
    lvl_bits[7, 3] = 4  # bit 2 only: no rejection
    qc = {
        "POSITION_QC": pos,
        "PROFILE_POTM_QC": potm,
        "QC_FLAGS_PROFILES": flags,
        "POTM_CORRECTED_QC": lvl_qc,
        "QC_FLAGS_LEVELS": lvl_bits,
    }
    out = read_en4(write_en4(tmp_path / "qc.nc", prof, qc=qc, n_levels=400))
    t = check_invariant(out)
    assert t["rejected_position_qc"] == 2 and t["rejected_profile_potm_qc"] == 1
    assert t["rejected_qc_flags_profiles"] == 1 and t["profiles_used"] == 4
    assert t["levels_rejected_potm_qc"] == 1 and t["levels_rejected_qc_flags_levels"] == 2
    assert out.platform.values.tolist() == ["6900000", "6900005", "6900006", "6900007"]
    kept = prof.isel(profile=[0, 5, 6, 7])
    np.testing.assert_allclose(out.thetao.values[1], kept.thetao.values[1], rtol=1e-6)
    assert np.isnan(out.thetao.values[2, 0]) and np.isfinite(out.thetao.values[2, 1:]).all()
    assert np.isnan(out.thetao.values[3, 1:3]).all() and np.isfinite(out.thetao.values[3, 3])


def test_fill_values_and_missing_positions_times(tmp_path):
    prof = make(n=4)
    theta = prof.thetao.values.copy()
    theta[1, 1] = np.nan  # depth kept, temperature missing: POTM written as 99999
    prof = prof.copy(data={"thetao": theta})
    prof["lat"] = ("profile", [np.nan, 1.0, 2.0, 3.0])
    prof["time"] = ("profile", prof.time.values.copy())
    prof.time.values[3] = np.datetime64("NaT")
    path = write_en4(tmp_path / "fill.nc", prof)
    with netCDF4.Dataset(path) as nc:
        nc.set_auto_mask(False)
        assert nc["POTM_CORRECTED"][1, 1] == np.float32(99999)
        assert nc["LATITUDE"][0] == 99999.0 and nc["JULD"][3] == 99999.0
    with pytest.warns(RejectedDataWarning, match=r"1 have a position.*1 have no time"):
        out = read_en4(path)
    t = check_invariant(out)
    assert t["rejected_bad_position"] == 1 and t["rejected_bad_time"] == 1  # not 1950-01-01
    assert t["levels_rejected_fill_or_nonfinite"] == 1 and out.sizes["profile"] == 2


def test_temp_is_in_situ_from_gsw_and_salinity_is_used_when_given(tmp_path):
    import gsw

    prof = make(n=2)
    prof["so"] = (("profile", "level"), np.full(prof.thetao.shape, 34.0))
    with netCDF4.Dataset(write_en4(tmp_path / "s.nc", prof)) as nc:
        temp, potm = float(nc["TEMP"][1, -1]), float(nc["POTM_CORRECTED"][1, -1])
        psal = float(nc["PSAL_CORRECTED"][1, -1])
    p = gsw.p_from_z(-prof.depth.values[1, -1], prof.lat.values[1])
    sa = gsw.SA_from_SP(34.0, p, prof.lon.values[1], prof.lat.values[1])
    assert abs(float(gsw.pt0_from_t(sa, temp, p)) - potm) < 1e-3
    assert temp > potm and psal == 34.0


def test_bad_paths_and_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="no file matches"):
        read_en4(str(tmp_path / "*.nc"))
    with pytest.raises(InputError, match="does not exist"):
        read_en4(tmp_path / "missing.nc")
    (tmp_path / "junk.nc").write_bytes(b"not netcdf")
    with pytest.raises(FileFormatError):
        read_en4(tmp_path / "junk.nc")
    xr.Dataset({"x": ("N_PROF", [1.0])}).to_netcdf(tmp_path / "other.nc")
    with pytest.raises(FileFormatError, match="POTM_CORRECTED"):
        read_en4(tmp_path / "other.nc")
    with pytest.raises(InputError, match="n_levels"):
        write_en4(tmp_path / "x.nc", make(), n_levels=2)
    with pytest.raises(InputError, match="qc has"):
        write_en4(tmp_path / "x.nc", make(), qc={"NOT_A_FLAG": np.zeros(6)})


def rewrite(src, dst, edit):
    """Copy an EN4 file with ``edit(raw)`` applied to its undecoded variables."""
    with xr.open_dataset(src, decode_times=False, mask_and_scale=False) as raw:
        raw = edit(raw.load())
    raw.to_netcdf(dst)
    return dst


def test_the_same_file_read_twice_is_counted_once(tmp_path):
    path = write_en4(tmp_path / en4_filename(2010, 1), make(n=4))
    with pytest.warns(RejectedDataWarning, match=r"4 profile\(s\) repeat.*read twice"):
        out = read_en4([str(tmp_path / "EN.4.2.2.f.profiles.g10.2010*.nc"), path])
    t = check_invariant(out)
    assert out.sizes["profile"] == 4
    assert (t["profiles_read"], t["profiles_used"], t["rejected_duplicate"]) == (8, 4, 4)
    assert_same(out, read_en4(path))


def test_units_attributes_of_the_file_are_applied(tmp_path):
    prof = make(n=3)
    path = write_en4(tmp_path / "m.nc", prof, n_levels=8)

    def to_cm_and_kelvin(raw):
        fill = raw.POTM_CORRECTED.values == np.float32(99999)
        raw["DEPH_CORRECTED"] = (raw.DEPH_CORRECTED * 100).where(~fill, 99999.0)
        raw["DEPH_CORRECTED"].attrs.update(units="cm", valid_max=1.2e6, _FillValue=99999.0)
        raw["POTM_CORRECTED"] = (raw.POTM_CORRECTED + 273.15).where(~fill, 99999.0)
        raw["POTM_CORRECTED"].attrs.update(units="K", _FillValue=99999.0)
        return raw

    out = read_en4(rewrite(path, tmp_path / "cm_k.nc", to_cm_and_kelvin))
    np.testing.assert_allclose(out.depth.values, prof.depth.values, rtol=1e-5)
    np.testing.assert_allclose(out.thetao.values, prof.thetao.values, atol=1e-4)
    assert check_invariant(out)["levels_rejected_fill_or_nonfinite"] == 0


@pytest.mark.parametrize("n_levels", [5, 7])  # N_PROF == N_LEVELS == 5, and not
def test_levels_stored_as_n_levels_by_n_prof_are_read_by_dimension_name(tmp_path, n_levels):
    prof = make(n=5)
    path = write_en4(tmp_path / "a.nc", prof, n_levels=n_levels)

    def transpose(raw):
        for name in list(raw.data_vars):
            if raw[name].dims == ("N_PROF", "N_LEVELS"):
                raw[name] = raw[name].transpose("N_LEVELS", "N_PROF")
        return raw

    out = read_en4(rewrite(path, tmp_path / "t.nc", transpose))
    assert_same(prof, out)


def test_levels_with_unknown_dims_are_a_file_format_error(tmp_path):
    path = write_en4(tmp_path / "a.nc", make(n=3), n_levels=6)

    def rename(raw):
        potm = raw["POTM_CORRECTED"].rename(N_LEVELS="DEPTH")
        return raw.drop_vars("POTM_CORRECTED").assign(POTM_CORRECTED=potm)

    with pytest.raises(FileFormatError, match=r"POTM_CORRECTED has dims \('N_PROF', 'DEPTH'\)"):
        read_en4(rewrite(path, tmp_path / "r.nc", rename))


def test_juld_99999_without_fill_value_is_a_missing_time(tmp_path):
    path = write_en4(tmp_path / "a.nc", make(n=3))

    def no_fill_value(raw):
        raw["JULD"].values[1] = 99999.0
        raw["JULD"].attrs.pop("_FillValue")
        raw["JULD"].encoding["_FillValue"] = None
        return raw

    dst = rewrite(path, tmp_path / "nofill.nc", no_fill_value)
    with netCDF4.Dataset(dst) as nc:
        assert "_FillValue" not in nc["JULD"].ncattrs()
    with pytest.warns(RejectedDataWarning, match=r"1 have no time"):
        out = read_en4(dst)
    t = check_invariant(out)
    assert t["rejected_bad_time"] == 1 and out.sizes["profile"] == 2
    assert out.time.values.max() < np.datetime64("2011-01-01")
