"""Travel-time accessibility: minutes to the nearest target, the 30-minute expressway KPI,
and isochrone bands.

Places (township seats, facilities) are snapped to the nearest reachable point on the nearest
ordinary-road piece — never onto an expressway or ramp — and the piece is split there; the
straight access leg from the place to the road is reported in metres and timed at
``access_kmh``.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.ops import substring

from . import settings
from .errors import InputError
from .network import Network, from_layers
from .router import Router
from .speeds import SpeedTable

#: Township types counted by the plan's 乡镇30分钟上高速比例 (towns and townships, not 街道).
KPI_TYPES = ("镇", "乡", "民族乡")
PLAN_TARGET_SHARE = 0.60          # 乡镇30分钟上高速比例 ≥ 60 % by 2025 (第十一章 第二节)
DEFAULT_ACCESS_KMH = 15.0


@dataclass
class Snapped:
    """A network with extra nodes where places were snapped onto road pieces."""

    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    n: int
    node: np.ndarray           # node of each place
    access_m: np.ndarray       # straight distance place → road
    piece: np.ndarray          # piece each place was snapped to
    along_m: np.ndarray        # position along that piece (metres from its start)
    local: np.ndarray | None = None   # per edge: may only start or end a trip
    length_m: np.ndarray | None = None  # per edge: metres along the road

    def router(self) -> Router:
        return Router(self.u, self.v, self.w, self.n, self.local)


def _points_metric(gdf: gpd.GeoDataFrame, what: str, crs=None) -> np.ndarray:
    if gdf.crs is None:
        raise InputError(f"{what} have no coordinate system")
    if len(gdf) == 0:
        raise InputError(f"{what}: the layer has no features")
    m = gdf.to_crs(crs or settings.METRIC_CRS).geometry
    empty = (m.isna() | m.is_empty).to_numpy()
    if empty.any():
        names = gdf["name"].astype(str).to_numpy()[empty] if "name" in gdf.columns else np.flatnonzero(empty)
        shown = ", ".join(map(str, names[:8])) + (" …" if empty.sum() > 8 else "")
        raise InputError(f"{what}: {int(empty.sum())} feature(s) have no position: {shown}",
                         gdf.attrs.get("source"), hint="give them a geometry or leave them out")
    if not (m.geom_type == "Point").all():
        m = m.representative_point()
    return np.column_stack([m.x.to_numpy(), m.y.to_numpy()])


def snap_points(net: Network, xy: np.ndarray, *, allow_expressway: bool = False) -> Snapped:
    """Add a node for each point on its nearest eligible road piece (split there).

    ``xy`` are metres in the network's CRS. The piece's edges stay; the split adds a chain of
    edges through the new nodes with the same minutes in proportion to length (and the same
    local flag), so a place inside a piece can leave it both ways the piece allows.
    """
    pieces = net.pieces
    eligible = np.ones(len(pieces), bool) if allow_expressway else \
        ~(pieces["expressway"].to_numpy() | pieces["ramp"].to_numpy())
    idx = np.flatnonzero(eligible)
    if len(idx) == 0:
        raise InputError("the network has no ordinary roads to snap places to")
    geoms = pieces.geometry.values
    tree = shapely.STRtree(geoms[idx])
    pts = shapely.points(xy)
    hit, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
    piece = idx[hit[1]]
    order = np.argsort(hit[0])
    piece, dist = piece[order], dist[order]
    along = shapely.line_locate_point(geoms[piece], pts)
    length = shapely.length(geoms[piece])
    a, b = pieces["a"].to_numpy()[piece], pieces["b"].to_numpy()[piece]
    node = np.where(along <= 1e-6, a, np.where(along >= length - 1e-6, b, -1))
    local = net.edge_local
    new_u, new_v, new_w = [net.edge_u], [net.edge_v], [net.edge_minutes]
    new_len = [shapely.length(geoms)[net.edge_piece]]
    new_l = [local if local is not None else np.zeros(net.n_edges, bool)]
    n = net.n_nodes
    inner = np.flatnonzero(node < 0)
    if len(inner):
        by_piece = pd.DataFrame({"p": piece[inner], "t": along[inner], "i": inner}).sort_values(["p", "t"], kind="stable")
        # the edges of the pieces that get new nodes, grouped by piece
        sel = np.flatnonzero(np.isin(net.edge_piece, by_piece["p"].unique()))
        edges_of = pd.Series(sel).groupby(net.edge_piece[sel]).apply(list).to_dict()
        pa, pb = pieces["a"].to_numpy(), pieces["b"].to_numpy()
        for p, grp in by_piece.groupby("p", sort=True):
            L = float(length[grp["i"].iloc[0]])
            ts, ids = grp["t"].to_numpy(), grp["i"].to_numpy()
            uniq_t, inv = np.unique(np.round(ts, 6), return_inverse=True)
            new_nodes = n + np.arange(len(uniq_t))
            n += len(uniq_t)
            node[ids] = new_nodes[inv]
            chain = np.concatenate([[pa[p]], new_nodes, [pb[p]]])
            pos = np.concatenate([[0.0], uniq_t, [L]])
            frac = np.diff(pos) / L if L > 0 else np.zeros(len(pos) - 1)
            for e in edges_of.get(p, []):
                w = net.edge_minutes[e]
                flag = np.full(len(frac), bool(local[e]) if local is not None else False)
                if net.edge_forward[e]:
                    new_u.append(chain[:-1]); new_v.append(chain[1:]); new_w.append(frac * w)
                    new_len.append(frac * L)
                else:
                    new_u.append(chain[1:][::-1]); new_v.append(chain[:-1][::-1]); new_w.append((frac * w)[::-1])
                    new_len.append((frac * L)[::-1])
                new_l.append(flag)
    flags = np.concatenate(new_l)
    return Snapped(np.concatenate(new_u).astype(np.int64), np.concatenate(new_v).astype(np.int64),
                   np.concatenate(new_w), n, node.astype(np.int64), dist, piece, along,
                   flags if flags.any() else None, np.concatenate(new_len))


def check_covered(network: Network, access_m: np.ndarray, gdf: gpd.GeoDataFrame, what: str,
                  max_access_m: float | None = None) -> None:
    """Refuse places farther than ``max_access_m`` (default ``settings.MAX_ACCESS_M``) from
    every road: the road data does not cover them, and an answer would be meaningless."""
    limit = settings.MAX_ACCESS_M if max_access_m is None else float(max_access_m)
    far = np.asarray(access_m) > limit
    if not far.any():
        return
    names = gdf["name"].astype(str).to_numpy() if "name" in gdf.columns else np.arange(len(gdf)).astype(str)
    shown = ", ".join(f"{nm} {d / 1000:,.1f} km" for nm, d in list(zip(names[far], np.asarray(access_m)[far]))[:5])
    covered = int((~far).sum())
    raise InputError(
        f"the road network covers {covered} of {len(far)} {what}: {int(far.sum())} lie more than "
        f"{limit / 1000:g} km from its nearest road ({shown}{' …' if far.sum() > 5 else ''})",
        network.source, hint="use road data (an OpenStreetMap extract) that covers the whole area, "
                             "or raise the limit with --max-access-km")


def to_nearest(origins: gpd.GeoDataFrame, targets, network: Network, *,
               access_kmh: float = DEFAULT_ACCESS_KMH, target_name: str = "name",
               max_access_m: float | None = None, what: str = "places") -> gpd.GeoDataFrame:
    """Minutes from each origin to its nearest target over the network.

    Parameters
    ----------
    origins : GeoDataFrame
        Points (any CRS); polygons use a representative point.
    targets : GeoDataFrame or "entrances"
        Target points (snapped like origins, their access leg timed too), or the network's
        expressway entrances.
    network : Network
    access_kmh : float
        Speed of the straight access legs between a place and its road, km/h.
    max_access_m : float, optional
        Places (and targets) farther than this from every road are an error
        (:func:`check_covered`); default ``settings.MAX_ACCESS_M``.

    Returns
    -------
    GeoDataFrame (EPSG:4490) with the origins' columns and ``minutes`` (NaN when
    unreachable), ``target`` (name), ``target_index``, ``access_m`` (origin to road, metres),
    ``reachable``.
    """
    if access_kmh <= 0:
        raise InputError(f"access speed must be positive, got {access_kmh}")
    oxy = _points_metric(origins, "origins", network.crs)
    per_min = access_kmh * 1000.0 / 60.0
    if isinstance(targets, str) and targets == "entrances":
        tgt = network.entrances
        if len(tgt) == 0:
            raise InputError(f"the {network.scenario} network has no expressway entrances", network.source)
        snapped = snap_points(network, oxy)
        check_covered(network, snapped.access_m, origins, what, max_access_m)
        t_nodes, t_off = tgt["node"].to_numpy(), np.zeros(len(tgt))
        names = tgt["name"].astype(str).to_numpy()
    else:
        txy = _points_metric(targets, "targets", network.crs)
        snapped = snap_points(network, np.vstack([oxy, txy]))
        check_covered(network, snapped.access_m[: len(oxy)], origins, what, max_access_m)
        check_covered(network, snapped.access_m[len(oxy):], targets, "targets", max_access_m)
        t_nodes = snapped.node[len(oxy):]
        t_off = snapped.access_m[len(oxy):] / per_min
        names = (targets[target_name].astype(str).to_numpy() if target_name in targets.columns
                 else np.array([f"target {i}" for i in range(len(targets))]))
    dist, which = snapped.router().to_nearest(t_nodes, t_off)
    o_nodes = snapped.node[: len(oxy)]
    access_m = snapped.access_m[: len(oxy)]
    minutes = dist[o_nodes] + access_m / per_min
    reach = np.isfinite(minutes)
    out = origins.to_crs(settings.STORAGE_CRS).copy()
    out["minutes"] = np.where(reach, np.round(minutes, 2), np.nan)
    idx = which[o_nodes]
    out["target"] = np.where(reach & (idx >= 0), names[np.maximum(idx, 0)], None)
    out["target_index"] = np.where(reach, idx, -1)
    out["access_m"] = np.round(access_m, 1)
    out["reachable"] = reach
    return out


def fastest_routes(origins: gpd.GeoDataFrame, targets, network: Network, *,
                   access_kmh: float = DEFAULT_ACCESS_KMH, target_name: str = "name",
                   max_access_m: float | None = None, what: str = "places", chunk: int = 64) -> pd.DataFrame:
    """The fastest route from each origin to its nearest target, with its length on the roads.

    The same search as :func:`to_nearest` (``minutes`` agree), followed back along the
    predecessor tree to sum the metres of the road edges it uses. Returns one row per origin:
    ``minutes``, ``road_m`` (along the roads), ``access_m`` (origin to its road, straight),
    ``target_access_m``, ``target`` (name), ``target_index`` (-1 when unreachable).
    """
    from scipy.sparse.csgraph import dijkstra

    if access_kmh <= 0:
        raise InputError(f"access speed must be positive, got {access_kmh}")
    per_min = access_kmh * 1000.0 / 60.0
    oxy = _points_metric(origins, what, network.crs)
    if isinstance(targets, str) and targets == "entrances":
        tgt = network.entrances
        if len(tgt) == 0:
            raise InputError(f"the {network.scenario} network has no expressway entrances", network.source)
        snapped = snap_points(network, oxy)
        check_covered(network, snapped.access_m, origins, what, max_access_m)
        t_nodes, t_acc = tgt["node"].to_numpy(np.int64), np.zeros(len(tgt))
        names = tgt["name"].astype(str).to_numpy()
    else:
        txy = _points_metric(targets, "targets", network.crs)
        snapped = snap_points(network, np.vstack([oxy, txy]))
        check_covered(network, snapped.access_m[: len(oxy)], origins, what, max_access_m)
        check_covered(network, snapped.access_m[len(oxy):], targets, "targets", max_access_m)
        t_nodes, t_acc = snapped.node[len(oxy):], snapped.access_m[len(oxy):]
        names = (targets[target_name].astype(str).to_numpy() if target_name in targets.columns
                 else np.array([f"target {i}" for i in range(len(targets))]))
    router = snapped.router()
    graph = router._base(False)
    n, layers = snapped.n, router.layers
    # metres of the fastest of parallel edges, looked up by (u, v)
    u, v, w = snapped.u, snapped.v, snapped.w
    key = u * n + v
    order = np.lexsort((w, key))
    key_s = key[order]
    first = np.r_[True, key_s[1:] != key_s[:-1]]
    keys, metres = key_s[first], snapped.length_m[order][first]
    t_off = t_acc / per_min
    cand = np.concatenate([t_nodes + k * n for k in range(layers)])
    cand_t = np.tile(np.arange(len(t_nodes)), layers)
    cand_off = np.tile(t_off, layers)
    o_nodes = snapped.node[: len(oxy)]
    o_acc = snapped.access_m[: len(oxy)]
    out = {"minutes": np.full(len(oxy), np.nan), "road_m": np.full(len(oxy), np.nan),
           "target_index": np.full(len(oxy), -1, np.int64)}
    uniq, inv = np.unique(o_nodes, return_inverse=True)
    for start in range(0, len(uniq), chunk):
        src = uniq[start:start + chunk]
        dist, pred = dijkstra(graph, directed=True, indices=src, return_predecessors=True)
        for j, s in enumerate(src):
            total = dist[j, cand] + cand_off
            b = int(np.argmin(total))
            if not np.isfinite(total[b]):
                continue
            node, road = int(cand[b]), 0.0
            while node != s:
                p = int(pred[j, node])
                k = np.searchsorted(keys, (p % n) * n + node % n)
                road += float(metres[k])
                node = p
            rows = np.flatnonzero(inv == start + j)
            out["minutes"][rows] = total[b]
            out["road_m"][rows] = road
            out["target_index"][rows] = cand_t[b]
    reach = out["target_index"] >= 0
    minutes = out["minutes"] + o_acc / per_min
    idx = out["target_index"]
    return pd.DataFrame({"minutes": np.where(reach, np.round(minutes, 2), np.nan),
                         "road_m": np.where(reach, np.round(out["road_m"], 1), np.nan),
                         "access_m": np.round(o_acc, 1),
                         "target_access_m": np.where(reach, np.round(t_acc[np.maximum(idx, 0)], 1), np.nan),
                         "target": np.where(reach, names[np.maximum(idx, 0)], None),
                         "target_index": idx})


# --------------------------------------------------------------------------- the KPI
def highway_access(townships: gpd.GeoDataFrame, roads: gpd.GeoDataFrame,
                   expressways: gpd.GeoDataFrame, interchanges: gpd.GeoDataFrame, *,
                   minutes: float = 30.0, scenarios=("current", "planned"),
                   speeds: SpeedTable | None = None, access_kmh: float = DEFAULT_ACCESS_KMH,
                   class_field: str | None = None, kpi_types=KPI_TYPES, networks: dict | None = None,
                   max_access_m: float | None = None):
    """The plan's 乡镇30分钟上高速比例, today and with the planned expressways and interchanges.

    ``networks`` (scenario → Network) replaces the networks built from the layers, e.g. an
    OpenStreetMap network for ``current``; ``roads``/``expressways``/``interchanges`` may
    then be None.

    Returns
    -------
    rows : GeoDataFrame
        One row per township and scenario: name, code, type, scenario, minutes, entrance,
        within, access_m, reachable.
    kpi : DataFrame
        Per scenario: townships counted, within the threshold, share, target, meets_target.
    changes : DataFrame
        Townships whose answer differs between the scenarios.
    networks : dict of scenario → Network
    """
    if minutes <= 0:
        raise InputError(f"minutes must be positive, got {minutes}")
    rows, nets = [], {}
    for scenario in scenarios:
        net = networks[scenario] if networks else \
            from_layers(roads, expressways, interchanges, speeds=speeds, class_field=class_field,
                        scenario=scenario)
        nets[scenario] = net
        res = to_nearest(townships, "entrances", net, access_kmh=access_kmh, max_access_m=max_access_m,
                         what="township seats")
        res = res.rename(columns={"target": "entrance"}).drop(columns=["target_index"])
        res["scenario"] = scenario
        res["within"] = res["reachable"] & (res["minutes"] <= minutes)
        rows.append(res)
    table = gpd.GeoDataFrame(pd.concat(rows, ignore_index=True), crs=settings.STORAGE_CRS)
    if "type" not in table.columns and "name" in table.columns:
        # no type field: tell 街道 from 镇/乡 by the name, as the official names end with them
        names = table["name"].astype(str)
        table["type"] = np.select([names.str.endswith("街道"), names.str.endswith("民族乡"),
                                   names.str.endswith("镇"), names.str.endswith("乡")],
                                  ["街道", "民族乡", "镇", "乡"], default="")
    keep = [c for c in ("name", "code", "type") if c in table.columns]
    table = table[keep + ["scenario", "minutes", "entrance", "within", "access_m", "reachable", "geometry"]]
    counted = table["type"].isin(kpi_types) if "type" in table.columns and kpi_types else \
        pd.Series(True, index=table.index)
    kpi = (table[counted].groupby("scenario", sort=False)
           .agg(townships=("within", "size"), within=("within", "sum"), unreachable=("reachable", lambda s: int((~s).sum())))
           .reset_index())
    kpi["share"] = (kpi["within"] / kpi["townships"]).round(4)
    kpi["threshold_minutes"] = minutes
    kpi["target"] = PLAN_TARGET_SHARE
    kpi["meets_target"] = kpi["share"] >= PLAN_TARGET_SHARE
    changes = pd.DataFrame(columns=["name", "minutes_current", "minutes_planned", "within_current",
                                    "within_planned", "entrance_planned"])
    if len(scenarios) == 2:
        # rows of both scenarios come in the townships' order: compare by position, not name
        a, b = (table[table["scenario"] == s].reset_index(drop=True) for s in scenarios)
        diff = np.flatnonzero(((a["within"] != b["within"]) | ((a["minutes"] - b["minutes"]).abs() > 0.5)).to_numpy())
        changes = pd.DataFrame({
            "name": a["name"].to_numpy()[diff] if "name" in a else diff,
            f"minutes_{scenarios[0]}": a["minutes"].to_numpy()[diff],
            f"minutes_{scenarios[1]}": b["minutes"].to_numpy()[diff],
            f"within_{scenarios[0]}": a["within"].to_numpy()[diff],
            f"within_{scenarios[1]}": b["within"].to_numpy()[diff],
            f"entrance_{scenarios[1]}": b["entrance"].to_numpy()[diff]})
    return table, kpi, changes, nets


# --------------------------------------------------------------------------- isochrones
def isochrones(places: gpd.GeoDataFrame, network: Network, bands=(10, 20, 30, 45, 60), *,
               access_kmh: float = DEFAULT_ACCESS_KMH, buffer_m: float = 150.0,
               offroad_kmh: float | None = None, step_m: float = 200.0, cell_m: float | None = None,
               method: str = "grid", max_access_m: float | None = None) -> gpd.GeoDataFrame:
    """Travel-time bands around places, built from the reached network.

    Each road piece is cut where the travel time reaches each threshold; the band ``10–20``
    is what is reached within 20 minutes but not within 10. Not convex hulls: valleys without
    roads stay out. Expressways carry trips but give access to no land beside them.

    Parameters
    ----------
    buffer_m : float
        Without off-road reach, the half-width of the corridor drawn along reached roads.
    offroad_kmh : float, optional
        The land beside a reached road counts as reached as far as the time left at that
        point carries someone across country at this speed (the same straight leg that
        :func:`to_nearest` charges from a place to its road); each place also reaches the land
        around it directly. No fixed corridor then.
    method : {"grid", "vector"}
        ``grid`` (default) forms the union of the reached shapes on a grid of ``cell_m``
        metres (see :mod:`spatial.isochrones`); ``vector`` is the earlier exact-union method,
        kept as a reference (slow on large networks; off-road reach sampled every ``step_m``).
    max_access_m : float, optional
        When given, places farther than this from every road are an error.

    Returns a GeoDataFrame (EPSG:4490) with ``min_minutes``, ``max_minutes``, ``area_km2``,
    ``label``; ``attrs["cell_m"]`` and ``attrs["metric_crs"]`` say how it was drawn.
    """
    from . import isochrones as iso

    bands = sorted(float(b) for b in bands)
    if not bands or bands[0] <= 0:
        raise InputError("isochrone bands must be positive minutes")
    if method not in ("grid", "vector"):
        raise InputError(f"unknown isochrone method {method!r}; use grid or vector")
    xy = _points_metric(places, "places", network.crs)
    snapped = snap_points(network, xy)
    if max_access_m is not None:
        check_covered(network, snapped.access_m, places, "places", max_access_m)
    per_min = access_kmh * 1000.0 / 60.0
    router = snapped.router()
    dist, _ = router.from_nearest(snapped.node, snapped.access_m / per_min, limit=bands[-1])
    through = router.through
    cell = None
    if method == "vector":
        geoms = _isochrones_vector(network, snapped, xy, dist, bands, buffer_m, offroad_kmh, step_m)
    else:
        seg = iso.reached_stretches(network, snapped, dist, through, bands[-1])
        off = offroad_kmh * 1000.0 / 60.0 if offroad_kmh else 0.0
        geoms, cell = iso.draw_bands(seg, bands, buffer_m=None if off else buffer_m, offroad_m_per_min=off,
                                     discs=(xy[:, 0], xy[:, 1]) if off else None, cell_m=cell_m)
    out = [{"min_minutes": 0.0 if k == 0 else bands[k - 1], "max_minutes": T, "geometry": g}
           for k, (T, g) in enumerate(zip(bands, geoms))]
    res = gpd.GeoDataFrame(out, geometry="geometry", crs=network.crs)
    res["area_km2"] = (res.geometry.area / 1e6).round(3)
    res["label"] = [f"{int(r.min_minutes)}–{int(r.max_minutes)} 分钟" for r in res.itertuples()]
    res = valid_storage(res)
    res.attrs.update(cell_m=cell, metric_crs=network.crs, method=method)
    return res


def valid_storage(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """To EPSG:4490 with every polygon valid: a transform can make a valid ring self-touch,
    so each part is checked after it and repaired (polygonal parts kept)."""
    from .isochrones import valid_union_of_parts

    out = gdf.to_crs(settings.STORAGE_CRS)
    geoms = [g if g is None or g.is_empty else valid_union_of_parts(shapely.get_parts(g))
             for g in out.geometry.values]
    return out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=out.crs))


def _isochrones_vector(network, snapped, xy, dist, bands, buffer_m, offroad_kmh, step_m):
    """The exact vector union, per piece (reference method; see :func:`isochrones`)."""
    pieces = network.pieces
    geoms = pieces.geometry.values
    L = shapely.length(geoms)
    # distances at the ends and at the snapped places inside each piece
    inner = {}
    for k, p in enumerate(snapped.piece):
        if 1e-6 < snapped.along_m[k] < L[p] - 1e-6:
            inner.setdefault(int(p), []).append((float(snapped.along_m[k]), int(snapped.node[k])))
    fwd_ok = np.zeros(len(pieces), bool)
    bwd_ok = np.zeros(len(pieces), bool)
    fwd_ok[network.edge_piece[network.edge_forward]] = True
    bwd_ok[network.edge_piece[~network.edge_forward]] = True
    rate = np.where(L > 0, pieces["minutes"].to_numpy() / np.maximum(L, 1e-9), 0.0)   # minutes per metre
    a, b = pieces["a"].to_numpy(), pieces["b"].to_numpy()
    drawn_out = pieces["expressway"].to_numpy() | pieces["ramp"].to_numpy()
    out = []
    previous = None
    off_rate = offroad_kmh * 1000.0 / 60.0 if offroad_kmh else 0.0     # metres per minute
    for T in bands:
        parts = []
        disc_xy, disc_r = [], []
        # routes may use expressways, but only ordinary roads give access to the land around them
        cand = np.flatnonzero(((dist[a] < T) | (dist[b] < T) | np.isin(np.arange(len(pieces)), list(inner)))
                              & ~drawn_out)
        for p in cand:
            stops = [(0.0, a[p])] + sorted(inner.get(int(p), [])) + [(L[p], b[p])]
            intervals = []
            for (s0, n0), (s1, n1) in zip(stops[:-1], stops[1:]):
                seg = s1 - s0
                if off_rate > 0 and seg > 0:
                    # time at points along the stretch, from whichever end reaches them first
                    ss = np.linspace(s0, s1, max(2, int(np.ceil(seg / step_m)) + 1))
                    t = np.full(len(ss), np.inf)
                    if fwd_ok[p] and np.isfinite(dist[n0]):
                        t = np.minimum(t, dist[n0] + rate[p] * (ss - s0))
                    if bwd_ok[p] and np.isfinite(dist[n1]):
                        t = np.minimum(t, dist[n1] + rate[p] * (s1 - ss))
                    ok = t < T
                    if ok.any():
                        disc_xy.append(shapely.line_interpolate_point(geoms[p], ss[ok]))
                        disc_r.append((T - t[ok]) * off_rate)
                reach_f = (T - dist[n0]) / rate[p] if fwd_ok[p] and np.isfinite(dist[n0]) and rate[p] > 0 else -1
                reach_b = (T - dist[n1]) / rate[p] if bwd_ok[p] and np.isfinite(dist[n1]) and rate[p] > 0 else -1
                if reach_f >= seg or reach_b >= seg or (reach_f >= 0 and reach_b >= 0 and reach_f + reach_b >= seg):
                    intervals.append((s0, s1))
                    continue
                if reach_f > 0:
                    intervals.append((s0, s0 + reach_f))
                if reach_b > 0:
                    intervals.append((s1 - reach_b, s1))
            for s, e in intervals:
                if e - s <= 0:
                    continue
                parts.append(geoms[p] if (s <= 0 and e >= L[p]) else substring(geoms[p], s, e))
        # with off-road access the reach beside a road shrinks to nothing where time runs out:
        # no fixed corridor then (1 m keeps the road line itself), and each place reaches
        # the land around it directly
        corridor = 1.0 if off_rate > 0 else buffer_m
        shapes = list(shapely.buffer(np.array(parts, dtype=object), corridor)) if parts else []
        if off_rate > 0:
            disc_xy.append(shapely.points(xy))
            disc_r.append(np.full(len(xy), T * off_rate))
            radii = np.concatenate(disc_r)
            keep = radii > 0
            shapes += list(shapely.buffer(np.concatenate(disc_xy)[keep], radii[keep], quad_segs=8))
        reached = shapely.union_all(np.array(shapes, dtype=object)) if shapes else shapely.Polygon()
        band = reached if previous is None else shapely.difference(reached, previous)
        out.append(band)
        previous = reached if previous is None else shapely.union(previous, reached)
    return out
