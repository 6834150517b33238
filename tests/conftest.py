"""Shared fixtures: small layers built on the fly in a temporary folder."""
from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import Point, Polygon

# Three places in 七星关区 (lon, lat in CGCS2000); positions are only test coordinates.
TOWNS = {
    "name": ["撒拉溪镇", "朱昌镇", "田坎彝族乡"],
    "code": ["520502106000", "520502103000", "520502207000"],
}
TOWN_XY = [(105.10, 27.30), (105.20, 27.25), (105.50, 27.50)]


@pytest.fixture
def towns() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(dict(TOWNS), geometry=[Point(xy) for xy in TOWN_XY], crs="EPSG:4490")


@pytest.fixture
def square() -> gpd.GeoDataFrame:
    """A 1 km × 1 km square near the district seat, built in EPSG:4544 metres."""
    x0, y0 = 530000.0, 3020000.0
    poly = Polygon([(x0, y0), (x0 + 1000, y0), (x0 + 1000, y0 + 1000), (x0, y0 + 1000)])
    return gpd.GeoDataFrame({"name": ["方块"]}, geometry=[poly], crs="EPSG:4544")


# ------------------------------------------------------------------ a small county for routing
X0, Y0 = 520000.0, 3010000.0     # EPSG:4544 metres near the district seat


def _xy(x, y):
    return (X0 + x, Y0 + y)


@pytest.fixture
def mini_county(tmp_path):
    """Townships, roads, expressways and interchanges with answers known by hand.

    - road A(0,0)–B(20 km,0) 二级 (60 km/h); B–C(20 km,15 km) 三级 (30 km/h);
      an island road D–E 四级 far away;
    - expressway 500 m south of A–B from x=0 to 30 km, entrance 东互通 at x=20 km only;
      planned expressway at y=15.5 km with planned entrance 北互通 at x=20 km;
    - T1 甲镇 100 m south of A (the expressway passes 400 m away but has no entrance there),
      T2 乙乡 100 m south of C, T3 丙族乡 on the island, T4 丁街道 (not counted by the KPI).
    """
    from shapely.geometry import LineString
    crs = "EPSG:4544"
    roads = gpd.GeoDataFrame({
        "name": ["A–B", "B–C", "D–E"], "grade": ["二级公路", "三级公路", "四级公路"],
        "data_status": "illustrative", "source": "test"},
        geometry=[LineString([_xy(0, 0), _xy(20000, 0)]), LineString([_xy(20000, 0), _xy(20000, 15000)]),
                  LineString([_xy(40000, 30000), _xy(42000, 30000)])], crs=crs).to_crs(4490)
    expressways = gpd.GeoDataFrame({
        "name": ["现状高速", "规划高速"], "phase": ["existing", "planned"],
        "data_status": "illustrative", "source": "test"},
        geometry=[LineString([_xy(0, -500), _xy(30000, -500)]), LineString([_xy(15000, 15500), _xy(35000, 15500)])],
        crs=crs).to_crs(4490)
    interchanges = gpd.GeoDataFrame({
        "name": ["东互通", "北互通"], "phase": ["existing", "planned"],
        "data_status": "illustrative", "source": "test"},
        geometry=[Point(_xy(20000, -500)), Point(_xy(20000, 15500))], crs=crs).to_crs(4490)
    townships = gpd.GeoDataFrame({
        "name": ["甲镇", "乙乡", "丙族乡", "丁街道"], "code": ["1", "2", "3", "4"],
        "type": ["镇", "乡", "民族乡", "街道"], "data_status": "illustrative", "source": "test"},
        geometry=[Point(_xy(0, -100)), Point(_xy(20000, 14900)), Point(_xy(41000, 30100)),
                  Point(_xy(10000, 50))], crs=crs).to_crs(4490)
    folder = tmp_path / "mini"
    folder.mkdir()
    for name, gdf in (("roads", roads), ("expressways", expressways), ("interchanges", interchanges),
                      ("townships", townships)):
        gdf.to_file(folder / f"{name}.geojson")
    return {"folder": folder, "roads": roads, "expressways": expressways,
            "interchanges": interchanges, "townships": townships}
