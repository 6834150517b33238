"""Write a synthetic DEM over the district: a test and benchmark fixture, not terrain data.

    python scripts/make_dem.py OUT.tif [--res 30] [--crs 4544|4490]

The surface is a sum of waves (ridges and valleys of a few kilometres, 700–2100 m) whose
valley floors are cut flat at fixed heights, so the 坡度分级 has every grade and there are
flat basins for the 坝区 search. Nothing about it is the real relief of 七星关区.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine

#: EPSG:4544 extent a little larger than the bundled boundary (metres).
DISTRICT_BOUNDS_4544 = (484_000.0, 2_991_000.0, 594_000.0, 3_077_000.0)


def surface(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Elevation in metres of the synthetic relief at EPSG:4544 coordinates."""
    u, v = (x - 540_000.0) / 1000.0, (y - 3_030_000.0) / 1000.0      # km
    z = (1400 + 330 * np.sin(u / 6.1) * np.cos(v / 7.3) + 180 * np.sin(u / 2.2 + v / 3.4)
         + 90 * np.cos(u / 1.1 - v / 1.7) - 3.0 * v
         + 150 * np.cos(u / 0.42 - v / 0.57) * (0.55 + 0.45 * np.sin(u / 8.3 + v / 5.1)))
    floor = 1150 + 40 * np.floor((u + 60) / 25)                          # flat valley floors
    return np.maximum(z, floor).astype(np.float32)


def write(path, res: float = 30.0, bounds=DISTRICT_BOUNDS_4544, crs: str = "EPSG:4544") -> Path:
    """Write the synthetic DEM as a tiled GeoTIFF in EPSG:4544, or resampled point-wise in 4490."""
    minx, miny, maxx, maxy = bounds
    if crs in ("EPSG:4490", "EPSG:4326"):
        from pyproj import Transformer
        to_geo = Transformer.from_crs("EPSG:4544", crs, always_xy=True)
        lon0, lat0 = to_geo.transform(minx, miny)
        lon1, lat1 = to_geo.transform(maxx, maxy)
        step = res / 111_000.0
        cols, rows = int((lon1 - lon0) / step), int((lat1 - lat0) / step)
        transform = Affine(step, 0, lon0, 0, -step, lat1)
        jj, ii = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
        lon, lat = transform * (jj, ii)
        x, y = Transformer.from_crs(crs, "EPSG:4544", always_xy=True).transform(lon, lat)
    else:
        cols, rows = int((maxx - minx) / res), int((maxy - miny) / res)
        transform = Affine(res, 0, minx, 0, -res, maxy)
        jj, ii = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
        x, y = transform * (jj, ii)
    z = surface(np.asarray(x), np.asarray(y))
    path = Path(path)
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype="float32",
                       crs=crs, transform=transform, nodata=-9999.0, tiled=True, compress="deflate") as ds:
        ds.write(z, 1)
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("out")
    p.add_argument("--res", type=float, default=30.0, help="cell size in metres (default 30)")
    p.add_argument("--crs", default="4544", help="4544 (default) or 4490")
    args = p.parse_args(argv)
    path = write(args.out, args.res, crs=f"EPSG:{args.crs}")
    print(f"wrote {path} (synthetic DEM, {args.res:g} m, EPSG:{args.crs})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
