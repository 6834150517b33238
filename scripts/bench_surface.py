"""Benchmark the travel-time surface, in one run.

1. The search itself against scikit-image's ``MCP_Geometric`` on the same friction and the same
   neighbourhood, on a synthetic district-sized grid (default 2,700 × 3,500 cells: the district's
   extent at 30 m) with a road grid burnt in as faster cells and 36 sources. ``MCP_Geometric``
   only takes offsets of −1/0/1, so the comparison runs on 8 neighbours (both give the same
   minutes, to 1e-9); the 16-neighbour search is timed beside it.
2. The whole ``qxg access surface`` from the shell (imports, layers, network, friction, search,
   coverage, the GeoTIFF) for the 36 bundled health facilities at 100 m and at 30 m, with the
   peak resident memory of the process.

Ratios compare runs made in this same process; times are for reading.

    python scripts/bench_surface.py [--rows 2700 --cols 3500] [--repeat 2]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def best(fn, repeat):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def synthetic(rows, cols, seed=0):
    """Walking friction (2–6 km/h) with a road grid every 3 km at 40 km/h, 36 sources."""
    rng = np.random.default_rng(seed)
    speed = rng.uniform(2.0, 6.0, (rows, cols))
    step = 100                                  # 3 km at 30 m
    speed[::step, :] = 40.0
    speed[:, ::step] = 40.0
    src = np.column_stack([rng.integers(0, rows, 36), rng.integers(0, cols, 36)])
    return speed, src


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=2700)
    ap.add_argument("--cols", type=int, default=3500)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args(argv)

    from skimage.graph import MCP_Geometric

    from spatial.gridsearch import search

    res = 30.0
    speed, src = synthetic(args.rows, args.cols)
    seed = np.full(speed.shape, np.inf)
    seed[src[:, 0], src[:, 1]] = 0.0
    search(speed[:50, :50], seed[:50, :50], res=res)        # compiled (or loaded from the cache) first
    t8, (mine8, _) = best(lambda: search(speed, seed, res=res, neighbours=8), args.repeat)
    t16, _ = best(lambda: search(speed, seed, res=res, neighbours=16), args.repeat)
    cost = res * 0.06 / speed

    def mcp():
        return MCP_Geometric(cost, fully_connected=True).find_costs([tuple(p) for p in src])[0]

    tm, ref = best(mcp, args.repeat)
    diff = float(np.nanmax(np.abs(mine8 - ref)))
    print(f"grid {args.rows} × {args.cols} ({speed.size:,} cells), 36 sources: "
          f"surface (8 neighbours) {t8:.2f} s, skimage MCP_Geometric {tm:.2f} s; "
          f"surface vs skimage MCP: {tm / t8:.2f}× (goal ≥ 1×, stretch 3×); largest difference {diff:.1e} min")
    print(f"surface with knight's moves (16 neighbours) {t16:.2f} s: {t16 / t8:.2f}× the 8-neighbour time")

    # the command as a planner runs it, in a fresh process that reports its own peak memory
    # (VmHWM of the new process: ru_maxrss would carry over this process's peak through fork and exec)
    probe = ("import sys\nfrom spatial.cli import main\ncode = main(sys.argv[1:])\n"
             "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
             "print(hwm, file=sys.stderr)\nsys.exit(code)")
    with tempfile.TemporaryDirectory() as tmp:
        for resolution, goal in ((100, 3.0), (30, 30.0)):
            out = Path(tmp) / f"t{resolution}.tif"

            def run():
                p = subprocess.run([sys.executable, "-c", probe, "access", "surface", "--to", "health_facilities",
                                    "--resolution", str(resolution), "--out", str(out), "--overwrite"],
                                   check=True, capture_output=True, text=True)
                return int(p.stderr.strip().splitlines()[-1])

            t, kb = best(run, args.repeat)
            print(f"qxg access surface, 36 facilities at {resolution} m: {t:.2f} s (goal < {goal:g} s); "
                  f"peak memory {kb / 1024:,.0f} MB" + (" (goal < 3 GB)" if resolution == 30 else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
