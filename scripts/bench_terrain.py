"""Benchmark terrain derivatives and zonal statistics against gdaldem, rasterstats and exactextract.

On the synthetic DEM of scripts/make_dem.py (30 m, EPSG:4544, warped by spatial.raster.read_dem
onto the district grid and saved as one plain uncompressed GeoTIFF that both sides read) it
times, in one run:

  terrain:  open the file with rasterio, spatial.terrain.derivatives (slope, aspect, hillshade)
            and write the three as plain GeoTIFF, against `gdaldem slope|aspect|hillshade -q`
            on the same file (the sum of the three); also the same with Cloud-Optimized GeoTIFF
            (deflate) output through spatial.raster.write_raster. Best of --repeat runs each.
            The answers are compared cell by cell away from the 1-cell edge.
  zonal:    count/mean/min/max of the slope raster with spatial.zonal.zonal_stats (exact cell
            fractions) for the 41 townships and for a tessellation of parcels (Voronoi cells of
            seeded random points, clipped to the grid), against rasterstats.zonal_stats (cell
            centres, all_touched=False) and exactextract (exact fractions, the reference for
            our means).

Prints ratios (stable on a noisy machine) and the peak memory: the process's peak RSS and the
tracemalloc peak (Python and NumPy allocations) of our steps.

    python scripts/bench_terrain.py [--quick] [--res 30] [--parcels 100000] [--repeat 3]

--quick uses a 90 m DEM and 20,000 parcels (about a minute).
"""
from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import rasterio
import shapely
from pyproj import CRS

sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_dem  # noqa: E402

from spatial import catalog, raster, terrain  # noqa: E402
from spatial.zonal import zonal_stats  # noqa: E402

NODATA = -9999.0
STATS = ["count", "mean", "min", "max"]
#: rasterstats runs on all parcels only when that is projected to take less than this (s).
RASTERSTATS_BUDGET_S = 300.0
RASTERSTATS_PILOT = 1_000
RASTERSTATS_SUBSET = 10_000


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def best_of(fn, repeat: int) -> tuple[float, object]:
    """The shortest of ``repeat`` runs of ``fn`` and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


# ----------------------------------------------------------------- fixtures
def write_gtiff(path: Path, arr: np.ndarray, transform, crs, dtype: str, nodata: float) -> Path:
    """One band as a plain (uncompressed, striped) GeoTIFF, as gdaldem writes by default."""
    out = np.where(np.isnan(arr), nodata, arr) if arr.dtype.kind == "f" else arr
    rows, cols = arr.shape
    with rasterio.open(path, "w", driver="GTiff", width=cols, height=rows, count=1, dtype=dtype,
                       crs=crs, transform=transform, nodata=nodata) as ds:
        ds.write(out.astype(dtype), 1)
    return path


def make_inputs(tmp: Path, res: float) -> tuple[Path, raster.Grid]:
    """The synthetic DEM warped onto the district grid, saved as a plain GeoTIFF (not clipped)."""
    src = make_dem.write(tmp / "synthetic.tif", res=res)
    with rasterio.open(src) as ds:
        src_shape = ds.shape
    grid = raster.read_dem(src)
    plain = write_gtiff(tmp / "dem_plain.tif", grid.data, grid.transform, grid.crs, "float32", NODATA)
    print(f"DEM: synthetic {res:g} m, {src_shape[1]:,} × {src_shape[0]:,} cells written; "
          f"warped onto the district grid, {grid.shape[1]:,} × {grid.shape[0]:,} cells "
          f"({grid.data.size / 1e6:.1f} M), saved as one plain GeoTIFF read by both sides")
    return plain, grid


def parcels(bounds, n: int, seed: int = 0) -> np.ndarray:
    """A tessellation of the extent: Voronoi cells of ``n`` seeded random points, clipped to it."""
    rng = np.random.default_rng(seed)
    minx, miny, maxx, maxy = bounds
    pts = shapely.multipoints(np.column_stack([rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)]))
    frame = shapely.box(*bounds)
    cells = shapely.get_parts(shapely.voronoi_polygons(pts, extend_to=frame))
    return shapely.intersection(cells, frame)


def townships(crs) -> np.ndarray:
    gdf = catalog.catalog().load("township_areas").to_crs(crs)
    return np.asarray(gdf.geometry.values, dtype=object)


# ----------------------------------------------------------------- terrain
def run_gdaldem(src: Path, out: Path) -> dict[str, Path]:
    paths = {}
    for name in ("slope", "aspect", "hillshade"):
        paths[name] = out / f"gdaldem_{name}.tif"
        paths[name].unlink(missing_ok=True)
        subprocess.run(["gdaldem", name, "-q", str(src), str(paths[name])], check=True)
    return paths


def read_grid(src: Path) -> raster.Grid:
    with rasterio.open(src) as ds:
        data = np.ma.filled(ds.read(1, masked=True).astype(np.float32), np.nan)
        return raster.Grid(data=data, transform=ds.transform, crs=CRS.from_user_input(ds.crs))


def run_ours(src: Path, out: Path, cog: bool = False) -> dict[str, Path]:
    """Read, derive and write slope, aspect and hillshade (plain GeoTIFF, or COG via write_raster)."""
    grid = read_grid(src)
    derived = terrain.derivatives(grid)
    paths = {}
    for name, g in derived.items():
        byte = name == "hillshade"
        dtype, nodata = ("uint8", 0) if byte else ("float32", NODATA)
        path = out / f"ours_{name}{'_cog' if cog else ''}.tif"
        if cog:
            raster.write_raster(g, path, dtype=dtype, nodata=nodata, clip=False, overwrite=True)
        else:
            arr = np.rint(np.where(np.isnan(g.data), 0, g.data)).astype("uint8") if byte else g.data
            write_gtiff(path, arr, g.transform, g.crs, dtype, nodata)
        paths[name] = path
    return paths


def read_values(path: Path) -> np.ndarray:
    with rasterio.open(path) as ds:
        return np.ma.filled(ds.read(1, masked=True).astype(np.float64), np.nan)


def compare_terrain(ours: dict[str, Path], ref: dict[str, Path], src: Path) -> None:
    """Largest differences against gdaldem away from the 1-cell edge."""
    inner = (slice(1, -1), slice(1, -1))
    o = {k: read_values(p)[inner] for k, p in ours.items()}
    g = {k: read_values(p)[inner] for k, p in ref.items()}
    both = ~np.isnan(o["slope"]) & ~np.isnan(g["slope"])
    only = int((np.isnan(o["slope"]) != np.isnan(g["slope"])).sum())
    d_slope = np.abs(o["slope"] - g["slope"])[both]
    steep = both & (o["slope"] >= 1.0) & ~np.isnan(o["aspect"]) & ~np.isnan(g["aspect"])
    d_aspect = np.abs((o["aspect"] - g["aspect"] + 180.0) % 360.0 - 180.0)[steep]
    hs = both & ~np.isnan(o["hillshade"]) & ~np.isnan(g["hillshade"])
    d_hs = np.abs(o["hillshade"] - g["hillshade"])[hs]
    float_hs = terrain.derivatives(read_grid(src))["hillshade"].data.astype(np.float64)[inner]
    d_hs_float = np.abs(float_hs - g["hillshade"])[hs]
    rounded = float(np.mean(np.round(float_hs[hs]) == g["hillshade"][hs]))
    truncated = float(np.mean(np.floor(float_hs[hs]) == g["hillshade"][hs]))
    print(f"compared with gdaldem on {int(both.sum()):,} interior cells "
          f"({only:,} with a value on one side only):")
    print(f"  slope      max |difference| {d_slope.max():.2e}°")
    print(f"  aspect     max circular difference {d_aspect.max():.2e}° "
          f"(on {int(steep.sum()):,} cells with slope ≥ 1°)")
    print(f"  hillshade  max |difference| {d_hs.max():.0f} (0–255, as written: "
          f"{int((d_hs > 0).sum()):,} cells differ); before writing as bytes {d_hs_float.max():.3f}; "
          f"gdaldem's bytes are our values rounded on {rounded:.2%} of cells, truncated on {truncated:.2%}")


def bench_terrain(src: Path, out: Path, repeat: int) -> None:
    t_gdal = t_ours = t_cog = float("inf")
    for _ in range(repeat):                  # interleaved, so both sides see the same machine
        t0 = time.perf_counter()
        ref = run_gdaldem(src, out)
        t_gdal = min(t_gdal, time.perf_counter() - t0)
        t0 = time.perf_counter()
        ours = run_ours(src, out)
        t_ours = min(t_ours, time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_ours(src, out, cog=True)
        t_cog = min(t_cog, time.perf_counter() - t0)
    print(f"gdaldem slope + aspect + hillshade: {t_gdal:.2f} s; spatial.terrain, plain GeoTIFF: "
          f"{t_ours:.2f} s; with COG (deflate) output: {t_cog:.2f} s (best of {repeat})")
    print(f"terrain vs gdaldem: {t_ours / t_gdal:.2f}× (time ratio ours / gdaldem, < 1 is faster; goal ≤ 1.5)")
    print(f"terrain with COG output vs gdaldem: {t_cog / t_gdal:.2f}× (time ratio; gdaldem writes uncompressed)")
    compare_terrain(ours, ref, src)


# ----------------------------------------------------------------- zonal
def ours_zonal(slope: raster.Grid, geoms):
    return zonal_stats(slope.data, slope.transform, geoms, percentiles=(), cell_area=slope.cell_area)


def rasterstats_zonal(filled: np.ndarray, transform, geoms):
    from rasterstats import zonal_stats as rs_zonal_stats
    return rs_zonal_stats(list(geoms), filled, affine=transform, stats=STATS, nodata=NODATA,
                          all_touched=False)


def exactextract_zonal(filled: np.ndarray, slope: raster.Grid, geoms):
    import geopandas as gpd
    from exactextract import exact_extract
    from exactextract.raster import NumPyRasterSource
    minx, miny, maxx, maxy = slope.bounds
    rast = NumPyRasterSource(filled, minx, miny, maxx, maxy, nodata=NODATA, srs_wkt=slope.crs.to_wkt())
    vec = gpd.GeoDataFrame(geometry=list(geoms), crs=slope.crs)
    return exact_extract(rast, vec, STATS, output="pandas")


def timed_rasterstats(filled, transform, geoms, seed: int = 1):
    """rasterstats on all ``geoms``, or on a fixed random subset scaled linearly when the full
    run is projected over the budget. Returns (time for all, note, results, positions)."""
    n = len(geoms)
    rng = np.random.default_rng(seed)
    if n > RASTERSTATS_PILOT:
        pilot = np.sort(rng.choice(n, RASTERSTATS_PILOT, replace=False))
        t0 = time.perf_counter()
        rasterstats_zonal(filled, transform, geoms[pilot])
        projected = (time.perf_counter() - t0) * n / RASTERSTATS_PILOT
        if projected > RASTERSTATS_BUDGET_S and n > RASTERSTATS_SUBSET:
            pos = np.sort(rng.choice(n, RASTERSTATS_SUBSET, replace=False))
            t0 = time.perf_counter()
            res = rasterstats_zonal(filled, transform, geoms[pos])
            t = (time.perf_counter() - t0) * n / len(pos)
            note = (f"timed on a fixed random {len(pos):,} of {n:,} and scaled linearly "
                    f"(all would take ~{projected / 60:.0f} min)")
            return t, note, res, pos
    pos = np.arange(n)
    t0 = time.perf_counter()
    res = rasterstats_zonal(filled, transform, geoms)
    return time.perf_counter() - t0, "all features", res, pos


def bench_zonal(label: str, slope: raster.Grid, geoms, repeat: int, goal: str = "") -> None:
    filled = np.where(np.isnan(slope.data), NODATA, slope.data).astype(np.float32)
    t_ours, st = best_of(lambda: ours_zonal(slope, geoms), repeat)
    t_rs, note, rs, pos = timed_rasterstats(filled, slope.transform, geoms)
    t_ee, ee = best_of(lambda: exactextract_zonal(filled, slope, geoms), repeat)
    print(f"zonal count/mean/min/max of slope, {label}: spatial.zonal {t_ours:.2f} s, "
          f"exactextract {t_ee:.2f} s (best of {repeat}); rasterstats {t_rs:.2f} s ({note})")
    print(f"zonal vs rasterstats ({label}): {t_rs / t_ours:.1f}× (speed-up rasterstats / ours{goal})")
    print(f"zonal vs exactextract ({label}): {t_ee / t_ours:.1f}× (speed-up exactextract / ours)")

    mean, count = st["mean"].to_numpy(), st["count"].to_numpy()
    ok = ~np.isnan(mean) & ~np.isnan(ee["mean"].to_numpy())
    d_mean = np.abs(mean - ee["mean"].to_numpy())[ok]
    d_count = np.abs(count - ee["count"].to_numpy())
    d_minmax = np.fmax(np.abs(st["min"].to_numpy() - ee["min"].to_numpy()),
                       np.abs(st["max"].to_numpy() - ee["max"].to_numpy()))
    print(f"  vs exactextract (exact fractions): max |mean difference| {d_mean.max():.2e}°, "
          f"max |count difference| {d_count.max():.2e} cells, max |min/max difference| "
          f"{np.nanmax(d_minmax):.2e}° on {int((d_minmax > 1e-6).sum())} zone(s) (spatial.zonal leaves out "
          f"cells covered by less than 1e-9 of their area)")
    rs_mean = np.array([r["mean"] if r["mean"] is not None else np.nan for r in rs], dtype=float)
    rs_count = np.array([r["count"] or 0 for r in rs], dtype=float)
    ok = ~np.isnan(rs_mean) & ~np.isnan(mean[pos])
    d_rs = np.abs(rs_mean - mean[pos])[ok]
    print(f"  vs rasterstats (cell centres): mean differs by median {np.median(d_rs):.3f}°, "
          f"max {d_rs.max():.2f}°; cells counted {rs_count.sum():,.0f} vs {count[pos].sum():,.0f} "
          f"covered (expected: centres, not fractions)")


# ----------------------------------------------------------------- memory
def memory_pass(src: Path, out: Path, slope: raster.Grid, zone_sets: dict) -> None:
    """Our steps once more under tracemalloc (untimed) for their peak allocations."""
    steps = {"terrain (read, derive, write GeoTIFF)": lambda: run_ours(src, out),
             "terrain with COG output": lambda: run_ours(src, out, cog=True)}
    for label, geoms in zone_sets.items():
        steps[f"zonal, {label}"] = lambda g=geoms: ours_zonal(slope, g)
    tracemalloc.start()
    peaks = []
    for label, fn in steps.items():
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        peaks.append((label, (tracemalloc.get_traced_memory()[1] - base) / 2**20))
    tracemalloc.stop()
    print("tracemalloc peak of our steps (Python and NumPy allocations above what was held before): "
          + "; ".join(f"{label} {p:.0f} MiB" for label, p in peaks))
    top = max(p for _, p in peaks)
    print(f"largest: {top:.0f} MiB (goal < 2048 MiB: {top < 2048}); "
          f"process peak RSS after our steps: {rss_mib():.0f} MiB")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="90 m DEM and 20,000 parcels (a smoke test)")
    ap.add_argument("--res", type=float, help="DEM cell size in metres (default 30; 90 with --quick)")
    ap.add_argument("--parcels", type=int, help="number of parcels (default 100,000; 20,000 with --quick)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per side, the best counts (default 3)")
    args = ap.parse_args(argv)
    res = args.res or (90.0 if args.quick else 30.0)
    n_parcels = args.parcels or (20_000 if args.quick else 100_000)
    if shutil.which("gdaldem") is None:
        print("gdaldem is not on PATH (Debian: apt-get install gdal-bin)", file=sys.stderr)
        return 1

    with tempfile.TemporaryDirectory(prefix="bench_terrain_") as tmp_name:
        tmp = Path(tmp_name)
        src, grid = make_inputs(tmp, res)
        slope = terrain.derivatives(read_grid(src))["slope"]
        towns = townships(grid.crs)
        plots = parcels(slope.bounds, n_parcels)
        mean_cells = shapely.area(plots).mean() / slope.cell_area
        print(f"zones: {len(towns)} townships; {len(plots):,} parcels (Voronoi tessellation of the grid, "
              f"{mean_cells:.0f} cells each on average)")
        zone_sets = {f"{len(towns)} townships": towns, f"{len(plots):,} parcels": plots}
        print(f"process peak RSS after set-up: {rss_mib():.0f} MiB")
        memory_pass(src, tmp, slope, zone_sets)
        print()
        bench_terrain(src, tmp, args.repeat)
        print()
        bench_zonal(f"{len(towns)} townships", slope, towns, args.repeat)
        bench_zonal(f"{len(plots):,} parcels", slope, plots, args.repeat, goal="; goal ≥ 5×")
    print()
    peak = rss_mib()
    print(f"process peak memory: {peak:.0f} MiB (ru_maxrss, whole run including the baselines; "
          f"goal < 2048 MiB: {peak < 2048})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
