"""GCJ-02 and BD-09, the offset coordinate systems of Chinese web maps.

GCJ-02 (AMap/高德, Tencent, Google China) adds a deliberate non-linear offset of a few
hundred metres to WGS84/CGCS2000 longitude and latitude; BD-09 (Baidu) applies a further
rotation and scaling on top of GCJ-02. Neither is an EPSG system. The forward formulas are
public; the inverses have no closed form and are solved here by fixed-point iteration to
well below a millimetre.

All functions take and return longitude/latitude in degrees as numpy arrays (or scalars),
vectorised over any shape. CGCS2000 and WGS84 are treated as the same frame (they differ by
centimetres), which is the convention of every GCJ-02 implementation.
"""
from __future__ import annotations

import numpy as np
import shapely

# Krasovsky 1940 ellipsoid, as used by the GCJ-02 formulas.
_A = 6378245.0
_EE = 0.00669342162296594323
_BD_K = np.pi * 3000.0 / 180.0

#: Extent in which GCJ-02 is defined (outside it, web maps use WGS84 unchanged).
GCJ_LON = (72.004, 137.8347)
GCJ_LAT = (0.8293, 55.8271)

SYSTEMS = ("wgs84", "gcj02", "bd09")


def in_china(lon, lat):
    """True where a point lies inside the GCJ-02 extent."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= GCJ_LON[0]) & (lon <= GCJ_LON[1]) & (lat >= GCJ_LAT[0]) & (lat <= GCJ_LAT[1])


def _offset_terms(x, y):
    """The two polynomial-plus-sine series of GCJ-02, in metres on the Krasovsky sphere."""
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    sqx = np.sqrt(np.abs(x))
    lat_t = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqx + common
    lat_t += (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    lat_t += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    lon_t = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqx + common
    lon_t += (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    lon_t += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    return lon_t, lat_t


def wgs84_to_gcj02(lon, lat):
    """WGS84 (or CGCS2000) lon/lat → GCJ-02 lon/lat, degrees. Points outside China unchanged."""
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    d_lon_t, d_lat_t = _offset_terms(lon - 105.0, lat - 35.0)
    rad = np.radians(lat)
    magic = 1.0 - _EE * np.sin(rad) ** 2
    sqrt_magic = np.sqrt(magic)
    d_lat = np.degrees(d_lat_t / ((_A * (1.0 - _EE)) / (magic * sqrt_magic)))
    d_lon = np.degrees(d_lon_t / (_A / sqrt_magic * np.cos(rad)))
    inside = in_china(lon, lat)
    return np.where(inside, lon + d_lon, lon), np.where(inside, lat + d_lat, lat)


def gcj02_to_bd09(lon, lat):
    """GCJ-02 lon/lat → BD-09 lon/lat, degrees."""
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    z = np.hypot(x, y) + 0.00002 * np.sin(y * _BD_K)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_K)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(forward, lon, lat, tol_deg=1e-10, max_iter=50):
    """Solve ``forward(p) == (lon, lat)`` for p by fixed-point iteration.

    The offsets vary slowly (their Jacobian is close to the identity), so each step
    ``p ← p − (forward(p) − target)`` gains several digits; 1e-10° is about 0.01 mm.
    """
    t_lon = np.asarray(lon, dtype=float)
    t_lat = np.asarray(lat, dtype=float)
    p_lon, p_lat = t_lon.copy(), t_lat.copy()
    for _ in range(max_iter):
        f_lon, f_lat = forward(p_lon, p_lat)
        e_lon, e_lat = f_lon - t_lon, f_lat - t_lat
        p_lon = p_lon - e_lon
        p_lat = p_lat - e_lat
        err = np.nanmax(np.abs(np.concatenate([np.ravel(e_lon), np.ravel(e_lat)])), initial=0.0)
        if err < tol_deg:
            break
    return p_lon, p_lat


def gcj02_to_wgs84(lon, lat):
    """GCJ-02 lon/lat → WGS84 lon/lat (iterative inverse, error well under 1 mm)."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon, lat):
    """BD-09 lon/lat → GCJ-02 lon/lat (iterative inverse)."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon, lat):
    """WGS84 lon/lat → BD-09 lon/lat."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon, lat):
    """BD-09 lon/lat → WGS84 lon/lat."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_CONVERTERS = {
    ("gcj02", "wgs84"): gcj02_to_wgs84,
    ("bd09", "wgs84"): bd09_to_wgs84,
    ("wgs84", "gcj02"): wgs84_to_gcj02,
    ("wgs84", "bd09"): wgs84_to_bd09,
    ("gcj02", "bd09"): gcj02_to_bd09,
    ("bd09", "gcj02"): bd09_to_gcj02,
}


def converter(source: str, target: str):
    """The lon/lat converter from ``source`` to ``target`` (each one of :data:`SYSTEMS`)."""
    source, target = normalise_name(source), normalise_name(target)
    if source == target:
        return lambda lon, lat: (np.asarray(lon, float), np.asarray(lat, float))
    return _CONVERTERS[(source, target)]


def normalise_name(name: str) -> str:
    """Accept common spellings (``GCJ-02``, ``gcj``, ``bd-09``, ``WGS84``, ``cgcs2000``)."""
    key = str(name).lower().replace("-", "").replace("_", "").strip()
    table = {"gcj02": "gcj02", "gcj": "gcj02", "amap": "gcj02", "bd09": "bd09",
             "bd": "bd09", "baidu": "bd09", "wgs84": "wgs84", "wgs": "wgs84",
             "cgcs2000": "wgs84", "epsg4326": "wgs84", "epsg4490": "wgs84"}
    if key not in table:
        raise ValueError(f"unknown coordinate system {name!r}; use one of gcj02, bd09, wgs84")
    return table[key]


def transform_geometries(geoms, source: str, target: str):
    """Convert an array of shapely geometries (lon/lat) between the three systems."""
    func = converter(source, target)

    def _xy(coords):
        lon, lat = func(coords[:, 0], coords[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(np.asarray(geoms, dtype=object), _xy)
