"""``qxg access surface``, ``qxg access highway --method surface`` and ``qxg coverage health --method
surface`` on the bundled layers (flat walking, said so) and on a DEM the tests build: files read back,
times bounded by straight distance, the seats' minutes beside the network's, bad input."""
from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import rasterio

from spatial import catalog, raster, settings
from test_terrain_cli import clean_env, dem, run  # noqa: F401 - the same fixtures and runner

RES = 1000.0                # coarse cells keep the runs short; the unit tests check the search itself
WALK = 6.0 * math.exp(-3.5 * 0.05)          # Tobler's speed on level ground, km/h
FASTEST = 120.0             # no road of the bundled network is faster (km/h)


def _cells(path):
    with rasterio.open(path) as ds:
        data = ds.read(1, masked=True)
        transform, crs = ds.transform, ds.crs
        layout = ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT")
    rows, cols = np.nonzero(~np.ma.getmaskarray(data))
    xs, ys = rasterio.transform.xy(transform, rows, cols)
    return np.asarray(data[rows, cols], dtype=float), np.asarray(xs), np.asarray(ys), crs, layout, transform


def _facilities():
    fac = catalog.catalog().load("health_facilities").to_crs(settings.METRIC_CRS)
    return fac[fac.geom_type == "Point"]


@pytest.fixture(scope="module")
def flat_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flat")
    proc = subprocess.run([sys.executable, "-m", "spatial.cli", "access", "surface", "--to", "health_facilities",
                           "--resolution", str(RES), "--out", str(out / "分钟.tif"), "--nearest",
                           str(out / "nearest.tif"), "--polygons", str(out / "圈.gpkg")],
                          capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k not in (settings.LAYERS_ENV, raster.DEM_ENV)})
    return proc, out


def test_surface_on_the_bundled_layers_says_it_walks_on_level_ground(flat_run):
    proc, out = flat_run
    assert proc.returncode == 0, proc.stderr
    assert "no DEM: off-road walking on level ground at 5.04 km/h" in proc.stdout
    assert "expressways and ramps seed none" in proc.stdout
    assert "所用图层含近似或示意数据" in proc.stdout
    for name in ("分钟.tif", "nearest.tif", "圈.gpkg"):
        assert (out / name).exists() and f"wrote {out / name}" in proc.stdout


def test_the_minutes_lie_between_the_fastest_road_and_walking_straight(flat_run):
    """Each cell is no nearer in time than the straight line at the fastest road speed, and no farther
    than walking the straight line (16 moves: 2.75 % longer at worst, half a cell at each end)."""
    _, out = flat_run
    minutes, xs, ys, crs, layout, _ = _cells(out / "分钟.tif")
    assert crs.to_epsg() == 4544 and layout == "COG"
    fac = _facilities()
    fx, fy = fac.geometry.x.to_numpy(), fac.geometry.y.to_numpy()
    d = np.hypot(xs[:, None] - fx[None, :], ys[:, None] - fy[None, :]).min(axis=1)
    assert np.isfinite(minutes).all() and len(minutes) > 2000
    # a facility's cell is 0 minutes though its centre may lie half a diagonal from the facility
    assert (minutes >= (d - RES / math.sqrt(2)) / (FASTEST * 1000 / 60) - 1e-6).all()
    walk = (d * 1.0275 + RES) / (WALK * 1000 / 60)
    assert (minutes <= walk + 1e-6).all()
    # and the roads matter: most cells are reached well before walking would get there
    assert np.median(minutes / walk) < 0.8


def test_the_nearest_raster_and_the_catchments_agree(flat_run):
    _, out = flat_run
    labels, xs, ys, *_ = _cells(out / "nearest.tif")
    minutes, mxs, mys, *_ = _cells(out / "分钟.tif")
    assert np.allclose(xs, mxs) and np.allclose(ys, mys)
    labels = labels.astype(int)
    fac = _facilities()
    assert labels.min() >= 0 and labels.max() < len(fac)
    # each facility's own cell is its own, at 0 minutes
    own = rasterio.open(out / "nearest.tif")
    for i, p in enumerate(fac.geometry):
        (label,) = next(own.sample([(p.x, p.y)]))
        if label >= 0:
            assert label == i
    own.close()
    layers = set(pyogrio.list_layers(out / "圈.gpkg")[:, 0])
    assert {"catchments", "isochrones", "coverage", "notes", "data_sources"} <= layers
    catch = gpd.read_file(out / "圈.gpkg", layer="catchments")
    assert catch.is_valid.all() and catch.crs.to_epsg() == 4490
    assert len(catch) == len(np.unique(labels)) and catch["target_index"].is_unique
    cell_km2 = RES * RES / 1e6
    polygon_km2 = catch.to_crs(settings.METRIC_CRS).area.to_numpy() / 1e6
    for r, km2 in zip(catch.itertuples(), polygon_km2):
        mine = labels == r.target_index
        assert km2 == pytest.approx(mine.sum() * cell_km2, rel=1e-6)
        assert r.area_km2 == pytest.approx(mine.sum() * cell_km2, abs=1e-3)
        assert r.mean_minutes == pytest.approx(minutes[mine].mean(), abs=0.01)
        assert r.target == fac["name"].iloc[r.target_index]


def test_the_isochrones_are_the_coverage_table(flat_run):
    _, out = flat_run
    minutes, *_ = _cells(out / "分钟.tif")
    iso = gpd.read_file(out / "圈.gpkg", layer="isochrones").to_crs(settings.METRIC_CRS)
    assert iso.is_valid.all()
    cov = gpd.read_file(out / "圈.gpkg", layer="coverage")
    total = cov.iloc[-1]
    for band in (15, 30, 60):
        share = float((minutes <= band).mean() * 100)
        assert total[f"area_within_{band}min_pct"] == pytest.approx(share, abs=0.05)
    # each band's polygon is its cells, and the bands are nested
    iso = iso.sort_values("minutes")
    for r, km2 in zip(iso.itertuples(), iso.area.to_numpy() / 1e6):
        assert km2 == pytest.approx((minutes <= r.minutes).sum() * RES * RES / 1e6, rel=1e-6)
    geoms = iso.geometry.to_list()
    assert all(outer.buffer(1).contains(inner) for inner, outer in zip(geoms, geoms[1:]))


def test_a_test_built_dem_gives_sloped_walking(capsys, tmp_path, dem, flat_run):
    _, flat_out = flat_run
    out = tmp_path / "dem.tif"
    code, stdout, err = run(capsys, "access", "surface", "--to", "health_facilities", "--resolution", RES,
                            "--dem", dem, "--out", out)
    assert code == 0, err
    assert "Tobler's hiking function" in stdout and "no DEM" not in stdout
    sloped, xs, ys, *_ = _cells(out)
    flat, fxs, fys, *_ = _cells(flat_out / "分钟.tif")
    assert len(sloped) == len(flat) and np.allclose(xs, fxs) and np.allclose(ys, fys)
    fac = _facilities()
    d = np.hypot(xs[:, None] - fac.geometry.x.to_numpy()[None, :],
                 ys[:, None] - fac.geometry.y.to_numpy()[None, :]).min(axis=1)
    # Tobler never walks faster than 6 km/h, and no road is faster than FASTEST
    assert (sloped >= (d - RES / math.sqrt(2)) / (FASTEST * 1000 / 60) - 1e-6).all()
    changed = np.abs(sloped - flat) > 0.01
    assert changed.mean() > 0.3
    # on roads nothing changes: the cells the network seeds keep their times
    assert (np.abs(sloped - flat) < 1e-6).sum() > 0


def test_highway_by_surface_beside_the_network(capsys):
    code, stdout, err = run(capsys, "access", "highway", "--method", "surface", "--resolution", RES)
    assert code == 0, err
    assert "栅格法对比" in stdout
    # the network figure is the KPI the command prints above it: the same 乡镇, the same count
    kpi = re.search(r"乡镇30分钟上高速比例（现状）: ([\d.]+) % \((\d+)/(\d+)\)", stdout)
    both = re.search(r"乡镇30分钟上高速比例（现状）: 路网法 ([\d.]+) % \((\d+)/(\d+)\), 栅格法 [\d.]+ % \(\d+/(\d+)\)",
                     stdout)
    assert kpi and both and kpi.groups() == both.groups()[:3] and both.group(4) == kpi.group(3)
    m = re.search(r"within 30 min: network ([\d.]+) %, surface ([\d.]+) % of all 41 seats \(街道 included\); "
                  r"surface − network: "
                  r"median (-?[\d.]+), largest ([\d.]+) min", stdout)
    assert m, stdout
    # a seat beside its road: the surface reads the seat's cell, so the two agree within a few cells' walk
    assert float(m.group(4)) < RES / (WALK * 1000 / 60)
    assert "no DEM: off-road walking on level ground" in stdout


def test_health_circles_by_surface(capsys, tmp_path):
    out = tmp_path / "circles.gpkg"
    code, stdout, err = run(capsys, "coverage", "health", "--method", "surface", "--resolution", RES,
                            "--out", out)
    assert code == 0, err
    assert f"method surface, {RES:g} m cells" in stdout
    circles = gpd.read_file(out, layer="circles")
    assert circles.is_valid.all() and len(circles) > 0
    assert set(circles["setting"]) <= {"urban", "rural"}
    cov = gpd.read_file(out, layer="coverage")
    assert ((cov["covered_pct"] >= 0) & (cov["covered_pct"] <= 100.0001)).all()
    gaps = gpd.read_file(out, layer="gaps")
    assert len(gaps) and gaps.is_valid.all()


@pytest.mark.parametrize("args, words", [
    (["--out", "t.png"], ".tif"),
    (["--polygons", "p.shp"], ".gpkg"),
    (["--to", "没有这个图层"], "没有这个图层"),
    (["--bands", "15,abc"], "bands"),
    (["--dem", "missing.tif"], "missing.tif"),
    (["--out", "same.tif", "--nearest", "same.tif"], "different files"),
    (["--population-field", "area_km2", "--capacity-field", "name"], "holds no numbers"),
])
def test_bad_input_is_one_line_and_nothing_written(capsys, tmp_path, args, words):
    args = [a if not a.endswith((".png", ".shp", ".tif")) or a == "missing.tif" else str(tmp_path / a) for a in args]
    full = ["access", "surface", "--resolution", RES] + (["--to", "health_facilities"] if "--to" not in args else []) + args
    code, stdout, err = run(capsys, *full)
    assert code == 2, (stdout, err)
    assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_an_existing_output_is_kept_without_overwrite(capsys, tmp_path):
    out = tmp_path / "t.tif"
    out.write_bytes(b"keep")
    code, _, err = run(capsys, "access", "surface", "--to", "health_facilities", "--resolution", RES,
                       "--out", out)
    assert code == 2 and "overwrite" in err
    assert out.read_bytes() == b"keep"


def test_the_excel_tables_hold_the_catchments(capsys, tmp_path):
    out = tmp_path / "圈.xlsx"
    code, stdout, err = run(capsys, "access", "surface", "--to", "health_facilities", "--resolution", RES,
                            "--polygons", out)
    assert code == 0, err
    import openpyxl
    sheets = openpyxl.load_workbook(out).sheetnames
    assert {"服务范围", "覆盖", "说明", "数据来源"} <= set(sheets)
    import pandas as pd
    c = pd.read_excel(out, sheet_name="服务范围")
    assert len(c) > 20 and c.iloc[:, 0].notna().all()
