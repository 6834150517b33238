"""Terrain: slope/aspect/hillshade against analytic surfaces and gdaldem, DEM input, rules."""
from __future__ import annotations

import math
import shutil
import subprocess
import zipfile

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from pyproj import Transformer

from spatial import raster, settings, terrain
from spatial.errors import InputError

from terrain_fixtures import (X0, Y0, area_box, geographic_plane_tif, metric_grid, plane_tif, write_hgt,
                              write_tif)

GDALDEM = shutil.which("gdaldem")


def interior(a: np.ndarray, k: int = 2) -> np.ndarray:
    return a[k:-k, k:-k]


def read(path, **kw) -> raster.Grid:
    kw.setdefault("area", area_box(margin=0.0))
    return raster.read_dem(path, **kw)


# --------------------------------------------------------------------------- analytic slopes
@pytest.mark.parametrize("theta", [2, 10, 25, 40])
def test_slope_of_inclined_planes_in_gauss_kruger(tmp_path, theta):
    grid = read(plane_tif(tmp_path / "p.tif", theta))
    s = interior(terrain.slope(grid).data)
    s = s[~np.isnan(s)]
    assert s.size > 10_000
    assert np.abs(s - theta).max() < 0.05


@pytest.mark.parametrize("theta", [2, 10, 25, 40])
def test_slope_of_a_geographic_dem_is_measured_in_metres(tmp_path, theta):
    # the same plane sampled on a 1″ lon/lat grid: treated as degrees it would be wildly off
    path = geographic_plane_tif(tmp_path / "geo.tif", theta)
    grid = raster.read_dem(path, area=area_box(margin=300.0, n=140, res=30.0))
    assert grid.crs.to_epsg() == 4544
    assert 25 <= grid.res[0] <= 35
    s = interior(terrain.slope(grid).data, 3)
    s = s[~np.isnan(s) & interior(grid.inside, 3)]
    assert s.size > 1000
    assert np.abs(s - theta).max() < 0.05


@pytest.mark.parametrize("facing", [0, 45, 90, 135, 180, 225, 270, 315])
def test_aspect_of_planes_facing_eight_directions(tmp_path, facing):
    grid = read(plane_tif(tmp_path / "p.tif", 20, facing_deg=facing))
    a = interior(terrain.aspect(grid).data)
    a = a[~np.isnan(a)]
    diff = np.abs((a - facing + 180) % 360 - 180)
    assert diff.max() < 0.01


def _centres(grid):
    rows, cols = grid.shape
    jj, ii = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
    x, y = grid.transform * (jj, ii)
    return np.asarray(x), np.asarray(y)


def test_slope_of_a_cone_and_a_gaussian_hill(tmp_path):
    n, res = 200, 10.0
    transform, x, y = metric_grid(n, res)
    cx, cy = X0 + n * res / 2, Y0 - n * res / 2
    cone = 2000 - np.hypot(x - cx, y - cy) * math.tan(math.radians(30))
    grid = read(write_tif(tmp_path / "cone.tif", cone, transform), area=area_box(n=n, res=res))
    gx, gy = _centres(grid)
    r = np.hypot(gx - cx, gy - cy)
    s = terrain.slope(grid).data
    ring = (r > 200) & (r < 900) & ~np.isnan(s)        # Horn on a curved cone: error ~ (cell / r)²
    assert ring.sum() > 5000
    assert np.abs(s[ring] - 30).max() < 0.05

    sigma, h = 400.0, 300.0
    hill = 1500 + h * np.exp(-np.hypot(x - cx, y - cy) ** 2 / (2 * sigma ** 2))
    grid = read(write_tif(tmp_path / "hill.tif", hill, transform), area=area_box(n=n, res=res))
    s = terrain.slope(grid).data
    analytic = np.degrees(np.arctan(h * r / sigma ** 2 * np.exp(-r ** 2 / (2 * sigma ** 2))))
    ok = ~np.isnan(s)
    assert ok.sum() > 30000
    assert np.abs(s[ok] - analytic[ok]).max() < 0.2       # discretisation of a curved surface
    assert np.abs(s[ok] - analytic[ok]).mean() < 0.05


# --------------------------------------------------------------------------- gdaldem
def test_slope_aspect_hillshade_equal_gdaldem(tmp_path):
    if GDALDEM is None:
        pytest.fail("gdaldem not found: install Debian's gdal-bin (.ci/run does)")
    n, res = 220, 30.0
    transform, x, y = metric_grid(n, res)
    cx, cy = X0 + n * res / 2, Y0 - n * res / 2
    z = (1300 + 500 * np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * 1500 ** 2))
         + 60 * np.sin((x - X0) / 400) * np.cos((y - Y0) / 700))
    src = write_tif(tmp_path / "dem.tif", z, transform)
    grid = read(src, area=area_box(n=n, res=res))
    assert grid.shape[0] >= n and grid.shape[1] >= n
    ours = terrain.derivatives(grid)
    warped = raster.write_raster(grid, tmp_path / "warped.tif", clip=False)
    refs = {}
    for name in ("slope", "aspect", "hillshade"):
        out = tmp_path / f"gd_{name}.tif"
        subprocess.run([GDALDEM, name, str(warped), str(out), "-q"], check=True)
        with rasterio.open(out) as ds:
            refs[name] = ds.read(1, masked=True).astype(float).filled(np.nan)
    inside = np.zeros(grid.shape, bool)
    inside[4:-4, 4:-4] = True                            # the source's own edges stay out
    inside &= ~np.isnan(refs["slope"])
    assert inside.sum() > 40000
    d_slope = np.abs(ours["slope"].data - refs["slope"])[inside]
    assert d_slope.max() <= 0.01
    steep = inside & (refs["slope"] >= 1.0)              # aspect is undefined on flat ground
    d_aspect = np.abs((ours["aspect"].data - refs["aspect"] + 180) % 360 - 180)[steep]
    assert d_aspect.max() <= 0.01
    d_shade = np.abs(np.rint(ours["hillshade"].data) - refs["hillshade"])[inside]
    assert d_shade.max() <= 1.0
    # the byte GeoTIFF we write rounds as gdaldem does
    raster.write_raster(ours["hillshade"], tmp_path / "hs.tif", dtype="uint8", nodata=0, clip=False)
    with rasterio.open(tmp_path / "hs.tif") as ds:
        written = ds.read(1).astype(float)
    assert (written[inside] == refs["hillshade"][inside]).mean() > 0.99


# --------------------------------------------------------------------------- DEM input
def _hgt_values():
    n = 1201                                              # a 3″ tile: 1201 × 1201, rows north to south
    z = np.full((n, n), 1500, dtype=np.int16)
    # a 2000 m block whose corner pixel centres are at 105.5°E / 27.5°N
    z[600 - 12:600 + 13, 600 - 12:600 + 13] = 2000
    z[100:103, 100:103] = raster.SRTM_VOID                # a void far from the block
    return z


def _area_around(lon, lat, d=0.05):
    return gpd.GeoSeries([shapely.box(lon - d, lat - d, lon + d, lat + d)], crs="EPSG:4490")


def _value_at(grid, lon, lat):
    x, y = Transformer.from_crs("EPSG:4490", "EPSG:4544", always_xy=True).transform(lon, lat)
    col, row = ~grid.transform * (x, y)
    return grid.data[int(row), int(col)]


def test_srtm_hgt_written_byte_by_byte_lands_in_place(tmp_path):
    path = write_hgt(tmp_path / "N27E105.hgt", _hgt_values())
    grid = raster.read_dem(path, area=_area_around(105.5, 27.5))
    assert grid.crs.to_epsg() == 4544
    assert 80 <= grid.res[0] <= 83                        # 3″ ≈ 82.6 m × 92.6 m here: the finer
    assert _value_at(grid, 105.5, 27.5) == pytest.approx(2000, abs=1)
    assert _value_at(grid, 105.5 + 0.02, 27.5) == pytest.approx(1500, abs=1)
    assert _value_at(grid, 105.5 - 0.02, 27.5 + 0.02) == pytest.approx(1500, abs=1)
    # the same tile zipped as downloaded
    with zipfile.ZipFile(tmp_path / "N27E105.hgt.zip", "w") as zf:
        zf.write(path, "N27E105.hgt")
    zipped = raster.read_dem(tmp_path / "N27E105.hgt.zip", area=_area_around(105.5, 27.5))
    np.testing.assert_array_equal(zipped.data, grid.data)


def test_srtm_voids_are_reported_and_filled_only_on_request(tmp_path):
    path = write_hgt(tmp_path / "N27E105.hgt", _hgt_values())
    lon, lat = 105 + 101 / 1200, 28 - 101 / 1200
    grid = raster.read_dem(path, area=_area_around(lon, lat, 0.01))
    assert grid.void_share > 0
    assert any("voids" in n for n in grid.notes)
    assert np.isnan(_value_at(grid, lon, lat))
    filled = raster.read_dem(path, area=_area_around(lon, lat, 0.01), fill_voids=True)
    assert _value_at(filled, lon, lat) == pytest.approx(1500, abs=1)
    assert any("filled" in n for n in filled.notes)


def test_srtm_tile_with_a_wrong_name_is_refused(tmp_path):
    path = write_hgt(tmp_path / "tile.hgt", _hgt_values())
    with pytest.raises(InputError, match="named like N27E105"):
        raster.read_dem(path, area=_area_around(105.5, 27.5))


def _split(src, folder, overlap=2):
    """Four quadrant tiles of ``src`` overlapping by ``overlap`` cells."""
    folder.mkdir()
    with rasterio.open(src) as ds:
        z, t = ds.read(1), ds.transform
    h, w = z.shape
    paths = []
    for i, (r0, r1) in enumerate(((0, h // 2 + overlap), (h // 2 - overlap, h))):
        for j, (c0, c1) in enumerate(((0, w // 2 + overlap), (w // 2 - overlap, w))):
            tt = t * rasterio.Affine.translation(c0, r0)
            paths.append(write_tif(folder / f"tile_{i}{j}.tif", z[r0:r1, c0:c1], tt))
    return paths


def test_a_mosaic_of_four_tiles_equals_the_single_source(tmp_path):
    src = plane_tif(tmp_path / "whole.tif", 12, facing_deg=200)
    single = read(src)
    _split(src, tmp_path / "tiles")
    mosaic = read(tmp_path / "tiles")
    assert len(mosaic.sources) == 4
    np.testing.assert_array_equal(mosaic.data, single.data)


def test_tiles_in_different_crss_are_reprojected_before_the_mosaic(tmp_path):
    src = plane_tif(tmp_path / "whole.tif", 12, facing_deg=200)
    single = read(src)
    paths = _split(src, tmp_path / "tiles", overlap=8)
    # one tile in CGCS2000 lon/lat instead of Gauss-Kruger
    from rasterio.warp import calculate_default_transform, reproject, Resampling
    with rasterio.open(paths[1]) as ds:
        t, w, h = calculate_default_transform(ds.crs, "EPSG:4490", ds.width, ds.height, *ds.bounds)
        out = np.full((h, w), np.nan, np.float32)
        reproject(ds.read(1), out, src_transform=ds.transform, src_crs=ds.crs, dst_transform=t,
                  dst_crs="EPSG:4490", resampling=Resampling.bilinear, dst_nodata=np.nan)
    paths[1].unlink()
    write_tif(tmp_path / "tiles" / "tile_01_geo.tif", out, t, crs="EPSG:4490", nodata=np.nan)
    mosaic = read(tmp_path / "tiles", resolution=10.0)
    assert mosaic.shape == single.shape
    ok = ~np.isnan(mosaic.data) & ~np.isnan(single.data)
    assert ok.sum() >= 0.97 * (~np.isnan(single.data)).sum()
    diff = np.abs(mosaic.data - single.data)[ok]
    # resampled twice (by the test, then on reading): a shift of one 10 m cell would be ≈ 2 m
    assert np.median(diff) < 0.01
    assert np.quantile(diff, 0.99) < 0.25
    assert diff.max() < 1.0


# --------------------------------------------------------------------------- bad DEMs
def test_bad_dems_are_refused_with_one_line(tmp_path):
    transform, x, y = metric_grid(60, 10.0)
    z = 1500 + 0.1 * (x - X0)
    area = area_box(n=60)
    cases = {
        "no_crs": (write_tif(tmp_path / "nocrs.tif", z, transform, crs=None), "no coordinate system"),
        "rgb": (write_tif(tmp_path / "rgb.tif", np.stack([z, z, z]) % 255, transform, dtype="uint8"),
                "3 bands"),
        "zero": (write_tif(tmp_path / "zero.tif", np.zeros_like(z), transform), "every elevation is 0"),
        "high": (write_tif(tmp_path / "cm.tif", z * 100, transform), "cannot be metres of elevation"),
        "classes": (write_tif(tmp_path / "lc.tif", (x > X0 + 300) * 10 + 10 + (y > Y0 - 300) * 20, transform,
                              dtype="uint8"), "categorical"),
    }
    for name, (path, message) in cases.items():
        with pytest.raises(InputError, match=message) as info:
            raster.read_dem(path, area=area)
        assert str(path.name) in str(info.value), name
        assert "\n" not in str(info.value)
    good = write_tif(tmp_path / "good.tif", z, transform)
    broken = tmp_path / "truncated.tif"
    broken.write_bytes(good.read_bytes()[:100])
    with pytest.raises(InputError, match="cannot be read as a raster") as info:
        raster.read_dem(broken, area=area)
    assert "truncated.tif" in str(info.value)
    data = good.read_bytes()
    cut = tmp_path / "cut.tif"
    cut.write_bytes(data[:len(data) // 2])                 # header intact, half the pixels gone
    with pytest.raises(InputError, match="corrupt or truncated") as info:
        raster.read_dem(cut, area=area)
    assert "cut.tif" in str(info.value)


def test_partial_cover_needs_allow_partial_and_disjoint_tiles_are_refused(tmp_path):
    path = plane_tif(tmp_path / "p.tif", 10, n=60)
    big = area_box(n=120)                                  # the DEM covers a quarter of it
    with pytest.raises(InputError, match=r"elevations for 2\d\.\d% of"):
        raster.read_dem(path, area=big)
    grid = raster.read_dem(path, area=big, allow_partial=True)
    assert 0.2 < grid.coverage < 0.3
    far = plane_tif(tmp_path / "far.tif", 10, n=60)
    with rasterio.open(far, "r+") as ds:
        ds.transform = ds.transform * rasterio.Affine.translation(100, 100)
    with pytest.raises(InputError, match="do not touch"):
        raster.read_dem([path, far], area=big, allow_partial=True)


# --------------------------------------------------------------------------- grades, rules, 坝区
def test_grade_breaks_belong_to_the_lower_grade():
    g = raster.Grid(np.array([[0, 2, 2.0001, 6, 6.5, 15, 15.1, 25, 25.01, 60, np.nan]], np.float32),
                    rasterio.Affine(1, 0, 0, 0, -1, 1), raster.CRS.from_epsg(4544))
    codes = terrain.slope_grades(g).data[0]
    assert list(codes[:-1]) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    assert np.isnan(codes[-1])


def test_25_degree_rule_marks_all_of_a_cropland_square_on_a_30_degree_plane(tmp_path):
    grid = read(plane_tif(tmp_path / "p.tif", 30, n=120, res=10.0))
    square = gpd.GeoDataFrame({"name": ["地块1"], "DLBM": ["0103"]},
                              geometry=[shapely.box(X0 + 200, Y0 - 800, X0 + 700, Y0 - 300)], crs="EPSG:4544")
    crop, _ = terrain.cropland_layer(square.to_crs(4490))
    towns = gpd.GeoDataFrame({"name": ["甲镇"]}, geometry=[shapely.box(X0 - 100, Y0 - 2000, X0 + 2000, Y0 + 100)],
                             crs="EPSG:4544").to_crs(4490)
    res = terrain.cropland_rules(terrain.slope(grid), crop, towns)
    row = res["by_township"].iloc[0]
    expected = 500 * 500 / settings.M2_PER_MU
    assert row["area_mu"] == pytest.approx(expected, rel=1e-3)
    assert row["退耕还林还草候选 (亩)"] == pytest.approx(expected, rel=1e-3)
    assert row["坡改梯/综合治理 (亩)"] == 0
    assert res["by_feature"]["verdict"].iloc[0].startswith("退耕还林还草候选")
    steep = res["steep"].to_crs(4544)
    assert steep.is_valid.all()
    assert steep.area.sum() == pytest.approx(500 * 500, rel=1e-3)


def test_cropland_layer_filters_dltb_codes_and_needs_polygons():
    polys = [shapely.box(0, 0, 1, 1).buffer(0.001)] * 3
    dltb = gpd.GeoDataFrame({"DLBM": ["0101", "0301", "0103"]}, geometry=polys, crs="EPSG:4490")
    crop, what = terrain.cropland_layer(dltb)
    assert list(crop["DLBM"]) == ["0101", "0103"] and "2 of 3" in what
    with pytest.raises(InputError, match="no polygons"):
        terrain.cropland_layer(gpd.GeoDataFrame(geometry=[shapely.Point(0, 0)], crs="EPSG:4490"))


def _terraces(tmp_path):
    """Two flat terraces (600 亩 and 400 亩) in a 30° slope, 5 m cells."""
    n, res = 500, 5.0
    transform, x, y = metric_grid(n, res)
    z = 1500 + (x - X0) * math.tan(math.radians(30))
    side_a, side_b = math.sqrt(600 * settings.M2_PER_MU), math.sqrt(400 * settings.M2_PER_MU)
    for (cx, cy, side, h) in ((X0 + 700, Y0 - 700, side_a, 1800), (X0 + 1900, Y0 - 1900, side_b, 2300)):
        box = (np.abs(x - cx) <= side / 2) & (np.abs(y - cy) <= side / 2)
        z[box] = h
    return write_tif(tmp_path / "terraces.tif", z, transform), n, res


def test_two_terraces_give_exactly_one_baqu_candidate(tmp_path):
    path, n, res = _terraces(tmp_path)
    grid = read(path, area=area_box(n=n, res=res))
    named = gpd.GeoDataFrame({"name": ["甲坝区", "乙坝区"]},
                             geometry=[shapely.Point(X0 + 700, Y0 - 700), shapely.Point(X0 + 1900, Y0 - 1900)],
                             crs="EPSG:4544").to_crs(4490)
    cand = terrain.baqu_candidates(grid, terrain.slope(grid), named=named)
    assert len(cand) == 1
    assert cand["area_mu"].iloc[0] == pytest.approx(600, rel=0.02)
    assert cand["elev_mean"].iloc[0] == pytest.approx(1800, abs=0.5)
    assert cand["named_baqu"].iloc[0] == "甲坝区"
    assert cand.is_valid.all()
    check = terrain.named_baqu_check(cand, named)
    assert list(check["within"]) == [True, False]
    # the 400 亩 terrace passes a lower threshold
    assert len(terrain.baqu_candidates(grid, terrain.slope(grid), min_mu=350)) == 2


def test_bands_and_grades_per_zone_add_up_to_the_zone_areas(tmp_path):
    grid = read(plane_tif(tmp_path / "p.tif", 8, facing_deg=90, n=120, res=10.0))
    zones = gpd.GeoDataFrame({"name": ["西", "东"]},
                             geometry=[shapely.box(X0, Y0 - 1200, X0 + 600, Y0),
                                       shapely.box(X0 + 600, Y0 - 1200, X0 + 1200, Y0)],
                             crs="EPSG:4544").to_crs(4490)
    # the plane rises westward by tan 8° per metre: 1500 at X0 + 0 … ≈1331 at the east edge
    bands = terrain.elevation_bands(grid, zones, breaks=(1400, 1450))
    totals = bands.set_index("township")["area_mu"]
    assert totals["西"] == pytest.approx(600 * 1200 / settings.M2_PER_MU, rel=0.005)
    share_cols = [c for c in bands.columns if c.endswith("比例")]
    assert np.allclose(bands[share_cols].sum(axis=1), 1.0, atol=1e-3)
    # the band above 1450 m lies where x − X0 < (1500 − 1450) / tan 8° ≈ 355.8 m
    above = bands.set_index("township")[">1450 m (亩)"]
    cell_strip = 10 * 1200 / settings.M2_PER_MU          # class edges fall on 10 m cells
    assert above["西"] == pytest.approx(355.8 * 1200 / settings.M2_PER_MU, abs=cell_strip)
    assert above["东"] == 0
    grades = terrain.class_areas(terrain.slope_grades(terrain.slope(grid)), zones, terrain.grade_labels())
    assert grades.set_index("township").loc["合计", "Ⅲ级 6°–15° 比例"] == pytest.approx(1.0, abs=1e-3)


def test_grade_polygons_are_valid_and_deterministic(tmp_path):
    grid = read(plane_tif(tmp_path / "p.tif", 10, n=120, res=10.0))
    hill = grid.with_data(grid.data + 80 * np.sin(np.arange(grid.shape[1]) / 6.0)[None, :], "dem")
    a = terrain.class_polygons(terrain.slope_grades(terrain.slope(hill)), terrain.grade_labels())
    b = terrain.class_polygons(terrain.slope_grades(terrain.slope(hill)), terrain.grade_labels())
    assert a.is_valid.all() and len(a) >= 3
    assert a.geometry.to_wkb().tolist() == b.geometry.to_wkb().tolist()
    assert a.crs.to_epsg() == 4490


def test_tiles_that_abut_without_overlap_have_no_seam(tmp_path):
    # county map sheets meet edge to edge: the mosaic is built before the warp
    src = plane_tif(tmp_path / "whole.tif", 12, facing_deg=200)
    single = read(src)
    _split(src, tmp_path / "tiles", overlap=0)
    mosaic = read(tmp_path / "tiles")
    np.testing.assert_array_equal(mosaic.data, single.data)


def test_large_voids_stay_empty_after_filling_and_count_against_coverage(tmp_path):
    transform, x, y = metric_grid(400, 30.0)
    z = (1500 + 0.05 * (x - X0)).astype(np.float32)
    z[50:350, 50:350] = -9999                             # a 9 km void: too far to interpolate
    path = write_tif(tmp_path / "void.tif", z, transform, nodata=-9999)
    area = area_box(n=400, res=30.0)
    with pytest.raises(InputError, match=r"elevations for 4\d\.\d%.*voids") as info:
        raster.read_dem(path, area=area)
    assert "void.tif" in str(info.value)
    grid = raster.read_dem(path, area=area, fill_voids=True, allow_partial=True)
    vals = grid.data[grid.inside]
    assert np.nanmin(vals) > 1400                         # no placeholder zeros
    assert np.isnan(vals).sum() >= 0.05 * vals.size             # the middle, over 3 km from data
    assert any("stay empty" in n for n in grid.notes)


def test_a_corrupt_block_in_the_middle_is_an_error(tmp_path):
    transform, x, y = metric_grid(600, 10.0)
    path = write_tif(tmp_path / "c.tif", 1500 + 0.1 * (x - X0), transform, tiled=True, blockxsize=64,
                     blockysize=64, compress="deflate")
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid:mid + 2000] = b"\x00" * 2000
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="corrupt or truncated") as info:
        raster.read_dem(path, area=area_box(n=600, res=10.0))
    assert "c.tif" in str(info.value)


def test_units_aster_num_files_bare_geometries_and_geographic_grids(tmp_path):
    transform, x, y = metric_grid(60, 10.0)
    z = 1500 + 0.1 * (x - X0)
    feet = write_tif(tmp_path / "feet.tif", z * 3.28084, transform)
    with rasterio.open(feet, "r+") as ds:
        ds.units = ["ft"]
    with pytest.raises(InputError, match="elevations are in ft"):
        raster.read_dem(feet, area=area_box(n=60))
    folder = tmp_path / "aster"
    folder.mkdir()
    write_tif(folder / "ASTGTMV003_N27E105_dem.tif", z, transform)
    write_tif(folder / "ASTGTMV003_N27E105_num.tif", np.full_like(z, 5), transform, dtype="int16")
    assert [p.name for p in raster.dem_paths(folder)] == ["ASTGTMV003_N27E105_dem.tif"]
    with pytest.raises(InputError, match="not degrees"):
        raster.read_dem(folder, area=shapely.box(X0, Y0 - 600, X0 + 600, Y0))
    geo = raster.read_raster(geographic_plane_tif(tmp_path / "geo.tif", 10))
    with pytest.raises(InputError, match="metric grid"):
        terrain.slope(geo)


def test_percentile_0_and_100_are_the_zone_min_and_max():
    from spatial.zonal import zonal_stats
    t = rasterio.Affine(1, 0, 0, 0, -1, 4)
    zones = [shapely.box(0, 0, 1, 1), shapely.box(-1, -1, 5, 5), shapely.box(1, 1, 3, 3)]
    st = zonal_stats(np.arange(16.0).reshape(4, 4), t, zones, percentiles=(0, 100))
    assert list(st["p0"]) == list(st["min"]) and list(st["p100"]) == list(st["max"])
