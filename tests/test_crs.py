"""Recognising Chinese coordinate systems and guessing them from numbers."""
from __future__ import annotations

import pytest
from pyproj import CRS

from spatial import crs as crsmod

# (datum, first EPSG code of each series, width, prefixed, first zone/CM)
SERIES = [
    ("CGCS2000", 4491, 6, True), ("CGCS2000", 4502, 6, False),
    ("CGCS2000", 4513, 3, True), ("CGCS2000", 4534, 3, False),
    ("Xian 1980", 2327, 6, True), ("Xian 1980", 2338, 6, False),
    ("Xian 1980", 2349, 3, True), ("Xian 1980", 2370, 3, False),
    ("Beijing 1954", 21413, 6, True), ("Beijing 1954", 21453, 6, False),
    ("Beijing 1954", 2401, 3, True), ("Beijing 1954", 2422, 3, False),
]


@pytest.mark.parametrize("datum,first,width,prefixed", SERIES)
def test_every_gauss_kruger_code_is_recognised(datum, first, width, prefixed):
    count = 11 if width == 6 else 21
    for i in range(count):
        code = first + i
        gk = crsmod.gauss_kruger(CRS.from_epsg(code))
        assert gk is not None, code
        assert (gk.datum, gk.width, gk.prefixed, gk.central_meridian) == (datum, width, prefixed, 75 + width * i)
        assert gk.epsg == code


def test_esri_prj_without_epsg_code_is_recognised():
    for code in (4544, 4523, 2360):
        wkt = CRS.from_epsg(code).to_wkt("WKT1_ESRI")
        assert crsmod.gauss_kruger(CRS.from_wkt(wkt)).epsg == code


def test_non_gauss_kruger_systems():
    for code in (4490, 4326, 3857, 32648):
        assert crsmod.gauss_kruger(CRS.from_epsg(code)) is None


def test_datum_warning_only_for_old_datums():
    assert crsmod.datum_warning(CRS.from_epsg(2360))
    assert crsmod.datum_warning(CRS.from_epsg(4214))
    assert crsmod.datum_warning(CRS.from_epsg(4544)) is None
    assert crsmod.datum_warning(CRS.from_epsg(4326)) is None


@pytest.mark.parametrize("xy,expect", [
    ((105.3, 27.3), "longitude/latitude"),
    ((27.3, 105.3), "swapped"),
    ((530000, 3020000), "EPSG:4544"),
    ((35530000, 3020000), "EPSG:4523"),
    ((18530000, 3020000), "EPSG:4496"),
    ((11720000, 3160000), "EPSG:3857"),
])
def test_guess_from_numbers(xy, expect):
    assert expect in crsmod.guess_from_numbers(*xy)


def test_parse_crs():
    assert crsmod.parse_crs("4544") == CRS.from_epsg(4544)
    assert crsmod.parse_crs("EPSG:4490") == CRS.from_epsg(4490)
    with pytest.raises(ValueError, match="not a coordinate system"):
        crsmod.parse_crs("cgcs-banana")
