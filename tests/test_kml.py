"""KML/KMZ: reading placemarks (folders, HTML, ExtendedData, geometry types), safety, writing."""
from __future__ import annotations

import warnings
import zipfile

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import LineString, Point, Polygon

from spatial import chinacoords, kml
from spatial.cli import cli
from spatial.errors import InputError, InputWarning
from spatial.load import read

NS = 'xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2"'


def _doc(body: str, ns: str = NS, decl: str = '<?xml version="1.0" encoding="UTF-8"?>') -> str:
    return f"{decl}\n<kml {ns}><Document><name>测试</name>{body}</Document></kml>"


def _pm(name, geom, desc="", extra=""):
    return f"<Placemark><name>{name}</name>{desc}{extra}{geom}</Placemark>"


SITE = ("<Polygon><outerBoundaryIs><LinearRing><coordinates>105.30,27.30,1200 105.31,27.30,1200 "
        "105.31,27.31,1200 105.30,27.31,1200 105.30,27.30,1200</coordinates></LinearRing></outerBoundaryIs>"
        "<innerBoundaryIs><LinearRing><coordinates>105.302,27.302 105.304,27.302 105.304,27.304 105.302,27.304"
        "</coordinates></LinearRing></innerBoundaryIs></Polygon>")
FIELD_KML = _doc(
    "<Folder><name>项目</name>"
    "<Folder><name>一期</name>"
    + _pm("一号地块", SITE,
          "<description><![CDATA[<table><tr><td>面积</td><td>120&nbsp;亩</td></tr></table>"
          "<script>alert('x')</script><p>业主：七星关区某公司</p>]]></description>",
          '<ExtendedData><Data name="面积亩"><value>120.5</value></Data>'
          '<Data name="编号"><value>0101</value></Data></ExtendedData>')
    + "</Folder><Folder><name>二期</name>"
    + _pm("道路", "<LineString><coordinates>105.30,27.30 105.32 , 27.31</coordinates></LineString>",
          extra='<ExtendedData><SchemaData schemaUrl="#s"><SimpleData name="面积亩">7</SimpleData>'
                '<SimpleData name="编号">0102</SimpleData></SchemaData></ExtendedData>')
    + "</Folder></Folder>"
    + _pm("井", "<Point><coordinates>105.305,27.305,0</coordinates></Point>")
    + _pm("两块", "<MultiGeometry><Polygon><outerBoundaryIs><LinearRing><coordinates>105.4,27.4 105.41,27.4 "
          "105.41,27.41 105.4,27.4</coordinates></LinearRing></outerBoundaryIs></Polygon>"
          "<Point><coordinates>105.405,27.405</coordinates></Point>"
          "<Polygon><outerBoundaryIs><LinearRing><coordinates>105.5,27.5 105.51,27.5 105.51,27.51 105.5,27.5"
          "</coordinates></LinearRing></outerBoundaryIs></Polygon></MultiGeometry>")
    + _pm("轨迹", "<gx:Track><when>2024-01-01T00:00:00Z</when><gx:coord>105.1 27.1 900</gx:coord>"
          "<when>2024-01-01T00:01:00Z</when><gx:coord>105.2 27.2 950</gx:coord></gx:Track>"))


@pytest.fixture
def field_kml(tmp_path):
    path = tmp_path / "外业.kml"
    path.write_text(FIELD_KML, encoding="utf-8")
    return path


def test_folders_names_descriptions_and_extended_data(field_kml):
    gdf, notes = kml.read_kml(field_kml)
    assert list(gdf["name"]) == ["一号地块", "道路", "井", "两块", "轨迹"]
    assert list(gdf["folder"]) == ["项目/一期", "项目/二期", "", "", ""]
    assert kml.list_layers(field_kml) == ["项目/一期", "项目/二期", ""]
    assert gdf["description"].iloc[0] == "面积 120 亩\n业主：七星关区某公司"      # script dropped, &nbsp; unescaped
    assert list(gdf["面积亩"].iloc[:2]) == [120.5, 7.0]
    assert list(gdf["编号"].iloc[:2]) == ["0101", "0102"]                       # codes stay text
    assert "altitudes dropped (3D coordinates)" in notes
    assert any("kept the polygons, dropped 1 part" in n for n in notes)
    assert gdf.crs.to_epsg() == 4326


def test_geometries_equal_the_source_coordinates(field_kml):
    gdf, _ = kml.read_kml(field_kml)
    site = Polygon([(105.30, 27.30), (105.31, 27.30), (105.31, 27.31), (105.30, 27.31)],
                   [[(105.302, 27.302), (105.304, 27.302), (105.304, 27.304), (105.302, 27.304)]])
    assert gdf.geometry.iloc[0].equals_exact(site, 1e-12)
    assert gdf.geometry.iloc[1].equals_exact(LineString([(105.30, 27.30), (105.32, 27.31)]), 1e-12)
    assert gdf.geometry.iloc[2].equals_exact(Point(105.305, 27.305), 1e-12)
    assert gdf.geometry.iloc[3].geom_type == "MultiPolygon" and len(gdf.geometry.iloc[3].geoms) == 2
    assert gdf.geometry.iloc[4].equals_exact(LineString([(105.1, 27.1), (105.2, 27.2)]), 1e-12)
    assert not shapely.has_z(gdf.geometry.values).any()


def test_layer_picks_a_folder_by_path_or_last_part(field_kml):
    assert list(kml.read_kml(field_kml, "项目/二期")[0]["name"]) == ["道路"]
    assert list(kml.read_kml(field_kml, "一期")[0]["name"]) == ["一号地块"]
    assert list(kml.read_kml(field_kml, "项目")[0]["name"]) == ["一号地块", "道路"]
    with pytest.raises(InputError, match=r"no folder named '三期'; it holds: 项目/一期, 项目/二期, \(top level\)"):
        kml.read_kml(field_kml, "三期")


def test_spatial_read_normalises_and_converts_gcj02(field_kml):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        wgs = read(field_kml, layer="一期")
        gcj = read(field_kml, layer="一期", coords="gcj02")
    assert wgs.crs.to_epsg() == 4490 and wgs.attrs["source"].endswith("|一期")
    expected = chinacoords.transform_geometries(np.array([wgs.geometry.iloc[0]]), "gcj02", "wgs84")[0]
    assert gcj.geometry.iloc[0].equals_exact(expected, 1e-9)
    assert wgs.geometry.iloc[0].hausdorff_distance(gcj.geometry.iloc[0]) > 1e-3     # the offset is hundreds of metres


def test_kml_written_by_gdal_reads_back(tmp_path):
    src = gpd.GeoDataFrame({"Name": ["甲地块", "乙路"], "面积": [12.5, 3.0]},
                           geometry=[Polygon([(105.3, 27.3), (105.31, 27.3), (105.31, 27.31)]),
                                     LineString([(105.2, 27.2), (105.25, 27.22)])], crs=4326)
    path = tmp_path / "gdal.kml"
    pyogrio.write_dataframe(src, path, driver="KML", layer="项目")
    gdf, _ = kml.read_kml(path)
    assert list(gdf["name"]) == ["甲地块", "乙路"]
    assert list(gdf["面积"]) == [12.5, 3.0]
    for a, b in zip(gdf.geometry, src.geometry):
        assert a.equals_exact(b, 1e-7)


def test_kmz_and_its_errors(tmp_path):
    good = tmp_path / "a.kmz"
    with zipfile.ZipFile(good, "w") as zf:
        zf.writestr("files/icon.png", b"png")
        zf.writestr("doc.kml", FIELD_KML)
    assert len(kml.read_kml(good)[0]) == 5
    empty = tmp_path / "b.kmz"
    with zipfile.ZipFile(empty, "w") as zf:
        zf.writestr("readme.txt", "x")
    with pytest.raises(InputError, match="KMZ holds no .kml file"):
        read(empty)
    bad = tmp_path / "c.kmz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(InputError, match="not a valid KMZ"):
        read(bad)


def test_external_entities_are_refused_and_nothing_leaks(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-42", encoding="utf-8")
    evil = tmp_path / "evil.kml"
    evil.write_text(f'<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY s SYSTEM "file://{secret}">]>'
                    f'<kml {NS}><Placemark><name>&s;</name><Point><coordinates>105.3,27.3</coordinates>'
                    f'</Point></Placemark></kml>', encoding="utf-8")
    with pytest.raises(InputError, match="declares XML entities") as info:
        read(evil)
    assert "TOP-SECRET" not in str(info.value)
    res = CliRunner().invoke(cli, ["layers", "validate", str(evil)])
    assert res.exit_code == 2 and "TOP-SECRET" not in res.output
    laughs = tmp_path / "laughs.kml"
    laughs.write_text('<?xml version="1.0"?><!DOCTYPE kml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                      f'<kml {NS}><Placemark><name>&b;</name></Placemark></kml>', encoding="utf-8")
    with pytest.raises(InputError, match="declares XML entities"):
        read(laughs)


def test_malformed_empty_and_bad_coordinates(tmp_path):
    broken = tmp_path / "broken.kml"
    broken.write_text(_doc("<Placemark><name>x</name></Folder>"), encoding="utf-8")
    with pytest.raises(InputError, match=r"not valid XML: mismatched tag: line \d+, column \d+"):
        read(broken)
    empty = tmp_path / "empty.kml"
    empty.write_text(_doc("<Folder><name>空</name></Folder>"), encoding="utf-8")
    with pytest.raises(InputError, match="KML holds no placemarks"):
        read(empty)
    bad = tmp_path / "bad.kml"
    bad.write_text(_doc(_pm("甲", "<Point><coordinates>105.3;27.3</coordinates></Point>")), encoding="utf-8")
    with pytest.raises(InputError, match=r"placemark 1 \(甲\): coordinate '105.3;27.3' is not lon,lat"):
        read(bad)


def test_gbk_declared_kml_without_namespace(tmp_path):
    path = tmp_path / "gbk.kml"
    path.write_bytes(_doc(_pm("撒拉溪镇项目", "<Point><coordinates>105.1,27.3</coordinates></Point>"),
                          ns="", decl='<?xml version="1.0" encoding="GBK"?>').encode("gbk"))
    gdf, _ = kml.read_kml(path)
    assert list(gdf["name"]) == ["撒拉溪镇项目"]


def test_write_kml_and_kmz_round_trip(tmp_path):
    pts = gpd.GeoDataFrame({"name": ["甲", "乙"], "类型": ["井", "<script>alert(1)</script>"], "n": [1, 2]},
                           geometry=[Point(105.3, 27.3), Point(105.31, 27.31)], crs=4490)
    polys = gpd.GeoDataFrame({"名称": ["地块"], "面积亩": [15.0]},
                             geometry=[Polygon([(105.3, 27.3), (105.31, 27.3), (105.31, 27.31), (105.3, 27.31)],
                                               [[(105.302, 27.302), (105.304, 27.302), (105.304, 27.304)]])],
                             crs=4490).to_crs(4544)          # any CRS: converted on writing
    for suffix in (".kml", ".kmz"):
        path = tmp_path / f"外业{suffix}"
        kml.write_kml({"点": pts, "面": polys}, path)
        back, _ = kml.read_kml(path)
        assert list(back["folder"]) == ["点", "点", "面"]
        assert list(back["name"]) == ["甲", "乙", "地块"]
        assert back["类型"].iloc[1] == "<script>alert(1)</script>"          # the value, as text
        assert list(back["n"].iloc[:2]) == [1, 2]
        assert back.geometry.iloc[0].equals_exact(Point(105.3, 27.3), 1e-7)
        assert back.geometry.iloc[2].equals_exact(polys.to_crs(4326).geometry.iloc[0], 1e-7)
        gdal_path = f"/vsizip/{path}/doc.kml" if suffix == ".kmz" else str(path)
        assert sum(pyogrio.read_info(gdal_path, layer=n)["features"] for n in ("点", "面")) == 3
    raw = (tmp_path / "外业.kml").read_text(encoding="utf-8")
    assert "<script>" not in raw
    with pytest.raises(InputError, match="already exists"):
        kml.write_kml({"点": pts}, tmp_path / "外业.kml")
    assert (tmp_path / "外业.kml").read_text(encoding="utf-8") == raw
    kml.write_kml({"点": pts}, tmp_path / "gcj.kml", coords="gcj02")
    shifted, _ = kml.read_kml(tmp_path / "gcj.kml")
    expected = chinacoords.transform_geometries(pts.to_crs(4326).geometry.values, "wgs84", "gcj02")
    for a, b in zip(shifted.geometry, expected):
        assert a.equals_exact(b, 1e-7)
    back = chinacoords.transform_geometries(shifted.geometry.values, "gcj02", "wgs84")
    assert all(a.equals_exact(b, 1e-6) for a, b in zip(back, pts.geometry))


def test_cli_export_kmz_and_validate(tmp_path):
    runner = CliRunner()
    out = tmp_path / "测试 输出" / "外业.kmz"
    res = runner.invoke(cli, ["export", "parks", "reservoirs", "--format", "kmz", "--coords", "gcj02", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "GCJ-02" in res.output
    assert kml.list_layers(out) == ["parks", "reservoirs"]
    res = runner.invoke(cli, ["layers", "validate", str(out), "--coords", "gcj02", "--layer", "parks"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["export", "parks", "--format", "kml", "--crs", "4544", "--out", str(tmp_path / "a.kml")])
    assert res.exit_code == 2 and "longitude/latitude" in res.output
