"""Project-wide settings: coordinate systems, units, district extent and paths.

One place for the constants other modules share, in the manner of ``osmnx.settings``.
Values may be changed at run time (``spatial.settings.FAR_OUTSIDE_KM = 100``) before a call.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

#: Storage coordinate system of every layer the toolkit returns: CGCS2000 geographic.
STORAGE_CRS = "EPSG:4490"
#: Metric work (lengths, areas, buffers): CGCS2000 / 3-degree Gauss-Kruger CM 105E.
METRIC_CRS = "EPSG:4544"
#: The same projection with the zone number (35) prefixed to the easting.
METRIC_CRS_ZONED = "EPSG:4523"

#: Square metres in one 亩 (mu).
M2_PER_MU = 10000.0 / 15.0
M2_PER_HA = 10000.0
M2_PER_KM2 = 1.0e6

#: District extent from the plan (104°51′–105°55′E, 27°03′–27°46′N), lon/lat degrees:
#: (min_lon, min_lat, max_lon, max_lat).
DISTRICT_BBOX = (104 + 51 / 60, 27 + 3 / 60, 105 + 55 / 60, 27 + 46 / 60)
#: Features whose representative point lies farther than this from the district extent
#: are flagged when a layer is loaded.
FAR_OUTSIDE_KM = 50.0

#: Mainland-China extent used for sanity checks of lon/lat data (degrees).
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)

#: Repository root and the bundled layer folder.
REPO_ROOT = Path(__file__).resolve().parent.parent
BUNDLED_LAYERS = REPO_ROOT / "layers"
#: Environment variable naming a planner's own layer folder or catalog file.
LAYERS_ENV = "QXG_LAYERS"


def user_layers_path() -> Path | None:
    """The folder or catalog named by ``QXG_LAYERS``, or None when unset."""
    value = os.environ.get(LAYERS_ENV, "").strip()
    return Path(value).expanduser() if value else None

#: Places (township seats, facilities) farther than this from every road of a network are
#: an error, not "unreachable": the road data does not cover them (metres).
MAX_ACCESS_M = 5000.0

#: Overpass API server that ``qxg network fetch`` asks (``$QXG_OVERPASS_URL`` overrides).
OVERPASS_URL = "https://overpass-api.de/api/interpreter"


def overpass_url() -> str:
    return os.environ.get("QXG_OVERPASS_URL", "").strip() or OVERPASS_URL


def metric_crs_for(lon: float, lat: float) -> str:
    """The metric coordinate system to measure data centred at ``lon``/``lat`` in.

    :data:`METRIC_CRS` (CGCS2000 3° Gauss-Kruger CM 105°E) for the district and everything in
    its zone (102°–108°E would distort little, but the zone is 103.5°–106.5°E); elsewhere in
    China the CGCS2000 3° Gauss-Kruger zone of the centre (EPSG:4534 CM 75°E … EPSG:4554
    CM 135°E); outside China the WGS 84 UTM zone of the centre. Lengths then stay within
    about 0.1 % of the geodesic ones over a county or a city.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)):
        return METRIC_CRS
    if abs(lon - 105.0) <= 1.5 and CHINA_LAT[0] <= lat <= CHINA_LAT[1]:
        return METRIC_CRS
    if CHINA_LON[0] <= lon <= CHINA_LON[1] and CHINA_LAT[0] <= lat <= CHINA_LAT[1]:
        cm = int(min(135, max(75, 3 * round(lon / 3))))
        return f"EPSG:{4534 + (cm - 75) // 3}"
    zone = int(min(60, max(1, math.floor((lon + 180) / 6) + 1)))
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def crs_label(crs) -> str:
    """``EPSG:4544 (CGCS2000 / 3-degree Gauss-Kruger CM 105E)``."""
    from pyproj import CRS

    c = CRS.from_user_input(crs)
    code = c.to_epsg()
    return f"EPSG:{code} ({c.name})" if code else c.name
