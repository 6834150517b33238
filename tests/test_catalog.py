"""The layer catalog: reserved ids, provenance, and a planner's layers replacing bundled ones."""
from __future__ import annotations

import tomllib

import geopandas as gpd
import pytest
from pyproj import CRS
from shapely.geometry import box

import spatial
from spatial import catalog, settings
from spatial.errors import InputError

RESERVED = ["boundary", "townships", "township_areas", "parks", "agri_zones", "livestock",
            "reservoirs", "expressways", "interchanges", "roads", "eco_redline",
            "basic_farmland", "urban_boundary", "health_facilities", "baqu", "dem", "landuse",
            "water_protection"]


@pytest.fixture
def zone():
    return gpd.GeoDataFrame({"BSM": ["1"], "MC": ["中心城区"]},
                            geometry=[box(105.25, 27.25, 105.32, 27.32)], crs=4490)


def test_bundled_catalog_reserves_the_district_ids():
    table = spatial.list_layers()
    assert list(table["id"]) == RESERVED
    for col in ("name_zh", "name_en", "kind", "file", "geometry", "required_fields",
                "source", "date", "method", "accuracy", "data_status", "origin"):
        assert col in table.columns
    assert table["name_zh"].str.len().min() > 0
    assert set(table["data_status"]) <= {"real", "approximate", "illustrative", "mixed"}


def test_every_bundled_file_that_exists_loads_in_cgcs2000():
    cat = catalog.Catalog(user=None)
    for entry in cat.entries.values():
        if entry.exists and not entry.is_raster:
            gdf = cat.load(entry.id)
            assert gdf.crs == CRS.from_epsg(4490)
            assert gdf.attrs["provenance"]["data_status"]


def test_unknown_layer_suggests_close_ids():
    with pytest.raises(InputError, match=r"unknown layer 'township'.*did you mean townships"):
        spatial.load_layer("township")


def test_reserved_layer_without_file_says_how_to_supply_it(tmp_path, monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    cat = catalog.Catalog(bundled_dir=_empty_bundle(tmp_path))
    with pytest.raises(InputError, match=r"'parks' \(一区十二园（产业园区）\) has no data file yet.*--layers"):
        cat.load("parks")


def _empty_bundle(tmp_path):
    """A copy of the bundled catalog with no data files beside it."""
    d = tmp_path / "bundle"
    d.mkdir()
    (d / "catalog.toml").write_text((settings.BUNDLED_LAYERS / "catalog.toml").read_text("utf-8"), "utf-8")
    return d


def test_user_folder_replaces_layers_by_id(tmp_path, towns):
    user = tmp_path / "county"
    user.mkdir()
    towns.to_crs(4544).to_file(user / "townships.shp", encoding="GBK")
    (user / "townships.cpg").unlink()
    with pytest.warns(spatial.InputWarning, match="detected GBK"):
        gdf = spatial.load_layer("townships", layers=user)
    assert list(gdf["name"]) == list(towns["name"])
    assert gdf.crs == CRS.from_epsg(4490)
    assert gdf.attrs["origin"] == "user"
    assert "townships.shp" in gdf.attrs["provenance"]["source"]
    table = spatial.list_layers(layers=user).set_index("id")
    assert table.loc["townships", "origin"] == "user" and table.loc["parks", "origin"] == "bundled"


def test_env_variable_points_at_user_layers(tmp_path, towns, monkeypatch):
    user = tmp_path / "env"
    user.mkdir()
    towns.to_file(user / "townships.geojson")
    monkeypatch.setenv(settings.LAYERS_ENV, str(user))
    assert spatial.load_layer("townships").attrs["origin"] == "user"


def test_planning_database_codes_are_recognised(tmp_path, zone):
    gpkg = tmp_path / "国土空间规划.gpkg"
    zone.to_file(gpkg, layer="CZKFBJ")
    zone.to_file(gpkg, layer="STBHHX_520502")
    zone.to_file(gpkg, layer="YJJBNT")
    cat = catalog.Catalog(user=tmp_path)
    for layer_id, layer in (("urban_boundary", "CZKFBJ"), ("eco_redline", "STBHHX_520502"),
                            ("basic_farmland", "YJJBNT")):
        entry = cat.get(layer_id)
        assert entry.origin == "user" and entry.layer == layer
        assert len(cat.load(layer_id)) == 1
    assert cat.get("CZKFBJ").id == "urban_boundary"     # the code works as an id too


def test_gbk_named_shapefile_with_chinese_file_name(tmp_path, zone):
    folder = tmp_path / "shp"
    folder.mkdir()
    zone.to_file(folder / "城镇开发边界.shp", encoding="GBK")
    (folder / "城镇开发边界.cpg").unlink()
    cat = catalog.Catalog(user=folder)
    with pytest.warns(spatial.InputWarning, match="detected GBK"):
        gdf = cat.load("urban_boundary")
    assert gdf["MC"].iloc[0] == "中心城区"


def test_missing_required_field_names_the_fields(tmp_path, towns):
    user = tmp_path / "u"
    user.mkdir()
    towns.drop(columns="code").to_file(user / "townships.gpkg", layer="townships")
    with pytest.raises(InputError) as info:
        spatial.load_layer("townships", layers=user)
    msg = str(info.value)
    assert "townships.gpkg" in msg and "missing required field(s) code" in msg and "name" in msg


def test_common_county_field_names_are_mapped(tmp_path, towns):
    user = tmp_path / "u"
    user.mkdir()
    towns.rename(columns={"name": "XZQMC", "code": "XZQDM"}).to_file(user / "townships.geojson")
    with pytest.warns(spatial.InputWarning) as rec:
        gdf = spatial.load_layer("townships", layers=user)
    assert {str(w.message).split(": ", 1)[1] for w in rec} == {
        "field 'XZQMC' used as 'name'", "field 'XZQDM' used as 'code'"}
    assert gdf["code"].iloc[0] == "520502106000"


def test_user_catalog_with_field_map_and_crs(tmp_path, towns):
    user = tmp_path / "u"
    user.mkdir()
    towns.rename(columns={"name": "乡镇名", "code": "编号"}).to_crs(4544).to_file(
        user / "seats.shp", encoding="UTF-8")
    (user / "seats.prj").unlink()
    (user / "catalog.toml").write_text("""
[[layer]]
id = "townships"
file = "seats.shp"
crs = "EPSG:4544"
fields = { name = "乡镇名", code = "编号" }
[layer.provenance]
source = "县自然资源局 2024"
date = "2024-06"
method = "survey"
accuracy = "1 m"
data_status = "real"
""", encoding="utf-8")
    gdf = spatial.load_layer("townships", layers=user)
    assert list(gdf["name"]) == list(towns["name"])
    assert gdf.attrs["provenance"]["source"] == "县自然资源局 2024"
    entry = catalog.Catalog(user=user).get("townships")
    assert entry.name_zh == "乡镇（街道）驻地"          # inherited from the bundled entry


def test_two_files_for_one_layer_is_an_error_naming_both(tmp_path, zone):
    zone.to_file(tmp_path / "CZKFBJ.geojson")
    zone.to_file(tmp_path / "城镇开发边界.geojson")
    cat = catalog.Catalog(user=tmp_path)
    with pytest.raises(InputError, match=r"several files match layer 'urban_boundary'.*CZKFBJ.*城镇开发边界"):
        cat.load("urban_boundary")


def test_bad_catalogs_and_folders(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        catalog.Catalog(user=tmp_path / "missing")
    bad = tmp_path / "catalog.toml"
    bad.write_text("[[layer]]\nid = 'x'\ncolour = 'red'\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown key.*colour"):
        catalog.Catalog(user=bad)
    bad.write_text("[[layer]\n", encoding="utf-8")
    with pytest.raises(InputError, match="not a valid TOML"):
        catalog.Catalog(user=bad)
    bad.write_text("[[layer]]\nid = 'x'\nprovenance = { data_status = 'guessed' }\n", encoding="utf-8")
    with pytest.raises(InputError, match="data_status 'guessed'"):
        catalog.Catalog(user=bad)


def test_catalog_entries_are_complete():
    raw = tomllib.loads((settings.BUNDLED_LAYERS / "catalog.toml").read_text("utf-8"))
    for layer in raw["layer"]:
        for key in ("id", "name_zh", "name_en", "kind", "file", "geometry", "required_fields", "provenance"):
            assert key in layer, (layer["id"], key)
        assert layer["geometry"] in ("Point", "LineString", "Polygon", "Raster")


def test_bundled_layers_built_from_replaced_ones_warn(tmp_path, monkeypatch):
    import geopandas as gpd
    from shapely.geometry import Point
    from spatial.errors import InputWarning
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    gpd.GeoDataFrame({"name": ["甲镇"], "code": ["1"]}, geometry=[Point(105.3, 27.3)], crs=4490).to_file(
        tmp_path / "townships.geojson")
    cat = catalog.Catalog(tmp_path)
    with pytest.warns(InputWarning, match="bundled township_areas were built from the bundled townships"):
        cat.load("township_areas")
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", InputWarning)
        catalog.Catalog(user=None).load("township_areas")        # all bundled: no warning
