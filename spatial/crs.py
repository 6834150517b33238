"""Coordinate systems met in Chinese county data, and how to bring them to CGCS2000.

County layers arrive in CGCS2000 geographic (EPSG:4490) or Gauss-Kruger (3° or 6° zones,
with or without the zone number prefixed to the easting), in the older Xian 1980 and
Beijing 1954 datums, in WGS84 or in Web Mercator. This module names them, recognises the
common mistakes (a zone prefix missing from the .prj, projected numbers labelled as
degrees, latitude and longitude swapped) and says how accurate the datum change is.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pyproj import CRS
from pyproj.exceptions import CRSError

from . import settings

# Gauss-Kruger EPSG code ranges per datum: (first code, zone or CM of the first code).
# 6° zones are numbered 13–23 (CM 75°E–135°E), 3° zones 25–45 (CM 75°E–135°E).
_GK_CODES = {
    "CGCS2000": {(6, True): 4491, (6, False): 4502, (3, True): 4513, (3, False): 4534},
    "Xian 1980": {(6, True): 2327, (6, False): 2338, (3, True): 2349, (3, False): 2370},
    "Beijing 1954": {(6, True): 21413, (6, False): 21453, (3, True): 2401, (3, False): 2422},
}
_OLD_DATUMS = ("Xian 1980", "Beijing 1954")


@dataclass(frozen=True)
class GaussKruger:
    """A Gauss-Kruger system: datum, zone width (3 or 6°), central meridian, zone prefix."""

    datum: str
    width: int
    central_meridian: int
    prefixed: bool

    @property
    def zone(self) -> int:
        return self.central_meridian // 3 if self.width == 3 else (self.central_meridian + 3) // 6

    @property
    def epsg(self) -> int:
        first = _GK_CODES[self.datum][(self.width, self.prefixed)]
        return first + (self.central_meridian - 75) // self.width

    def with_prefix(self, prefixed: bool) -> "GaussKruger":
        return GaussKruger(self.datum, self.width, self.central_meridian, prefixed)


def datum_family(crs: CRS) -> str | None:
    """'CGCS2000', 'Xian 1980', 'Beijing 1954', 'WGS 84' or None, from the CRS's datum."""
    try:
        name = (crs.geodetic_crs.datum.name if crs.geodetic_crs else crs.datum.name).lower()
    except AttributeError:
        return None
    if "2000" in name and ("china" in name or "cgcs" in name):
        return "CGCS2000"
    if "xian" in name or "xi'an" in name or "1980" in name:
        return "Xian 1980"
    if "beijing" in name or "1954" in name:
        return "Beijing 1954"
    if "wgs" in name and "84" in name or "world geodetic system 1984" in name:
        return "WGS 84"
    return None


def gauss_kruger(crs: CRS) -> GaussKruger | None:
    """Describe ``crs`` as a Gauss-Kruger system of a Chinese datum, or None if it is not one.

    Works from the projection parameters, so a .prj without an EPSG code (as ArcGIS writes
    them) is recognised too.
    """
    if not crs.is_projected:
        return None
    datum = datum_family(crs)
    if datum not in _GK_CODES:
        return None
    op = crs.coordinate_operation
    if op is None or "transverse mercator" not in op.method_name.lower():
        return None
    params = {p.name.lower(): p.value for p in op.params}
    if abs(float(params.get("scale factor at natural origin", 1.0)) - 1.0) > 1e-9:
        return None
    cm = float(params.get("longitude of natural origin", 0.0))
    x0 = float(params.get("false easting", 0.0))
    if abs(cm - round(cm)) > 1e-9 or not 75 <= cm <= 135:
        return None
    cm = int(round(cm))
    prefix = int(round((x0 - 500000.0) / 1e6))
    if abs(x0 - 500000.0 - prefix * 1e6) > 1e-6:
        return None
    if prefix == 0:
        # CMs such as 105°E are both 3° and 6° central meridians; then the name tells which
        name = crs.name.lower().replace("_", " ").replace("-", " ")
        width = 3 if (cm % 6 != 3 or "3 degree" in name) else 6
        return GaussKruger(datum, width, cm, False)
    if 25 <= prefix <= 45 and prefix * 3 == cm:
        return GaussKruger(datum, 3, cm, True)
    if 13 <= prefix <= 23 and prefix * 6 - 3 == cm:
        return GaussKruger(datum, 6, cm, True)
    return None


def parse_crs(value, source: str | None = None) -> CRS:
    """A CRS from what a planner types: ``4544``, ``EPSG:4544``, a WKT/PROJ string or a CRS.

    Raises ValueError with a one-line message when the text is not a coordinate system.
    """
    if isinstance(value, CRS):
        return value
    text = str(value).strip()
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        return CRS.from_user_input(text)
    except CRSError as exc:
        what = f" in {source}" if source else ""
        raise ValueError(f"not a coordinate system{what}: {str(value)[:60]!r} "
                         f"(give an EPSG code such as 4490 or 4544)") from exc


def describe(crs) -> str:
    """Short label for tables: 'EPSG:4544' or the CRS name."""
    if crs is None or crs == "":
        return "—"
    try:
        crs = CRS.from_user_input(crs)
    except CRSError:
        return str(crs)[:40]
    code = crs.to_epsg(min_confidence=70)
    return f"EPSG:{code}" if code else crs.name


def datum_warning(crs: CRS) -> str | None:
    """A warning for datums that PROJ can only move to CGCS2000 approximately."""
    datum = datum_family(crs)
    if datum in _OLD_DATUMS:
        return (f"{datum} coordinates converted to CGCS2000 without published transformation "
                f"parameters (PROJ 'ballpark'): positions may be off by tens of metres up to "
                f"about 100 m; for survey-grade work pass a CRS with the county's 7-parameter "
                f"+towgs84 values")
    return None


def guess_from_numbers(x: float, y: float) -> str | None:
    """Guess a coordinate system from one typical point, for hints in error messages."""
    lon_min, lon_max = settings.CHINA_LON
    lat_min, lat_max = settings.CHINA_LAT
    if lon_min <= x <= lon_max and lat_min <= y <= lat_max:
        return "longitude/latitude degrees (EPSG:4490 CGCS2000 or EPSG:4326 WGS84)"
    if lat_min <= x <= lat_max and lon_min <= y <= lon_max:
        return "latitude/longitude degrees in swapped order"
    if 1e5 <= x <= 1e6 and 1e6 <= y <= 6e6:
        return "Gauss-Kruger metres without zone prefix (for this district EPSG:4544, CGCS2000 CM 105E)"
    if 25e6 <= x <= 46e6 and 1e6 <= y <= 6e6:
        zone = int(x // 1e6)
        return (f"3-degree Gauss-Kruger metres with zone prefix {zone} "
                f"(CGCS2000: EPSG:{4513 + zone - 25})")
    if 13e6 <= x <= 24e6 and 1e6 <= y <= 6e6:
        zone = int(x // 1e6)
        return (f"6-degree Gauss-Kruger metres with zone prefix {zone} "
                f"(CGCS2000: EPSG:{4491 + zone - 13})")
    if 8e6 <= abs(x) <= 1.6e7 and 3e5 <= abs(y) <= 7.5e6:
        return "Web Mercator metres (EPSG:3857)"
    return None


def typical_point(bounds) -> tuple[float, float]:
    """Middle of a (minx, miny, maxx, maxy) box."""
    minx, miny, maxx, maxy = bounds
    return (minx + maxx) / 2.0, (miny + maxy) / 2.0


def looks_like_degrees(bounds) -> bool:
    minx, miny, maxx, maxy = bounds
    return bool(np.isfinite([minx, miny, maxx, maxy]).all()
                and -180 <= minx and maxx <= 180 and -90 <= miny and maxy <= 90)
