"""Export: shapefile zips, GeoPackage, GeoJSON, CSV, XLSX, read back with pyogrio and fiona."""
from __future__ import annotations

import csv
import io
import os
import zipfile

import fiona
import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import CRS
from shapely.geometry import LineString, Point, box

from spatial import export
from spatial.errors import InputError
from spatial.export import ExportWarning


@pytest.fixture
def layer(towns):
    gdf = towns.copy()
    gdf["type"] = ["镇", "镇", "民族乡"]
    gdf["population_2020"] = [31000, 42000, 12000]
    gdf["面积_平方千米"] = [101.5, 88.25, 60.0]
    return gdf


def read_zip(path, member=None, engine="pyogrio"):
    with zipfile.ZipFile(path) as zf:
        shps = [n for n in zf.namelist() if n.endswith(".shp")]
    member = member or shps[0]
    if engine == "fiona":
        with fiona.open(f"zip://{path}!{member}") as src:
            return gpd.GeoDataFrame.from_features(list(src), crs=src.crs)
    return pyogrio.read_dataframe(f"/vsizip/{path}/{member}")


def fieldmap(path) -> dict:
    with zipfile.ZipFile(path) as zf:
        text = zf.read("fieldmap.csv").decode("utf-8-sig")
    return {r["full_name"]: r["short_name"] for r in csv.DictReader(io.StringIO(text))}


# ------------------------------------------------------------------ shapefile
@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
@pytest.mark.parametrize("epsg", [4490, 4544, 4523])
def test_shapefile_zip_round_trip(tmp_path, layer, encoding, epsg):
    out = export.write(layer, tmp_path / "乡镇.zip", crs=epsg, encoding=encoding)
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        prj = zf.read("乡镇.prj").decode("ascii")
        cpg = zf.read("乡镇.cpg").decode("ascii")
        dbf = zf.read("乡镇.dbf")
    assert {"乡镇.shp", "乡镇.shx", "乡镇.dbf", "乡镇.prj", "乡镇.cpg", "fieldmap.csv"} <= names
    assert CRS.from_wkt(prj).to_epsg() == epsg
    assert cpg == {"utf-8": "UTF-8", "gbk": "936"}[encoding]
    assert dbf[29] == {"utf-8": 0x00, "gbk": 0x4D}[encoding]
    # the Chinese text really is in the requested encoding
    assert "田坎彝族乡".encode(encoding) in dbf
    fmap = fieldmap(out)
    for engine in ("pyogrio", "fiona"):
        back = read_zip(out, engine=engine)
        assert CRS(back.crs).to_epsg() == epsg
        assert list(back[fmap["name"]]) == list(layer["name"])
        assert list(back[fmap["type"]]) == ["镇", "镇", "民族乡"]
        assert list(back[fmap["population_2020"]].astype(int)) == [31000, 42000, 12000]
        assert np.allclose(back[fmap["面积_平方千米"]].astype(float), [101.5, 88.25, 60.0])
        expected = layer.to_crs(epsg).geometry
        assert np.allclose(shapely.get_coordinates(back.geometry.values),
                           shapely.get_coordinates(expected.values), atol=1e-6 if epsg == 4490 else 1e-3)


def test_field_names_are_shortened_deterministically_in_bytes():
    names = ["name", "population_2020", "population_2010", "population", "面积_平方千米", "面积_平方公里",
             "NAME"]
    utf8 = export.short_field_names(names, "utf-8")
    gbk = export.short_field_names(names, "gbk")
    for mapping, codec in ((utf8, "utf-8"), (gbk, "gbk")):
        shorts = list(mapping.values())
        assert all(len(s.encode(codec)) <= 10 for s in shorts)
        assert len({s.casefold() for s in shorts}) == len(shorts)       # unique, ignoring case
        assert mapping["name"] == "name" and mapping["population"] == "population"
    assert utf8["population_2020"] == "populati_1" and utf8["population_2010"] == "populati_2"
    assert utf8["NAME"] == "NAME_1"
    assert utf8["面积_平方千米"] == "面积_平" and utf8["面积_平方公里"] == "面积__1"   # 3 bytes a character
    assert gbk["面积_平方千米"] == "面积_平方" and gbk["面积_平方公里"] == "面积_平_1"   # 2 bytes a character
    assert export.short_field_names(names, "utf-8") == utf8                  # deterministic


def test_field_map_in_zip_matches_the_dbf(tmp_path, layer):
    layer["population_2010"] = [1, 2, 3]
    out = export.write(layer, tmp_path / "t.zip")
    fmap = fieldmap(out)
    back = read_zip(out)
    assert set(fmap.values()) == set(back.columns) - {"geometry"}
    assert list(back[fmap["population_2010"]]) == [1, 2, 3]
    assert list(back[fmap["population_2020"]]) == [31000, 42000, 12000]


def test_long_text_goes_whole_to_a_sidecar(tmp_path, layer):
    layer["note"] = ["短", "规划说明" * 40, "x"]                      # 480 bytes in UTF-8
    with pytest.warns(ExportWarning, match="longer than 254 bytes"):
        out = export.write(layer, tmp_path / "t.zip")
    back = read_zip(out)
    assert back["note"][0] == "短"
    assert 0 < len(back["note"][1].encode("utf-8")) <= 254 and "规划说明".startswith(back["note"][1][:4])
    with zipfile.ZipFile(out) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("t_longtext.csv").decode("utf-8-sig"))))
    assert rows == [{"shapefile": "t.shp", "fid": "1", "field": "note", "short_field": "note",
                     "value": "规划说明" * 40}]


def test_mixed_geometry_types_split_per_type(tmp_path):
    gdf = gpd.GeoDataFrame({"name": ["点", "线", "面", "面2"]}, geometry=[
        Point(105.2, 27.3), LineString([(105.2, 27.3), (105.3, 27.3)]),
        box(105.2, 27.2, 105.3, 27.25), box(105.4, 27.2, 105.5, 27.25)], crs=4490)
    with pytest.warns(ExportWarning, match="mixed geometry types"):
        out = export.write(gdf, tmp_path / "mixed.zip")
    with zipfile.ZipFile(out) as zf:
        shps = sorted(n for n in zf.namelist() if n.endswith(".shp"))
    assert shps == ["mixed_line.shp", "mixed_point.shp", "mixed_polygon.shp"]
    assert list(read_zip(out, "mixed_polygon.shp")["name"]) == ["面", "面2"]
    assert read_zip(out, "mixed_point.shp").geom_type.tolist() == ["Point"]


def test_size_warning_and_limit(tmp_path, layer, monkeypatch):
    monkeypatch.setattr(export, "SHP_WARN_BYTES", 100)
    with pytest.warns(ExportWarning, match="close to the 2 GiB limit"):
        export.write(layer, tmp_path / "a.zip")
    monkeypatch.setattr(export, "SHP_LIMIT_BYTES", 200)
    with pytest.raises(InputError, match="beyond the format's 2 GiB limit.*gpkg"):
        export.write(layer, tmp_path / "b.zip")
    assert not (tmp_path / "b.zip").exists()


def test_gbk_cannot_hold_a_value(tmp_path, layer):
    layer.loc[1, "name"] = "朱昌镇🌶"
    with pytest.raises(InputError) as info:
        export.write(layer, tmp_path / "t.zip", encoding="gbk")
    msg = str(info.value)
    assert "'朱昌镇🌶'" in msg and "field 'name'" in msg and "GBK cannot encode" in msg and "feature 1" in msg
    assert not (tmp_path / "t.zip").exists()
    export.write(layer, tmp_path / "t.zip", encoding="utf-8")            # UTF-8 holds it
    assert read_zip(tmp_path / "t.zip")["name"][1] == "朱昌镇🌶"


# ------------------------------------------------------------------ GeoPackage, GeoJSON
def test_geopackage_holds_many_layers_with_chinese_names(tmp_path, layer):
    roads = gpd.GeoDataFrame({"名称": ["G326"], "公路等级": ["二级"]},
                             geometry=[LineString([(105.1, 27.3), (105.3, 27.35)])], crs=4490)
    out = export.write({"乡镇驻地": layer, "国省干线": roads}, tmp_path / "成果.gpkg", crs=4544)
    assert sorted(pyogrio.list_layers(out)[:, 0]) == ["乡镇驻地", "国省干线"]
    back = pyogrio.read_dataframe(out, layer="国省干线")
    assert list(back.columns) == ["名称", "公路等级", "geometry"] and back["公路等级"][0] == "二级"
    assert CRS(back.crs).to_epsg() == 4544
    with fiona.open(out, layer="乡镇驻地") as src:
        assert [f["properties"]["面积_平方千米"] for f in src] == [101.5, 88.25, 60.0]
    # add a layer to the existing file
    export.write({"边界": gpd.GeoDataFrame(geometry=[box(105, 27, 105.5, 27.5)], crs=4490)}, out, add=True)
    assert len(pyogrio.list_layers(out)) == 3


def test_geojson_is_lon_lat_only(tmp_path, layer):
    out = export.write(layer, tmp_path / "t.geojson")
    back = gpd.read_file(out)
    assert list(back["name"]) == list(layer["name"])
    assert np.allclose(back.geometry.x, layer.geometry.x)
    with pytest.raises(InputError, match="GeoJSON is longitude/latitude"):
        export.write(layer, tmp_path / "p.geojson", crs=4544)


# ------------------------------------------------------------------ tables
def test_csv_has_bom_and_chinese_headers(tmp_path, layer):
    out = export.write(layer, tmp_path / "t.csv")
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    table = pd.read_csv(out, encoding="utf-8-sig", dtype={"代码": str})
    assert {"名称", "代码", "经度", "纬度", "几何(WKT)"} <= set(table.columns)
    assert list(table["名称"]) == list(layer["name"]) and table["代码"][0] == "520502106000"
    assert np.allclose(table["经度"], layer.geometry.x)
    raw_headers = export.write(layer, tmp_path / "r.csv", headers="raw")
    assert pd.read_csv(raw_headers, encoding="utf-8-sig").columns[0] == "name"
    gbk = export.write(layer, tmp_path / "g.csv", encoding="gbk")
    assert "撒拉溪镇".encode("gbk") in gbk.read_bytes()


def test_kpi_table_to_xlsx_and_csv(tmp_path):
    kpi = pd.DataFrame({"scenario": ["current", "planned"], "share": [0.52, 0.65], "target": [0.6, 0.6]})
    out = export.write({"KPI": kpi}, tmp_path / "kpi.xlsx")
    wb = openpyxl.load_workbook(out)
    ws = wb["KPI"]
    assert [c.value for c in ws[1]] == ["情景", "比例", "目标"]
    assert [c.value for c in ws[3]] == ["planned", 0.65, 0.6]
    with pytest.raises(InputError, match="table without geometry"):
        export.write(kpi, tmp_path / "kpi.zip")
    gpkg = export.write({"kpi": kpi}, tmp_path / "kpi.gpkg")            # an attribute table
    assert list(pyogrio.read_dataframe(gpkg, layer="kpi")["share"]) == [0.52, 0.65]


def test_xlsx_of_layers_gives_coordinates_not_wkt(tmp_path, layer):
    poly = gpd.GeoDataFrame({"name": ["方块"]}, geometry=[box(105.2, 27.2, 105.3, 27.3)], crs=4490)
    out = export.write({"乡镇": layer, "地块": poly}, tmp_path / "t.xlsx")
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["乡镇", "地块"]
    header = [c.value for c in wb["地块"][1]]
    assert "几何(WKT)" not in header and {"名称", "几何类型", "经度", "纬度"} <= set(header)


# ------------------------------------------------------------------ safety and bad input
def test_existing_file_is_not_overwritten_without_permission(tmp_path, layer):
    out = export.write(layer, tmp_path / "t.gpkg")
    before = out.read_bytes()
    with pytest.raises(InputError, match="already exists.*overwrite"):
        export.write(layer.iloc[:1], out)
    assert out.read_bytes() == before
    export.write(layer.iloc[:1], out, overwrite=True)
    assert len(pyogrio.read_dataframe(out)) == 1


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, layer, monkeypatch):
    out = export.write(layer, tmp_path / "t.zip")
    before = out.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")
    monkeypatch.setattr(export.pyogrio, "write_dataframe", boom)
    with pytest.raises(OSError):
        export.write(layer, out, overwrite=True)
    assert out.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["t.zip"]


def test_unsupported_crs_and_format_and_paths(tmp_path, layer):
    with pytest.raises(InputError, match="unsupported coordinate system '3857'"):
        export.write(layer, tmp_path / "t.zip", crs="3857")
    with pytest.raises(InputError, match="unknown format 'dwg'"):
        export.write(layer, tmp_path / "t.dwg", format="dwg")
    with pytest.raises(InputError, match="folder does not exist"):
        export.write(layer, tmp_path / "no" / "t.gpkg")
    with pytest.raises(InputError, match="unsupported encoding 'latin-1'"):
        export.write(layer, tmp_path / "t.zip", encoding="latin-1")


def test_unwritable_places(tmp_path, layer, monkeypatch):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(InputError, match="a_file: is a file, not a folder"):
        export.write(layer, tmp_path / "a_file" / "t.gpkg")
    real_access = os.access
    monkeypatch.setattr(export.os, "access", lambda p, mode: False if str(p).endswith("ro") else real_access(p, mode))
    (tmp_path / "ro").mkdir()
    with pytest.raises(InputError, match="ro: folder is not writable"):
        export.write(layer, tmp_path / "ro" / "t.gpkg")


def test_long_text_sidecar_names_the_part_of_a_mixed_layer(tmp_path):
    long = "说明" * 200
    gdf = gpd.GeoDataFrame({"name": ["甲", "乙", "丙"], "note": [long, "短", long]}, geometry=[
        LineString([(105.2, 27.3), (105.3, 27.3)]), Point(105.2, 27.3), Point(105.25, 27.3)], crs=4490)
    with pytest.warns(ExportWarning):
        out = export.write(gdf, tmp_path / "mix.zip")
    with zipfile.ZipFile(out) as zf:
        rows = list(csv.DictReader(io.StringIO(zf.read("mix_longtext.csv").decode("utf-8-sig"))))
    assert sorted((r["shapefile"], r["fid"]) for r in rows) == [("mix_line.shp", "0"), ("mix_point.shp", "1")]
    pts = read_zip(out, "mix_point.shp")
    assert pts["name"][1] == "丙"
