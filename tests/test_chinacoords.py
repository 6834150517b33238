"""GCJ-02 / BD-09 conversion: published reference points and round trips."""
from __future__ import annotations

import numpy as np
import pytest
from pyproj import Geod

from spatial import chinacoords as cc

GEOD = Geod(ellps="GRS80")

# WGS84 → GCJ-02 pairs published as test vectors (lon, lat):
# googollee/eviltransform, go/transform_test.go @1643645 (table written as lat, lng)
# wandergis/coordtransform README.md @0148136; hujiulong/gcoord test/unit/transform.spec.ts @308aa13
WGS_TO_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),      # Shanghai
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),      # Shenzhen
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),      # Beijing
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),            # coordtransform
    ((123.0, 45.0), (123.00607541, 45.00197815)),                            # gcoord (8 d.p.)
]
# GCJ-02 → BD-09: coordtransform README; gcoord test/unit/crs/GCJ02.spec.ts @42ea29d;
# Alibaba Cloud address-purification TransferCoord example (6 d.p.).
GCJ_TO_BD = [
    ((116.404, 39.915), (116.41036949371029, 39.92133699351021)),
    ((123.0, 45.0), (123.00636499, 45.00636899)),
    ((120.026268, 30.279164), (120.032768, 30.285238)),
]


def _metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.mark.parametrize("wgs,gcj", WGS_TO_GCJ)
def test_forward_matches_published_gcj02(wgs, gcj):
    lon, lat = cc.wgs84_to_gcj02(*wgs)
    assert _metres(lon, lat, *gcj) < 0.01


@pytest.mark.parametrize("wgs,gcj", WGS_TO_GCJ)
def test_inverse_recovers_published_wgs84(wgs, gcj):
    lon, lat = cc.gcj02_to_wgs84(*gcj)
    assert _metres(lon, lat, *wgs) < 0.5


@pytest.mark.parametrize("gcj,bd", GCJ_TO_BD)
def test_bd09_matches_published(gcj, bd):
    lon, lat = cc.gcj02_to_bd09(*gcj)
    assert _metres(lon, lat, *bd) < 0.2          # the Alibaba pair is rounded to 6 d.p.
    back = cc.bd09_to_gcj02(*bd)
    assert _metres(*back, *gcj) < 0.5


def test_offset_is_hundreds_of_metres_in_the_district():
    lon, lat = cc.wgs84_to_gcj02(105.28, 27.30)
    assert 100 < _metres(105.28, 27.30, lon, lat) < 1000


def test_round_trips_across_china_are_submillimetre():
    rng = np.random.default_rng(7)
    lon = rng.uniform(74, 134, 20000)
    lat = rng.uniform(18, 53, 20000)
    for fwd, inv in ((cc.wgs84_to_gcj02, cc.gcj02_to_wgs84), (cc.wgs84_to_bd09, cc.bd09_to_wgs84)):
        back = inv(*fwd(lon, lat))
        err = _metres(lon, lat, *back)
        assert err.max() < 0.001


def test_iterative_inverse_beats_one_step_inverse():
    # The widespread one-step inverse (wgs ≈ 2·gcj − f(gcj)) leaves centimetres; ours does not.
    gcj = (116.404, 39.915)
    f = cc.wgs84_to_gcj02(*gcj)
    one_step = (2 * gcj[0] - f[0], 2 * gcj[1] - f[1])
    exact = cc.gcj02_to_wgs84(*gcj)
    err_one = _metres(*cc.wgs84_to_gcj02(*one_step), *gcj)
    err_ours = _metres(*cc.wgs84_to_gcj02(*exact), *gcj)
    assert err_one > 0.01 and err_ours < 1e-4


def test_outside_china_is_unchanged():
    lon, lat = cc.wgs84_to_gcj02(np.array([2.35, 139.7]), np.array([48.85, 35.68]))
    assert np.allclose(lon, [2.35, 139.7]) and np.allclose(lat, [48.85, 35.68])


def test_names_are_normalised():
    assert cc.normalise_name("GCJ-02") == "gcj02"
    assert cc.normalise_name("BD09") == "bd09"
    with pytest.raises(ValueError, match="unknown coordinate system"):
        cc.normalise_name("mars")
