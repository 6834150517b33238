"""The site pre-check (qxg check site): areas against analytic shapes and an independent overlay,
the same parcel in every format, the rules by project type, the report, bad input, batches."""
from __future__ import annotations

import math
import re
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import openpyxl
import pandas as pd
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, Polygon, box

import spatial
from spatial import access, catalog, network, settings, site, site_report
from spatial.cli import main as cli_main
from spatial.errors import InputError
from terrain_fixtures import X0, Y0, plane_tif
from test_maps import ARTIFACTS, _open, _png_colors, browser  # noqa: F401 - the browser fixture

MU = settings.M2_PER_MU
#: the project: 600 m × 400 m, in EPSG:4544 — 240,000 m² = 360 亩
PARCEL = box(X0 + 100, Y0 - 700, X0 + 700, Y0 - 300)
ECO = box(X0 - 500, Y0 - 1000, X0 + 300, Y0)                # overlap 200 × 400 = 120 亩
FARM = box(X0 + 500, Y0 - 1000, X0 + 1500, Y0 - 500)        # overlap 200 × 200 = 60 亩
URBAN = box(X0, Y0 - 600, X0 + 2000, Y0 + 500)              # overlap 600 × 300, 25 % outside
HEXAGON = Polygon([(X0 + 50, Y0 - 500), (X0 + 250, Y0 - 820), (X0 + 640, Y0 - 780), (X0 + 790, Y0 - 450),
                   (X0 + 560, Y0 - 180), (X0 + 170, Y0 - 230)])


@pytest.fixture(autouse=True)
def no_user_layers(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)


def _frame(geoms, crs=settings.METRIC_CRS, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=crs)


@pytest.fixture(scope="module")
def county(tmp_path_factory) -> Path:
    """A county folder with known control lines (the other layers stay the bundled ones)."""
    folder = tmp_path_factory.mktemp("county") / "县 图层"
    folder.mkdir()
    for name, geom in (("eco_redline", ECO), ("basic_farmland", FARM), ("urban_boundary", URBAN)):
        _frame([geom], name=[name]).to_crs(4490).to_file(folder / f"{name}.gpkg", layer=name)
    return folder


@pytest.fixture(scope="module")
def cat(county):
    return catalog.catalog(county)


def run(capsys, *args):
    code = cli_main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _line(report, line_zh):
    return report.lines[report.lines["管控线"] == line_zh].iloc[0]


# ------------------------------------------------------------------ areas
def test_rectangle_areas_are_the_analytic_ones(cat):
    r = spatial.check_site(_frame([PARCEL], name=["一号地块"]), catalog=cat, name="测试项目")
    assert r.parcels["area_m2"].iloc[0] == pytest.approx(240_000.0, rel=1e-6)
    assert r.parcels["area_mu"].iloc[0] == pytest.approx(360.0, rel=1e-6)
    assert r.parcels["area_ha"].iloc[0] == pytest.approx(24.0, rel=1e-6)
    assert _line(r, "生态保护红线")["重叠面积(亩)"] == pytest.approx(120.0, rel=1e-5)
    assert _line(r, "永久基本农田")["重叠面积(亩)"] == pytest.approx(60.0, rel=1e-5)
    urban = _line(r, "城镇开发边界")
    assert urban["重叠面积(亩)"] == pytest.approx(270.0, rel=1e-5) and urban["占地块比例"] == pytest.approx(0.75, abs=1e-4)
    # construction: red line conflict, farmland 需论证 (key projects only), outside the urban boundary 需论证
    assert (_line(r, "生态保护红线")["判定"], _line(r, "永久基本农田")["判定"], urban["判定"]) == ("冲突", "需论证", "需论证")
    assert r.worst() == "conflict"
    assert r.findings["severity"].iloc[0] == "conflict"          # sorted by severity
    # the overlap pieces are valid polygons with the same areas
    pieces = r.pieces.to_crs(settings.METRIC_CRS)
    assert pieces.is_valid.all() and set(pieces.geom_type) <= {"Polygon", "MultiPolygon"}
    eco = pieces[pieces["item"] == "生态保护红线"]
    assert eco.area.sum() == pytest.approx(80_000.0, rel=1e-5)


def test_irregular_parcel_matches_an_independent_overlay(cat):
    r = site.check_site(_frame([HEXAGON, PARCEL], name=["六边形", "矩形"]), catalog=cat)
    parcels = _frame([HEXAGON, PARCEL], name=["六边形", "矩形"])
    for line_zh, geom in (("生态保护红线", ECO), ("永久基本农田", FARM), ("城镇开发边界", URBAN)):
        ref = gpd.overlay(parcels, _frame([geom], z=[1]), how="intersection", keep_geom_type=True)
        ref_mu = ref.set_index("name").geometry.area / MU
        got = r.lines[r.lines["管控线"] == line_zh].set_index("地块")["重叠面积(亩)"]
        for name in ("六边形", "矩形"):
            assert got[name] == pytest.approx(ref_mu.get(name, 0.0), rel=1e-3, abs=1e-3)
    assert r.parcels["area_mu"].iloc[0] == pytest.approx(HEXAGON.area / MU, rel=1e-4)


def test_townships_shares_add_up_to_the_parcel(cat):
    big = box(X0 - 6000, Y0 - 6000, X0 + 6000, Y0 + 6000)
    r = site.check_site(_frame([big], name=["大地块"]), catalog=cat)
    t = r.townships
    assert len(t) >= 2
    assert t["面积(亩)"].sum() == pytest.approx(r.parcels["area_mu"].iloc[0], rel=1e-4)
    assert t["占地块比例"].sum() == pytest.approx(1.0, abs=1e-3)
    towns = cat.load("township_areas").to_crs(settings.METRIC_CRS)
    ref = gpd.overlay(_frame([big], p=[1]), towns[["name", "geometry"]], how="intersection")
    ref_mu = ref.set_index("name").geometry.area / MU
    for row in t.itertuples():
        assert row._3 == pytest.approx(ref_mu[row.乡镇], rel=1e-3)


# ------------------------------------------------------------------ the rules by project type
def test_orchard_on_farmland_is_a_conflict_construction_needs_review(cat):
    on_farm = box(X0 + 800, Y0 - 900, X0 + 1200, Y0 - 600)        # wholly inside FARM
    parcel = _frame([on_farm], name=["刺梨基地"])
    orchard = site.check_site(parcel, catalog=cat, project_type="agriculture-orchard")
    build = site.check_site(parcel, catalog=cat, project_type="construction")
    grain = site.check_site(parcel, catalog=cat, project_type="agriculture-grain")
    forest = site.check_site(parcel, catalog=cat, project_type="forestry")
    assert _line(orchard, "永久基本农田")["判定"] == "冲突"
    assert "166号" in _line(orchard, "永久基本农田")["来源"] and "44号" in _line(orchard, "永久基本农田")["来源"]
    assert "园地" in _line(orchard, "永久基本农田")["依据"]
    assert _line(build, "永久基本农田")["判定"] == "需论证" and "第三十五条" in _line(build, "永久基本农田")["来源"]
    assert _line(grain, "永久基本农田")["判定"] == "符合"
    assert _line(forest, "永久基本农田")["判定"] == "冲突"
    assert (orchard.worst(), build.worst(), grain.worst()) == ("conflict", "review", "ok")
    for r in (orchard, build, grain):
        assert _line(r, "永久基本农田")["占地块比例"] == pytest.approx(1.0)


def test_every_rule_names_its_source_and_every_type_is_covered():
    rules = site.load_rules()
    assert (rules["source"].str.len() > 5).all() and (rules["rule"].str.len() > 5).all()
    assert set(rules["type"]) == set(site.PROJECT_TYPES)
    assert not rules.duplicated(["type", "check"]).any()


def test_every_sanqu_rule_names_its_source():
    from spatial import overlay

    rules = overlay.load_rules()
    assert len(rules) == 12 and (rules["source"].str.len() > 10).all()
    assert list(rules.loc[rules["layer"] == "agri_zones", "where"]) == ["crop=刺梨|茶叶"]


def test_a_rules_file_without_sources_is_refused(tmp_path):
    bad = tmp_path / "rules.csv"
    rules = site.load_rules()
    rules.loc[0, "source"] = ""
    rules.to_csv(bad, index=False)
    with pytest.raises(InputError, match=r"rules\.csv: site rule\(s\) on line\(s\) 2 name no source"):
        site.load_rules(bad)


def test_agri_zones_of_ci_li_and_tea_over_farmland_are_flagged_for_review(tmp_path, capsys):
    folder = tmp_path / "layers"
    folder.mkdir()
    _frame([FARM], name=["永久基本农田"]).to_crs(4490).to_file(folder / "basic_farmland.gpkg")
    zones = _frame([box(X0 + 400, Y0 - 900, X0 + 900, Y0 - 400), box(X0 + 400, Y0 - 900, X0 + 900, Y0 - 400),
                    box(X0 + 400, Y0 - 900, X0 + 900, Y0 - 400), box(X0 - 900, Y0 - 900, X0 - 400, Y0 - 400)],
                   name=["刺梨区", "茶叶区", "蔬菜区", "远处刺梨"], crop=["刺梨", "茶叶", "蔬菜", "刺梨"])
    zones.to_crs(4490).to_file(folder / "agri_zones.gpkg")
    out = tmp_path / "checks.xlsx"
    code, stdout, _ = run(capsys, "--layers", folder, "check", "sanqu-sanxian", "--layer", "agri_zones", "--out", out)
    assert code == 0
    table = pd.read_excel(out, sheet_name="检查结果")
    farm = table[table["管控线"] == "basic_farmland"].set_index("名称")
    for name in ("刺梨区", "茶叶区"):
        assert farm.loc[name, "severity"] == "review" and "需论证" in farm.loc[name, "判定"]
        assert "166号" in farm.loc[name, "来源"]
        assert farm.loc[name, "inside_mu"] == pytest.approx(400 * 400 / MU, rel=1e-4)
    # 蔬菜 is not a 园地 crop; the far 刺梨 zone does not meet the farmland
    assert farm.loc[["蔬菜区", "远处刺梨"], "severity"].isna().all()
    assert "2 finding(s), 0 conflict(s)" in stdout


# ------------------------------------------------------------------ the same parcel in every format
def _to_lonlat(xy):
    t = Transformer.from_crs(settings.METRIC_CRS, 4490, always_xy=True)
    return [t.transform(x, y) for x, y in xy]


def _formats(folder: Path) -> dict[str, tuple[Path, list[str]]]:
    """The hexagon as KML (written by hand), DXF, GDB, shapefile and a 界址点 workbook."""
    from test_formats import _dxf, _lwpoly

    ring = list(HEXAGON.exterior.coords)[:-1]
    out = {}
    coords = " ".join(f"{lon:.10f},{lat:.10f},0" for lon, lat in _to_lonlat(ring + ring[:1]))
    kml = folder / "红线.kml"
    kml.write_text('<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
                   f'<Placemark><name>六边形</name><Polygon><outerBoundaryIs><LinearRing><coordinates>{coords}'
                   '</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Document></kml>',
                   encoding="utf-8")
    out["kml"] = (kml, [])
    dxf = folder / "红线.dxf"
    dxf.write_bytes(_dxf(_lwpoly("用地红线", ring)).encode("gbk"))
    out["dxf"] = (dxf, ["--layer", "polygons", "--crs", "4544"])
    frame = _frame([HEXAGON], name=["六边形"])
    gdb = folder / "项目.gdb"
    pyogrio.write_dataframe(frame, gdb, layer="红线", driver="OpenFileGDB")
    out["gdb"] = (gdb, ["--layer", "红线"])
    shp = folder / "红线.shp"
    pyogrio.write_dataframe(frame, shp, encoding="UTF-8")
    out["shp"] = (shp, [])
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["地块号", "界址点号", "X", "Y"])
    for i, (x, y) in enumerate(ring + ring[:1], start=1):
        ws.append(["六边形" if i == 1 else "", f"J{i}", round(y, 3), round(x, 3)])    # X north, Y east
    xlsx = folder / "界址点.xlsx"
    wb.save(xlsx)
    out["xlsx"] = (xlsx, ["--crs", "4544"])
    return out


@pytest.fixture(scope="module")
def each_format(tmp_path_factory, county):
    folder = tmp_path_factory.mktemp("formats") / "项目 红线"
    folder.mkdir()
    return _formats(folder)


def test_the_same_parcel_in_every_format_gives_the_same_report(each_format, county, tmp_path, capsys):
    tables = {}
    for fmt, (path, opts) in each_format.items():
        out = tmp_path / f"{fmt}.xlsx"
        code, stdout, err = run(capsys, "--layers", county, "check", "site", path, *opts, "--out", out,
                                "--out", tmp_path / f"{fmt}.html", "--out", tmp_path / f"{fmt}.gpkg")
        assert code == 0, (fmt, err)
        assert "预审结论：冲突" in stdout and site.DISCLAIMER in stdout
        tables[fmt] = pd.read_excel(out, sheet_name="三区三线")
        gp = gpd.read_file(tmp_path / f"{fmt}.gpkg", layer="parcels")
        assert gp.is_valid.all() and gp.to_crs(settings.METRIC_CRS).area.iloc[0] == pytest.approx(HEXAGON.area, rel=1e-4)
        pieces = gpd.read_file(tmp_path / f"{fmt}.gpkg", layer="pieces")
        # eco, farmland, and the urban boundary's inside (符合) and outside (需论证) parts
        assert len(pieces) == 4 and pieces.is_valid.all()
        assert set(pieces.loc[pieces["item"] == "城镇开发边界外", "verdict"]) == {"需论证"}
        assert (tmp_path / f"{fmt}.html").read_text(encoding="utf-8").count("<svg") == 1
    ref = tables.pop("shp")
    for fmt, t in tables.items():
        assert list(t["判定"]) == list(ref["判定"]), fmt
        np.testing.assert_allclose(t["重叠面积(亩)"], ref["重叠面积(亩)"], rtol=1e-4, atol=1e-3, err_msg=fmt)
    ref_eco = gpd.overlay(_frame([HEXAGON], a=[1]), _frame([ECO], b=[1]), how="intersection").area.sum() / MU
    assert ref["重叠面积(亩)"].iloc[0] == pytest.approx(ref_eco, rel=1e-3)


def test_the_same_input_gives_the_same_tables(cat):
    a = site.check_site(_frame([HEXAGON, PARCEL], name=["六边形", "矩形"]), catalog=cat)
    b = site.check_site(_frame([HEXAGON, PARCEL], name=["六边形", "矩形"]), catalog=cat)
    for (k, x), (_, y) in zip(a.tables().items(), b.tables().items()):
        pd.testing.assert_frame_equal(pd.DataFrame(x), pd.DataFrame(y), obj=k)
    assert a.pieces.geometry.equals(b.pieces.geometry)


# ------------------------------------------------------------------ slope, protection, nearby, access
def test_slope_grades_on_a_tilted_plane(cat, tmp_path):
    dem = plane_tif(tmp_path / "dem.tif", 30.0, n=120, res=10.0)          # 1.2 km square, 30° everywhere
    parcel = _frame([box(X0 + 300, Y0 - 900, X0 + 700, Y0 - 500)], name=["陡坡地块"])   # 160,000 m² = 240 亩
    build = site.check_site(parcel, catalog=cat, dem=dem)
    grain = site.check_site(parcel, catalog=cat, dem=dem, project_type="agriculture-grain")
    road = site.check_site(parcel, catalog=cat, dem=dem, project_type="forestry")
    steep = [c for c in build.slope.columns if c.startswith("Ⅴ级") and c.endswith("(亩)")][0]
    assert build.slope[steep].iloc[0] == pytest.approx(240.0, rel=1e-3)
    assert build.slope.iloc[0]["判定≥25°"] == "需论证"
    assert grain.slope.iloc[0]["判定≥25°"] == "冲突"
    assert road.slope.iloc[0]["判定≥25°"] == "符合"
    f = grain.findings
    assert ((f["事项"] == "坡度") & (f["severity"] == "conflict")).any()
    assert "水土保持法" in f.loc[f["事项"] == "坡度", "来源"].iloc[0]
    gentle = plane_tif(tmp_path / "gentle.tif", 10.0, n=120, res=10.0)
    flat = site.check_site(parcel, catalog=cat, dem=gentle, project_type="agriculture-grain")
    assert flat.slope[steep].iloc[0] == pytest.approx(0.0, abs=0.01)
    assert flat.slope.iloc[0]["判定≥25°"] == "符合"


def test_water_protection_levels_and_areas(cat, tmp_path):
    centre = Point(X0 + 400, Y0 - 500)
    zones = _frame([centre.buffer(100, 64), centre.buffer(400, 64).difference(centre.buffer(100, 64))],
                   name=["某水库", "某水库"], level=["一级保护区", "二级保护区"])
    path = tmp_path / "水源保护区.gpkg"
    zones.to_crs(4490).to_file(path)
    r = site.check_site(_frame([PARCEL], name=["地块"]), catalog=cat, protection=path)
    p = r.protection.set_index("级别")
    first = PARCEL.intersection(centre.buffer(100, 64)).area / MU
    second = PARCEL.intersection(centre.buffer(400, 64).difference(centre.buffer(100, 64))).area / MU
    assert p.loc["一级保护区", "面积(亩)"] == pytest.approx(first, rel=1e-3)
    assert p.loc["二级保护区", "面积(亩)"] == pytest.approx(second, rel=1e-3)
    assert (p.loc["一级保护区", "判定"], p.loc["二级保护区", "判定"]) == ("冲突", "需论证")
    assert "水污染防治法" in p.loc["一级保护区", "来源"]
    bad = tmp_path / "无级别.gpkg"
    zones.drop(columns="level").to_crs(4490).to_file(bad)
    with pytest.raises(InputError, match=r"无级别\.gpkg\|无级别: the protection zones need a level field"):
        site.check_site(_frame([PARCEL], name=["地块"]), catalog=cat, protection=bad)


def test_nearby_reservoirs_parks_and_zones(cat):
    res = cat.load("reservoirs").to_crs(settings.METRIC_CRS)
    target = res.geometry.iloc[0]
    near = box(target.x + 300, target.y + 300, target.x + 500, target.y + 500)
    r = site.check_site(_frame([near], name=["近水库"]), catalog=cat, near_m=1000)
    hit = r.nearby[(r.nearby["类别"] == "水库") & (r.nearby["名称"] == res["name"].iloc[0])]
    assert len(hit) == 1
    assert hit["距离(米)"].iloc[0] == pytest.approx(near.distance(target), abs=0.5)
    # every layer's list is what geopandas' own distances give
    for layer_id, label in site.NEARBY_LAYERS.items():
        g = cat.load(layer_id).to_crs(settings.METRIC_CRS)
        expected = sorted(g.loc[g.geometry.distance(near) <= 1000, "name"])
        assert sorted(r.nearby.loc[r.nearby["类别"] == label, "名称"]) == expected, layer_id
    far = site.check_site(_frame([near], name=["近水库"]), catalog=cat, near_m=100)
    assert not ((far.nearby["类别"] == "水库") & (far.nearby["名称"] == res["name"].iloc[0])).any()


def test_fastest_route_length_is_the_networkx_path_length():
    cat = catalog.catalog(None)
    net = network.from_layers(cat.load("roads"), cat.load("expressways"), cat.load("interchanges"),
                              scenario="current")
    places = cat.load("townships").iloc[:12]
    mine = access.fastest_routes(places, "entrances", net)
    ref = access.to_nearest(places, "entrances", net)
    np.testing.assert_allclose(mine["minutes"], ref["minutes"], atol=1e-9)
    # networkx on the same snapped graph: the fastest path to the chosen entrance, and its metres
    xy = np.column_stack([places.to_crs(net.crs).geometry.x, places.to_crs(net.crs).geometry.y])
    snapped = access.snap_points(net, xy)
    g = nx.DiGraph()
    for u, v, w, m in zip(snapped.u, snapped.v, snapped.w, snapped.length_m):
        if not g.has_edge(u, v) or g[u][v]["w"] > w:
            g.add_edge(int(u), int(v), w=float(w), m=float(m))
    ent = dict(zip(net.entrances["name"], net.entrances["node"]))
    for i, row in mine.iterrows():
        path = nx.dijkstra_path(g, int(snapped.node[i]), int(ent[row["target"]]), weight="w")
        metres = sum(g[a][b]["m"] for a, b in zip(path[:-1], path[1:]))
        assert row["road_m"] == pytest.approx(metres, abs=0.2)
        assert row["road_m"] > 0


def test_access_rows_for_each_parcel(cat):
    r = site.check_site(_frame([PARCEL, HEXAGON], name=["甲", "乙"]), catalog=cat)
    a = r.access
    assert list(a["地块"]) == ["甲"] * 3 + ["乙"] * 3
    assert set(a["目的地"]) == {"最近高速出入口", "区政府驻地（近似）", "最近乡镇驻地"}
    ent = a[a["目的地"] == "最近高速出入口"]
    assert (ent["行车时间(分钟)"] > 0).all() and (ent["道路里程(公里)"] > 0).all()
    seats = cat.load("townships").to_crs(settings.METRIC_CRS)
    p = PARCEL.representative_point()
    nearest = seats.geometry.distance(p).idxmin()
    row = a[(a["地块"] == "甲") & (a["目的地"] == "最近乡镇驻地")].iloc[0]
    assert row["名称"] == seats["name"].iloc[nearest]
    assert row["直线距离(公里)"] == pytest.approx(seats.geometry.distance(p).min() / 1000, abs=0.01)


# ------------------------------------------------------------------ the report
XSS = "<img src=x onerror=alert(1)>"


def test_report_is_offline_escaped_and_renders(cat, tmp_path, browser):
    r = site.check_site(_frame([PARCEL, HEXAGON], name=[XSS, "六边形"]), catalog=cat, name=f"项目{XSS}",
                        dem=plane_tif(tmp_path / "dem.tif", 30.0, n=120, res=10.0))
    out = site_report.write(r, tmp_path / "报告.html")
    text = out.read_text(encoding="utf-8")
    assert XSS not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "url(http" not in text and "@import" not in text and "<script" not in text.lower()
    assert site.DISCLAIMER in text
    page, log = _open(browser, out, wait_for="svg.map", viewport=(900, 1200))
    assert page.locator("img").count() == 0
    assert log["dialogs"] == [] and log["external"] == [] and log["errors"] == []
    body = page.inner_text("body")
    assert XSS in body and "预审结论：冲突" in body and "生态保护红线" in body
    assert page.locator("svg.map path").count() >= 4
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "site_report.png"
    page.screenshot(path=str(shot), full_page=True)
    assert _png_colors(shot) > 20
    pdf = tmp_path / "报告.pdf"
    page.pdf(path=str(pdf), format="A4")
    assert pdf.stat().st_size > 10_000
    page.close()


def test_xlsx_has_a_sheet_per_table_and_gpkg_the_pieces(cat, tmp_path):
    r = site.check_site(_frame([PARCEL], name=["地块"]), catalog=cat)
    xl = site_report.write(r, tmp_path / "r.xlsx")
    sheets = pd.ExcelFile(xl).sheet_names
    assert sheets[:3] == ["概况", "预审结论", "地块面积"]
    assert {"三区三线", "所在乡镇", "周边要素", "交通可达", "数据来源"} <= set(sheets)
    info = pd.read_excel(xl, sheet_name="概况").set_index("项目")["内容"]
    assert info["预审结论"] == "冲突" and info["说明"] == site.DISCLAIMER
    assert float(info["总面积(亩)"]) == pytest.approx(360.0, rel=1e-6)
    gp = site_report.write(r, tmp_path / "r.gpkg")
    layers = dict(pyogrio.list_layers(gp))
    assert layers["parcels"] in ("Polygon", "MultiPolygon") and layers["pieces"] in ("Polygon", "MultiPolygon")
    pieces = gpd.read_file(gp, layer="pieces")
    assert pieces.crs.to_epsg() == 4490 and pieces.is_valid.all()
    assert sorted(pieces["item"]) == ["城镇开发边界", "城镇开发边界外", "永久基本农田", "生态保护红线"]
    outside = pieces[pieces["item"] == "城镇开发边界外"].to_crs(settings.METRIC_CRS)
    assert outside.area.sum() == pytest.approx(60_000.0, rel=1e-5)          # 600 × 100 m south of the line
    with pytest.raises(InputError, match="exists"):
        site_report.write(r, tmp_path / "r.gpkg")          # no silent overwrite


# ------------------------------------------------------------------ bad input
def test_bad_input_is_one_line_exit_2_and_nothing_written(county, tmp_path, capsys):
    out = tmp_path / "r.html"
    lines = tmp_path / "线.gpkg"
    _frame([shapely.LineString([(X0, Y0 - 100), (X0 + 500, Y0 - 400)])], name=["中线"]).to_crs(4490).to_file(lines)
    points = tmp_path / "点.gpkg"
    _frame([Point(X0, Y0 - 100)], name=["点"]).to_crs(4490).to_file(points)
    outside = tmp_path / "区外.gpkg"
    _frame([box(200_000, 2_500_000, 200_500, 2_500_500)], name=["远处"]).to_crs(4490).to_file(outside)
    empty = tmp_path / "空.gpkg"
    _frame([PARCEL], name=["x"]).iloc[:0].to_crs(4490).to_file(empty)
    good = tmp_path / "好.gpkg"
    _frame([PARCEL], name=["x"]).to_crs(4490).to_file(good)
    cases = [
        ((lines,), r"线\.gpkg[^:]*: the project boundary must be polygons, the file holds LineString.*界址点"),
        ((points,), r"点\.gpkg[^:]*: the project boundary must be polygons, the file holds Point .*--geometry polygon"),
        ((outside,), r"区外\.gpkg[^:]*: the parcels lie outside 七星关区"),
        ((empty,), r"空\.gpkg"),
        ((good, "--type", "factory"), r"unknown project type 'factory'; use one of construction \(建设项目\), "
                                      r"agriculture-grain.*water"),
        ((tmp_path / "无.kml",), r"无\.kml: no such file"),
        ((good, "--dem", tmp_path / "无.tif"), r"无\.tif: no such DEM"),
        ((good, "--out", good / "报告.html"), r"好\.gpkg: is a file, not a folder"),
        ((good, "--near", "-5"), r"--near must be a non-negative number of metres"),
    ]
    for args, pattern in cases:
        code, stdout, err = run(capsys, "--layers", county, "check", "site", *args, "--out", out)
        assert code == 2, (args, err)
        # one error line (a load warning may come before it), never a traceback
        errors = [x for x in err.splitlines() if x.startswith("error: ")]
        assert len(errors) == 1 and err.strip().splitlines()[-1] == errors[0] and "Traceback" not in err, err
        assert re.search(pattern, errors[0]), (pattern, err)
        assert not out.exists()
    code, _, err = run(capsys, "check", "site", good, "--out", tmp_path / "r.docx")
    assert code == 2 and "write the site report as .html" in err
    out.write_text("earlier report")
    code, _, err = run(capsys, "check", "site", good, "--out", out)
    assert code == 2 and "already exists" in err and out.read_text() == "earlier report"


def test_self_intersecting_ring_is_repaired_and_reported(cat, tmp_path, capsys, county):
    bow = Polygon([(X0 + 100, Y0 - 700), (X0 + 700, Y0 - 300), (X0 + 700, Y0 - 700), (X0 + 100, Y0 - 300)])
    path = tmp_path / "自相交.gpkg"
    _frame([bow], name=["蝴蝶形"]).to_crs(4490).to_file(path)
    code, stdout, err = run(capsys, "--layers", county, "check", "site", path, "--out", tmp_path / "r.xlsx")
    assert code == 0
    assert "几何修复" in stdout
    f = pd.read_excel(tmp_path / "r.xlsx", sheet_name="预审结论")
    fix = f[f["事项"] == "几何修复"]
    assert len(fix) == 1 and "边界自相交" in fix["说明"].iloc[0] and "已自动修复" in fix["说明"].iloc[0]
    # the crossing point of the bow tie, in lon/lat, and the areas before and after in 公顷
    lon, lat = Transformer.from_crs(settings.METRIC_CRS, 4490, always_xy=True).transform(X0 + 400, Y0 - 500)
    assert f"东经 {lon:.5f}°、北纬 {lat:.5f}°" in fix["说明"].iloc[0] and "公顷" in fix["说明"].iloc[0]
    assert fix["地块"].iloc[0].startswith("要素 ")
    area = pd.read_excel(tmp_path / "r.xlsx", sheet_name="地块面积")["面积(亩)"].iloc[0]
    assert area == pytest.approx(shapely.make_valid(bow).area / MU, rel=1e-4)       # two triangles


# ------------------------------------------------------------------ batches
def test_each_over_a_folder_and_a_gdb(county, tmp_path, capsys):
    folder = tmp_path / "项目 文件夹"
    folder.mkdir()
    _frame([PARCEL], name=["甲地块"]).to_crs(4490).to_file(folder / "甲项目.gpkg")
    _frame([HEXAGON], name=["乙地块"]).to_crs(4490).to_file(folder / "乙项目.shp", encoding="UTF-8")
    _frame([Point(X0, Y0)], name=["点"]).to_crs(4490).to_file(folder / "丙项目.gpkg")
    outdir = tmp_path / "报告"
    code, stdout, err = run(capsys, "--layers", county, "check", "site", folder, "--each", "--out", outdir)
    assert code == 1                        # one project could not be checked
    assert "丙项目: not checked" in err and "must be polygons" in err
    summary = pd.read_excel(outdir / "预审汇总.xlsx")
    assert len(summary) == 3
    s = summary.set_index("项目")
    assert s.loc["甲项目", "结论"] == "冲突" and s.loc["丙项目", "结论"] == "未检查"
    assert s.loc["甲项目", "面积(亩)"] == pytest.approx(360.0, rel=1e-5)
    assert (outdir / "甲项目.html").exists() and (outdir / "乙项目.html").exists()
    assert not (outdir / "丙项目.html").exists()
    gdb = tmp_path / "项目库.gdb"
    pyogrio.write_dataframe(_frame([PARCEL], name=["甲"]), gdb, layer="一号项目", driver="OpenFileGDB")
    pyogrio.write_dataframe(_frame([HEXAGON], name=["乙"]), gdb, layer="二号项目", driver="OpenFileGDB",
                            append=False)
    pyogrio.write_dataframe(_frame([Point(X0, Y0)], name=["井"]), gdb, layer="井位", driver="OpenFileGDB")
    out2 = tmp_path / "报告2"
    code, stdout, err = run(capsys, "--layers", county, "check", "site", gdb, "--each", "--out", out2)
    assert code == 0, err
    s2 = pd.read_excel(out2 / "预审汇总.xlsx")
    assert sorted(s2["项目"]) == ["一号项目", "二号项目"]           # the point layer is not a project
    assert (out2 / "一号项目.html").exists()


def test_a_1000_parcel_file_is_checked_in_one_pass(cat):
    rng = np.random.default_rng(7)
    xs = X0 - 20_000 + rng.random(1000) * 40_000
    ys = Y0 - 20_000 + rng.random(1000) * 40_000
    parcels = _frame([box(x, y, x + 150, y + 100) for x, y in zip(xs, ys)], name=[f"P{i}" for i in range(1000)])
    r = site.check_site(parcels, catalog=cat)
    assert len(r.parcels) == 1000 and r.parcels["area_m2"].round(3).eq(15_000).all()
    assert len(r.lines) == 3000
    eco = r.lines[r.lines["管控线"] == "生态保护红线"].set_index("地块")["重叠面积(亩)"]
    ref = gpd.overlay(parcels, _frame([ECO], z=[1]), how="intersection").set_index("name").geometry.area / MU
    np.testing.assert_allclose(eco.reindex(ref.index), ref, rtol=1e-3, atol=1e-3)
    rest = eco.drop(ref.index)
    outside = (r.parcels.set_index("parcel")["in_district_share"] < 1e-6).reindex(rest.index)
    assert outside.any()                      # the square reaches beyond the district: 未检查 there
    assert rest[~outside].eq(0).all() and rest[outside].isna().all()


def test_a_county_folder_protection_layer_is_used_without_the_option(county, tmp_path, capsys):
    folder = tmp_path / "县 数据"
    folder.mkdir()
    for f in county.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    centre = Point(X0 + 400, Y0 - 500)
    _frame([centre.buffer(150, 64)], name=["某水源"], level=["一级"]).to_crs(4490).to_file(folder / "水源保护区.gpkg")
    good = tmp_path / "地块.gpkg"
    _frame([PARCEL], name=["甲"]).to_crs(4490).to_file(good)
    code, stdout, err = run(capsys, "--layers", folder, "check", "site", good, "--out", tmp_path / "r.xlsx")
    assert code == 0, err
    prot = pd.read_excel(tmp_path / "r.xlsx", sheet_name="水源保护区")
    assert list(prot["级别"]) == ["一级保护区"] and list(prot["判定"]) == ["冲突"]
    assert prot["面积(亩)"].iloc[0] == pytest.approx(PARCEL.intersection(centre.buffer(150, 64)).area / MU, rel=1e-3)
    sources = pd.read_excel(tmp_path / "r.xlsx", sheet_name="数据来源")
    assert "water_protection" in set(sources["图层"])


# ------------------------------------------------------------------ found by trying to break it
def test_the_input_is_never_overwritten_and_outs_are_not_repeated(county, tmp_path, capsys):
    good = tmp_path / "红线.gpkg"
    _frame([PARCEL], name=["甲"]).to_crs(4490).to_file(good)
    before = good.read_bytes()
    code, _, err = run(capsys, "--layers", county, "check", "site", good, "--out", good, "--overwrite")
    assert code == 2 and "is the input file" in err and good.read_bytes() == before
    same = tmp_path / "r.html"
    code, _, err = run(capsys, "--layers", county, "check", "site", good, "--out", same, "--out", same)
    assert code == 2 and "given twice" in err and not same.exists()
    code, _, err = run(capsys, "--layers", county, "check", "site", good, "--crs", "9999")
    assert code == 2 and "not a coordinate system" in err and "Traceback" not in err


def test_text_that_looks_like_a_formula_stays_text_in_excel(cat, tmp_path):
    r = site.check_site(_frame([PARCEL], name=["=1+1"]), catalog=cat, name='=HYPERLINK("http://x","y")')
    path = site_report.write(r, tmp_path / "r.xlsx")
    wb = openpyxl.load_workbook(path)
    cells = [c for ws in wb.worksheets for row in ws.iter_rows() for c in row if isinstance(c.value, str)
             and c.value.startswith("=")]
    assert cells and all(c.data_type == "s" for c in cells)
    assert "=1+1" in [c.value for c in cells]


def test_a_parcel_outside_gets_no_verdicts_and_no_times(cat):
    far = box(X0 + 200_000, Y0, X0 + 200_500, Y0 + 500)
    r = site.check_site(_frame([PARCEL, far], name=["区内", "区外"]), catalog=cat)
    out_rows = r.lines[r.lines["地块"] == "区外"]
    assert (out_rows["判定"] == "未检查").all() and out_rows["重叠面积(亩)"].isna().all()
    acc = r.access[r.access["地块"] == "区外"]
    assert acc["行车时间(分钟)"].isna().all() and (acc["名称"] == "区外，未计算").all()
    assert ((r.findings["地块"] == "区外") & (r.findings["事项"] == "区界")).any()


def test_nested_protection_zones_count_the_ring_only(cat, tmp_path):
    centre = Point(X0 + 400, Y0 - 500)
    zones = _frame([centre.buffer(100, 64), centre.buffer(400, 64)], name=["水源", "水源"], level=["一级", "二级"])
    r = site.check_site(_frame([PARCEL], name=["甲"]), catalog=cat, protection=zones.to_crs(4490))
    p = r.protection.set_index("级别")
    ring = centre.buffer(400, 64).difference(centre.buffer(100, 64))
    assert p.loc["二级保护区", "面积(亩)"] == pytest.approx(PARCEL.intersection(ring).area / MU, rel=1e-3)
    assert p["占地块比例"].sum() <= 1.0 + 1e-9


def test_zero_area_and_overlapping_parcels(cat):
    flat = Polygon([(X0, Y0 - 100), (X0 + 100, Y0 - 100), (X0 + 200, Y0 - 100)])
    with pytest.raises(InputError, match="have no area"):
        site.check_site(_frame([flat], name=["扁"]), catalog=cat)
    r = site.check_site(_frame([PARCEL, PARCEL], name=["甲", "乙"]), catalog=cat)
    ov = r.findings[r.findings["事项"] == "地块重叠"]
    assert len(ov) == 1 and "360.00 亩" in ov["说明"].iloc[0]


def test_the_steep_piece_is_the_steep_part_only(cat, tmp_path):
    from terrain_fixtures import metric_grid, write_tif
    transform, x, y = metric_grid(120, 10.0)
    # level west of X0 + 600, a 30° slope east of it
    z = 1500 + np.where(x > X0 + 600, (x - (X0 + 600)) * math.tan(math.radians(30)), 0.0)
    dem = write_tif(tmp_path / "half.tif", z, transform)
    parcel = box(X0 + 300, Y0 - 900, X0 + 900, Y0 - 500)            # half level, half steep
    r = site.check_site(_frame([parcel], name=["半坡"]), catalog=cat, dem=dem, project_type="agriculture-grain")
    steep = r.pieces[r.pieces["kind"] == "坡度"].to_crs(settings.METRIC_CRS)
    assert len(steep) == 1
    assert steep.area.iloc[0] == pytest.approx(parcel.area / 2, rel=0.06)
    col = [c for c in r.slope.columns if c.startswith("Ⅴ级") and c.endswith("(亩)")][0]
    assert steep["area_mu"].iloc[0] == pytest.approx(r.slope[col].iloc[0], rel=1e-9)


def test_each_with_repeated_file_names_and_a_bad_shared_option(county, tmp_path, capsys):
    folder = tmp_path / "批次"
    (folder / "子目录").mkdir(parents=True)
    _frame([PARCEL], name=["甲"]).to_crs(4490).to_file(folder / "项目.gpkg")
    _frame([HEXAGON], name=["乙"]).to_crs(4490).to_file(folder / "子目录" / "项目.gpkg")
    out = tmp_path / "报告"
    code, _, err = run(capsys, "--layers", county, "check", "site", folder, "--each", "--out", out)
    assert code == 0, err
    assert sorted(p.name for p in out.glob("*.html")) == ["项目.html", "项目（2）.html"]
    nolevel = tmp_path / "无级别.gpkg"
    _frame([PARCEL.buffer(50)], name=["z"]).to_crs(4490).to_file(nolevel)
    out2 = tmp_path / "报告2"
    code, _, err = run(capsys, "--layers", county, "check", "site", folder, "--each", "--out", out2,
                       "--protection", nolevel)
    assert code == 2 and "need a level field" in err and not out2.exists()
    # a second run into the same folder finds its reports and refuses, before writing anything
    code, _, err = run(capsys, "--layers", county, "check", "site", folder, "--each", "--out", out)
    assert code == 2 and "already exists" in err


def test_swapped_latitude_and_longitude_are_named_and_read_with_swap_xy(county, tmp_path, capsys):
    swapped = _frame([PARCEL], name=["一号地块"]).to_crs(4490)
    swapped["geometry"] = shapely.transform(swapped.geometry.values, lambda xy: xy[:, ::-1])
    path = tmp_path / "红线.geojson"
    swapped.to_file(path)
    out = tmp_path / "r.xlsx"
    code, _, err = run(capsys, "--layers", county, "check", "site", path, "--out", out)
    assert code == 2 and "appear swapped" in err and "--swap-xy" in err and not out.exists()
    code, stdout, err = run(capsys, "--layers", county, "check", "site", path, "--swap-xy", "--out", out)
    assert code == 0, err
    areas = pd.read_excel(out, sheet_name="地块面积")
    assert areas["面积(亩)"].iloc[0] == pytest.approx(360.0, rel=1e-5)      # the rectangle's analytic area
    lines = pd.read_excel(out, sheet_name="三区三线").set_index("管控线")
    assert lines.loc["生态保护红线", "重叠面积(亩)"] == pytest.approx(120.0, rel=1e-4)


def test_points_and_empty_geometries_are_counted_apart(cat):
    gdf = _frame([PARCEL, Point(X0, Y0), Polygon()], name=["地块", "桩点", "空"])
    r = spatial.check_site(gdf, catalog=cat, name="混合")
    f = r.findings.set_index("事项")
    assert f.loc["非面要素", "说明"].startswith("1 个非面要素") and f.loc["空几何", "说明"].startswith("1 个要素没有几何")
    assert len(r.parcels) == 1


def test_each_takes_every_layer_of_a_geopackage_of_several_projects(county, tmp_path, capsys):
    folder = tmp_path / "批次"
    folder.mkdir()
    gpkg = folder / "项目包.gpkg"
    _frame([PARCEL], name=["甲"]).to_crs(4490).to_file(gpkg, layer="一号")
    _frame([HEXAGON], name=["乙"]).to_crs(4490).to_file(gpkg, layer="二号")
    outdir = tmp_path / "报告"
    code, stdout, err = run(capsys, "--layers", county, "check", "site", folder, "--each", "--out", outdir)
    assert code == 0, err
    s = pd.read_excel(outdir / "预审汇总.xlsx").set_index("项目")
    assert sorted(s.index) == ["项目包_一号", "项目包_二号"]
    assert s.loc["项目包_一号", "面积(亩)"] == pytest.approx(360.0, rel=1e-5)
    assert s.loc["项目包_二号", "面积(亩)"] == pytest.approx(HEXAGON.area / MU, rel=1e-4)


def test_parcel_labels_on_the_report_map_do_not_overlap(cat, tmp_path, browser):
    """Twelve parcels side by side: the names the browser draws (their real boxes) never overlap."""
    row = [box(X0 + 100 + 90 * i, Y0 - 700, X0 + 170 + 90 * i, Y0 - 600) for i in range(12)]
    r = site.check_site(_frame(row, name=[f"七星关区第{i + 1}号建设地块" for i in range(12)]), catalog=cat, name="标注")
    out = site_report.write(r, tmp_path / "标注.html")
    page, log = _open(browser, out, wait_for="svg.map", viewport=(900, 1200))
    boxes = page.evaluate("""() => Array.from(document.querySelectorAll('svg.map text.lab'))
        .map(t => { const b = t.getBBox(); return [b.x, b.y, b.x + b.width, b.y + b.height]; })""")
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("svg.map").screenshot(path=str(ARTIFACTS / "site_labels.png"))
    page.close()
    assert 3 <= len(boxes) <= 12 and log["errors"] == []
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert a[2] <= b[0] + 0.5 or b[2] <= a[0] + 0.5 or a[3] <= b[1] + 0.5 or b[3] <= a[1] + 0.5, (a, b)
