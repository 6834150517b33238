"""spatial.read: formats, encodings, coordinate systems, repairs and bad input."""
from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import CRS, Geod
from shapely.geometry import Point, Polygon

import spatial
from spatial import chinacoords
from spatial.errors import InputError, InputWarning

GEOD = Geod(ellps="GRS80")


def max_shift_m(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> float:
    """Largest distance in metres between matching points of two lon/lat layers."""
    return float(np.max(GEOD.inv(a.geometry.x.values, a.geometry.y.values,
                                 b.geometry.x.values, b.geometry.y.values)[2]))


def write_shp(gdf, path: Path, encoding="UTF-8", keep_cpg=True, keep_prj=True) -> Path:
    gdf.to_file(path, encoding=encoding)
    if not keep_cpg:
        path.with_suffix(".cpg").unlink()
    if not keep_prj:
        path.with_suffix(".prj").unlink()
    return path


def zip_shapefiles(zpath: Path, *shps: Path) -> Path:
    with zipfile.ZipFile(zpath, "w") as zf:
        for shp in shps:
            for part in shp.parent.glob(shp.stem + ".*"):
                zf.write(part, part.name)
    return zpath


def quiet_read(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        return spatial.read(*args, **kwargs)


# ------------------------------------------------------------------ formats
def test_geojson_geopackage_and_shapefile_give_the_same_layer(tmp_path, towns):
    towns.to_file(tmp_path / "t.geojson")
    towns.to_file(tmp_path / "t.gpkg", layer="towns")
    write_shp(towns, tmp_path / "t.shp")
    for path in ("t.geojson", "t.gpkg", "t.shp"):
        gdf = spatial.read(tmp_path / path)
        assert gdf.crs == CRS.from_epsg(4490)
        assert list(gdf["name"]) == list(towns["name"])
        assert max_shift_m(gdf, towns) < 1e-3


def test_geopackage_with_several_layers_asks_which(tmp_path, towns):
    path = tmp_path / "county.gpkg"
    towns.to_file(path, layer="towns")
    towns.iloc[:1].to_file(path, layer="seat")
    with pytest.raises(InputError, match=r"holds 2 layers \(.*towns.*seat.*\); choose one"):
        spatial.read(path)
    assert len(spatial.read(path, layer="seat")) == 1
    with pytest.raises(InputError, match="no layer named 'roads'"):
        spatial.read(path, layer="roads")


def test_shapefile_in_folder_and_zip(tmp_path, towns):
    folder = tmp_path / "data"
    folder.mkdir()
    shp = write_shp(towns, folder / "towns.shp")
    assert len(spatial.read(folder)) == 3
    z = zip_shapefiles(tmp_path / "towns.zip", shp)
    gdf = spatial.read(z)
    assert list(gdf["name"]) == list(towns["name"])
    assert gdf.attrs["source"].endswith("towns.zip!towns.shp")


def test_zip_with_two_shapefiles_asks_which(tmp_path, towns):
    a = write_shp(towns, tmp_path / "a.shp")
    b = write_shp(towns.iloc[:2], tmp_path / "b.shp")
    z = zip_shapefiles(tmp_path / "two.zip", a, b)
    with pytest.raises(InputError) as info:
        spatial.read(z)
    msg = str(info.value)
    assert "two.zip" in msg and "a.shp" in msg and "b.shp" in msg and "choose one" in msg
    assert "\n" not in msg
    assert len(spatial.read(z, layer="b")) == 2


# ------------------------------------------------------------------ encodings
def test_gbk_shapefile_without_cpg_loads_correctly(tmp_path, towns):
    shp = write_shp(towns, tmp_path / "gbk.shp", encoding="GBK", keep_cpg=False)
    raw = shp.with_suffix(".dbf").read_bytes()
    assert "撒拉溪镇".encode("gbk") in raw           # the file really is GBK
    with pytest.warns(InputWarning, match="detected GBK"):
        gdf = spatial.read(shp)
    assert list(gdf["name"]) == ["撒拉溪镇", "朱昌镇", "田坎彝族乡"]
    assert gdf.attrs["encoding"] == "gb18030"


def test_gbk_field_names_and_zip_without_cpg(tmp_path, towns):
    t = towns.rename(columns={"name": "名称"})
    shp = write_shp(t, tmp_path / "gbkf.shp", encoding="GBK", keep_cpg=False)
    z = zip_shapefiles(tmp_path / "gbkf.zip", shp)
    gdf = quiet_read(z)
    assert "名称" in gdf.columns and gdf["名称"].iloc[2] == "田坎彝族乡"


def test_cpg_is_obeyed(tmp_path, towns):
    shp = write_shp(towns, tmp_path / "u.shp", encoding="UTF-8")
    assert shp.with_suffix(".cpg").read_text().strip().upper() in ("UTF-8", "UTF8")
    gdf = spatial.read(shp)
    assert gdf["name"].iloc[0] == "撒拉溪镇"
    shp2 = write_shp(towns, tmp_path / "g.shp", encoding="GBK")
    shp2.with_suffix(".cpg").write_text("936")     # ArcGIS writes the code page number
    assert spatial.read(shp2)["name"].iloc[1] == "朱昌镇"


def test_utf8_shapefile_without_cpg_is_detected(tmp_path, towns):
    shp = write_shp(towns, tmp_path / "u8.shp", encoding="UTF-8", keep_cpg=False)
    assert spatial.read(shp)["name"].iloc[0] == "撒拉溪镇"


# ------------------------------------------------------------------ coordinate systems
@pytest.mark.parametrize("epsg", [4326, 4544, 4523, 4496, 4507, 3857, 4490])
def test_supported_systems_come_back_to_cgcs2000(tmp_path, towns, epsg):
    towns.to_crs(epsg).to_file(tmp_path / "x.gpkg")
    gdf = spatial.read(tmp_path / "x.gpkg")
    assert gdf.crs == CRS.from_epsg(4490)
    assert max_shift_m(gdf, towns) < 0.01


@pytest.mark.parametrize("epsg", [2381, 2360, 2433, 21458, 4610, 4214])
def test_old_datums_load_with_accuracy_warning(tmp_path, towns, epsg):
    # Xian 1980 and Beijing 1954 (geographic and Gauss-Kruger) via the ballpark datum change
    towns.to_crs(epsg).to_file(tmp_path / "old.gpkg")
    with pytest.warns(InputWarning, match="without published transformation parameters"):
        gdf = spatial.read(tmp_path / "old.gpkg")
    assert max_shift_m(gdf, towns) < 0.01   # same ballpark both ways: numbers come back


def test_missing_prj_is_an_error_unless_stated(tmp_path, towns):
    shp = write_shp(towns.to_crs(4544), tmp_path / "noprj.shp", keep_prj=False)
    with pytest.raises(InputError) as info:
        spatial.read(shp)
    msg = str(info.value)
    assert "noprj.shp" in msg and "no .prj" in msg and "EPSG:4544" in msg
    gdf = spatial.read(shp, crs=4544)
    assert max_shift_m(gdf, towns) < 0.01


def test_zone_prefix_missing_from_prj_is_repaired(tmp_path, towns):
    wrong = towns.to_crs(4523).set_crs(4544, allow_override=True)   # prefixed numbers, CM label
    wrong.to_file(tmp_path / "z.gpkg")
    with pytest.warns(InputWarning, match="zone prefix.*EPSG:4523"):
        gdf = spatial.read(tmp_path / "z.gpkg")
    assert max_shift_m(gdf, towns) < 0.01
    other = towns.to_crs(4544).set_crs(4523, allow_override=True)   # and the other way round
    other.to_file(tmp_path / "z2.gpkg")
    assert max_shift_m(quiet_read(tmp_path / "z2.gpkg"), towns) < 0.01


def test_projected_numbers_labelled_as_degrees(tmp_path, towns):
    towns.to_crs(4544).set_crs(4490, allow_override=True).to_file(tmp_path / "p.gpkg")
    with pytest.raises(InputError, match=r"are not degrees.*EPSG:4544"):
        spatial.read(tmp_path / "p.gpkg")


def test_degrees_labelled_as_projected(tmp_path, towns):
    towns.set_crs(4544, allow_override=True).to_file(tmp_path / "d.gpkg")
    with pytest.raises(InputError, match="look like degrees"):
        spatial.read(tmp_path / "d.gpkg")


def test_geojson_with_lat_lon_swapped(tmp_path):
    feats = [{"type": "Feature", "properties": {"name": "朱昌镇"},
              "geometry": {"type": "Point", "coordinates": [27.25, 105.20]}}]
    path = tmp_path / "swapped.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}), encoding="utf-8")
    with pytest.raises(InputError) as info:
        spatial.read(path)
    assert "swapped.geojson" in str(info.value) and "swapped" in str(info.value)
    gdf = spatial.read(path, swap_xy=True)
    assert (gdf.geometry.x.iloc[0], gdf.geometry.y.iloc[0]) == pytest.approx((105.20, 27.25))


# ------------------------------------------------------------------ GCJ-02 / BD-09
def test_gcj02_points_are_converted_when_user_says_so(tmp_path, towns):
    # positions as AMap shows them: published test vector plus the district towns
    lon, lat = chinacoords.wgs84_to_gcj02(towns.geometry.x.values, towns.geometry.y.values)
    amap = gpd.GeoDataFrame(towns.drop(columns="geometry"), geometry=gpd.points_from_xy(lon, lat), crs=4326)
    amap.to_file(tmp_path / "amap.geojson")
    naive = spatial.read(tmp_path / "amap.geojson")
    assert max_shift_m(naive, towns) > 100            # loaded as WGS84 it is hundreds of metres off
    fixed = quiet_read(tmp_path / "amap.geojson", coords="gcj02")
    assert max_shift_m(fixed, towns) < 0.5


def test_published_gcj02_point_lands_on_published_wgs84(tmp_path):
    # googollee/eviltransform test table, Beijing row (wgs 116.377817, 39.911954)
    gdf = gpd.GeoDataFrame({"name": ["北京"]}, geometry=[Point(116.38404722455657, 39.91334545536069)], crs=4326)
    gdf.to_file(tmp_path / "bj.geojson")
    out = quiet_read(tmp_path / "bj.geojson", coords="GCJ-02")
    truth = gpd.GeoDataFrame(geometry=[Point(116.377817, 39.911954)], crs=4490)
    assert max_shift_m(out, truth) < 0.5


def test_bd09_polygons_round_trip(tmp_path, towns):
    poly = shapely.buffer(towns.geometry.iloc[0], 0.01)
    coords = shapely.get_coordinates(poly)
    bd = chinacoords.wgs84_to_bd09(coords[:, 0], coords[:, 1])
    gpd.GeoDataFrame(geometry=[Polygon(np.column_stack(bd))], crs=4326).to_file(tmp_path / "bd.geojson")
    out = quiet_read(tmp_path / "bd.geojson", coords="bd09")
    back = shapely.get_coordinates(out.geometry.iloc[0])
    err = GEOD.inv(back[:, 0], back[:, 1], coords[:, 0], coords[:, 1])[2]
    assert err.max() < 0.5


def test_gcj02_on_projected_data_or_outside_china_is_refused(tmp_path, towns):
    towns.to_crs(4544).to_file(tmp_path / "m.gpkg")
    with pytest.raises(InputError, match="applies to longitude/latitude"):
        spatial.read(tmp_path / "m.gpkg", coords="gcj02")
    gpd.GeoDataFrame(geometry=[Point(2.35, 48.85)], crs=4326).to_file(tmp_path / "paris.geojson")
    with pytest.raises(InputError, match="outside China"):
        spatial.read(tmp_path / "paris.geojson", coords="gcj02")
    with pytest.raises(InputError, match="unknown coordinate system 'mars'"):
        spatial.read(tmp_path / "paris.geojson", coords="mars")


# ------------------------------------------------------------------ geometry checks
def test_self_intersecting_polygon_is_repaired_and_reported(tmp_path):
    bowtie = Polygon([(105.0, 27.2), (105.1, 27.3), (105.1, 27.2), (105.0, 27.3)])
    gpd.GeoDataFrame({"name": ["蝴蝶地块"]}, geometry=[bowtie], crs=4490).to_file(tmp_path / "bow.geojson")
    with pytest.warns(InputWarning) as rec:
        gdf = spatial.read(tmp_path / "bow.geojson")
    lines = [str(w.message) for w in rec if "invalid geometry" in str(w.message)]
    assert len(lines) == 1
    assert "bow.geojson" in lines[0] and "蝴蝶地块" in lines[0] and "Self-intersection" in lines[0]
    geom = gdf.geometry.iloc[0]
    assert geom.is_valid and geom.geom_type == "MultiPolygon"
    # the two triangles of the bow tie: together half the 0.1° square
    expected = shapely.area(shapely.box(105.0, 27.2, 105.1, 27.3)) / 2
    assert geom.area == pytest.approx(expected, rel=1e-9)
    assert [n.level for n in gdf.attrs["notes"]] == ["repaired"]


def test_empty_geometries_duplicate_ids_and_far_features_are_reported(tmp_path, towns):
    extra = gpd.GeoDataFrame({"name": ["重复", "北京", "空"], "code": ["520502106000", "110000", "x"]},
                             geometry=[Point(105.3, 27.3), Point(116.4, 39.9), None], crs=4490)
    both = gpd.GeoDataFrame(pd.concat([towns, extra], ignore_index=True), crs=4490)
    both.to_file(tmp_path / "mixed.gpkg")
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        out = spatial.read(tmp_path / "mixed.gpkg")
    text = " | ".join(str(w.message) for w in rec)
    assert "without geometry" in text and "name=空" in text
    assert "share values: 520502106000" in text
    assert "outside 七星关区" in text and "name=北京" in text
    assert len(out) == 6


# ------------------------------------------------------------------ bad input: one clear line
def test_path_that_does_not_exist():
    with pytest.raises(InputError, match=r"^nowhere/towns\.shp: no such file or folder$"):
        spatial.read("nowhere/towns.shp")


def test_empty_file(tmp_path):
    (tmp_path / "empty.geojson").write_bytes(b"")
    with pytest.raises(InputError, match=r"empty\.geojson: file is empty"):
        spatial.read(tmp_path / "empty.geojson")


def test_layer_without_features(tmp_path):
    gpd.GeoDataFrame({"name": []}, geometry=[], crs=4490).to_file(tmp_path / "none.gpkg")
    with pytest.raises(InputError, match="layer has no features"):
        spatial.read(tmp_path / "none.gpkg")
    assert len(spatial.read(tmp_path / "none.gpkg", allow_empty=True)) == 0


def test_corrupt_and_unsupported_files(tmp_path):
    (tmp_path / "bad.geojson").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match=r"bad\.geojson: cannot read"):
        spatial.read(tmp_path / "bad.geojson")
    (tmp_path / "notes.txt").write_text("x", encoding="utf-8")
    with pytest.raises(InputError, match="unsupported file type .txt"):
        spatial.read(tmp_path / "notes.txt")
    (tmp_path / "fake.zip").write_bytes(b"PK but not a zip")
    with pytest.raises(InputError, match="not a valid zip"):
        spatial.read(tmp_path / "fake.zip")


def test_shapefile_missing_dbf(tmp_path, towns):
    shp = write_shp(towns, tmp_path / "t.shp")
    shp.with_suffix(".dbf").unlink()
    with pytest.raises(InputError, match=r"t\.shp: shapefile has no \.dbf"):
        spatial.read(shp)


def test_messages_are_one_line(tmp_path, towns):
    shp = write_shp(towns.to_crs(4544), tmp_path / "noprj.shp", keep_prj=False)
    for call in (lambda: spatial.read(shp), lambda: spatial.read(tmp_path / "none.shp")):
        with pytest.raises(InputError) as info:
            call()
        assert "\n" not in str(info.value)
