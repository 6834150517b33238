"""File Geodatabases, DXF drawings, the 三调 DLTB layer and formats that cannot be read."""
from __future__ import annotations

import shutil
import subprocess
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import MultiPolygon, LineString, Point, Polygon, box

import spatial
from spatial import cad, export, filegdb, landuse, settings
from spatial.catalog import Catalog
from spatial.cli import cli
from spatial.errors import InputError, InputWarning
from spatial.load import read

OGRINFO = shutil.which("ogrinfo")


def _quiet_read(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        return read(*args, **kwargs)


def _parcels(n=3, code_cycle=("0101", "0201", "0301")):
    """Squares 200 m apart near 105.3°E 27.3°N, built in EPSG:4544 metres."""
    polys = [box(540000 + 300 * i, 3020000, 540000 + 300 * i + 200, 3020150) for i in range(n)]
    return gpd.GeoDataFrame({"BSM": [f"52050200{i:04d}" for i in range(n)],
                             "DLBM": [code_cycle[i % len(code_cycle)] for i in range(n)],
                             "权属单位名称": [f"第{i}村民组" for i in range(n)],
                             "TBMJ": [30000.0] * n},
                            geometry=polys, crs="EPSG:4544")


@pytest.fixture
def county_gdb(tmp_path) -> Path:
    """A geodatabase as a 国土空间规划 database arrives: a feature dataset with DLTB, the
    control lines at the top level, and a plain table."""
    path = tmp_path / "七星关区国土空间规划.gdb"
    dltb = _parcels(4).to_crs(4490)
    lines = gpd.GeoDataFrame({"名称": ["城镇开发边界"]}, geometry=[box(105.28, 27.28, 105.30, 27.30)], crs=4490)
    red = gpd.GeoDataFrame({"名称": ["生态保护红线"]}, geometry=[box(105.40, 27.20, 105.42, 27.22)], crs=4490)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        pyogrio.write_dataframe(dltb, path, layer="DLTB", driver="OpenFileGDB",
                                layer_options={"FEATURE_DATASET": "三调"})
        pyogrio.write_dataframe(lines, path, layer="CZKFBJ", driver="OpenFileGDB")
        pyogrio.write_dataframe(red, path, layer="STBHHX", driver="OpenFileGDB",
                                layer_options={"FEATURE_DATASET": "三区三线"})
        pyogrio.write_dataframe(pd.DataFrame({"项目": ["甲"], "面积": [1.0]}), path, layer="项目表",
                                driver="OpenFileGDB")
    return path


def _zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for f in sorted(folder.rglob("*")):
            zf.write(f, f.relative_to(folder.parent).as_posix())
    return target


# --------------------------------------------------------------------------- FileGDB
def test_gdb_lists_layers_with_their_feature_datasets(county_gdb):
    layers = filegdb.list_layers(str(county_gdb), county_gdb)
    shown = {lyr.shown: lyr.geometry for lyr in layers}
    assert shown == {"三调/DLTB": "MultiPolygon", "CZKFBJ": "MultiPolygon",
                     "三区三线/STBHHX": "MultiPolygon", "项目表": None}


@pytest.mark.skipif(OGRINFO is None, reason="Debian gdal-bin (ogrinfo) is installed by .ci/run")
def test_gdb_listing_agrees_with_ogrinfo(county_gdb):
    out = subprocess.run([OGRINFO, "-q", str(county_gdb)], capture_output=True, text=True, check=True).stdout
    groups, current = {}, ""
    for line in out.splitlines():
        if line.startswith("Group "):
            current = line[len("Group "):].rstrip(":").strip()
        elif "Layer: " in line:
            name = line.split("Layer: ", 1)[1].split(" (")[0].strip()
            groups[name] = current if line.startswith(" ") else ""
    ours = {lyr.name: lyr.dataset for lyr in filegdb.list_layers(str(county_gdb), county_gdb)}
    assert ours == groups


def test_gdb_read_by_name_or_path_matches_the_source(county_gdb):
    source = _parcels(4).to_crs(4490)
    for name in ("DLTB", "三调/DLTB", "dltb"):
        gdf = _quiet_read(county_gdb, layer=name)
        assert len(gdf) == 4 and gdf.crs.to_epsg() == 4490
        assert list(gdf["DLBM"]) == list(source["DLBM"])
        assert list(gdf["权属单位名称"]) == list(source["权属单位名称"])
        assert np.allclose(gdf.to_crs(4544).area, 200 * 150, rtol=1e-6)   # GDB coordinate grid
    assert _quiet_read(county_gdb, layer="DLTB").attrs["source"].endswith("|三调/DLTB")


def test_gdb_without_layer_or_unknown_layer_lists_them(county_gdb):
    with pytest.raises(InputError, match=r"holds 3 layers with geometry \(三调/DLTB, CZKFBJ, 三区三线/STBHHX, 项目表 \(table\)\)"):
        read(county_gdb)
    with pytest.raises(InputError, match=r"no layer named 'XZQ'; it holds: 三调/DLTB"):
        read(county_gdb, layer="XZQ")
    with pytest.raises(InputError, match="项目表.* is a table without geometry"):
        read(county_gdb, layer="项目表")


def test_zipped_gdb_reads_like_the_folder(county_gdb, tmp_path):
    zipped = _zip_folder(county_gdb, tmp_path / "成果.zip")
    gdf = _quiet_read(zipped, layer="STBHHX")
    assert gdf.attrs["source"] == f"{zipped}!{county_gdb.name}|三区三线/STBHHX"
    assert gdf.geometry.iloc[0].symmetric_difference(box(105.40, 27.20, 105.42, 27.22)).area < 1e-14


def test_partial_copy_of_a_gdb_is_named(county_gdb, tmp_path):
    partial = tmp_path / "partial.gdb"
    shutil.copytree(county_gdb, partial)
    catalog = pyogrio.read_dataframe(partial, layer="GDB_SystemCatalog", read_geometry=False, fid_as_index=True)
    fid = int(catalog.index[catalog["Name"] == "CZKFBJ"][0])
    (partial / f"a{fid:08x}.gdbtable").unlink()
    with pytest.raises(InputError, match=rf"partial copy: 1 table file\(s\) are missing: CZKFBJ \(a{fid:08x}.gdbtable\)"):
        read(partial, layer="DLTB")
    (partial / filegdb.SYSTEM_TABLE).unlink()
    with pytest.raises(InputError, match="a00000001.gdbtable .* is missing"):
        read(partial, layer="DLTB")
    # the same partial copy inside a zip
    shutil.rmtree(partial)
    shutil.copytree(county_gdb, partial)
    (partial / f"a{fid:08x}.gdbtable").unlink()
    with pytest.raises(InputError, match="partial copy"):
        read(_zip_folder(partial, tmp_path / "partial.zip"), layer="DLTB")


def test_layers_folder_picks_county_layers_out_of_a_gdb(county_gdb):
    cat = Catalog(county_gdb.parent)
    assert cat.get("urban_boundary").origin == "user"
    assert cat.get("urban_boundary").layer == "CZKFBJ"
    assert cat.get("eco_redline").layer == "三区三线/STBHHX"
    assert cat.get("landuse").layer == "三调/DLTB"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        urban = cat.load("urban_boundary")
        parcels = cat.load("landuse")
    assert urban.attrs["origin"] == "user" and len(urban) == 1
    assert list(parcels["dlbm_name"]) == ["水田", "果园", "乔木林地", "水田"]
    assert list(parcels["dlbm_group"]) == ["耕地", "园地", "林地", "耕地"]


def test_cli_validate_and_layers_with_a_gdb(county_gdb):
    runner = CliRunner()
    res = runner.invoke(cli, ["layers", "validate", str(county_gdb), "--layer", "三调/DLTB"])
    assert res.exit_code == 0, res.output
    assert "ok:" in res.output and "4 features" in res.output
    res = runner.invoke(cli, ["layers", "validate", str(county_gdb), "--layer", "nope"])
    assert res.exit_code == 2 and "no layer named 'nope'" in res.output
    res = runner.invoke(cli, ["--layers", str(county_gdb.parent), "layers", "validate"])
    assert "urban_boundary" not in res.output or "error" not in res.output
    assert res.exit_code == 0, res.output


# --------------------------------------------------------------------------- DLTB codes
def test_dlbm_table_has_the_73_classes_of_gb_t_21010_and_cropland_is_0101_to_0103():
    t = landuse.table()
    national = t[t["source"].str.startswith("GB/T 21010-2017")]
    assert len(national) == 73
    assert national["class_code"].nunique() == 12
    assert landuse.cropland_codes() == ("0101", "0102", "0103")
    assert t.loc["0202", "name"] == "茶园" and t.loc["0202", "group"] == "园地"
    assert t.loc["0304", "group"] == "湿地"          # the 工作分类 moves 森林沼泽 to 湿地
    assert t["code"].is_unique and t["source"].notna().all()


def test_dlbm_codes_are_normalised_and_unknown_ones_reported():
    codes = pd.Series(["0101", " 0103 ", 102, "0201k", None, "9999", "101.0"])
    d = landuse.describe(codes)
    assert list(d["dlbm"].fillna("-")) == ["0101", "0103", "0102", "0201K", "-", "9999", "0101"]
    assert list(d["is_cropland"]) == [True, True, True, False, False, False, True]
    assert d["dlbm_name"].iloc[3] == "可调整果园"
    assert landuse.unknown_codes(codes) == ["9999"]


def test_terrain_cropland_uses_the_code_table():
    from spatial.terrain import cropland_layer
    gdf = _parcels(6, ("0101", "0102", "0103", "0201", "0404K", "1203")).to_crs(4490)
    crop, note = cropland_layer(gdf)
    assert list(crop["DLBM"]) == ["0101", "0102", "0103"]
    assert "3 of 6 parcels" in note


# --------------------------------------------------------------------------- DXF
def _dxf(entities, version="AC1015", codepage="ANSI_936") -> str:
    head = ["0", "SECTION", "2", "HEADER", "9", "$ACADVER", "1", version, "9", "$DWGCODEPAGE", "3",
            codepage, "0", "ENDSEC", "0", "SECTION", "2", "ENTITIES"]
    return "\r\n".join(head + entities + ["0", "ENDSEC", "0", "EOF"]) + "\r\n"


def _lwpoly(layer, pts, closed=True, handle="1F"):
    out = ["0", "LWPOLYLINE", "5", handle, "100", "AcDbEntity", "8", layer, "100", "AcDbPolyline",
           "90", str(len(pts)), "70", "1" if closed else "0"]
    for x, y in pts:
        out += ["10", repr(x), "20", repr(y)]
    return out


def _text(layer, x, y, t):
    return ["0", "TEXT", "8", layer, "10", repr(x), "20", repr(y), "40", "2.5", "1", t]


# a 100 m × 80 m 用地红线 in CGCS2000 3-degree GK zone 35 (prefixed eastings)
RED_LINE = [(35512000.0, 3020000.0), (35512100.0, 3020000.0), (35512100.0, 3020080.0), (35512000.0, 3020080.0)]


@pytest.mark.parametrize("version, codepage, encoding", [("AC1015", "ANSI_936", "gbk"),
                                                        ("AC1032", "ANSI_1252", "utf-8")])
def test_dxf_red_line_becomes_a_polygon_with_its_cad_layer(tmp_path, version, codepage, encoding):
    ents = (_lwpoly("用地红线", RED_LINE) + _lwpoly("道路中线", [(35511900.0, 3019900.0), (35512200.0, 3020200.0)],
                                                 closed=False, handle="20")
            + _text("注记", 35512050.0, 3020040.0, "一号地块"))
    path = tmp_path / "红线.dxf"
    path.write_bytes(_dxf(ents, version, codepage).encode(encoding))
    assert cad.list_layers(path) == ["polygons", "lines", "points"]
    with pytest.raises(InputError, match=r"holds polygons \(1\), lines \(1\), points \(1\); choose one"):
        read(path, crs=4523)
    with pytest.raises(InputError, match="DXF drawing carries no coordinate system.*zone prefix 35.*EPSG:4523"):
        read(path, layer="polygons")
    red = _quiet_read(path, layer="polygons", crs=4523)
    assert list(red["cad_layer"]) == ["用地红线"]
    assert red.to_crs(4523).geometry.iloc[0].normalize().equals_exact(Polygon(RED_LINE).normalize(), 1e-6)
    assert red.to_crs(4523).area.iloc[0] == pytest.approx(8000.0, rel=1e-9)
    label = _quiet_read(path, layer="注记", crs=4523)
    assert list(label["text"]) == ["一号地块"] and label.geom_type.iloc[0] == "Point"
    road = _quiet_read(path, layer="道路中线", crs=4523)
    assert road.geom_type.iloc[0] == "LineString"
    with pytest.raises(InputError, match="no geometry type or CAD layer named '水系'"):
        read(path, layer="水系", crs=4523)


def test_dxf_written_by_gdal_reads_back(tmp_path):
    """GDAL as an independent writer: lines, a closed outline and points on named CAD layers."""
    g = gpd.GeoDataFrame({"Layer": ["红线", "道路", "井"]},
                         geometry=[Polygon(RED_LINE).exterior, LineString(RED_LINE[:2]), Point(RED_LINE[2])])
    path = tmp_path / "gdal.dxf"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_dataframe(g, path, driver="DXF")
    polys = _quiet_read(path, layer="polygons", crs=4523).to_crs(4523)
    assert list(polys["cad_layer"]) == ["红线"]
    assert polys.area.iloc[0] == pytest.approx(8000.0, rel=1e-9)
    pts = _quiet_read(path, layer="points", crs=4523).to_crs(4523)
    assert pts.geometry.iloc[0].distance(Point(RED_LINE[2])) < 1e-6


def test_dxf_without_entities_and_a_broken_dxf(tmp_path):
    empty = tmp_path / "empty.dxf"
    empty.write_text(_dxf([]), encoding="ascii")
    with pytest.raises(InputError, match="holds no points, lines or polygons"):
        read(empty, crs=4523)
    broken = tmp_path / "broken.dxf"
    broken.write_text("this is not a drawing", encoding="ascii")
    with pytest.raises(InputError, match="broken.dxf"):
        read(broken, crs=4523)


@pytest.mark.parametrize("suffix, words", [(".dwg", "save it as DXF"), (".wp", "MapGIS"),
                                           (".wl", "文件转换"), (".mdb", "File Geodatabase")])
def test_formats_that_cannot_be_read_say_how_to_convert(tmp_path, suffix, words):
    path = tmp_path / f"图{suffix}"
    path.write_bytes(b"\x00binary")
    with pytest.raises(InputError) as info:
        read(path)
    assert words in str(info.value) and str(path) in str(info.value)
    res = CliRunner().invoke(cli, ["layers", "validate", str(path)])
    assert res.exit_code == 2 and words in res.output and "Traceback" not in res.output


def test_cli_crs_option_reaches_a_dxf_in_any_command(tmp_path):
    path = tmp_path / "红线.dxf"
    path.write_bytes(_dxf(_lwpoly("用地红线", RED_LINE)).encode("gbk"))
    runner = CliRunner()
    res = runner.invoke(cli, ["coverage", "buffer", str(path), "--distance", "100m"])
    assert res.exit_code == 2 and "no coordinate system" in res.output
    res = runner.invoke(cli, ["coverage", "buffer", str(path), "--distance", "100m", "--crs", "4523"])
    assert res.exit_code == 0, res.output
    # 100 m × 80 m rectangle buffered by 100 m: 8000 + 2·100·(100+80) + π·100²
    expected_km2 = (8000 + 2 * 100 * 180 + np.pi * 100 ** 2) / 1e6
    assert f"{expected_km2:.3f} km²" in res.output


# --------------------------------------------------------------------------- export to GDB
def test_export_gdb_round_trip_with_chinese_fields(tmp_path, county_gdb):
    parcels = _parcels(3).to_crs(4490)
    parcels["面积(亩)"] = parcels.to_crs(4544).area / settings.M2_PER_MU
    parcels["n"] = np.arange(3, dtype="int64")
    mixed = gpd.GeoDataFrame({"名称": ["点", "面"]}, geometry=[Point(105.3, 27.3), box(105.3, 27.3, 105.31, 27.31)],
                             crs=4490)
    table = pd.DataFrame({"乡镇 名称": ["撒拉溪镇"], "达标": [True]})
    target = tmp_path / "成果.gdb"
    both = gpd.GeoDataFrame({"k": [1, 2]}, geometry=[box(105.3, 27.3, 105.31, 27.31), MultiPolygon(
        [box(105.32, 27.3, 105.33, 27.31), box(105.34, 27.3, 105.35, 27.31)])], crs=4490)
    export.write({"单多": both}, tmp_path / "单多.gdb")          # Polygon beside MultiPolygon
    assert list(_quiet_read(tmp_path / "单多.gdb", layer="单多").area.round(8)) == [1e-4, 2e-4]
    export.write({"地块": parcels, "混合": mixed, "表": table}, target, crs=4523)
    names = {str(n): g for n, g in pyogrio.list_layers(target)}
    assert names == {"地块": "MultiPolygon", "混合_point": "Point", "混合_polygon": "MultiPolygon",
                     "表": None, filegdb.FIELD_MAP_TABLE: None}
    back = _quiet_read(target, layer="地块")
    assert pyogrio.read_info(target, layer="地块")["crs"] == "EPSG:4523"
    assert list(back["权属单位名称"]) == list(parcels["权属单位名称"])
    assert np.allclose(back["面积_亩"], parcels["面积(亩)"])
    assert pyogrio.read_info(target, layer="地块")["dtypes"][list(back.columns).index("n")] == "int32"
    for a, b in zip(back.geometry, parcels.geometry):
        assert a.symmetric_difference(b).area < 1e-14          # degrees²: same outline
    fmap = pyogrio.read_dataframe(target, layer=filegdb.FIELD_MAP_TABLE, read_geometry=False)
    assert {"地块": ("面积_亩", "面积(亩)"), "表": ("乡镇_名称", "乡镇 名称")} == {
        r.layer: (r.field, r.original) for r in fmap.itertuples() if r.layer in ("地块", "表")}
    with pytest.raises(InputError, match="already exists"):
        export.write({"地块": parcels}, target)
    assert "表" in {str(n) for n in pyogrio.list_layers(target)[:, 0]}      # untouched
    export.write({"地块": parcels}, target, overwrite=True)
    assert {str(n) for n in pyogrio.list_layers(target)[:, 0]} == {"地块", filegdb.FIELD_MAP_TABLE}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]   # no temporary leftovers


def test_gdb_field_names_are_deterministic_and_unique():
    names = filegdb.field_names(["面积(亩)", "面积 亩", "1st", "a-b", "x" * 70, "OBJECTID"])
    assert names["面积(亩)"] == "面积_亩" and names["面积 亩"] == "面积_亩_2"
    assert names["1st"] == "F_1st" and names["a-b"] == "a_b"
    assert len(names["x" * 70]) == filegdb.NAME_LIMIT
    assert filegdb.field_names(["面积(亩)", "面积 亩"]) == {k: names[k] for k in ("面积(亩)", "面积 亩")}


def test_cli_export_gdb_round_trips_catalog_layers_and_refuses_overwrite(tmp_path):
    runner = CliRunner()
    target = tmp_path / "测试 输出" / "七星关区.gdb"
    res = runner.invoke(cli, ["export", "townships", "parks", "--format", "gdb", "--out", str(target)])
    assert res.exit_code == 0, res.output
    towns = spatial.load_layer("townships")
    back = _quiet_read(target, layer="townships")
    assert list(back["name"]) == list(towns["name"])
    assert np.allclose(shapely.get_coordinates(back.geometry), shapely.get_coordinates(towns.geometry), atol=1e-9)
    res = runner.invoke(cli, ["export", "townships", "--format", "gdb", "--out", str(target)])
    assert res.exit_code == 2 and "already exists" in res.output
    assert {str(n) for n in pyogrio.list_layers(target)[:, 0]} >= {"townships", "parks"}
    if OGRINFO:
        out = subprocess.run([OGRINFO, "-q", str(target)], capture_output=True, text=True, check=True).stdout
        assert "townships" in out and "parks" in out
