"""Accessibility: snapping, the 30-minute expressway KPI, isochrones, and the CLI."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, Point

from spatial import access, cli, network, settings
from spatial.errors import InputError

CRS = "EPSG:4544"
# hand-computed answers for the mini county (see tests/conftest.py)
RAMP = 500 / (40 * 1000 / 60)                    # 500 m at 40 km/h
EXPECTED = {
    "current": {"甲镇": 100 / 250 + 20.0 + RAMP, "乙乡": 14900 / 500 + RAMP, "丙族乡": np.nan,
                "丁街道": 50 / 250 + 10.0 + RAMP},
    "planned": {"甲镇": 100 / 250 + 20.0 + RAMP, "乙乡": 100 / 500 + RAMP, "丙族乡": np.nan,
                "丁街道": 50 / 250 + 10.0 + RAMP},
}


def test_highway_access_matches_hand_computed_minutes(mini_county):
    rows, kpi, changes, nets = access.highway_access(
        mini_county["townships"], mini_county["roads"], mini_county["expressways"], mini_county["interchanges"])
    for scenario, expect in EXPECTED.items():
        got = rows[rows["scenario"] == scenario].set_index("name")
        for name, minutes in expect.items():
            if np.isnan(minutes):
                assert not got.at[name, "reachable"] and pd.isna(got.at[name, "minutes"])
                assert not got.at[name, "within"]
            else:
                assert got.at[name, "minutes"] == pytest.approx(minutes, abs=0.01), (scenario, name)
    assert rows[(rows["scenario"] == "planned") & (rows["name"] == "乙乡")]["entrance"].iloc[0] == "北互通"
    k = kpi.set_index("scenario")
    assert (k.at["current", "townships"], k.at["current", "within"]) == (3, 1)     # 街道 not counted
    assert (k.at["planned", "within"], k.at["planned", "unreachable"]) == (2, 1)
    assert k.at["current", "share"] == pytest.approx(1 / 3, abs=1e-4) and not k.at["current", "meets_target"]
    assert k.at["planned", "share"] == pytest.approx(2 / 3, abs=1e-4) and k.at["planned", "meets_target"]
    assert list(changes["name"]) == ["乙乡"]
    assert changes["within_current"].iloc[0] == False and changes["within_planned"].iloc[0] == True  # noqa: E712


def test_to_nearest_generic_targets_include_their_access_leg():
    roads = gpd.GeoDataFrame({"grade": ["二级公路"]}, geometry=[LineString([(0, 0), (6000, 0)])], crs=CRS)
    net = network.from_layers(roads)
    origins = gpd.GeoDataFrame({"name": ["村"]}, geometry=[Point(0, 30)], crs=CRS)
    clinics = gpd.GeoDataFrame({"name": ["卫生院A", "卫生院B"]},
                               geometry=[Point(3000, 200), Point(6000, -60)], crs=CRS)
    res = access.to_nearest(origins, clinics, network=net, access_kmh=6)
    # 30 m + 3 km + 200 m  vs  30 m + 6 km + 60 m; access legs at 6 km/h = 100 m/min
    assert res["target"].iloc[0] == "卫生院A"
    assert res["minutes"].iloc[0] == pytest.approx(0.3 + 3.0 + 2.0, abs=1e-6)
    assert res["access_m"].iloc[0] == pytest.approx(30.0)


def test_several_places_on_one_road_piece():
    roads = gpd.GeoDataFrame({"grade": ["二级公路"]}, geometry=[LineString([(0, 0), (10000, 0)])], crs=CRS)
    net = network.from_layers(roads)
    places = gpd.GeoDataFrame({"name": list("abcd")},
                              geometry=[Point(1000, 0), Point(4000, 0), Point(4000, 0), Point(9000, 0)], crs=CRS)
    target = gpd.GeoDataFrame({"name": ["T"]}, geometry=[Point(5000, 0)], crs=CRS)
    res = access.to_nearest(places, target, net)
    assert list(res["minutes"]) == pytest.approx([4.0, 1.0, 1.0, 4.0])


def test_isochrone_bands_on_a_straight_road_are_analytic():
    roads = gpd.GeoDataFrame({"grade": ["二级公路"]}, geometry=[LineString([(0, 0), (40000, 0)])], crs=CRS)
    net = network.from_layers(roads)
    place = gpd.GeoDataFrame({"name": ["中心"]}, geometry=[Point(20000, 0)], crs=CRS)
    bands = access.isochrones(place, net, bands=(5, 10), buffer_m=100)
    # 5 minutes at 60 km/h reach 5 km each way: a 10 km × 200 m capsule
    r = 100.0
    first = (10000 * 2 * r + math.pi * r * r) / 1e6
    assert bands["area_km2"].iloc[0] == pytest.approx(first, rel=2e-3)
    assert bands["area_km2"].iloc[1] == pytest.approx(10000 * 2 * r / 1e6, rel=2e-3)  # two 5 km sleeves
    b = bands.to_crs(CRS).geometry
    assert b.iloc[0].intersection(b.iloc[1]).area < 1.0              # bands do not overlap
    assert list(bands["label"]) == ["0–5 分钟", "5–10 分钟"]


def test_isochrones_do_not_leak_onto_expressways_without_entrance(mini_county):
    net = network.from_layers(mini_county["roads"], mini_county["expressways"], mini_county["interchanges"])
    town = mini_county["townships"].iloc[[0]]           # 甲镇, 20 minutes from the only entrance
    iso = access.isochrones(town, net, bands=(15,), buffer_m=50).to_crs(CRS)
    # the expressway runs 400 m south of the town; within 15 min nothing on it is reached
    probe = Point(520000 + 5000, 3010000 - 500)
    assert not iso.geometry.iloc[0].buffer(1).contains(probe)


def test_bad_input_is_reported(mini_county):
    net = network.from_layers(mini_county["roads"])
    empty = mini_county["townships"].iloc[:0]
    with pytest.raises(InputError, match="origins: the layer has no features"):
        access.to_nearest(empty, "entrances", net)
    with pytest.raises(InputError, match="no expressway entrances"):
        access.to_nearest(mini_county["townships"], "entrances", net)
    with pytest.raises(InputError, match="minutes must be positive"):
        access.highway_access(mini_county["townships"], mini_county["roads"], mini_county["expressways"],
                              mini_county["interchanges"], minutes=-5)
    with pytest.raises(InputError, match="bands must be positive"):
        access.isochrones(mini_county["townships"], net, bands=(0, 10))


# ------------------------------------------------------------------ command line
def test_cli_access_highway_with_county_layers(mini_county, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    out = tmp_path / "access.csv"
    code = cli.main(["--layers", str(mini_county["folder"]), "access", "highway", "--minutes", "30",
                     "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "乡镇30分钟上高速比例（现状）: 33.3 % (1/3)" in captured.out
    assert "乡镇30分钟上高速比例（规划）: 66.7 % (2/3)" in captured.out and "达标" in captured.out
    assert "乙乡 31→1 分钟" in captured.out            # 30.6 → 0.95 min, shown in whole minutes
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert {"name", "code", "scenario", "minutes", "entrance", "within"} <= set(table.columns)
    assert len(table) == 8 and set(table["scenario"]) == {"current", "planned"}
    assert table.set_index(["name", "scenario"]).at[("乙乡", "planned"), "entrance"] == "北互通"


def test_cli_access_outputs_and_errors(mini_county, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    layers = ["--layers", str(mini_county["folder"])]
    code = cli.main(layers + ["access", "highway", "--scenario", "current", "--out", str(tmp_path / "a.xlsx")])
    assert code == 0
    import openpyxl
    assert openpyxl.load_workbook(tmp_path / "a.xlsx").sheetnames == ["乡镇", "KPI", "变化", "数据来源"]
    code = cli.main(layers + ["access", "highway", "--out", str(tmp_path / "a.gpkg")])
    assert code == 0
    import pyogrio
    assert sorted(pyogrio.list_layers(tmp_path / "a.gpkg")[:, 0]) == ["access", "changes", "data_sources", "kpi"]
    capsys.readouterr()
    assert cli.main(layers + ["access", "highway", "--minutes", "-1"]) == 2
    assert "--minutes must be a positive number" in capsys.readouterr().err
    code = cli.main(layers + ["network", "info"])
    assert code == 0 and "东互通" in capsys.readouterr().out


def test_places_without_position_are_named(mini_county):
    net = network.from_layers(mini_county["roads"], mini_county["expressways"], mini_county["interchanges"])
    t = mini_county["townships"].copy()
    t.loc[1, "geometry"] = None
    with pytest.raises(InputError, match="origins: 1 feature\\(s\\) have no position: 乙乡"):
        access.to_nearest(t, "entrances", net)


def test_single_scenario_to_geopackage(mini_county, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    out = tmp_path / "one.gpkg"
    code = cli.main(["--layers", str(mini_county["folder"]), "access", "highway", "--scenario", "current",
                     "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    import pyogrio
    assert sorted(pyogrio.list_layers(out)[:, 0]) == ["access", "changes", "data_sources", "kpi"]


def test_cli_access_highway_on_an_osm_file(tmp_path, capsys, monkeypatch):
    from pathlib import Path
    from spatial import cli, network
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    folder = tmp_path / "county"
    folder.mkdir()
    towns = gpd.GeoDataFrame({"name": ["甲镇"], "code": ["1"], "type": ["镇"]},
                             geometry=[Point(105.2805, 27.3008)], crs=4326)
    towns.to_file(folder / "townships.geojson")
    osm = Path(__file__).parent / "data" / "mini.osm"
    out = tmp_path / "a.csv"
    code = cli.main(["--layers", str(folder), "access", "highway", "--osm", str(osm), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "current network is analysed" in captured.err
    table = pd.read_csv(out, encoding="utf-8-sig")
    assert list(table["scenario"]) == ["current"] and table["entrance"].iloc[0] == "测试互通"
    ref = access.to_nearest(towns, "entrances", network.from_osm_file(osm))
    assert table["minutes"].iloc[0] == pytest.approx(ref["minutes"].iloc[0], abs=0.01)


# ------------------------------------------------------------------ isochrones on the bundled layers
@pytest.fixture(scope="module")
def bundled_net():
    import warnings
    from spatial import catalog
    cat = catalog.Catalog(user=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lay = {k: cat.load(k) for k in ("townships", "roads", "expressways", "interchanges")}
    return lay["townships"], network.from_layers(lay["roads"], lay["expressways"], lay["interchanges"])


def test_single_township_isochrones_on_the_bundled_layers_are_valid(bundled_net):
    import shapely
    towns, net = bundled_net
    for i in range(len(towns)):
        for off in (None, 15.0):
            bands = access.isochrones(towns.iloc[[i]], net, bands=(10, 20, 30, 45, 60), offroad_kmh=off)
            assert bands.crs == "EPSG:4490"
            assert shapely.is_valid(np.asarray(bands.geometry.values, dtype=object)).all(), towns["name"].iloc[i]


def test_grid_isochrones_match_the_exact_vector_union(bundled_net):
    towns, net = bundled_net
    for off in (None, 15.0):
        for T in (10, 30):
            grid = access.isochrones(towns, net, bands=(T,), offroad_kmh=off).to_crs(CRS).area.iloc[0]
            exact = access.isochrones(towns, net, bands=(T,), offroad_kmh=off, method="vector").to_crs(CRS).area.iloc[0]
            # the vector method samples the off-road reach every 200 m, so it is a little smaller
            assert grid == pytest.approx(exact, rel=0.02)
