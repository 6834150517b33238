"""Benchmark network building and isochrones at the scale of a real OpenStreetMap extract.

On a side × side grid of road pieces (default 300 × 300: 179,400 lines 500 m apart, 三级公路)
it times, in one run:

  network build:  spatial.network.from_layers, against the per-pair Python loops it used
                  before (named "per-pair build", kept here as the baseline);
  isochrones:     spatial.access.isochrones for N places and bands (10, 20, 30), with the
                  fixed corridor and with off-road reach, against the osmnx-examples way
                  (networkx ego_graph per place and band, buffer the reached edges, union)
                  with the same bands and corridor, and against the exact vector union
                  (method="vector"), whose areas the grid method must match within 2 %.

Prints ratios (stable on a noisy machine) and the process's peak memory.

    python scripts/bench_isochrones.py [--side 300] [--places 30]
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import geopandas as gpd
import networkx as nx
import numpy as np
import shapely
from scipy.spatial import cKDTree
from shapely.ops import substring

from spatial import access, network
from spatial.network import KIND_EXPRESSWAY, KIND_ROAD

BANDS = (10, 20, 30)
BUFFER_M = 150.0


def grid_roads(side: int, spacing: float = 500.0, x0: float = 480000.0, y0: float = 2950000.0):
    """side × side crossings joined by 2·side·(side−1) straight pieces, EPSG:4544."""
    xs = x0 + np.arange(side) * spacing
    ys = y0 + np.arange(side) * spacing
    hx, hy = np.meshgrid(xs[:-1], ys)
    vx, vy = np.meshgrid(xs, ys[:-1])
    h = np.stack([np.c_[hx.ravel(), hy.ravel()], np.c_[hx.ravel() + spacing, hy.ravel()]], axis=1)
    v = np.stack([np.c_[vx.ravel(), vy.ravel()], np.c_[vx.ravel(), vy.ravel() + spacing]], axis=1)
    geoms = shapely.linestrings(np.concatenate([h, v]))
    return gpd.GeoDataFrame({"grade": ["三级公路"] * len(geoms)}, geometry=geoms, crs="EPSG:4544")


# ----------------------------------------------------------------- the baseline network build
def _split_lines_per_line(lines, cuts):
    rows, geoms = [], []
    for i, geom in enumerate(lines.geometry.values):
        ds = sorted(d for d in set(np.round(cuts.get(i, []), 3)) if 0.01 < d < geom.length - 0.01)
        if not ds:
            rows.append(i)
            geoms.append(geom)
            continue
        bounds = [0.0] + ds + [geom.length]
        for a, b in zip(bounds[:-1], bounds[1:]):
            rows.append(i)
            geoms.append(substring(geom, a, b))
    out = lines.iloc[rows].copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=lines.crs))
    return out.reset_index(drop=True)


def _t_junction_cuts_per_pair(lines, kinds, tol):
    geoms = lines.geometry.values
    ends = np.concatenate([shapely.get_point(geoms, 0), shapely.get_point(geoms, -1)])
    end_kind = np.concatenate([kinds, kinds])
    end_line = np.concatenate([np.arange(len(geoms)), np.arange(len(geoms))])
    pairs = shapely.STRtree(geoms).query(ends, predicate="dwithin", distance=tol)
    cuts, count = {}, 0
    for e, li in zip(*pairs):
        if li == end_line[e] or {end_kind[e], kinds[li]} == {KIND_ROAD, KIND_EXPRESSWAY}:
            continue
        line = geoms[li]
        if (shapely.distance(ends[e], shapely.get_point(line, 0)) <= tol
                or shapely.distance(ends[e], shapely.get_point(line, -1)) <= tol):
            continue
        d = shapely.line_locate_point(line, ends[e])
        if 0.01 < d < line.length - 0.01:
            cuts.setdefault(int(li), []).append(float(d))
            count += 1
    return cuts, count


def build_per_pair(roads):
    saved = network._t_junction_cuts, network._split_lines
    network._t_junction_cuts, network._split_lines = _t_junction_cuts_per_pair, _split_lines_per_line
    try:
        return network.from_layers(roads)
    finally:
        network._t_junction_cuts, network._split_lines = saved


# ----------------------------------------------------------------- the osmnx-examples way
def osmnx_style(net, places_xy, bands, buffer_m):
    """ego_graph per place and band on a networkx graph, buffer the reached edges, union."""
    g = nx.MultiDiGraph()
    for u, v, w, p in zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_minutes.tolist(),
                          net.edge_piece.tolist()):
        g.add_edge(u, v, time=w, piece=p)
    geoms = np.asarray(net.pieces.geometry.values, dtype=object)
    _, start = cKDTree(net.node_xy).query(places_xy)
    out = []
    for T in bands:
        reached = set()
        for node in start.tolist():
            sub = nx.ego_graph(g, node, radius=T, distance="time")
            reached.update(d["piece"] for _, _, d in sub.edges(data=True))
        shapes = shapely.buffer(geoms[sorted(reached)], buffer_m)
        out.append(shapely.union_all(shapes))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=300)
    ap.add_argument("--places", type=int, default=30)
    ap.add_argument("--skip-vector", action="store_true", help="leave out the slow exact vector union")
    args = ap.parse_args(argv)

    roads = grid_roads(args.side)
    t0 = time.perf_counter()
    net = network.from_layers(roads)
    t_build = time.perf_counter() - t0
    t0 = time.perf_counter()
    ref = build_per_pair(roads)
    t_build_ref = time.perf_counter() - t0
    same = (ref.n_nodes, ref.n_edges) == (net.n_nodes, net.n_edges) and np.allclose(
        np.sort(ref.edge_minutes), np.sort(net.edge_minutes))
    print(f"network build: {t_build:.2f} s for {len(roads)} pieces ({net.n_nodes} nodes, {net.n_edges} edges)")
    print(f"network build vs per-pair build: {t_build_ref / t_build:.1f}× (baseline {t_build_ref:.2f} s; "
          f"same network: {same})")

    rng = np.random.default_rng(7)
    lo, hi = net.node_xy.min(axis=0) + 10000, net.node_xy.max(axis=0) - 10000
    xy = rng.uniform(lo, hi, (args.places, 2)) + 40.0          # beside the roads, not on a crossing
    places = gpd.GeoDataFrame({"name": [f"p{i}" for i in range(args.places)]},
                              geometry=shapely.points(xy), crs="EPSG:4544")

    t0 = time.perf_counter()
    iso = access.isochrones(places, net, bands=BANDS, buffer_m=BUFFER_M)
    t_iso = time.perf_counter() - t0
    t0 = time.perf_counter()
    iso_off = access.isochrones(places, net, bands=BANDS, offroad_kmh=15.0)
    t_off = time.perf_counter() - t0
    t0 = time.perf_counter()
    ox_polys = osmnx_style(net, xy, BANDS, BUFFER_M)
    t_ox = time.perf_counter() - t0
    print(f"isochrones ({args.places} places, bands {BANDS}, {BUFFER_M:g} m corridor): {t_iso:.2f} s; "
          f"with off-road reach: {t_off:.2f} s; osmnx-style: {t_ox:.2f} s")
    print(f"isochrones vs osmnx-style: {t_ox / t_iso:.1f}×")
    print(f"isochrones with off-road reach vs osmnx-style: {t_ox / t_off:.1f}×")
    cum = np.cumsum(iso.to_crs(3857).pipe(lambda g: g.geometry.to_crs("EPSG:4544").area).to_numpy())
    ox_area = np.array([p.area for p in ox_polys])
    print("reached area km² by band (grid / osmnx-style, whole pieces): "
          + ", ".join(f"{T}: {a / 1e6:.0f} / {b / 1e6:.0f}" for T, a, b in zip(BANDS, cum, ox_area)))
    if not args.skip_vector:
        t0 = time.perf_counter()
        vec = access.isochrones(places, net, bands=BANDS, buffer_m=BUFFER_M, method="vector")
        t_vec = time.perf_counter() - t0
        a_g = iso.to_crs("EPSG:4544").area.to_numpy()
        a_v = vec.to_crs("EPSG:4544").area.to_numpy()
        dev = np.max(np.abs(a_g / np.maximum(a_v, 1) - 1)) * 100
        print(f"isochrones vs exact vector union: {t_vec / t_iso:.1f}× (vector {t_vec:.2f} s); "
              f"largest band area difference {dev:.2f} %")
    print(f"valid polygons: {bool(iso.geometry.is_valid.all() and iso_off.geometry.is_valid.all())}")
    print(f"process peak memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
