"""三区三线 checks and 532/211 accounting on hand-made shapes with known answers."""
from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString, Point, Polygon, box

from spatial import catalog, overlay, settings
from spatial.errors import InputError

CRS = "EPSG:4544"
X, Y = 530000.0, 3020000.0
MU = settings.M2_PER_MU


def sq(x0, y0, x1, y1):
    return box(X + x0, Y + y0, X + x1, Y + y1)


@pytest.fixture
def lines():
    return {
        "eco_redline": gpd.GeoDataFrame({"name": ["红线"]}, geometry=[sq(0, 0, 1000, 1000)], crs=CRS).to_crs(4490),
        "basic_farmland": gpd.GeoDataFrame({"name": ["农田A", "农田B"]},
                                           geometry=[sq(2000, 0, 2300, 300), sq(2300, 0, 2600, 300)], crs=CRS),
        "urban_boundary": gpd.GeoDataFrame({"name": ["城区"]}, geometry=[sq(3000, 0, 5000, 2000)], crs=CRS),
    }


def test_known_overlap_areas_in_mu(lines):
    parks = gpd.GeoDataFrame({"name": ["甲园", "乙园", "丙园", "丁园"], "phase": "planned"}, geometry=[
        sq(500, 500, 1500, 1500),      # a quarter (500 × 500) inside the red line
        sq(2200, 100, 2400, 200),      # across both farmland pieces: 200 × 100
        sq(1000, 0, 1200, 200),        # touches the red line along its edge only
        sq(3500, 500, 4500, 2500),     # a quarter outside the urban boundary
    ], crs=CRS).to_crs(4490)
    table, conflicts = overlay.check({"parks": parks}, lines)
    t = table.set_index(["name", "line"])
    assert t.at[("甲园", "eco_redline"), "inside_mu"] == pytest.approx(250000 / MU, rel=1e-3)
    assert t.at[("甲园", "eco_redline"), "share"] == pytest.approx(0.25, rel=1e-3)
    assert t.at[("甲园", "eco_redline"), "verdict"] == "园区占用生态保护红线"
    assert t.at[("乙园", "basic_farmland"), "inside_mu"] == pytest.approx(20000 / MU, rel=1e-3)
    assert t.at[("乙园", "basic_farmland"), "inside_ha"] == pytest.approx(2.0, rel=1e-3)
    assert t.at[("丙园", "eco_redline"), "inside_m2"] == 0 and t.at[("丙园", "eco_redline"), "verdict"] == ""
    assert t.at[("丁园", "urban_boundary"), "share"] == pytest.approx(0.75, rel=1e-3)
    assert t.at[("丁园", "urban_boundary"), "verdict"] == "园区位于城镇开发边界外"
    c = conflicts.set_index(["name", "line"])
    assert set(c.index) == {("甲园", "eco_redline"), ("乙园", "basic_farmland"), ("甲园", "urban_boundary"),
                            ("乙园", "urban_boundary"), ("丙园", "urban_boundary"), ("丁园", "urban_boundary")}
    assert c.at[("丁园", "urban_boundary"), "area_mu"] == pytest.approx(500000 / MU, rel=1e-3)
    assert c.at[("乙园", "basic_farmland"), "area_mu"] == pytest.approx(20000 / MU, rel=1e-3)
    assert conflicts.crs.to_epsg() == 4490
    for col in ("layer", "feature_id", "line", "area_mu", "length_m", "verdict"):
        assert col in conflicts.columns


def test_lines_and_points(lines):
    roads = gpd.GeoDataFrame({"name": ["规划路", "现状路"], "phase": ["planned", "existing"]}, geometry=[
        LineString([(X - 500, Y + 500), (X + 1500, Y + 500)]),   # 1000 m inside the red line
        LineString([(X - 500, Y + 600), (X + 1500, Y + 600)])], crs=CRS)
    reservoirs = gpd.GeoDataFrame({"name": ["水库"], "phase": ["planned"]}, geometry=[Point(X + 2100, Y + 100)], crs=CRS)
    table, conflicts = overlay.check({"roads": roads, "reservoirs": reservoirs}, lines)
    t = table.set_index(["name", "line"])
    assert t.at[("规划路", "eco_redline"), "inside_m"] == pytest.approx(1000, rel=1e-6)
    assert t.at[("规划路", "eco_redline"), "share"] == pytest.approx(0.5, rel=1e-6)
    assert "规划道路穿越生态保护红线" in t.at[("规划路", "eco_redline"), "verdict"]
    assert t.at[("现状路", "eco_redline"), "verdict"] == ""            # the rule is for planned roads
    assert t.at[("水库", "basic_farmland"), "share"] == 1.0
    assert "规划水库占用永久基本农田" in t.at[("水库", "basic_farmland"), "verdict"]
    road_part = conflicts[(conflicts["name"] == "规划路")]
    assert road_part["length_m"].iloc[0] == pytest.approx(1000, rel=1e-6)


def test_invalid_geometry_is_repaired_before_overlay(lines):
    bowtie = Polygon([(X + 0, Y + 0), (X + 400, Y + 400), (X + 400, Y + 0), (X + 0, Y + 400)])
    parks = gpd.GeoDataFrame({"name": ["蝴蝶园"]}, geometry=[bowtie], crs=CRS)
    assert not parks.geometry.iloc[0].is_valid
    table, _ = overlay.check({"parks": parks}, lines)
    row = table[(table["line"] == "eco_redline")].iloc[0]
    assert row["inside_m2"] == pytest.approx(80000, rel=1e-6)        # two triangles of 40,000 m²
    assert row["share"] == pytest.approx(1.0)


def test_gbk_county_layers_with_planning_codes(tmp_path):
    county = tmp_path / "county"
    county.mkdir()
    for code, geom in (("STBHHX", sq(0, 0, 1000, 1000)), ("YJJBNT", sq(2000, 0, 2300, 300)),
                       ("CZKFBJ", sq(3000, 0, 5000, 2000))):
        gdf = gpd.GeoDataFrame({"MC": ["县级图斑"]}, geometry=[geom], crs=CRS)
        gdf.to_file(county / f"{code}.shp", encoding="GBK")
        (county / f"{code}.cpg").unlink()
    parks = gpd.GeoDataFrame({"name": ["甲园"]}, geometry=[sq(500, 500, 1500, 1500)], crs=CRS)
    parks.to_file(county / "parks.geojson")
    cat = catalog.Catalog(user=county)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lines = {k: cat.load(k) for k in overlay.CONTROL_LINES}
        table, _ = overlay.check({"parks": cat.load("parks")}, lines)
    assert lines["eco_redline"]["MC"].iloc[0] == "县级图斑"
    t = table.set_index("line")
    assert t.at["eco_redline", "inside_mu"] == pytest.approx(250000 / MU, rel=1e-3)


def test_rules_are_data(tmp_path, lines):
    rules = tmp_path / "rules.csv"
    rules.write_text("layer,phase,line,relation,severity,verdict\n*,*,eco_redline,overlaps,conflict,禁止进入\n",
                     encoding="utf-8")
    parks = gpd.GeoDataFrame({"name": ["甲园"]}, geometry=[sq(500, 500, 1500, 1500)], crs=CRS)
    table, conflicts = overlay.check({"anything": parks}, lines, overlay.load_rules(rules))
    assert list(conflicts["verdict"]) == ["禁止进入"]
    rules.write_text("layer,line\nparks,red\n", encoding="utf-8")
    with pytest.raises(InputError, match="lacks column"):
        overlay.load_rules(rules)
    rules.write_text("layer,phase,line,relation,severity,verdict\nparks,*,red,overlaps,x,y\n", encoding="utf-8")
    with pytest.raises(InputError, match="unknown line"):
        overlay.load_rules(rules)


def test_crop_summary_by_township_field_and_by_overlay():
    plots = gpd.GeoDataFrame({"crop": ["刺梨", "刺梨", "茶叶"], "township": ["朱昌镇", "撒拉溪镇", "朱昌镇"]},
                             geometry=[sq(0, 0, 1000, 1000), sq(0, 2000, 500, 2400), sq(3000, 0, 3300, 300)], crs=CRS)
    by, totals = overlay.crop_summary(plots)
    b = by.set_index(["crop", "township"])
    assert b.at[("刺梨", "朱昌镇"), "area_mu"] == pytest.approx(1500.0, abs=0.1)
    assert b.at[("刺梨", "撒拉溪镇"), "area_mu"] == pytest.approx(300.0, abs=0.1)
    t = totals.set_index("crop")
    assert t.at["刺梨", "area_wanmu"] == pytest.approx(0.18, abs=1e-3)
    assert t.at["刺梨", "target_wanmu"] == 50.0 and t.at["茶叶", "target_wanmu"] == 30.0
    # no township field: split exactly at township borders
    towns = gpd.GeoDataFrame({"name": ["西乡", "东乡"]}, geometry=[sq(-100, -100, 400, 3000), sq(400, -100, 4000, 3000)], crs=CRS)
    by2, _ = overlay.crop_summary(plots.drop(columns="township"), townships=towns)
    b2 = by2.set_index(["crop", "township"])
    assert b2.at[("刺梨", "西乡"), "area_mu"] == pytest.approx((400 * 1000 + 400 * 400) / MU, abs=0.1)
    assert b2.at[("刺梨", "东乡"), "area_mu"] == pytest.approx((600 * 1000 + 100 * 400) / MU, abs=0.1)


def test_livestock_summary_against_plan_targets():
    parks = pd.DataFrame({"animal": ["生猪", "生猪", "牛", "家禽"], "capacity": [200000, 200000, None, 5e6]})
    out = overlay.livestock_summary(parks).set_index("animal")
    assert out.at["生猪", "capacity"] == 400000 and out.at["生猪", "share_of_target"] == pytest.approx(0.4)
    assert out.at["牛", "parks"] == 1 and out.at["牛", "with_capacity"] == 0
    assert out.at["家禽", "target"] == 1e7 and out.at["家禽", "unit"] == "羽"
    with pytest.raises(InputError, match="no field 'capacity'"):
        overlay.livestock_summary(parks.drop(columns="capacity"))


def test_cli_check_and_zones(tmp_path, capsys, monkeypatch):
    from spatial import cli
    import pyogrio
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    county = tmp_path / "county"
    county.mkdir()
    gpd.GeoDataFrame({"MC": ["红线"]}, geometry=[sq(0, 0, 1000, 1000)], crs=CRS).to_file(county / "STBHHX.geojson")
    gpd.GeoDataFrame({"name": ["甲园"], "phase": ["planned"]}, geometry=[sq(500, 500, 1500, 1500)],
                     crs=CRS).to_file(county / "parks.geojson")
    out = tmp_path / "check.gpkg"
    code = cli.main(["--layers", str(county), "check", "sanqu-sanxian", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "园区占用生态保护红线" in captured.out and "1 conflict(s)" in captured.out
    c = pyogrio.read_dataframe(out, layer="conflicts")
    for col in ("layer", "feature_id", "line", "area_mu", "length_m", "verdict"):
        assert col in c.columns
    assert c["area_mu"].iloc[0] == pytest.approx(250000 / MU, rel=1e-3)
    # the conflicts are drawn on the 三区三线 map
    code = cli.main(["--layers", str(county), "map", "sanqu", "--out", str(tmp_path / "maps")])
    import json
    page = (tmp_path / "maps" / "sanqu.html").read_text("utf-8")
    assert code == 0 and json.dumps("冲突部分")[1:-1] in page          # JSON-escaped in the page
    # zones from the county's plots
    plots = tmp_path / "plots.geojson"
    gpd.GeoDataFrame({"作物": ["刺梨", "茶叶"], "乡镇": ["朱昌镇", "青场镇"]},
                     geometry=[sq(0, 0, 1000, 1000), sq(0, 2000, 300, 2300)], crs=CRS).to_file(plots)
    capsys.readouterr()
    code = cli.main(["--layers", str(county), "zones", "summary", "--plots", str(plots), "--crop-field", "作物",
                     "--township-field", "乡镇", "--out", str(tmp_path / "zones.xlsx")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "刺梨: 1,500.0 亩 = 0.150 万亩 [种植地块] (规划目标 50 万亩)" in captured.out
    code = cli.main(["zones", "summary", "--plots", str(plots)])
    assert code == 2 and "no crop field 'crop'" in capsys.readouterr().err


def test_overlapping_control_polygons_are_not_counted_twice():
    park = gpd.GeoDataFrame({"name": ["园"]}, geometry=[sq(0, 0, 100, 100)], crs=CRS)
    # the urban boundary as two overlapping polygons (and a duplicate), covering 60 % of the park
    ub = gpd.GeoDataFrame(geometry=[sq(-50, -50, 60, 150), sq(20, -50, 60, 150), sq(20, -50, 60, 150)], crs=CRS)
    table, conflicts = overlay.check({"parks": park}, {"urban_boundary": ub})
    row = table.iloc[0]
    assert row["inside_m2"] == pytest.approx(6000) and row["share"] == pytest.approx(0.6)
    assert row["verdict"] == "园区位于城镇开发边界外"
    assert conflicts["area_mu"].iloc[0] == pytest.approx(4000 / MU, rel=1e-6)


def test_crop_summary_says_when_it_measures_zones_not_plots():
    from shapely.geometry import box as _box
    z = gpd.GeoDataFrame({"crop": ["刺梨"], "township": ["甲镇"], "area_basis": ["zone"]},
                         geometry=[_box(500000, 3000000, 501000, 3001000)], crs="EPSG:4544")
    by, totals = overlay.crop_summary(z)
    assert totals["basis"].tolist() == ["zone extent (not planted area)"] and by["basis"].iloc[0].startswith("zone")
    assert totals["area_mu"].iloc[0] == pytest.approx(1e6 / (10000 / 15), rel=1e-3)
    _, plots = overlay.crop_summary(z.drop(columns="area_basis"))
    assert plots["basis"].tolist() == ["mapped plots"]
