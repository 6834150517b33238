"""``qxg parcels`` on a generated 20,000-parcel DLTB layer: the single-process path, the dask path
(a LocalCluster and a cluster by address) and an independent geopandas overlay give the same
areas; partitions never count a parcel twice; a killed run resumes to the same totals; slope
shares against exactextract and a tilted plane; the 532 zones; bad input."""
from __future__ import annotations

import importlib.util
import math
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely

from spatial import catalog, cli, landuse, parcels, settings, terrain
from terrain_fixtures import write_tif

ROOT = Path(__file__).resolve().parent.parent
MU = settings.M2_PER_MU


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)


def _make_parcels():
    spec = importlib.util.spec_from_file_location("make_parcels", ROOT / "scripts" / "make_parcels.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def dltb(tmp_path_factory) -> Path:
    return _make_parcels().write(20_000, tmp_path_factory.mktemp("dltb") / "三调 DLTB.gpkg", seed=3)


@pytest.fixture(scope="module")
def cat():
    return catalog.catalog()


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _sanqu_job(cat):
    return parcels.SanquJob(cat.load("township_areas"), {k: cat.load(k) for k in parcels.LINES})


@pytest.fixture(scope="module")
def reference(dltb, cat):
    """Areas per township × DLBM × line by geopandas overlay, written out here."""
    p = gpd.read_file(dltb).to_crs(settings.METRIC_CRS)
    p["dlbm"] = landuse.normalise(p["DLBM"]).to_numpy()
    towns = cat.load("township_areas").to_crs(settings.METRIC_CRS)[["name", "geometry"]]
    towns = towns.rename(columns={"name": "township"})
    pt = gpd.overlay(p[["dlbm", "geometry"]], towns, how="intersection", keep_geom_type=True)
    rows = [pt.assign(m2=pt.area).groupby(["township", "dlbm"])["m2"].sum().rename("total")]
    for lid in parcels.LINES:
        line = cat.load(lid).to_crs(settings.METRIC_CRS)[["geometry"]]
        pl = gpd.overlay(pt, line, how="intersection", keep_geom_type=True)
        rows.append(pl.assign(m2=pl.area).groupby(["township", "dlbm"])["m2"].sum().rename(lid))
    return pd.concat(rows, axis=1).fillna(0.0)


def _as_m2(table: pd.DataFrame) -> pd.DataFrame:
    t = table.set_index(["township", "dlbm"])
    return pd.DataFrame({"total": t["area_mu"] * MU, **{lid: t[f"{lid}_mu"] * MU for lid in parcels.LINES}})


@pytest.fixture(scope="module")
def single(dltb, cat):
    layer = parcels.open_layer(dltb)
    return parcels.run(_sanqu_job(cat), layer, parcels.plan(layer, 3_000))


def test_the_plan_puts_every_parcel_in_exactly_one_compact_partition(dltb):
    layer = parcels.open_layer(dltb)
    assert layer.layer == "DLTB" and layer.code_field == "DLBM" and layer.id_field == "BSM"
    p = parcels.plan(layer, 3_000)
    fids = np.concatenate(p.parts)
    assert len(fids) == layer.count and len(np.unique(fids)) == layer.count
    assert len(p) == math.ceil(layer.count / 3_000)
    # Hilbert partitions are compact: their boxes cover the district about once, not many times
    boxes = [shapely.box(*parcels.read_part(layer, part).total_bounds) for part in p.parts]
    district = shapely.area(shapely.union_all(boxes))
    assert sum(b.area for b in boxes) < 2.0 * district
    assert parcels.plan(layer, 3_000).digest == p.digest


def test_single_process_equals_an_independent_geopandas_overlay(single, reference, dltb):
    tables, info = single
    assert info.parcels == pyogrio.read_info(dltb)["features"] and info.mode == "single process"
    mine = _as_m2(tables["township_class"])
    ref = reference.reindex(mine.index).fillna(0.0)
    # (the overlay also returns slivers of under 1 m² where parcels touch a township's edge)
    assert set(reference.index[reference["total"] > 1.0]) <= set(mine.index)
    for col in ["total", *parcels.LINES]:
        big = ref[col] > 1000          # 0.01 % of a cell of at least 1,000 m²
        np.testing.assert_allclose(mine.loc[big, col], ref.loc[big, col], rtol=1e-4)
        assert abs(mine[col].sum() - ref[col].sum()) <= 1e-4 * max(ref[col].sum(), 1)
    # every row carries its own code's name and group
    names, groups = landuse.table()["name"], landuse.table()["group"]
    for key in ("township_class", "district_class"):
        t = tables[key]
        t = t[t["dlbm"] != "01"]
        assert (t["dlbm_name"].to_numpy() == names.loc[t["dlbm"]].to_numpy()).all(), key
        assert (t["dlbm_group"].to_numpy() == groups.loc[t["dlbm"]].to_numpy()).all(), key
    c = tables["conflicts"]
    assert (c["dlbm_name"].to_numpy() == names.loc[c["dlbm"]].to_numpy()).all()
    # the district table adds the townships up, and 耕地 is 0101 + 0102 + 0103
    d = tables["district_class"].set_index("dlbm")
    crop = mine[mine.index.get_level_values("dlbm").isin(["0101", "0102", "0103"])]["total"].sum()
    assert d.loc["01", "area_mu"] == pytest.approx(crop / MU, rel=1e-9)
    assert d.drop(index="01")["area_mu"].sum() == pytest.approx(mine["total"].sum() / MU, rel=1e-9)


def test_the_dask_path_equals_the_single_process_path(dltb, cat, single):
    layer = parcels.open_layer(dltb)
    tables, info = parcels.run(_sanqu_job(cat), layer, parcels.plan(layer, 2_000), workers=2)
    assert info.mode.startswith("dask LocalCluster, 2 worker")
    a, b = _as_m2(single[0]["township_class"]), _as_m2(tables["township_class"])
    pd.testing.assert_index_equal(a.index, b.index)
    np.testing.assert_allclose(b.to_numpy(), a.to_numpy(), rtol=1e-9, atol=1e-6)
    ca, cb = single[0]["conflicts"], tables["conflicts"]
    assert list(ca["bsm"]) == list(cb["bsm"]) and len(ca) > 0
    np.testing.assert_allclose(ca["overlap_m2"], cb["overlap_m2"], rtol=1e-9, atol=0.0101)   # m² to 2 decimals


def test_a_cluster_by_address(dltb, cat, single):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        layer = parcels.open_layer(dltb)
        tables, info = parcels.run(_sanqu_job(cat), layer, parcels.plan(layer, 5_000),
                                   scheduler=cluster.scheduler_address)
    assert info.mode.startswith(f"dask cluster {cluster.scheduler_address}")
    np.testing.assert_allclose(_as_m2(tables["township_class"]).to_numpy(),
                               _as_m2(single[0]["township_class"]).to_numpy(), rtol=1e-9, atol=1e-6)


def test_parcels_straddling_every_partition_border_count_once(tmp_path, cat):
    """Long strips cross the whole district: whatever the partitions, each is counted once."""
    towns = cat.load("township_areas").to_crs(settings.METRIC_CRS)
    minx, miny, maxx, maxy = towns.total_bounds
    strips = [shapely.box(minx, y, maxx, y + 700) for y in np.arange(miny, maxy, 700)]
    strips += [shapely.box(x, miny, x + 900, maxy) for x in np.arange(minx, maxx, 9000)]   # crosses, overlapping
    gdf = gpd.GeoDataFrame({"DLBM": ["0103"] * len(strips), "BSM": [str(i) for i in range(len(strips))]},
                           geometry=strips, crs=settings.METRIC_CRS)
    path = tmp_path / "strips.gpkg"
    gdf.to_file(path, layer="DLTB")
    layer = parcels.open_layer(path)
    district = shapely.union_all(towns.geometry.values)
    expected = float(shapely.area(shapely.intersection(np.array(strips), district)).sum())
    results = []
    for size in (1, 3, 7, len(strips)):
        tables, info = parcels.run(_sanqu_job(cat), layer, parcels.plan(layer, size))
        t = tables["township_class"]
        inside = t[t["township"] != parcels.OUTSIDE]["area_mu"].sum() * MU
        results.append(inside)
        assert inside == pytest.approx(expected, rel=1e-6)
        assert t["area_mu"].sum() * MU == pytest.approx(float(sum(s.area for s in strips)), rel=1e-6)
    assert max(results) - min(results) < 1e-3


def _done_partitions(path: Path) -> int:
    try:
        with sqlite3.connect(str(path), timeout=1) as db:
            return db.execute("SELECT count(*) FROM done").fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_killed_run_resumes_to_the_same_totals(dltb, tmp_path, single):
    out = tmp_path / "结果.gpkg"
    resume = out.with_name(out.name + ".qxg-resume")
    args = [sys.executable, "-m", "spatial.cli", "parcels", "sanqu", str(dltb), "--out", str(out),
            "--workers", "0", "--partition-size", "150"]
    env = {k: v for k, v in os.environ.items() if k != settings.LAYERS_ENV}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    deadline = time.time() + 120
    while time.time() < deadline and _done_partitions(resume) < 5 and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = _done_partitions(resume)
    assert 5 <= killed_at < math.ceil(20_000 / 150), "the run was not caught in the middle"
    assert not out.exists()
    done = subprocess.run(args, capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    resumed = int(done.stdout.split("resumed: ")[1].split()[0])
    assert resumed >= killed_at
    assert not resume.exists()
    t = gpd.read_file(out, layer="township_class")
    np.testing.assert_allclose(_as_m2(t).sort_index().to_numpy(),
                               _as_m2(single[0]["township_class"]).sort_index().to_numpy(), rtol=1e-6, atol=1e-3)


def test_a_resume_file_of_another_run_is_refused(dltb, tmp_path, capsys):
    out = tmp_path / "r.xlsx"
    resume = out.with_name(out.name + ".qxg-resume")
    with sqlite3.connect(str(resume)) as db:
        db.execute("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT)")
        db.execute("INSERT INTO meta VALUES ('key', 'something else')")
    code, _, err = run(capsys, "parcels", "sanqu", dltb, "--out", out, "--workers", "0")
    assert code == 2 and "belongs to another run" in err and "--restart" in err
    code, stdout, err = run(capsys, "parcels", "sanqu", dltb, "--out", out, "--workers", "0", "--restart")
    assert code == 0, err
    assert out.exists() and not resume.exists()


# --------------------------------------------------------------------------- slope
FOLD = 4000.0       # the 30° side folds into ridges and valleys every 4 km (elevations stay plausible)


def _kinked_dem(path: Path, xk: float, res: float = 50.0) -> Path:
    """West of x = xk, slopes of 30° folded into ridges and valleys every 4 km; east of it 3°."""
    minx, miny, maxx, maxy = 484_000.0, 2_991_000.0, 594_000.0, 3_077_000.0
    from affine import Affine
    cols, rows = int((maxx - minx) / res), int((maxy - miny) / res)
    x = minx + (np.arange(cols) + 0.5) * res

    def west(v):
        return 1000 + np.abs(((v - minx) % (2 * FOLD)) - FOLD) * math.tan(math.radians(30))

    z = np.where(x < xk, west(x), west(np.array([xk]))[0] + (x - xk) * math.tan(math.radians(3)))
    return write_tif(path, np.tile(z, (rows, 1)), Affine(res, 0, minx, 0, -res, maxy))


def _near_a_fold(bounds, xk, margin=150.0):
    minx = 484_000.0
    folds = minx + FOLD * np.arange(0, int((xk - minx) / FOLD) + 1)
    return np.array([((folds > b[0] - margin) & (folds < b[2] + margin)).any() for b in bounds])


def test_slope_shares_on_a_kinked_plane_and_against_exactextract(dltb, tmp_path, cat):
    xk = 540_000.0
    dem = _kinked_dem(tmp_path / "kink.tif", xk)
    layer = parcels.open_layer(dltb)
    grades = parcels.write_grades([dem], layer, tmp_path / "grades.tif")
    job = parcels.SlopeJob(grades, cat.load("township_areas"), terrain.grade_labels())
    tables, info = parcels.run(job, layer, parcels.plan(layer, 4_000))
    t = tables["parcel_slope"]
    p = gpd.read_file(dltb).to_crs(settings.METRIC_CRS)
    fids = pyogrio.read_dataframe(dltb, columns=[], fid_as_index=True).index.to_numpy()
    p.index = fids
    p = p.loc[t["fid"].to_numpy()]
    b = p.bounds
    west = (b["maxx"] < xk - 150).to_numpy() & ~_near_a_fold(b.to_numpy(), xk)
    east = (b["minx"] > xk + 150).to_numpy()
    assert (t["grade5_pct"].to_numpy()[west] == pytest.approx(100.0))
    assert (t["grade2_pct"].to_numpy()[east] == pytest.approx(100.0))
    # parcels across the kink: the share west of it, but for the cells whose 3×3 window holds the
    # kink (1.5 cells either side: their slope lies between)
    across = (b["maxx"] >= xk - 150).to_numpy() & ~east & ~_near_a_fold(b.to_numpy(), xk - 200)
    g = p.geometry.values[across]
    west_share = shapely.area(shapely.clip_by_rect(g, 0, 0, xk, 1e8)) / shapely.area(g)
    blurred = shapely.area(shapely.clip_by_rect(g, xk - 75, 0, xk + 75, 1e8)) / shapely.area(g)
    err = np.abs(t["grade5_pct"].to_numpy()[across] / 100 - west_share)
    assert across.sum() > 10 and (err <= blurred + 1e-9).all()
    # ≥ 25° cropland west of the kink is all of it
    crop = p["DLBM"].isin(["0101", "0102", "0103"]).to_numpy()
    assert t["ge25_mu"].to_numpy()[crop & west].sum() == pytest.approx(t["area_mu"].to_numpy()[crop & west].sum(),
                                                                        rel=1e-7)
    by = tables["cropland_ge25"]
    assert by.iloc[-1]["ge25_mu"] == pytest.approx(t["ge25_mu"].to_numpy()[crop].sum(), abs=0.01)

    # every share against exactextract's covered fractions on the same grade raster
    from exactextract import exact_extract
    sample = p.iloc[::97]
    ref = exact_extract(str(grades), sample.reset_index(drop=True), ["unique", "frac"], output="pandas")
    mine = t.set_index("fid").loc[sample.index]
    for i, (uniq, frac) in enumerate(zip(ref["unique"], ref["frac"])):
        shares = {int(u): f for u, f in zip(uniq, frac) if u > 0}
        total = sum(shares.values())
        for k in range(1, 6):
            assert mine.iloc[i][f"grade{k}_pct"] == pytest.approx(100 * shares.get(k, 0.0) / total, abs=5.1e-4)  # 3 decimals


# --------------------------------------------------------------------------- zones
def test_zones_against_a_geopandas_overlay(dltb, cat):
    layer = parcels.open_layer(dltb)
    zones = cat.load("agri_zones")
    tables, _ = parcels.run(parcels.ZonesJob(zones), layer, parcels.plan(layer, 5_000))
    z = tables["zone_land"]
    p = gpd.read_file(dltb).to_crs(settings.METRIC_CRS)
    zm = zones.to_crs(settings.METRIC_CRS)[["name", "geometry"]]
    ov = gpd.overlay(p[["DLBM", "geometry"]], zm, how="intersection", keep_geom_type=True)
    ov["m2"] = ov.area
    group = landuse.describe(ov["DLBM"])["dlbm_group"]
    crop = ov[group == "耕地"].groupby("name")["m2"].sum() / MU
    orchard = ov[group == "园地"].groupby("name")["m2"].sum() / MU
    for r in z.itertuples():
        assert r.cropland_mu == pytest.approx(crop.get(r.zone, 0.0), rel=1e-4, abs=0.01)
        assert r.garden_mu == pytest.approx(orchard.get(r.zone, 0.0), rel=1e-4, abs=0.01)
    t = tables["crop_targets"].set_index("crop")
    assert list(t.index) == ["刺梨", "茶叶", "蔬菜"] and t.loc["刺梨", "target_wanmu"] == 50.0
    veg = z[z["crop"] == "蔬菜"]["cropland_mu"].sum() / 1e4
    assert t.loc["蔬菜", "crop_land_wanmu"] == pytest.approx(veg, abs=1e-3)


# --------------------------------------------------------------------------- the commands
def test_the_three_commands_write_their_files(dltb, tmp_path, capsys):
    dem = _kinked_dem(tmp_path / "dem.tif", 540_000.0, res=250.0)
    for job, extra, out, layers in (
            ("sanqu", [], tmp_path / "三区三线.gdb", {"township_class", "district_class", "conflicts", "data_sources"}),
            ("slope", ["--dem", dem], tmp_path / "坡度.gpkg", {"parcel_slope", "cropland_ge25", "cropland_grades"}),
            ("zones", [], tmp_path / "片区.xlsx", None)):
        code, stdout, err = run(capsys, "parcels", job, dltb, "--out", out, "--workers", "0", *extra)
        assert code == 0, err
        assert f"wrote {out}" in stdout and "single process" in stdout
        if layers:
            assert layers <= set(pyogrio.list_layers(out)[:, 0])
        else:
            import openpyxl
            assert {"片区地类", "规划目标对比", "数据来源"} <= set(openpyxl.load_workbook(out).sheetnames)
        assert not list(tmp_path.glob("*.qxg-resume")) and not list(tmp_path.glob("*.slope-grades.tif"))
    c = gpd.read_file(tmp_path / "三区三线.gdb", layer="conflicts")
    assert len(c) and c.is_valid.all() and c.crs.to_epsg() == 4490


@pytest.mark.parametrize("case", ["missing", "no_code", "no_crs", "points", "suffix", "exists", "layer"])
def test_bad_input_is_one_line_and_nothing_written(case, tmp_path, capsys, dltb):
    src, out = dltb, tmp_path / "out.gpkg"
    extra = []
    if case == "missing":
        src = tmp_path / "没有.gpkg"
    elif case == "no_code":
        src = tmp_path / "nocode.gpkg"
        gpd.GeoDataFrame({"X": [1]}, geometry=[shapely.box(0, 0, 1, 1)], crs=4544).to_file(src)
    elif case == "no_crs":
        src = tmp_path / "nocrs.shp"
        gpd.GeoDataFrame({"DLBM": ["0101"]}, geometry=[shapely.box(0, 0, 1, 1)]).to_file(src)
    elif case == "points":
        src = tmp_path / "pts.gpkg"
        gpd.GeoDataFrame({"DLBM": ["0101"]}, geometry=[shapely.Point(0, 0)], crs=4544).to_file(src)
    elif case == "suffix":
        out = tmp_path / "out.shp"
    elif case == "exists":
        out.write_text("keep")
    elif case == "layer":
        extra = ["--layer", "不存在"]
    before = set(tmp_path.iterdir())
    code, stdout, err = run(capsys, "parcels", "sanqu", src, "--out", out, "--workers", "0", *extra)
    assert code == 2, (stdout, err)
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert set(tmp_path.iterdir()) == before
    if case == "exists":
        assert out.read_text() == "keep"


def test_python_m_spatial_cli_on_a_local_cluster(dltb, tmp_path, single):
    """The workers a LocalCluster spawns import the main module again (as __mp_main__)."""
    out = tmp_path / "m.gpkg"
    env = {k: v for k, v in os.environ.items() if k != settings.LAYERS_ENV}
    done = subprocess.run([sys.executable, "-m", "spatial.cli", "parcels", "sanqu", str(dltb), "--out", str(out),
                           "--workers", "2", "--partition-size", "6000"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert "dask LocalCluster, 2 worker(s)" in done.stdout
    t = gpd.read_file(out, layer="township_class")
    np.testing.assert_allclose(_as_m2(t).sort_index().to_numpy(),
                               _as_m2(single[0]["township_class"]).sort_index().to_numpy(), rtol=1e-6, atol=1e-3)


def test_the_same_parcels_from_a_filegdb_and_a_gbk_shapefile(dltb, tmp_path, cat, single):
    """Outside GeoPackage GDAL filters fids with SQL (at most 4,997 at once): partitions of 6,000."""
    src = gpd.read_file(dltb)
    gdb, shp = tmp_path / "县.gdb", tmp_path / "图斑.shp"
    src.to_file(gdb, layer="DLTB", driver="OpenFileGDB")
    src.to_file(shp, encoding="gbk")
    assert (tmp_path / "图斑.cpg").read_text().upper().startswith(("GBK", "CP936", "936"))
    want = _as_m2(single[0]["township_class"]).sort_index()
    for path in (gdb, shp):
        layer = parcels.open_layer(path)
        tables, info = parcels.run(_sanqu_job(cat), layer, parcels.plan(layer, 6_000))
        assert info.parcels == len(src)
        # (atol: the tables round 亩 to 4 decimals, 0.07 m², and a FileGDB snaps coordinates to its grid)
        np.testing.assert_allclose(_as_m2(tables["township_class"]).sort_index().to_numpy(), want.to_numpy(),
                                   rtol=1e-6, atol=0.2)
        names = set(tables["conflicts"]["dlbm_name"])
        assert names and names <= set(landuse.table()["name"])


def test_invalid_parcels_are_repaired_counted_and_said(tmp_path, cat, capsys):
    towns = cat.load("township_areas").to_crs(settings.METRIC_CRS)
    c = towns.geometry.iloc[0].representative_point()
    x, y = c.x, c.y
    bow = shapely.Polygon([(x, y), (x + 200, y + 200), (x + 200, y), (x, y + 200)])       # a bow tie
    ok = shapely.box(x + 300, y, x + 500, y + 200)
    path = tmp_path / "bad.gpkg"
    gpd.GeoDataFrame({"DLBM": ["0103", "0103"]}, geometry=[bow, ok], crs=settings.METRIC_CRS).to_file(path, layer="DLTB")
    layer = parcels.open_layer(path)
    for workers in (0, 1):
        tables, info = parcels.run(_sanqu_job(cat), layer, parcels.plan(layer), workers=workers)
        assert info.repaired == 1
        assert tables["township_class"]["area_mu"].sum() * MU == pytest.approx(
            shapely.make_valid(bow).area + ok.area, rel=1e-9)
    code, stdout, err = run(capsys, "parcels", "sanqu", path, "--out", tmp_path / "o.xlsx", "--workers", "0")
    assert code == 0 and "1 parcel(s) had invalid geometry" in err


# --------------------------------------------------------------------------- what the loader checks
def test_a_wrong_crs_is_repaired_like_the_loader_does(dltb, tmp_path, cat, capsys, single):
    """The numbers are CM 105E metres (EPSG:4544) without the zone prefix, the file says EPSG:4523."""
    src = gpd.read_file(dltb).set_crs(4523, allow_override=True)
    path = tmp_path / "wrong.gpkg"
    src.to_file(path, layer="DLTB")
    with pytest.warns(Warning, match="zone prefix"):
        layer = parcels.open_layer(path)
    tables, _ = parcels.run(_sanqu_job(cat), layer, parcels.plan(layer, 5_000))
    np.testing.assert_allclose(_as_m2(tables["township_class"]).sort_index().to_numpy(),
                               _as_m2(single[0]["township_class"]).sort_index().to_numpy(), rtol=1e-6, atol=0.2)


def test_parcels_far_outside_the_district_are_said(dltb, tmp_path, capsys):
    src = gpd.read_file(dltb).iloc[:500]
    src["geometry"] = src.translate(300_000, 0)
    path = tmp_path / "far.gpkg"
    src.to_file(path, layer="DLTB")
    code, stdout, err = run(capsys, "parcels", "zones", path, "--out", tmp_path / "z.xlsx", "--workers", "0")
    assert code == 0 and "500 of 500 parcel(s) lie more than 50 km outside 七星关区" in err


def test_a_gbk_shapefile_without_cpg_and_chinese_field_names(dltb, tmp_path, cat, single):
    src = gpd.read_file(dltb).rename(columns={"DLBM": "地类编码", "DLMC": "地类名称", "BSM": "标识码"})
    shp = tmp_path / "图斑.shp"
    src.to_file(shp, encoding="gbk")
    (tmp_path / "图斑.cpg").unlink()
    with pytest.warns(Warning, match="GBK"):
        layer = parcels.open_layer(shp)
    assert layer.code_field == "地类编码" and layer.id_field == "标识码"
    tables, _ = parcels.run(_sanqu_job(cat), layer, parcels.plan(layer, 8_000))
    np.testing.assert_allclose(_as_m2(tables["township_class"]).sort_index().to_numpy(),
                               _as_m2(single[0]["township_class"]).sort_index().to_numpy(), rtol=1e-6, atol=0.2)
    assert set(tables["conflicts"]["bsm"]) <= set(src["标识码"])


def test_unknown_and_missing_codes_are_listed(dltb, tmp_path, capsys):
    src = gpd.read_file(dltb).iloc[:2000].copy()
    src.loc[src.index[:51], "DLBM"] = "9999"
    src.loc[src.index[51:61], "DLBM"] = None
    src.loc[src.index[61:64], "DLBM"] = "8H2"            # 08H2 that lost its zero
    path = tmp_path / "codes.gpkg"
    src.to_file(path, layer="DLTB")
    out = tmp_path / "c.xlsx"
    code, stdout, err = run(capsys, "parcels", "sanqu", path, "--out", out, "--workers", "0")
    assert code == 0, err
    assert "61 parcel(s) have a land-use code not in layers/rules/dlbm.csv: 9999 (51), （空） (10)" in err
    notes = pd.read_excel(out, sheet_name="说明")["说明"].tolist()
    assert any("9999 (51)" in n for n in notes)
    t = pd.read_excel(out, sheet_name="乡镇地类", dtype={"地类编码": str})
    assert "08H2" in set(t["地类编码"]) and "8H2" not in set(t["地类编码"])


def test_the_output_may_not_be_the_input_and_bad_options_are_one_line(dltb, tmp_path, capsys):
    victim = tmp_path / "victim.gpkg"
    victim.write_bytes(dltb.read_bytes())
    for args, words in (([victim, "--out", victim, "--overwrite"], "is an input"),
                        ([dltb, "--out", tmp_path / "a.xlsx", "--scheduler", "localhost"], "with its port"),
                        ([dltb, "--out", tmp_path / "a.xlsx", "--memory-per-worker", "abc"], "a size such as"),
                        ([dltb, "--out", tmp_path / "a.xlsx", "--memory-per-worker", "1MB"], "at least 256MB"),
                        ([dltb, "--out", tmp_path / "a.xlsx", "--partition-size", "0"], "at least 1")):
        code, _, err = run(capsys, "parcels", "sanqu", *args, "--workers", "0")
        assert code == 2 and words in err and len(err.strip().splitlines()) == 1, (args, err)
    assert "DLTB" in set(pyogrio.list_layers(victim)[:, 0])
    # a folder that does not exist yet is made
    out = tmp_path / "新 文件夹" / "子" / "r.xlsx"
    code, _, err = run(capsys, "parcels", "zones", dltb, "--out", out, "--workers", "0")
    assert code == 0 and out.exists(), err


def test_relative_paths_reach_a_cluster_started_elsewhere(dltb, tmp_path, monkeypatch, capsys):
    from dask.distributed import LocalCluster

    _kinked_dem(tmp_path / "dem.tif", 540_000.0, res=500.0)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        work = tmp_path / "工作"
        work.mkdir()
        monkeypatch.chdir(work)
        rel = Path(os.path.relpath(dltb, work))
        code, stdout, err = run(capsys, "parcels", "slope", rel, "--dem", Path("..") / "dem.tif",
                                "--out", "坡度.xlsx", "--scheduler", cluster.scheduler_address)
    assert code == 0, err
    assert (work / "坡度.xlsx").exists() and not list(work.glob("*.slope-grades.tif"))
