"""``qxg terrain …`` and ``qxg map --dem`` on a DEM the tests build: outputs read back, bad input."""
from __future__ import annotations

import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely

from spatial import cli, raster, settings, terrain
from spatial.zonal import zonal_stats

from terrain_fixtures import district_dem, metric_grid, write_tif, X0, Y0


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    monkeypatch.delenv(raster.DEM_ENV, raising=False)


@pytest.fixture(scope="module")
def dem(tmp_path_factory):
    return district_dem(tmp_path_factory.mktemp("dem") / "合成 DEM.tif", res=250.0)


def run(capsys, *args):
    code = cli.main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_slope_aspect_hillshade_write_cogs(capsys, tmp_path, dem):
    for name, dtype, nodata in (("slope", "float32", -9999), ("aspect", "float32", -9999),
                                ("hillshade", "uint8", 0)):
        out = tmp_path / f"{name}.tif"
        code, stdout, err = run(capsys, "terrain", name, "--dem", dem, "--out", out)
        assert code == 0, err
        with rasterio.open(out) as ds:
            assert ds.crs.to_epsg() == 4544 and ds.dtypes[0] == dtype and ds.nodata == nodata
            assert ds.res == (250.0, 250.0)
            assert ds.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
            data = ds.read(1, masked=True)
        assert data.count() > 40_000
        if name == "slope":
            assert 0 <= data.min() and data.max() < 60
        if name == "aspect":
            assert 0 <= data.min() and data.max() < 360
    # the same answer as the library, cell for cell
    grid = raster.read_dem(dem)
    with rasterio.open(tmp_path / "slope.tif") as ds:
        written = ds.read(1, masked=True).filled(np.nan)
    np.testing.assert_allclose(written, terrain.slope(grid).clipped(), equal_nan=True)


def test_classes_per_township_add_up_and_polygons_are_valid(capsys, tmp_path, dem):
    out = tmp_path / "坡度 分级.gpkg"
    code, stdout, err = run(capsys, "terrain", "classes", "--dem", dem, "--out", out)
    assert code == 0, err
    assert "合计" in stdout and "Ⅴ级 >25°" in stdout
    layers = set(pyogrio.list_layers(out)[:, 0])
    assert {"slope_grades", "grade_polygons", "data_sources"} <= layers
    table = gpd.read_file(out, layer="slope_grades")
    towns = table[table["township"] != "合计"]
    grade_cols = [c for c in table.columns if c.endswith("(亩)")]
    assert np.allclose(towns[grade_cols].sum(axis=1), towns["area_mu"], rtol=1e-6)
    total = table[table["township"] == "合计"].iloc[0]
    assert total["area_mu"] == pytest.approx(towns["area_mu"].sum(), rel=1e-6)
    # the townships tile the district: their area with data is the boundary's (DEM covers it)
    boundary = gpd.read_file(settings.BUNDLED_LAYERS / "boundary.geojson").to_crs(4544)
    assert total["area_mu"] == pytest.approx(boundary.area.sum() / settings.M2_PER_MU, rel=0.005)
    polys = gpd.read_file(out, layer="grade_polygons")
    assert polys.is_valid.all() and sorted(polys["grade"]) == [1, 2, 3, 4, 5]
    assert polys.crs.to_epsg() == 4490
    # sieved polygons differ from the exact table only by the merged specks
    assert polys["area_mu"].sum() == pytest.approx(total["area_mu"], rel=0.01)


def test_rules_baqu_bands_zonal_run_and_write(capsys, tmp_path, dem):
    code, out, err = run(capsys, "terrain", "rules", "--dem", dem, "--out", tmp_path / "rules.xlsx")
    assert code == 0, err
    assert "退耕还林还草候选" in out and "basic_farmland" in out   # the caveat names the illustrative layer
    sheets = pd.read_excel(tmp_path / "rules.xlsx", sheet_name=None)
    assert {"耕地坡度_乡镇", "耕地坡度_图斑", "532产业区坡度", "数据来源"} <= set(sheets)

    code, out, err = run(capsys, "terrain", "baqu", "--dem", dem, "--out", tmp_path / "baqu.gpkg")
    assert code == 0, err
    cand = gpd.read_file(tmp_path / "baqu.gpkg", layer="baqu_candidates")
    assert len(cand) > 0 and cand.is_valid.all() and (cand["area_mu"] >= 500).all()
    assert "规划坝区" in out

    code, out, err = run(capsys, "terrain", "bands", "--dem", dem, "--breaks", "1300,1500",
                         "--out", tmp_path / "bands.csv")
    assert code == 0, err
    bands = pd.read_csv(tmp_path / "bands.csv")
    assert [c for c in bands.columns if c.endswith("(亩)")] == ["≤1300 m (亩)", "1300–1500 m (亩)", ">1500 m (亩)"]

    code, out, err = run(capsys, "terrain", "slope", "--dem", dem, "--out", tmp_path / "s.tif")
    code, out, err = run(capsys, "terrain", "zonal", "--raster", tmp_path / "s.tif", "--zones", "township_areas",
                         "--out", tmp_path / "zonal.xlsx")
    assert code == 0, err
    z = pd.read_excel(tmp_path / "zonal.xlsx", sheet_name="分区统计")
    assert len(z) == 41 and (z["min"] <= z["mean"]).all() and (z["mean"] <= z["max"]).all()


def test_demo_style_dem_folder_in_the_layers(capsys, tmp_path, dem, monkeypatch):
    # a planner's folder with a dem/ subfolder: no --dem needed
    (tmp_path / "county" / "dem").mkdir(parents=True)
    (tmp_path / "county" / "dem" / "tile.tif").write_bytes(dem.read_bytes())
    code, out, err = run(capsys, "--layers", tmp_path / "county", "terrain", "info")
    assert code == 0, err
    assert "elevations for 100.0%" in out
    monkeypatch.setenv(raster.DEM_ENV, str(dem))
    code, out, err = run(capsys, "terrain", "info")
    assert code == 0 and "合成 DEM.tif" in out


def test_bad_input_is_one_line_exit_2_and_nothing_written(capsys, tmp_path):
    transform, x, y = metric_grid(40, 30.0)
    cases = {
        "no_crs": write_tif(tmp_path / "nocrs.tif", 1500 + 0 * x, transform, crs=None),
        "small": write_tif(tmp_path / "small.tif", 1500 + 0.1 * (x - X0), transform),
        "rgb": write_tif(tmp_path / "rgb.tif", np.stack([x % 255] * 3), transform, dtype="uint8"),
    }
    messages = {"no_crs": "no coordinate system", "small": r"elevations for 0\.\d% of the district boundary",
                "rgb": "3 bands"}
    for name, path in cases.items():
        out = tmp_path / f"{name}_out.xlsx"
        code, stdout, err = run(capsys, "terrain", "classes", "--dem", path, "--out", out)
        assert code == 2, (name, err)
        lines = [ln for ln in err.splitlines() if ln.strip() and not re.match(r"^reading the DEM", ln)]
        assert len(lines) == 1 and re.search(messages[name], lines[0]), (name, err)
        assert path.name in lines[0]
        assert not out.exists()
    # --allow-partial goes on with what there is
    code, stdout, err = run(capsys, "terrain", "info", "--dem", cases["small"], "--allow-partial")
    assert code == 0, err
    code, _, err = run(capsys, "terrain", "slope", "--dem", tmp_path / "missing.tif", "--out", tmp_path / "s.tif")
    assert code == 2 and "does not exist" in err and not (tmp_path / "s.tif").exists()
    code, _, err = run(capsys, "terrain", "slope", "--dem", cases["small"], "--out", tmp_path / "s.png")
    assert code == 2 and ".tif" in err
    code, _, err = run(capsys, "terrain", "bands", "--dem", cases["small"], "--breaks", "a,b")
    assert code == 2 and "--breaks" in err
    points = tmp_path / "points.geojson"
    gpd.GeoDataFrame(geometry=[shapely.Point(105.3, 27.3)], crs=4490).to_file(points)
    code, _, err = run(capsys, "terrain", "rules", "--dem", cases["small"], "--cropland", points,
                       "--out", tmp_path / "r.xlsx")
    assert code == 2 and "no polygons" in err and not (tmp_path / "r.xlsx").exists()
    code, _, err = run(capsys, "terrain", "classes")
    assert code == 2 and "no DEM given" in err and "terrain fetch" in err


def test_existing_output_is_kept_without_overwrite(capsys, tmp_path, dem):
    out = tmp_path / "slope.tif"
    out.write_bytes(b"keep me")
    code, _, err = run(capsys, "terrain", "slope", "--dem", dem, "--out", out)
    assert code == 2 and "already exists" in err and out.read_bytes() == b"keep me"


def test_zonal_exact_fractions_equal_vector_areas_and_exactextract():
    from affine import Affine
    transform = Affine(30.0, 0, X0, 0, -30.0, Y0)
    values = np.random.default_rng(7).random((200, 200))
    rng = np.random.default_rng(3)
    centres = rng.uniform([X0 + 300, Y0 - 5700], [X0 + 5700, Y0 - 300], size=(60, 2))
    polys = [shapely.Point(c).buffer(r, quad_segs=8) for c, r in zip(centres, rng.uniform(20, 400, 60))]
    polys.append(shapely.box(X0 + 1000, Y0 - 2000, X0 + 1500, Y0 - 1000).difference(
        shapely.box(X0 + 1100, Y0 - 1900, X0 + 1200, Y0 - 1800)))              # a hole
    polys.append(shapely.MultiPolygon([shapely.box(X0 + 10, Y0 - 50, X0 + 25, Y0 - 20),
                                       shapely.box(X0 + 4000, Y0 - 100, X0 + 4033, Y0 - 17)]))
    stats = zonal_stats(values, transform, polys, percentiles=(50,))
    vector = shapely.area(np.array(polys, dtype=object))
    np.testing.assert_allclose(stats["area_m2"], vector, rtol=1e-9)
    # an independent exact-fraction reference
    import exactextract                                  # a test extra
    with rasterio.MemoryFile() as mem:
        with mem.open(driver="GTiff", width=200, height=200, count=1, dtype="float64", crs="EPSG:4544",
                      transform=transform) as ds:
            ds.write(values, 1)
        with mem.open() as ds:
            ref = exactextract.exact_extract(ds, gpd.GeoDataFrame(geometry=polys, crs=4544), ["mean", "count"],
                                             output="pandas")
    # exactextract keeps its cell fractions in single precision
    np.testing.assert_allclose(stats["mean"], ref["mean"], rtol=1e-7)
    np.testing.assert_allclose(stats["count"], ref["count"], rtol=1e-6)


def test_map_terrain_theme_and_hillshade_under_other_maps(capsys, tmp_path, dem):
    out = tmp_path / "maps"
    code, stdout, err = run(capsys, "map", "terrain", "overview", "--dem", dem, "--out", out)
    assert code == 0, err
    terrain_page = (out / "terrain.html").read_text("utf-8")
    assert terrain_page.count("data:image/png;base64,") >= 2        # hillshade and grades, inline
    assert (out / "terrain.html").stat().st_size < 5_000_000
    assert '"pane": "hillshade"' in (out / "overview.html").read_text("utf-8")
    assert not re.search(r"<(?:script|link|img)[^>]+(?:src|href)=[\"']?https?://", terrain_page)
    code, stdout, err = run(capsys, "map", "terrain", "--out", tmp_path / "m2")
    assert code == 2 and "需要 DEM" in err and "could be drawn" in err


def test_fetch_command_against_a_local_server(capsys, tmp_path, monkeypatch):
    # the download itself is covered by test_demfetch; here the command wires it to the boundary
    from spatial import demfetch
    seen = {}

    def fake_fetch(bounds, out_dir, base=None, progress=None, **kw):
        seen["bounds"], seen["dir"] = bounds, out_dir
        return demfetch.FetchReport(downloaded=["Copernicus_DSM_COG_10_N27_00_E105_00_DEM"], present=[],
                                    not_published=[], failed=[], paths=[out_dir / "x.tif"])
    monkeypatch.setattr(demfetch, "fetch_tiles", fake_fetch)
    code, out, err = run(capsys, "terrain", "fetch", "--out", tmp_path / "tiles")
    assert code == 0, err
    west, south, east, north = seen["bounds"]
    assert 104.7 < west < 104.9 and 105.9 < east < 106.1 and 26.9 < south < 27.1 and 27.7 < north < 27.9
    assert "qxg terrain classes --dem" in out
    assert demfetch.tiles_for_bounds(*seen["bounds"])[0][2] == "Copernicus_DSM_COG_10_N27_00_E104_00_DEM"


def test_zonal_area_and_partial_cover(capsys, tmp_path, dem):
    code, out, err = run(capsys, "terrain", "slope", "--dem", dem, "--out", tmp_path / "s.tif")
    assert code == 0, err
    # a raster of a corner of the district covers too little of the townships
    with rasterio.open(tmp_path / "s.tif") as ds:
        corner = ds.read(1)[:100, :100]
        write_tif(tmp_path / "corner.tif", corner, ds.transform, nodata=-9999)
    code, out, err = run(capsys, "terrain", "zonal", "--raster", tmp_path / "corner.tif", "--zones", "township_areas")
    assert code == 2 and "corner.tif" in err and "--allow-partial" in err
    code, out, err = run(capsys, "terrain", "zonal", "--raster", tmp_path / "corner.tif", "--zones", "township_areas",
                         "--allow-partial", "--out", tmp_path / "z.csv")
    assert code == 0, err
    # --area keeps only the parts of the zones inside it
    area = tmp_path / "area.geojson"
    towns = gpd.read_file(settings.BUNDLED_LAYERS / "township_areas.geojson")
    towns[towns["name"] == "朱昌镇"].to_file(area)
    code, out, err = run(capsys, "terrain", "zonal", "--raster", tmp_path / "s.tif", "--zones", "township_areas",
                         "--area", area, "--out", tmp_path / "zz.csv")
    assert code == 0, err
    z = pd.read_csv(tmp_path / "zz.csv")
    inside = z.loc[z["name"] == "朱昌镇", "area_mu"].iloc[0]
    assert inside == pytest.approx(z["area_mu"].sum(), rel=1e-3)       # neighbours keep only slivers


def test_rules_without_elevations_are_not_judged_and_outputs_are_checked_first(capsys, tmp_path, dem):
    # cropland in a large void: not 符合 but 无高程数据
    with rasterio.open(dem) as ds:
        z, t = ds.read(1), ds.transform
    z[100:200, 100:200] = -9999
    holed = write_tif(tmp_path / "holed.tif", z, t, nodata=-9999)
    x0, y0 = t * (150, 150)
    crop = gpd.GeoDataFrame({"DLBM": ["0103"]}, geometry=[shapely.Point(x0, y0).buffer(2000)], crs=4544)
    crop.to_crs(4490).to_file(tmp_path / "crop.gpkg")
    code, out, err = run(capsys, "terrain", "rules", "--dem", holed, "--cropland", tmp_path / "crop.gpkg",
                         "--allow-partial", "--out", tmp_path / "r.xlsx")
    assert code == 0, err
    assert "without elevations" in out
    feat = pd.read_excel(tmp_path / "r.xlsx", sheet_name="耕地坡度_图斑")
    assert feat["判定"].iloc[0] == "无高程数据：未判定"
    for args in (("terrain", "classes", "--dem", dem, "--out", tmp_path / "x.geojson"),
                 ("terrain", "slope", "--dem", dem, "--out", tmp_path),
                 ("terrain", "bands", "--dem", dem, "--breaks", "1400,1400"),
                 ("terrain", "bands", "--dem", dem, "--breaks", "nan"),
                 ("terrain", "slope", "--dem", tmp_path / "none.tif", "--out", tmp_path / "new" / "s.tif")):
        code, _, err = run(capsys, *args)
        assert code == 2, (args, err)
    assert not (tmp_path / "new").exists()
