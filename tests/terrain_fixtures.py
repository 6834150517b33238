"""DEMs the terrain tests build: analytic surfaces written as GeoTIFF or SRTM .hgt."""
from __future__ import annotations

import math
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from pyproj import Transformer

#: A point inside the district in EPSG:4544 (metres) around which the test surfaces lie.
X0, Y0 = 540_000.0, 3_030_000.0


def write_tif(path, z, transform, crs="EPSG:4544", nodata=None, dtype="float32", **extra) -> Path:
    path = Path(path)
    z = np.asarray(z)
    count = 1 if z.ndim == 2 else z.shape[0]
    with rasterio.open(path, "w", driver="GTiff", width=z.shape[-1], height=z.shape[-2], count=count,
                       dtype=dtype, crs=crs, transform=transform, nodata=nodata, **extra) as ds:
        if count > 1:
            ds.write(z.astype(dtype))
        else:
            ds.write(z.astype(dtype), 1)
    return path


def metric_grid(n: int, res: float, x0: float = X0, y0: float = Y0):
    """Transform and cell-centre coordinates of an n×n grid in EPSG:4544 with top-left (x0, y0)."""
    transform = Affine(res, 0, x0, 0, -res, y0)
    jj, ii = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    x, y = transform * (jj, ii)
    return transform, np.asarray(x), np.asarray(y)


def plane_tif(path, theta_deg: float, facing_deg: float = 270.0, n: int = 120, res: float = 10.0,
              base: float = 1500.0) -> Path:
    """z rises away from ``facing_deg`` (the downhill azimuth) at ``theta_deg``."""
    transform, x, y = metric_grid(n, res)
    t = math.tan(math.radians(theta_deg))
    f = math.radians(facing_deg)
    z = base - t * ((x - X0) * math.sin(f) + (y - Y0) * math.cos(f))
    return write_tif(path, z, transform)


def geographic_plane_tif(path, theta_deg: float, n: int = 160, step_deg: float = 1 / 3600) -> Path:
    """z = x·tanθ with x the EPSG:4544 easting, sampled on a 1″ CGCS2000 lon/lat grid."""
    to_geo = Transformer.from_crs("EPSG:4544", "EPSG:4490", always_xy=True)
    to_m = Transformer.from_crs("EPSG:4490", "EPSG:4544", always_xy=True)
    lon0, lat0 = to_geo.transform(X0, Y0)
    transform = Affine(step_deg, 0, lon0, 0, -step_deg, lat0)
    jj, ii = np.meshgrid(np.arange(n) + 0.5, np.arange(n) + 0.5)
    lon, lat = transform * (jj, ii)
    x, _ = to_m.transform(np.asarray(lon), np.asarray(lat))
    z = 1500 + (x - X0) * math.tan(math.radians(theta_deg))
    return write_tif(path, z, transform, crs="EPSG:4490")


def area_box(path_or_transform=None, margin: float = 0.0, n: int = 120, res: float = 10.0):
    """The grid's square (EPSG:4490 GeoSeries), shrunk by ``margin`` metres."""
    box = shapely.box(X0 + margin, Y0 - n * res + margin, X0 + n * res - margin, Y0 - margin)
    return gpd.GeoSeries([box], crs="EPSG:4544").to_crs("EPSG:4490")


def write_hgt(path, values: np.ndarray) -> Path:
    """An SRTM tile: big-endian int16 rows from north to south, no header."""
    path = Path(path)
    path.write_bytes(np.asarray(values, dtype=">i2").tobytes())
    return path


def district_dem(path, res: float = 250.0, crs: str = "EPSG:4544") -> Path:
    """The synthetic district DEM of ``scripts/make_dem.py`` (a fixture, not terrain data)."""
    import importlib.util

    script = Path(__file__).resolve().parent.parent / "scripts" / "make_dem.py"
    spec = importlib.util.spec_from_file_location("make_dem", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.write(path, res=res, crs=crs)
