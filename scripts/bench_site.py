"""Benchmark the site pre-check (qxg check site), in one run.

1. One parcel from the shell: ``qxg check site`` as a new process (imports, catalog, every
   bundled layer, the road network, the HTML report), against the baseline of the same fresh
   interpreter importing geopandas and doing nothing else (``python -c "import geopandas"``):
   what the check costs beyond starting Python with its GIS stack. Goal: < 3 s in total.
2. A batch of N parcels (default 1,000, scattered over the district) in one file, through
   ``spatial.check_site`` and the Excel report, against the baseline of a plain geopandas
   ``overlay`` of the same parcels with the three control lines (the areas only, what a
   reviewer would do by hand in a GIS). Goal: < 60 s.
3. The same N parcels as N projects (one GeoJSON file each) through
   ``qxg check site DIR --each`` from the shell: N HTML reports and the summary. Goal: < 60 s.

Each figure is the best of ``--repeat`` runs. Ratios are printed; the times are for reading.

    python scripts/bench_site.py [--parcels 1000] [--repeat 3]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from spatial import catalog, settings, site, site_report


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def parcels(n: int, seed: int = 0) -> gpd.GeoDataFrame:
    """N rectangles of 2–40 亩 scattered inside the district, some across the control lines."""
    rng = np.random.default_rng(seed)
    outline = shapely.union_all(catalog.catalog(None).load("boundary").to_crs(settings.METRIC_CRS).geometry.values)
    minx, miny, maxx, maxy = outline.bounds
    shapely.prepare(outline)
    out = []
    while len(out) < n:
        x, y = rng.uniform(minx, maxx), rng.uniform(miny, maxy)
        if not outline.contains(shapely.Point(x, y)):
            continue
        w, h = rng.uniform(40, 200), rng.uniform(40, 140)
        out.append(shapely.box(x, y, x + w, y + h))
    return gpd.GeoDataFrame({"name": [f"地块{i + 1}" for i in range(n)]}, geometry=out, crs=settings.METRIC_CRS)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--parcels", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore")
    qxg = Path(sys.executable).with_name("qxg")
    cmd = [str(qxg)] if qxg.exists() else [sys.executable, "-m", "spatial.cli"]

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        one = parcels(1, seed=3)
        one.to_crs(settings.STORAGE_CRS).to_file(tmp / "红线.gpkg")

        def shell_check():
            subprocess.run([*cmd, "check", "site", str(tmp / "红线.gpkg"), "--out", str(tmp / "r.html"),
                            "--overwrite"], check=True, capture_output=True)

        def shell_baseline():
            subprocess.run([sys.executable, "-c", "import geopandas"], check=True, capture_output=True)

        t_base = best(shell_baseline, args.repeat)
        t_one = best(shell_check, args.repeat)
        print(f"1 parcel from the shell: qxg check site {t_one:.2f} s (goal < 3 s); "
              f"baseline 'python -c \"import geopandas\"' {t_base:.2f} s; "
              f"check vs baseline: {t_one / t_base:.1f}×")

        batch = parcels(args.parcels, seed=1)
        cat = catalog.catalog(None)
        lines = {k: cat.load(k).to_crs(settings.METRIC_CRS) for k in ("eco_redline", "basic_farmland",
                                                                        "urban_boundary")}

        def batch_check():
            report = site.check_site(batch, catalog=cat, name="批量")
            site_report.write(report, tmp / "batch.xlsx", overwrite=True)

        def batch_overlay():
            for g in lines.values():
                pieces = gpd.overlay(batch, g[["geometry"]], how="intersection", keep_geom_type=True)
                pieces.geometry.area.groupby(pieces["name"]).sum()

        t_ov = best(batch_overlay, args.repeat)
        t_batch = best(batch_check, args.repeat)
        print(f"{args.parcels} parcels in one file: check_site + xlsx {t_batch:.2f} s (goal < 60 s); "
              f"baseline geopandas overlay with the three lines (areas only) {t_ov:.2f} s; "
              f"check vs overlay: {t_batch / t_ov:.1f}× the time for every table of the report")

        folder = tmp / "projects"
        folder.mkdir()
        stored = batch.to_crs(settings.STORAGE_CRS)
        for i in range(args.parcels):
            stored.iloc[[i]].to_file(folder / f"项目{i + 1:04d}.geojson", driver="GeoJSON")

        def shell_each():
            subprocess.run([*cmd, "check", "site", str(folder), "--each", "--out", str(tmp / "reports"),
                            "--overwrite"], check=True, capture_output=True)

        t_each = best(shell_each, 1)
        print(f"{args.parcels} projects of one parcel each, from the shell: qxg check site DIR --each "
              f"{t_each:.2f} s (one HTML report each and the summary; goal < 60 s); "
              f"each vs one file of {args.parcels} parcels: {t_each / t_batch:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
