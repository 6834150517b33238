"""Metric helpers: areas in 亩/公顷/km², lengths and buffers in EPSG:4544."""
from __future__ import annotations

import math

import geopandas as gpd
import pytest
from shapely.geometry import LineString, Point

from spatial import metric, settings


def test_square_kilometre_is_1500_mu(square):
    wgs = square.to_crs(4490)                     # stored layers are in degrees
    table = metric.area_table(wgs)
    assert table["area_m2"].iloc[0] == pytest.approx(1e6, rel=1e-9)
    assert table["area_mu"].iloc[0] == pytest.approx(1500.0, rel=1e-9)
    assert table["area_ha"].iloc[0] == pytest.approx(100.0, rel=1e-9)
    assert table["area_km2"].iloc[0] == pytest.approx(1.0, rel=1e-9)
    assert metric.area_mu(wgs).iloc[0] == pytest.approx(1500.0, rel=1e-9)


def test_mu_definition():
    assert settings.M2_PER_MU == pytest.approx(666.6666666666666)
    assert metric.m2_to_mu(10000.0 / 15.0) == pytest.approx(1.0)


def test_length_of_a_known_line():
    line = gpd.GeoSeries([LineString([(530000, 3020000), (533000, 3024000)])], crs=4544).to_crs(4490)
    assert metric.length_m(line).iloc[0] == pytest.approx(5000.0, rel=1e-9)


@pytest.mark.parametrize("quad_segs", [4, 16, 64])
def test_point_buffer_area_matches_circle(quad_segs):
    r = 500.0
    pt = gpd.GeoSeries([Point(530000, 3020000)], crs=4544).to_crs(4490)
    buf = metric.buffer_m(pt, r, resolution=quad_segs)
    assert buf.crs == pt.crs                      # returned in the input CRS (degrees)
    area = metric.area_m2(buf).iloc[0]
    n = 4 * quad_segs                             # inscribed regular n-gon
    polygon_area = 0.5 * n * r * r * math.sin(2 * math.pi / n)
    assert area == pytest.approx(polygon_area, rel=1e-6)
    assert area < math.pi * r * r
    assert (math.pi * r * r - area) / (math.pi * r * r) < (2 * math.pi / n) ** 2 / 6 * 1.01


def test_buffer_keeps_attributes(towns):
    out = metric.buffer_m(towns, 1000)
    assert list(out["name"]) == list(towns["name"])
    assert (out.geom_type == "Polygon").all()


def test_layer_without_crs_is_refused():
    with pytest.raises(ValueError, match="no coordinate system"):
        metric.area_m2(gpd.GeoSeries([Point(0, 0).buffer(1)]))
