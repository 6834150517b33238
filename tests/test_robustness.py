"""Awkward county data: each case once gave a wrong answer or a traceback."""
from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, box

import spatial
from spatial import access, catalog, cli, export, network, overlay, settings
from spatial.errors import InputError

CRS = "EPSG:4544"


@pytest.fixture(autouse=True)
def no_user_layers(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)


def test_chinese_phase_values_mean_the_same(mini_county):
    ex, ic = mini_county["expressways"].copy(), mini_county["interchanges"].copy()
    ex["phase"] = ["现状", "规划"]
    ic["phase"] = [" 现状", "规划"]
    _, kpi, _, _ = access.highway_access(mini_county["townships"], mini_county["roads"], ex, ic)
    k = kpi.set_index("scenario")
    assert (k.at["current", "within"], k.at["planned", "within"]) == (1, 2)
    ic["phase"] = ["现状", "maybe"]
    with pytest.raises(InputError, match="unknown phase value\\(s\\) 'maybe'"):
        access.highway_access(mini_county["townships"], mini_county["roads"], ex, ic)


def test_kpi_without_type_field_leaves_out_subdistricts(mini_county):
    towns = mini_county["townships"].drop(columns="type")
    _, kpi, _, _ = access.highway_access(towns, mini_county["roads"], mini_county["expressways"],
                                         mini_county["interchanges"])
    assert kpi.set_index("scenario").at["current", "townships"] == 3          # 丁街道 not counted


def test_duplicate_township_names(mini_county):
    towns = mini_county["townships"].copy()
    towns.loc[3, "name"] = "甲镇"
    rows, kpi, changes, _ = access.highway_access(towns, mini_county["roads"], mini_county["expressways"],
                                                  mini_county["interchanges"])
    assert len(rows) == 8 and list(changes["name"]) == ["乙乡"]


def test_service_areas_do_not_follow_expressways_without_exits():
    x, y = 530000.0, 3020000.0
    roads = gpd.GeoDataFrame({"grade": ["二级公路"]}, geometry=[LineString([(x, y), (x + 2000, y)])], crs=CRS)
    ex = gpd.GeoDataFrame(geometry=[LineString([(x, y + 3000), (x + 60000, y + 3000)])], crs=CRS)
    ic = gpd.GeoDataFrame({"name": ["口"]}, geometry=[Point(x + 2000, y + 3000)], crs=CRS)
    roads2 = pd.concat([roads, gpd.GeoDataFrame({"grade": ["四级公路"]},
                                                geometry=[LineString([(x + 2000, y), (x + 2000, y + 3000)])], crs=CRS)])
    net = network.from_layers(gpd.GeoDataFrame(roads2, crs=CRS), ex, ic)
    place = gpd.GeoDataFrame({"name": ["镇"]}, geometry=[Point(x, y)], crs=CRS)
    band = access.isochrones(place, net, bands=(60,), buffer_m=300).to_crs(CRS).geometry.iloc[0]
    # the expressway itself is reached, but the land along it (no exits) is not covered
    assert not band.contains(Point(x + 30000, y + 3000))


def test_export_refuses_name_clash_and_suffix_mismatch(tmp_path, towns, capsys):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        towns.to_file(tmp_path / d / "roads.geojson")
    code = cli.main(["export", str(tmp_path / "a" / "roads.geojson"), str(tmp_path / "b" / "roads.geojson"),
                     "--out", str(tmp_path / "x.gpkg")])
    assert code == 2 and "both called 'roads'" in capsys.readouterr().err
    code = cli.main(["export", "boundary", "--format", "csv", "--out", str(tmp_path / "t.xlsx")])
    assert code == 2 and "does not match --format csv" in capsys.readouterr().err


def test_table_export_keeps_the_users_own_coordinate_columns(tmp_path, towns):
    t = towns.assign(lon=[1.0, 2.0, 3.0], 名称="别名")
    table = export.table_for_export(t, headers="zh")
    assert list(table["lon"]) == [1.0, 2.0, 3.0] and "经度" in table.columns
    assert table.columns.is_unique and list(table["名称"]) == ["别名"] * 3


def test_unreadable_county_geopackage_is_reported(tmp_path, capsys):
    (tmp_path / "CZKFBJ.gpkg").write_bytes(b"not a geopackage at all")
    code = cli.main(["--layers", str(tmp_path), "layers", "validate"])
    assert code == 2 and "CZKFBJ.gpkg" in capsys.readouterr().err


def test_wrong_geometry_type_for_the_layer(tmp_path):
    gpd.GeoDataFrame({"name": ["红线?"]}, geometry=[LineString([(105.2, 27.2), (105.3, 27.3)])],
                     crs=4490).to_file(tmp_path / "STBHHX.geojson")
    with pytest.raises(InputError, match="must hold Polygon features, but 1 are not: 红线\\? \\(LineString\\)"):
        catalog.Catalog(user=tmp_path).load("eco_redline")


def test_plots_with_empty_township_still_count():
    plots = gpd.GeoDataFrame({"crop": ["刺梨", "刺梨"], "township": ["朱昌镇", None]},
                             geometry=[box(0, 0, 1000, 1000), box(2000, 0, 3000, 1000)], crs=CRS)
    _, totals = overlay.crop_summary(plots)
    assert totals.set_index("crop").at["刺梨", "area_mu"] == pytest.approx(3000.0)


def test_cpg_saying_gbk_on_utf8_text(tmp_path, towns):
    towns.to_file(tmp_path / "t.shp", encoding="UTF-8")
    (tmp_path / "t.cpg").write_text("GBK")
    with pytest.warns(spatial.InputWarning, match="UTF-8 although the .cpg says GBK"):
        assert spatial.read(tmp_path / "t.shp")["name"].iloc[0] == "撒拉溪镇"


def test_rules_in_gbk_and_with_unknown_layers(tmp_path):
    f = tmp_path / "rules.csv"
    f.write_bytes("layer,phase,line,relation,severity,verdict\nparks,*,eco_redline,overlaps,conflict,占用红线\n"
                  .encode("gbk"))
    assert overlay.load_rules(f)["verdict"].iloc[0] == "占用红线"
    f.write_text("layer,phase,line,relation,severity,verdict\npark,*,eco_redline,overlaps,c,v\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown layer\\(s\\) park"):
        overlay.load_rules(f, known_layers=["parks", "roads"])
    f.write_text("", encoding="utf-8")
    with pytest.raises(InputError, match="empty"):
        overlay.load_rules(f)


def test_nan_coordinates_name_the_feature(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "好"}, "geometry": {"type": "Point", "coordinates": [105.2, 27.3]}},
        {"type": "Feature", "properties": {"name": "坏"}, "geometry": {"type": "Point", "coordinates": [105.2, "NaN"]}}]}
    p = tmp_path / "nan.geojson"
    p.write_text(json.dumps(fc).replace('"NaN"', "NaN"), encoding="utf-8")
    with pytest.raises(InputError, match=r"not numbers .*\(name=坏\)"):
        spatial.read(p)


@pytest.mark.parametrize("entry,message", [
    ('file = 5', "file must be text"),
    ('required_fields = "name"', "required_fields must be a list"),
    ('fields = "名称"', "fields must be a table"),
    ('geometry = "Line"', "geometry must be Point, LineString, Polygon or Raster"),
])
def test_catalog_values_of_the_wrong_type(tmp_path, entry, message):
    (tmp_path / "catalog.toml").write_text(f'[[layer]]\nid = "roads"\n{entry}\n', encoding="utf-8")
    with pytest.raises(InputError, match=message):
        catalog.Catalog(user=tmp_path)


def test_user_catalog_naming_a_missing_file(tmp_path, capsys):
    (tmp_path / "catalog.toml").write_text('[[layer]]\nid = "roads"\nfile = "nowhere.shp"\n', encoding="utf-8")
    assert cli.main(["--layers", str(tmp_path), "layers", "validate"]) == 2
    assert "nowhere.shp" in capsys.readouterr().err


def test_map_out_is_a_file(tmp_path, capsys):
    (tmp_path / "x.html").write_text("x")
    assert cli.main(["map", "--out", str(tmp_path / "x.html")]) == 2
    assert "is a file" in capsys.readouterr().err


def test_zip_from_a_mac(tmp_path, towns):
    towns.to_file(tmp_path / "t.shp")
    z = tmp_path / "mac.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in tmp_path.glob("t.*"):
            zf.write(p, p.name)
            zf.writestr(f"__MACOSX/._{p.name}", b"\x00\x05\x16\x07")
    assert len(spatial.read(z)) == 3


def test_folder_with_shapefile_and_geopackage_asks_which(tmp_path, towns):
    towns.to_file(tmp_path / "a.shp")
    towns.to_file(tmp_path / "b.gpkg")
    with pytest.raises(InputError, match=r"holds 2 data files \(a.shp, b.gpkg\); choose one"):
        spatial.read(tmp_path)
    assert len(spatial.read(tmp_path, layer="b")) == 3


def test_geopackage_with_only_a_table(tmp_path):
    import pyogrio
    pyogrio.write_dataframe(pd.DataFrame({"a": [1]}), tmp_path / "t.gpkg", layer="kpi")
    with pytest.raises(InputError, match="only tables without geometry \\(kpi\\)"):
        spatial.read(tmp_path / "t.gpkg")


def test_cpg_saying_utf8_on_gbk_text(tmp_path, towns):
    towns.to_file(tmp_path / "g.shp", encoding="GBK")
    (tmp_path / "g.cpg").write_text("UTF-8")
    with pytest.warns(spatial.InputWarning, match="GBK/GB18030 although the .cpg says UTF-8"):
        assert spatial.read(tmp_path / "g.shp")["name"].iloc[2] == "田坎彝族乡"


def test_layers_list_flags_two_files_for_one_layer(tmp_path, towns, capsys):
    towns.to_file(tmp_path / "townships.geojson")
    towns.to_file(tmp_path / "乡镇驻地.geojson")
    assert cli.main(["--layers", str(tmp_path), "layers", "list", "--format", "csv"]) == 0
    assert "several files match" in capsys.readouterr().out
