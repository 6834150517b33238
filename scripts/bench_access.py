"""Benchmark the travel-time router against networkx, in the same run.

Builds a synthetic planar road network of about one million directed edges (a jittered
grid with some diagonals removed and random speeds), then times, from 300 target nodes:

  router:   CSR build + scipy.sparse.csgraph multi-source Dijkstra (spatial.router.Router)
  networkx: nx.multi_source_dijkstra_path_length on a DiGraph (graph construction not timed)

and prints their ratio, the largest difference between the two answers, and peak memory.
Then, when the bundled layers for the analysis exist, times the whole district analysis
(load, build, route, tables) end to end.

    python scripts/bench_access.py [--side 500] [--targets 300]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
import warnings

import networkx as nx
import numpy as np

from spatial.router import Router


def grid_network(side: int, seed: int = 0):
    """A side × side grid, both directions of every street, travel times in minutes."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    h = np.column_stack([idx[:, :-1].ravel(), idx[:, 1:].ravel()])
    v = np.column_stack([idx[:-1, :].ravel(), idx[1:, :].ravel()])
    und = np.vstack([h, v])
    keep = rng.random(len(und)) > 0.02                   # a few missing streets
    und = und[keep]
    length = rng.uniform(80, 400, len(und))              # metres
    speed = rng.choice([15, 20, 30, 60], len(und))        # km/h
    w = length / (speed * 1000 / 60)
    u = np.concatenate([und[:, 0], und[:, 1]])
    vv = np.concatenate([und[:, 1], und[:, 0]])
    return u, vv, np.concatenate([w, w]), side * side


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=500, help="grid side (500 → ~1M directed edges)")
    ap.add_argument("--targets", type=int, default=300)
    args = ap.parse_args(argv)

    u, v, w, n = grid_network(args.side)
    rng = np.random.default_rng(1)
    targets = rng.choice(n, args.targets, replace=False)
    print(f"network: {n:,} nodes, {len(u):,} directed edges, {args.targets} targets")

    tracemalloc.start()
    t0 = time.perf_counter()
    router = Router(u, v, w, n)
    router.to_nearest(targets[:1])               # builds the CSR arrays once
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    dist, which = router.to_nearest(targets)
    t_router = time.perf_counter() - t0
    _, peak_router = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    g = nx.DiGraph()
    g.add_weighted_edges_from(zip(v.tolist(), u.tolist(), w.tolist()))   # reversed: distances *to* targets
    t0 = time.perf_counter()
    ref = nx.multi_source_dijkstra_path_length(g, set(targets.tolist()))
    t_nx = time.perf_counter() - t0
    ref_arr = np.full(n, np.inf)
    ref_arr[list(ref.keys())] = list(ref.values())
    finite = np.isfinite(ref_arr)
    diff = float(np.max(np.abs(ref_arr[finite] - dist[finite])))
    same_reach = bool(np.array_equal(finite, np.isfinite(dist)))

    print(f"router:   {t_router:.3f} s query, {t_build:.3f} s to build the CSR arrays "
          f"(peak traced memory {peak_router / 2**20:.0f} MiB)")
    print(f"networkx: {t_nx:.3f} s query (building its DiGraph not timed)")
    print(f"router vs networkx: {t_nx / t_router:.1f}×")
    print(f"router vs networkx, counting the router's CSR build: {t_nx / (t_router + t_build):.1f}×")
    print(f"largest difference: {diff:.2e} min; same reachable set: {same_reach}")
    print(f"process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")

    # the district analysis on the bundled layers, when they are there
    from spatial import access, catalog
    cat = catalog.Catalog(user=None)
    needed = ("townships", "roads", "expressways", "interchanges")
    missing = [k for k in needed if not cat.get(k).exists]
    if missing:
        print(f"district analysis: skipped, bundled layers missing: {', '.join(missing)}")
        return 0
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lay = {k: cat.load(k) for k in needed}
        _, kpi, _, _ = access.highway_access(lay["townships"], lay["roads"], lay["expressways"], lay["interchanges"])
    print(f"district analysis end to end: {time.perf_counter() - t0:.2f} s; "
          + "; ".join(f"{r.scenario} {r.share * 100:.1f} %" for r in kpi.itertuples()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
