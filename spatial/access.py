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

    def router(self) -> Router:
        return Router(self.u, self.v, self.w, self.n)


def _points_metric(gdf: gpd.GeoDataFrame, what: str) -> np.ndarray:
    if gdf.crs is None:
        raise InputError(f"{what} have no coordinate system")
    if len(gdf) == 0:
        raise InputError(f"{what}: the layer has no features")
    m = gdf.to_crs(settings.METRIC_CRS).geometry
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
    """Add a node for each point on its nearest eligible road piece (split there)."""
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
    new_u, new_v, new_w = [net.edge_u], [net.edge_v], [net.edge_minutes]
    n = net.n_nodes
    inner = np.flatnonzero(node < 0)
    if len(inner):
        by_piece = pd.DataFrame({"p": piece[inner], "t": along[inner], "i": inner}).sort_values(["p", "t"])
        edge_of = pd.DataFrame({"p": net.edge_piece, "fwd": net.edge_forward, "w": net.edge_minutes})
        for p, grp in by_piece.groupby("p", sort=False):
            L = float(length[grp["i"].iloc[0]])
            ts, ids = grp["t"].to_numpy(), grp["i"].to_numpy()
            uniq_t, inv = np.unique(np.round(ts, 6), return_inverse=True)
            new_nodes = n + np.arange(len(uniq_t))
            n += len(uniq_t)
            node[ids] = new_nodes[inv]
            chain = np.concatenate([[pieces.at[p, "a"]], new_nodes, [pieces.at[p, "b"]]])
            pos = np.concatenate([[0.0], uniq_t, [L]])
            frac = np.diff(pos) / L if L > 0 else np.zeros(len(pos) - 1)
            for _, e in edge_of[edge_of["p"] == p].iterrows():
                if e["fwd"]:
                    new_u.append(chain[:-1]); new_v.append(chain[1:]); new_w.append(frac * e["w"])
                else:
                    new_u.append(chain[1:][::-1]); new_v.append(chain[:-1][::-1]); new_w.append((frac * e["w"])[::-1])
    return Snapped(np.concatenate(new_u).astype(np.int64), np.concatenate(new_v).astype(np.int64),
                   np.concatenate(new_w), n, node.astype(np.int64), dist, piece, along)


def to_nearest(origins: gpd.GeoDataFrame, targets, network: Network, *,
               access_kmh: float = DEFAULT_ACCESS_KMH, target_name: str = "name") -> gpd.GeoDataFrame:
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

    Returns
    -------
    GeoDataFrame (EPSG:4490) with the origins' columns and ``minutes`` (NaN when
    unreachable), ``target`` (name), ``target_index``, ``access_m`` (origin to road, metres),
    ``reachable``.
    """
    if access_kmh <= 0:
        raise InputError(f"access speed must be positive, got {access_kmh}")
    oxy = _points_metric(origins, "origins")
    per_min = access_kmh * 1000.0 / 60.0
    if isinstance(targets, str) and targets == "entrances":
        tgt = network.entrances
        if len(tgt) == 0:
            raise InputError(f"the {network.scenario} network has no expressway entrances")
        snapped = snap_points(network, oxy)
        t_nodes, t_off = tgt["node"].to_numpy(), np.zeros(len(tgt))
        names = tgt["name"].astype(str).to_numpy()
    else:
        txy = _points_metric(targets, "targets")
        snapped = snap_points(network, np.vstack([oxy, txy]))
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


# --------------------------------------------------------------------------- the KPI
def highway_access(townships: gpd.GeoDataFrame, roads: gpd.GeoDataFrame,
                   expressways: gpd.GeoDataFrame, interchanges: gpd.GeoDataFrame, *,
                   minutes: float = 30.0, scenarios=("current", "planned"),
                   speeds: SpeedTable | None = None, access_kmh: float = DEFAULT_ACCESS_KMH,
                   class_field: str | None = None, kpi_types=KPI_TYPES, networks: dict | None = None):
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
        res = to_nearest(townships, "entrances", net, access_kmh=access_kmh)
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
               offroad_kmh: float | None = None, step_m: float = 200.0) -> gpd.GeoDataFrame:
    """Travel-time bands around places, built from the reached network.

    With ``offroad_kmh``, the land beside a reached road counts as reached as far as the time
    left at that point carries someone across country at that speed (the same straight leg
    that :func:`to_nearest` charges from a place to its road); the road is sampled every
    ``step_m`` metres for this. Without it, a fixed ``buffer_m`` corridor is drawn.

    Each road piece is cut where the travel time reaches each threshold, the reached parts are
    buffered by ``buffer_m`` in EPSG:4544 and dissolved: the band ``10–20`` is what is
    reached within 20 minutes but not within 10. Not convex hulls: valleys without roads stay
    out.

    Returns a GeoDataFrame (EPSG:4490) with ``min_minutes``, ``max_minutes``, ``area_km2``.
    """
    bands = sorted(float(b) for b in bands)
    if not bands or bands[0] <= 0:
        raise InputError("isochrone bands must be positive minutes")
    xy = _points_metric(places, "places")
    snapped = snap_points(network, xy)
    per_min = access_kmh * 1000.0 / 60.0
    dist, _ = snapped.router().from_nearest(snapped.node, snapped.access_m / per_min, limit=bands[-1])
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
        out.append({"min_minutes": 0.0 if previous is None else bands[len(out) - 1],
                    "max_minutes": T, "geometry": band})
        previous = reached if previous is None else shapely.union(previous, reached)
    res = gpd.GeoDataFrame(out, geometry="geometry", crs=settings.METRIC_CRS)
    res["area_km2"] = (res.geometry.area / 1e6).round(3)
    res["label"] = [f"{int(r.min_minutes)}–{int(r.max_minutes)} 分钟" for r in res.itertuples()]
    return res.to_crs(settings.STORAGE_CRS)
