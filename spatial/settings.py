"""Project-wide settings: coordinate systems, units, district extent and paths.

One place for the constants other modules share, in the manner of ``osmnx.settings``.
Values may be changed at run time (``spatial.settings.FAR_OUTSIDE_KM = 100``) before a call.
"""
from __future__ import annotations

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
