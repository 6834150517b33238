"""Tables as layers: coordinate columns, DMS, the X/Y convention, 界址点 polygons, townships."""
from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import openpyxl
import pytest
from click.testing import CliRunner
from pyproj import Transformer
from shapely.geometry import Point

from spatial import tables
from spatial.cli import cli
from spatial.errors import InputError, InputWarning
from spatial.load import read

# test points near the district seat (CGCS2000 lon/lat)
LONLAT = [(105.2801, 27.3012), (105.3123, 27.2877), (105.1544, 27.1981)]


def _read(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)
        return read(*args, **kwargs)


def _notes(gdf):
    return " | ".join(n.problem for n in gdf.attrs["notes"])


def _xlsx(path, rows, title=None, sheet="项目", extra_sheet=True):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    if title:
        ws.append([title])
    for row in rows:
        ws.append(row)
    if extra_sheet:
        wb.create_sheet("说明")
    wb.save(path)
    return path


@pytest.mark.parametrize("text, expected", [
    ("105°17′24.5″", 105 + 17 / 60 + 24.5 / 3600), ("105°17'24.5\"", 105 + 17 / 60 + 24.5 / 3600),
    ("105度17分24.5秒", 105 + 17 / 60 + 24.5 / 3600), ("105:17:24.5", 105 + 17 / 60 + 24.5 / 3600),
    ("105 17 24.5", 105 + 17 / 60 + 24.5 / 3600), ("105°17.408′", 105 + 17.408 / 60),
    ("E105°17′24.5″", 105 + 17 / 60 + 24.5 / 3600), ("北纬27°18′", 27.3), ("105.29", 105.29)])
def test_degrees_minutes_seconds(text, expected):
    assert tables.parse_degrees(text) == pytest.approx(expected, abs=1e-9)


@pytest.mark.parametrize("text", ["105°77′", "105°17′61″", "东105", "1o5°"])
def test_malformed_dms_is_refused(text):
    with pytest.raises(ValueError):
        tables.parse_degrees(text)


def test_xlsx_with_title_row_and_dms_names_the_excel_row(tmp_path):
    rows = [["序号", "项目名称", "经度", "纬度", "编码"],
            [1, "甲项目", "105°17′24.5″", "27°18′04.3″", "0101"],
            [2, "乙项目", 105.3123, 27.2877, "0102"]]
    path = _xlsx(tmp_path / "项目清单.xlsx", rows, title="七星关区重点项目表")
    gdf = _read(path)
    assert gdf.attrs["source"] == f"{path}|项目"              # the only sheet with coordinates
    assert list(gdf["项目名称"]) == ["甲项目", "乙项目"] and list(gdf["编码"]) == ["0101", "0102"]
    assert list(gdf["row"]) == [3, 4]                          # the title occupies Excel row 1
    assert gdf.geometry.iloc[0].equals_exact(Point(105 + 17 / 60 + 24.5 / 3600, 27 + 18 / 60 + 4.3 / 3600), 1e-9)
    assert "degrees taken as CGCS2000" in _notes(gdf)
    bad = _xlsx(tmp_path / "bad.xlsx", rows + [[3, "丙", "105°77′", "27.3", "0103"]], title="表")
    with pytest.raises(InputError, match=r"row 5, 经度: cannot read '105°77′' as degrees"):
        read(bad)


def test_same_table_in_gbk_and_utf8_bom(tmp_path):
    text = "名称,lon,lat,代码\n撒拉溪镇卫生院,105.0385,27.1999,0101\n朱昌镇卫生院,105.21,27.25,0102\n"
    (tmp_path / "gbk.csv").write_bytes(text.encode("gbk"))
    (tmp_path / "bom.csv").write_bytes(text.encode("utf-8-sig"))
    a, b = _read(tmp_path / "gbk.csv"), _read(tmp_path / "bom.csv")
    assert a.drop(columns="geometry").equals(b.drop(columns="geometry"))
    assert list(a["代码"]) == ["0101", "0102"] and "GBK" in _notes(a)
    assert a.geometry.geom_equals(b.geometry).all()


def _projected(epsg):
    tr = Transformer.from_crs(4490, epsg, always_xy=True)
    e, n = tr.transform([p[0] for p in LONLAT], [p[1] for p in LONLAT])
    return np.array(e), np.array(n)


@pytest.mark.parametrize("epsg", [4523, 4544])
@pytest.mark.parametrize("survey", [True, False])
def test_xy_convention_is_decided_from_the_numbers(tmp_path, epsg, survey):
    east, north = _projected(epsg)
    x, y = (north, east) if survey else (east, north)
    path = tmp_path / "点.csv"
    path.write_text("名称,X坐标,Y坐标\n" + "".join(f"p{i},{a:.4f},{b:.4f}\n" for i, (a, b) in enumerate(zip(x, y))),
                    encoding="utf-8")
    gdf = _read(path, crs=epsg)
    notes = _notes(gdf)
    assert ("X坐标 holds northings" if survey else "X坐标 holds eastings") in notes
    got = gdf.to_crs(epsg)
    assert np.allclose(got.geometry.x, east, atol=1e-3) and np.allclose(got.geometry.y, north, atol=1e-3)
    back = np.array([[g.x, g.y] for g in gdf.geometry])
    assert np.allclose(back, LONLAT, atol=1e-7)                  # within about a centimetre
    with pytest.raises(InputError, match="contradicts the numbers"):
        read(path, crs=epsg, x_axis="east" if survey else "north")
    # without a CRS: an error that suggests the zone
    with pytest.raises(InputError, match="coordinate system is unknown"):
        read(path)


def test_zone_suggestion_and_stated_order(tmp_path):
    east, north = _projected(4523)
    gdf, notes = tables.read_table(_write(tmp_path / "a.csv", "X,Y", north, east), x_axis="north")
    assert gdf.crs is None
    assert any("zone prefix 35" in n and "EPSG:4523" in n for n in notes)
    assert any("as stated" in n for n in notes)


def _write(path, header, a, b):
    path.write_text(header + "\n" + "".join(f"{x:.3f},{y:.3f}\n" for x, y in zip(a, b)), encoding="utf-8")
    return path


def test_xy_that_fit_neither_or_both_orders(tmp_path):
    with pytest.raises(InputError, match="fit neither order"):
        read(_write(tmp_path / "n.csv", "X,Y", [12.0, 13.0], [5.0e7, 5.1e7]), crs=4544)
    with pytest.raises(InputError, match="fit both orders .*state x_axis"):
        read(_write(tmp_path / "b.csv", "X,Y", [500000.0, 510000.0], [600000.0, 610000.0]), crs=4544)


def test_coordinates_outside_china_text_and_swapped(tmp_path):
    p = tmp_path / "far.csv"
    p.write_text("名称,经度,纬度\n甲,2.35,48.85\n", encoding="utf-8")
    with pytest.raises(InputError, match="outside China"):
        read(p)
    p.write_text("名称,经度,纬度\n甲,东边,27.3\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2, 经度: cannot read '东边'"):
        read(p)
    p.write_text("名称,经度,纬度\n甲,27.3,105.3\n乙,27.31,105.31\n", encoding="utf-8")
    gdf = _read(p)
    assert gdf.geometry.iloc[0].equals_exact(Point(105.3, 27.3), 1e-12) and "swapped" in _notes(gdf)
    p.write_text("名称,经度,纬度\n甲,105.3,27.3\n乙,,\n", encoding="utf-8")
    gdf = _read(p)
    assert gdf.geometry.iloc[1] is None and "rows without coordinates: 3" in _notes(gdf)
    p.write_text("名称,备注\n甲,无坐标\n", encoding="utf-8")
    with pytest.raises(InputError, match="no coordinate columns .* the table has: 名称, 备注"):
        read(p)


def _shoelace(xy):
    x, y = np.asarray(xy).T
    return 0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def test_boundary_point_table_becomes_polygons_with_the_shoelace_area(tmp_path):
    outer = [(35530000.0, 3020000.0), (35530400.0, 3020050.0), (35530380.0, 3020310.0), (35529990.0, 3020290.0)]
    hole = [(35530100.0, 3020100.0), (35530200.0, 3020100.0), (35530150.0, 3020200.0)]
    second = [(35531000.0, 3020000.0), (35531100.0, 3020000.0), (35531100.0, 3020100.0)]
    rows = [["地块号", "圈号", "界址点号", "X", "Y"]]
    for ring_no, ring in ((1, outer), (2, hole)):
        for i, (e, n) in enumerate(ring + ring[:1], start=1):      # closing point repeated
            rows.append(["A01" if (ring_no, i) == (1, 1) else "", ring_no, f"J{i}", n, e])
    for i, (e, n) in enumerate(second, start=1):
        rows.append(["A02", 1, f"J{i}", n, e])
    path = _xlsx(tmp_path / "成果.xlsx", rows, sheet="Sheet1", extra_sheet=False)
    gdf = _read(path, crs=4523)
    assert list(gdf["地块号"]) == ["A01", "A02"] and list(gdf["rings"]) == [2, 1]
    metric = gdf.to_crs(4523)
    assert metric.area.iloc[0] == pytest.approx(_shoelace(outer) - _shoelace(hole), rel=1e-6)
    assert metric.area.iloc[1] == pytest.approx(_shoelace(second), rel=1e-6)
    assert len(metric.geometry.iloc[0].interiors) == 1
    assert len(metric.geometry.iloc[0].exterior.coords) == len(outer) + 1   # closing point not doubled
    assert list(gdf["first_row"]) == [2, 11]
    # recognised by the file name too, and points on request
    (tmp_path / "界址点.csv").write_text("点名,X,Y\n" + "".join(f"{k},{n},{e}\n" for k, (e, n) in zip("abcd", outer)),
                                       encoding="utf-8")
    poly = _read(tmp_path / "界址点.csv", crs=4523)
    assert poly.to_crs(4523).area.iloc[0] == pytest.approx(_shoelace(outer), rel=1e-6)
    assert _read(tmp_path / "界址点.csv", crs=4523, geometry="point").geom_type.eq("Point").all()
    (tmp_path / "short.csv").write_text("点号,X,Y\nJ1,3020000,35530000\nJ2,3020010,35530010\n", encoding="utf-8")
    with pytest.raises(InputError, match="fewer than 3 distinct points"):
        read(tmp_path / "short.csv", crs=4523)


PLACES = gpd.GeoDataFrame({"name": ["撒拉溪镇", "阴底彝族苗族白族乡", "市西街道", "千溪彝族苗族白族乡"]},
                          geometry=[Point(105.04, 27.2), Point(105.12, 27.11), Point(105.29, 27.31), Point(105.2, 27.1)],
                          crs=4490)


def test_township_column_joins_by_short_name(tmp_path):
    p = tmp_path / "名单.csv"
    p.write_text("项目,所在乡镇\n甲,撒拉溪\n乙,阴底乡\n丙,市西\n丁,千溪乡\n戊,撒拉溪镇\n", encoding="utf-8")
    gdf, notes = tables.read_table(p, places=lambda kind: PLACES)
    assert list(gdf["township_matched"]) == ["撒拉溪镇", "阴底彝族苗族白族乡", "市西街道", "千溪彝族苗族白族乡", "撒拉溪镇"]
    assert gdf.geometry.iloc[1].equals(PLACES.geometry.iloc[1])
    assert any("4 by short name" in n for n in notes)
    p.write_text("项目,乡镇\n甲,撒啦溪\n乙,撒拉溪\n丙,撒啦溪\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"rows 2, 4: 撒啦溪 matches no township \(closest: 撒拉溪镇"):
        tables.read_table(p, places=lambda kind: PLACES)


def test_township_join_against_the_bundled_layers(tmp_path):
    p = tmp_path / "名单.csv"
    p.write_text("项目,乡镇\n甲,撒拉溪\n乙,阴底乡\n", encoding="utf-8")
    points = _read(p)
    areas = _read(p, geometry="polygon")
    assert points.geom_type.eq("Point").all() and areas.geom_type.isin(["Polygon", "MultiPolygon"]).all()
    assert areas.geometry.iloc[0].contains(points.geometry.iloc[0])


def test_cli_validate_tables_and_export_keeps_plain_tables(tmp_path):
    runner = CliRunner()
    p = tmp_path / "测试 输出" / "点.csv"
    p.parent.mkdir()
    east, north = _projected(4523)
    _write(p, "X,Y", north, east)
    res = runner.invoke(cli, ["layers", "validate", str(p), "--crs", "4523"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["layers", "validate", str(p), "--crs", "4523", "--x-axis", "east"])
    assert res.exit_code == 2 and "contradicts" in res.output
    plain = tmp_path / "result.csv"
    plain.write_text("name,minutes\n甲,12\n", encoding="utf-8")
    res = runner.invoke(cli, ["export", str(plain), "--format", "xlsx", "--out", str(tmp_path / "r.xlsx")])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["export", str(p), "--source-crs", "4523", "--out", str(tmp_path / "p.gpkg")])
    assert res.exit_code == 0, res.output
    back = _read(tmp_path / "p.gpkg")
    assert np.allclose([[g.x, g.y] for g in back.geometry], LONLAT, atol=1e-7)


def test_large_dms_table_reads(tmp_path):
    n = 100_000
    centi = np.arange(n) % 180000                     # hundredths of a second, under 30′
    lon = 105 + centi / 360000
    text = "\n".join(f"{i},105°{c // 6000}′{(c % 6000) / 100:.2f}″,27.3" for i, c in enumerate(centi))
    p = tmp_path / "big.csv"
    p.write_text("id,经度,纬度\n" + text + "\n", encoding="utf-8")
    gdf, _ = tables.read_table(p)
    assert len(gdf) == n
    assert np.allclose(gdf.geometry.x, lon, atol=1e-6)


def test_broken_xls_and_empty_workbook(tmp_path):
    xls = tmp_path / "旧表.xls"
    xls.write_bytes(b"this is not an Excel 97-2003 file")
    with pytest.raises(InputError, match="cannot read as an Excel 97–2003 workbook"):
        read(xls)
    empty = _xlsx(tmp_path / "空.xlsx", [], extra_sheet=False)
    with pytest.raises(InputError, match="the table is empty"):
        read(empty)
