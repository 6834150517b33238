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
