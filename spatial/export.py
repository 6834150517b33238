"""Writing layers: every write goes to a temporary file first, then is renamed into place.

An existing file is never left half-written, and is replaced only when asked.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

import geopandas as gpd
import pyogrio

from .errors import InputError


@contextlib.contextmanager
def atomic_path(path: Path, overwrite: bool = True):
    """Yield a temporary path beside ``path``; on success rename it to ``path``."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise InputError("already exists (pass overwrite to replace it)", path)
    if not path.parent.exists():
        raise InputError("folder does not exist", path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    os.unlink(tmp)          # GDAL drivers want to create the file themselves
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_geojson(gdf: gpd.GeoDataFrame, path: Path, precision: int = 7, overwrite: bool = True) -> Path:
    """Write a layer as RFC 7946 GeoJSON (lon/lat; CGCS2000 and WGS84 agree to centimetres).

    ``precision`` decimals of a degree: 7 is about 1 cm, ample for planning layers.
    """
    out = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    with atomic_path(Path(path), overwrite) as tmp:
        pyogrio.write_dataframe(out, tmp, driver="GeoJSON", layer_options={
            "COORDINATE_PRECISION": str(precision), "RFC7946": "YES", "WRITE_NAME": "NO"})
    return Path(path)
