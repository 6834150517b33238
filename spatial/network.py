"""Road networks in one routable form, from the bundled layers, a county layer or OpenStreetMap.

A :class:`Network` holds nodes (EPSG:4544 metres), undirected *pieces* of road with their
geometry, grade and name, and the directed *edges* the router uses (two per two-way piece,
one per one-way piece), each with its length and travel time in minutes.

Rules that make the answers right:

- Line ends closer than ``tolerance_m`` are joined into one node, and a line end that falls
  within the tolerance of another line's interior splits that line there (a T junction);
  the joins are counted in :attr:`Network.notes`. Lines that merely cross (bridges, tunnels)
  are not connected.
- Expressways (高速公路) live in their own node space: they meet ordinary roads only through
  ramps (匝道) — ramp lines in the data (OpenStreetMap ``motorway_link``) or, for the
  bundled/county layers, a ramp built at each interchange point between the expressway and the
  nearest ordinary road. A town beside an expressway with no entrance cannot use it.
- ``scenario="current"`` leaves out features whose ``phase`` is ``planned``;
  ``scenario="planned"`` includes them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from shapely.ops import substring

from . import settings
from .errors import InputError
from .speeds import EXPRESSWAY, RAMP, SpeedTable

CLASS_FIELDS = ("grade", "公路等级", "技术等级", "JSDJ", "class", "highway", "fclass")
ONEWAY_TRUE = {"yes", "true", "1", "t", "y", "是", "单行"}
ONEWAY_REVERSE = {"-1", "reverse"}
KIND_ROAD, KIND_EXPRESSWAY, KIND_RAMP = 0, 1, 2
SCENARIOS = ("current", "planned")


@dataclass
class Network:
    """A routable road network; see the module text for the rules it follows."""

    node_xy: np.ndarray                  # (n, 2) EPSG:4544 metres
    pieces: gpd.GeoDataFrame             # undirected road pieces, EPSG:4544
    edge_u: np.ndarray
    edge_v: np.ndarray
    edge_minutes: np.ndarray
    edge_piece: np.ndarray               # index into pieces
    edge_forward: np.ndarray             # u→v runs along the piece's geometry
    entrances: gpd.GeoDataFrame          # expressway entrances: name, node, phase (EPSG:4544)
    notes: list = field(default_factory=list)
    scenario: str = "current"
    crs: str = settings.METRIC_CRS       # the metric CRS of node_xy and pieces
    edge_local: np.ndarray | None = None  # edges that may start or end a trip, never carry one through
    source: str | None = None            # the file the roads came from, for messages
    node_id: np.ndarray | None = None    # OpenStreetMap node id of each node (OSM networks)

    @property
    def n_nodes(self) -> int:
        return len(self.node_xy)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    def summary(self) -> str:
        km = self.pieces.geometry.length.groupby(self.pieces["grade"]).sum() / 1000
        by_grade = ", ".join(f"{g} {v:.1f} km" for g, v in km.items())
        return (f"{self.n_nodes} nodes, {self.n_edges} directed edges, {len(self.entrances)} "
                f"expressway entrances ({self.scenario}); {by_grade}")

    def digest(self) -> str:
        """A checksum of the routable graph (nodes, edges, minutes): equal networks, equal digests."""
        import hashlib

        h = hashlib.sha256()
        for arr in (np.round(self.node_xy, 3), self.edge_u, self.edge_v, np.round(self.edge_minutes, 9),
                    self.edge_local if self.edge_local is not None else np.zeros(0, bool)):
            h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]


# --------------------------------------------------------------------------- helpers
#: Spellings of the ``phase`` field: planned (规划, 拟建, 在建 …), existing (现状 …), reinforcement.
PHASES = {
    "planned": "planned", "规划": "planned", "拟建": "planned", "在建": "planned", "新建": "planned",
    "计划": "planned", "规划建设": "planned",
    "existing": "existing", "现状": "existing", "已建": "existing", "建成": "existing", "": "existing",
    "reinforcement": "reinforcement", "除险加固": "reinforcement", "加固": "reinforcement",
}


def phase_values(gdf: pd.DataFrame) -> np.ndarray:
    """The ``phase`` of each feature as planned/existing/reinforcement (existing when absent)."""
    if "phase" not in gdf.columns:
        return np.full(len(gdf), "existing", dtype=object)
    raw = gdf["phase"].fillna("").astype(str).str.strip().str.lower()
    out = raw.map(PHASES)
    unknown = sorted(set(raw[out.isna()]))
    if unknown:
        raise InputError(f"unknown phase value(s) {', '.join(map(repr, unknown))}; use planned/规划, "
                         f"existing/现状 or reinforcement/除险加固", gdf.attrs.get("source"))
    return out.to_numpy(dtype=object)


def _in_scenario(gdf: gpd.GeoDataFrame, scenario: str) -> gpd.GeoDataFrame:
    if scenario not in SCENARIOS:
        raise InputError(f"unknown scenario {scenario!r}; use {' or '.join(SCENARIOS)}")
    if scenario == "planned":
        phase_values(gdf)               # still refuse unknown spellings
        return gdf
    return gdf[phase_values(gdf) != "planned"]


def _end_xy(geoms) -> tuple[np.ndarray, np.ndarray]:
    """First and last coordinates of each line, from one pass over the coordinates."""
    xy, idx = shapely.get_coordinates(np.asarray(geoms, dtype=object), return_index=True)
    if len(xy) == 0:
        return np.zeros((0, 2)), np.zeros((0, 2))
    starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
    ends = np.r_[starts[1:] - 1, len(idx) - 1]
    return xy[starts], xy[ends]


def _lines(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    m = gdf.to_crs(settings.METRIC_CRS)
    if not (m.geom_type == "LineString").all():
        m = m.explode(index_parts=False)
    m = m[m.geometry.notna() & ~m.geometry.is_empty & (m.geom_type == "LineString")]
    return m.reset_index(drop=True)


def _class_field(gdf: gpd.GeoDataFrame, class_field: str | None, source) -> str:
    if class_field:
        if class_field not in gdf.columns:
            raise InputError(f"no field {class_field!r}; the layer has: {', '.join(map(str, gdf.columns))}", source)
        return class_field
    for f in CLASS_FIELDS:
        if f in gdf.columns:
            return f
    raise InputError(f"no road class field (looked for {', '.join(CLASS_FIELDS)})", source,
                     hint="name it with --class-field")


def _oneway(values) -> np.ndarray:
    """+1 along the geometry only, -1 against it only, 0 both ways."""
    text = pd.Series(values, dtype=object).astype(str).str.strip().str.lower()
    return np.where(text.isin(ONEWAY_TRUE), 1, np.where(text.isin(ONEWAY_REVERSE), -1, 0))


def _split_lines(lines: gpd.GeoDataFrame, cuts: dict[int, list[float]]) -> gpd.GeoDataFrame:
    """Cut each line at the distances listed for it (metres along the line).

    Lines without cuts are kept as they are (no per-line work); the few that are cut are
    split with ``substring``.
    """
    geoms = lines.geometry.values
    rows = np.arange(len(geoms))
    out_rows, out_geoms = [rows], [np.asarray(geoms, dtype=object)]
    cut_rows = sorted(cuts)
    if cut_rows:
        keep = np.ones(len(geoms), bool)
        extra_rows, extra_geoms = [], []
        for i in cut_rows:
            geom = geoms[i]
            ds = sorted(d for d in set(np.round(cuts[i], 3)) if 0.01 < d < geom.length - 0.01)
            if not ds:
                continue
            keep[i] = False
            bounds = [0.0] + ds + [geom.length]
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                extra_rows.append(i)
                extra_geoms.append(substring(geom, lo, hi))
        out_rows = [rows[keep], np.asarray(extra_rows, np.int64)]
        out_geoms = [np.asarray(geoms, dtype=object)[keep], np.asarray(extra_geoms, dtype=object)]
    order_rows = np.concatenate(out_rows)
    order_geoms = np.concatenate(out_geoms)
    order = np.argsort(order_rows, kind="stable")        # parts stay in the lines' order
    out = lines.iloc[order_rows[order]].copy()
    out = out.set_geometry(gpd.GeoSeries(order_geoms[order], index=out.index, crs=lines.crs))
    return out.reset_index(drop=True)


def _t_junction_cuts(lines: gpd.GeoDataFrame, kinds: np.ndarray, tol: float) -> tuple[dict, int]:
    """Where a line end touches another line's interior (within tol), cut that line."""
    geoms = np.asarray(lines.geometry.values, dtype=object)
    n = len(geoms)
    first, last = _end_xy(geoms)
    ends = shapely.points(np.vstack([first, last]))
    end_kind = np.concatenate([kinds, kinds])
    end_line = np.concatenate([np.arange(n), np.arange(n)])
    tree = shapely.STRtree(geoms)
    e, li = tree.query(ends, predicate="dwithin", distance=tol)
    ok = li != end_line[e]
    # ordinary roads never split expressways and vice versa; ramps join both
    ka, kb = end_kind[e], kinds[li]
    ok &= ~(((ka == KIND_ROAD) & (kb == KIND_EXPRESSWAY)) | ((ka == KIND_EXPRESSWAY) & (kb == KIND_ROAD)))
    e, li = e[ok], li[ok]
    # an end already within tol of the line's own ends is joined by clustering instead
    exy = np.vstack([first, last])
    near_start = np.hypot(*(exy[e] - exy[li]).T) <= tol
    near_end = np.hypot(*(exy[e] - exy[li + n]).T) <= tol
    e, li = e[~(near_start | near_end)], li[~(near_start | near_end)]
    d = shapely.line_locate_point(geoms[li], ends[e])
    inside = (d > 0.01) & (d < shapely.length(geoms[li]) - 0.01)
    cuts: dict[int, list[float]] = {}
    for line, dist in zip(li[inside].tolist(), d[inside].tolist()):
        cuts.setdefault(int(line), []).append(float(dist))
    return cuts, int(inside.sum())


def _pairs_within(xy: np.ndarray, tol: float) -> np.ndarray:
    """Index pairs (i < j) of the points no farther apart than ``tol``."""
    if len(xy) == 0:
        return np.empty((0, 2), np.int64)
    pts = shapely.points(xy)
    i, j = shapely.STRtree(pts).query(pts, predicate="dwithin", distance=tol)
    keep = i < j
    return np.column_stack([i[keep], j[keep]]).astype(np.int64)


def _cluster_ends(pieces: gpd.GeoDataFrame, start_kind: np.ndarray, end_kind: np.ndarray, tol: float):
    """Node ids for piece ends: ends within tol join, but never a road end with an expressway end."""
    geoms = np.asarray(pieces.geometry.values, dtype=object)
    n = len(geoms)
    xy = np.vstack(_end_xy(geoms))
    end_kind = np.concatenate([start_kind, end_kind])
    pairs = _pairs_within(xy, tol)
    if len(pairs):
        ka, kb = end_kind[pairs[:, 0]], end_kind[pairs[:, 1]]
        ok = ~(((ka == KIND_ROAD) & (kb == KIND_EXPRESSWAY)) | ((ka == KIND_EXPRESSWAY) & (kb == KIND_ROAD)))
        pairs = pairs[ok]
    graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(2 * n, 2 * n))
    _, labels = connected_components(graph, directed=False)
    _, node = np.unique(labels, return_inverse=True)
    n_nodes = node.max() + 1 if len(node) else 0
    node_xy = np.zeros((n_nodes, 2))
    counts = np.bincount(node, minlength=n_nodes)
    for dim in (0, 1):
        node_xy[:, dim] = np.bincount(node, weights=xy[:, dim], minlength=n_nodes) / np.maximum(counts, 1)
    gaps = np.hypot(*(xy[pairs[:, 0]] - xy[pairs[:, 1]]).T) if len(pairs) else np.array([])
    real = gaps > 0.01          # centimetre differences are rounding, not gaps
    return node[:n], node[n:], node_xy, int(real.sum()), float(gaps.max()) if real.any() else 0.0


def _assemble(pieces: gpd.GeoDataFrame, speeds: SpeedTable, tol: float, scenario: str,
              entrance_rows: list[dict], notes: list[str]) -> Network:
    kinds = pieces["_kind"].to_numpy()
    # ramps built at interchange points: road kind at their start, expressway kind at their end,
    # so the two ends stay apart even when the interchange sits where the lines cross
    start_kind = pieces["_kind_a"].fillna(pd.Series(kinds, index=pieces.index)).to_numpy() \
        if "_kind_a" in pieces else kinds
    end_kind = pieces["_kind_b"].fillna(pd.Series(kinds, index=pieces.index)).to_numpy() \
        if "_kind_b" in pieces else kinds
    a, b, node_xy, joined, max_gap = _cluster_ends(pieces, start_kind, end_kind, tol)
    if joined:
        notes.append(f"{joined} line-end pair(s) joined across gaps of up to {max_gap:.1f} m "
                     f"(tolerance {tol:g} m)")
    pieces = pieces.assign(a=a, b=b)
    loops = (a == b) & (pieces.geometry.length.to_numpy() < tol) & (pieces["_entrance"].to_numpy() < 0)
    pieces = pieces[~loops].reset_index(drop=True)
    length = pieces.geometry.length.to_numpy() * pieces["_detour"].to_numpy()
    kmh = pieces["_kmh"].to_numpy()
    minutes = length / (kmh * 1000.0 / 60.0)
    oneway = pieces["_oneway"].to_numpy()
    idx = np.arange(len(pieces))
    fwd = oneway >= 0
    bwd = oneway <= 0
    edge_u = np.concatenate([pieces["a"].to_numpy()[fwd], pieces["b"].to_numpy()[bwd]])
    edge_v = np.concatenate([pieces["b"].to_numpy()[fwd], pieces["a"].to_numpy()[bwd]])
    edge_piece = np.concatenate([idx[fwd], idx[bwd]])
    edge_forward = np.concatenate([np.ones(fwd.sum(), bool), np.zeros(bwd.sum(), bool)])
    edge_minutes = np.concatenate([minutes[fwd], minutes[bwd]])
    ent = pd.DataFrame(entrance_rows)
    if len(ent):
        # the entrance is the node where the ramp meets the expressway
        ent_pieces = pieces.index[pieces["_entrance"].to_numpy() >= 0]
        node_of = {int(pieces.at[i, "_entrance"]): int(pieces.at[i, "b"]) for i in ent_pieces}
        ent["node"] = ent["row"].map(node_of)
        ent = ent.dropna(subset=["node"]).astype({"node": int})
        entrances = gpd.GeoDataFrame(ent.drop(columns=["row"]), geometry=gpd.points_from_xy(
            node_xy[ent["node"], 0], node_xy[ent["node"], 1]), crs=settings.METRIC_CRS)
    else:
        entrances = gpd.GeoDataFrame({"name": [], "phase": [], "node": []}, geometry=[], crs=settings.METRIC_CRS)
    keep = [c for c in ("name", "grade", "road_ref", "approximate") if c in pieces.columns]
    out_pieces = gpd.GeoDataFrame(pieces[keep + ["a", "b"]].assign(
        expressway=kinds[~loops] == KIND_EXPRESSWAY, ramp=kinds[~loops] == KIND_RAMP,
        kmh=kmh, minutes=minutes), geometry=pieces.geometry.values, crs=settings.METRIC_CRS)
    return Network(node_xy, out_pieces, edge_u.astype(np.int64), edge_v.astype(np.int64), edge_minutes,
                   edge_piece.astype(np.int64), edge_forward, entrances.reset_index(drop=True), notes, scenario)


# --------------------------------------------------------------------------- builders
def from_layers(roads: gpd.GeoDataFrame, expressways: gpd.GeoDataFrame | None = None,
                interchanges: gpd.GeoDataFrame | None = None, *, speeds: SpeedTable | None = None,
                class_field: str | None = None, oneway_field: str | None = None,
                scenario: str = "current", tolerance_m: float = 20.0,
                interchange_tolerance_m: float = 1000.0) -> Network:
    """Build a network from line layers (any CRS) and interchange points.

    Parameters
    ----------
    roads : GeoDataFrame
        Ordinary roads (may also hold 高速公路 and 匝道 lines) with a class field
        (``grade``/``公路等级``/``技术等级``… or ``class_field``), optionally ``oneway``
        (``oneway_field``), ``speed_kmh`` (overrides the table) and ``detour_factor``
        (≥ 1, multiplies the length of approximate straight links for travel time).
    expressways : GeoDataFrame, optional
        Expressway lines (grade 高速公路 whatever their fields say).
    interchanges : GeoDataFrame, optional
        Entrance points with ``name`` (and ``phase``): each gets a ramp from the nearest
        expressway (within ``interchange_tolerance_m``) to the nearest ordinary road.
    speeds : SpeedTable, optional
        Grades → km/h and raw class values → grades (default: JTG B01 design speeds).
    scenario : {"current", "planned"}
        Whether features with ``phase == "planned"`` take part.
    tolerance_m : float
        Line ends closer than this are joined.
    """
    speeds = speeds or SpeedTable()
    notes: list[str] = []
    source = roads.attrs.get("source", "roads")
    roads = _in_scenario(roads, scenario)
    parts = []
    r = _lines(roads)
    if len(r):
        field_name = _class_field(r, class_field, source)
        r["grade"] = speeds.classify(r[field_name], source, field_name)
        r["_oneway"] = _oneway(r[oneway_field]) if oneway_field else (
            _oneway(r["oneway"]) if "oneway" in r.columns else 0)
        parts.append(r)
    if expressways is not None and len(expressways):
        e = _lines(_in_scenario(expressways, scenario))
        e["grade"] = EXPRESSWAY
        e["_oneway"] = _oneway(e["oneway"]) if "oneway" in e.columns else 0
        parts.append(e)
    if not parts:
        raise InputError("no road lines to build a network from", source)
    lines = pd.concat(parts, ignore_index=True)
    lines = gpd.GeoDataFrame(lines, geometry="geometry", crs=settings.METRIC_CRS)
    kinds = np.where(lines["grade"] == EXPRESSWAY, KIND_EXPRESSWAY,
                     np.where(lines["grade"] == RAMP, KIND_RAMP, KIND_ROAD))
    speed_col = pd.to_numeric(lines.get("speed_kmh"), errors="coerce") if "speed_kmh" in lines else None
    kmh = speeds.kmh(lines["grade"])
    if speed_col is not None:
        kmh = np.where(speed_col.fillna(0).to_numpy() > 0, speed_col.to_numpy(), kmh)
    lines["_kmh"] = kmh
    detour = pd.to_numeric(lines["detour_factor"], errors="coerce") if "detour_factor" in lines else None
    lines["_detour"] = 1.0 if detour is None else detour.fillna(1.0).clip(lower=1.0).to_numpy()
    lines["_kind"] = kinds
    lines["_entrance"] = -1

    # ramps at interchange points
    cuts, n_t = _t_junction_cuts(lines, kinds, tolerance_m)
    if n_t:
        notes.append(f"{n_t} line end(s) met another line's interior and split it (T junctions)")
    entrance_rows, ramp_rows = [], []
    if interchanges is not None and len(interchanges):
        pts = _in_scenario(interchanges, scenario).to_crs(settings.METRIC_CRS)
        ex_idx = np.flatnonzero(kinds == KIND_EXPRESSWAY)
        rd_idx = np.flatnonzero(kinds == KIND_ROAD)
        if len(ex_idx) == 0:
            notes.append("interchanges given but no expressway lines: no entrances")
        else:
            geoms = lines.geometry.values
            ex_tree, rd_tree = shapely.STRtree(geoms[ex_idx]), shapely.STRtree(geoms[rd_idx])
            for k, (pt, row) in enumerate(zip(pts.geometry.values, pts.itertuples())):
                name = str(getattr(row, "name", f"interchange {k}"))
                j, dist = ex_tree.query_nearest(pt, return_distance=True)
                if len(j) == 0 or dist[0] > interchange_tolerance_m:
                    notes.append(f"interchange {name}: no expressway within {interchange_tolerance_m:g} m; left out")
                    continue
                li = int(ex_idx[j[0]])
                d_ex = float(shapely.line_locate_point(geoms[li], pt))
                p_ex = shapely.line_interpolate_point(geoms[li], d_ex)
                jr, dist_r = rd_tree.query_nearest(p_ex, return_distance=True)
                if len(jr) == 0:
                    notes.append(f"interchange {name}: no ordinary road to connect; left out")
                    continue
                lr = int(rd_idx[jr[0]])
                d_rd = float(shapely.line_locate_point(geoms[lr], p_ex))
                p_rd = shapely.line_interpolate_point(geoms[lr], d_rd)
                cuts.setdefault(li, []).append(d_ex)
                cuts.setdefault(lr, []).append(d_rd)
                ramp = shapely.LineString([p_rd, p_ex])
                ramp_rows.append({"geometry": ramp, "grade": RAMP, "name": f"{name} 匝道",
                                  "_oneway": 0, "_kmh": speeds.kmh([RAMP])[0], "_detour": 1.0,
                                  "_kind": KIND_RAMP, "_kind_a": KIND_ROAD, "_kind_b": KIND_EXPRESSWAY,
                                  "_entrance": len(entrance_rows)})
                entrance_rows.append({"row": len(entrance_rows), "name": name,
                                      "phase": str(getattr(row, "phase", "existing")),
                                      "ramp_m": round(p_rd.distance(p_ex), 1)})
    pieces = _split_lines(lines, cuts)
    if ramp_rows:
        ramps = gpd.GeoDataFrame(ramp_rows, geometry="geometry", crs=settings.METRIC_CRS)
        pieces = pd.concat([pieces, ramps], ignore_index=True)
        pieces = gpd.GeoDataFrame(pieces, geometry="geometry", crs=settings.METRIC_CRS)
    if "approximate" not in pieces.columns and "data_status" in pieces.columns:
        pieces["approximate"] = pieces["data_status"].astype(str) != "real"
    net = _assemble(pieces, speeds, tolerance_m, scenario, entrance_rows, notes)
    net.source = str(source)
    return net



# --------------------------------------------------------------------------- OpenStreetMap
def from_osm_roads(roads, *, speeds: SpeedTable | None = None, use_maxspeed: bool = True,
                   crs: str | None = None) -> Network:
    """Build a network from :class:`spatial.osm.OsmRoads` (see :mod:`spatial.osm` for the rules).

    Each way is cut at the nodes it shares with other ways (junctions) and at its own ends;
    every piece keeps its way's class, direction, access and speed, so no two ways are ever
    timed as one. Lengths are measured in ``crs`` (default: :func:`settings.metric_crs_for`
    the centre of the data).
    """
    from pyproj import Transformer

    speeds = speeds or SpeedTable()
    notes: list[str] = []
    nid, run = roads.node_id, roads.run
    # repeated consecutive nodes say nothing
    keep = np.r_[True, (nid[1:] != nid[:-1]) | (run[1:] != run[:-1])]
    nid, run, lon, lat = nid[keep], run[keep], roads.lon[keep], roads.lat[keep]
    per_run = np.bincount(run, minlength=len(roads.way_id))
    keep = per_run[run] >= 2
    nid, run, lon, lat = nid[keep], run[keep], lon[keep], lat[keep]
    if crs is None:
        crs = settings.metric_crs_for(float((np.nanmin(lon) + np.nanmax(lon)) / 2),
                                      float((np.nanmin(lat) + np.nanmax(lat)) / 2))
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    x, y = np.asarray(x, float), np.asarray(y, float)
    first = np.r_[True, run[1:] != run[:-1]]
    last = np.r_[run[1:] != run[:-1], True]
    _, inv, cnt = np.unique(nid, return_inverse=True, return_counts=True)
    # a node used twice (by two ways, or twice by one way) is a junction
    brk = first | last | (cnt[inv] > 1)
    inner_brk = brk & ~first & ~last
    idx = np.repeat(np.arange(len(nid)), 1 + inner_brk)
    start = first[idx] | np.r_[False, idx[1:] == idx[:-1]]
    piece_of = np.cumsum(start) - 1
    p_first = np.flatnonzero(start)
    p_last = np.r_[p_first[1:] - 1, len(idx) - 1]
    geoms = shapely.linestrings(x[idx], y[idx], indices=piece_of)
    prun = run[idx[p_first]]
    a_id, b_id = nid[idx[p_first]], nid[idx[p_last]]
    node_ids, node_pos = np.unique(np.r_[a_id, b_id], return_inverse=True)
    a, b = node_pos[: len(a_id)], node_pos[len(a_id):]
    node_xy = np.zeros((len(node_ids), 2))
    node_xy[a] = np.column_stack([x[idx[p_first]], y[idx[p_first]]])
    node_xy[b] = np.column_stack([x[idx[p_last]], y[idx[p_last]]])

    hw = roads.highway[prun]
    grade = speeds.classify(hw, roads.source, "highway")
    kmh_class = speeds.kmh(grade)
    cap = roads.maxspeed[prun]
    capped = use_maxspeed & np.isfinite(cap) & (cap < kmh_class)
    kmh = np.where(capped, cap, kmh_class)
    length = shapely.length(geoms)
    minutes = length / (kmh * 1000.0 / 60.0)
    ow = roads.oneway[prun].astype(np.int64)
    local = roads.local[prun]
    kinds = np.where(grade == EXPRESSWAY, KIND_EXPRESSWAY, np.where(grade == RAMP, KIND_RAMP, KIND_ROAD))
    pidx = np.arange(len(geoms))
    fwd, bwd = ow >= 0, ow <= 0
    edge_u = np.r_[a[fwd], b[bwd]]
    edge_v = np.r_[b[fwd], a[bwd]]
    edge_piece = np.r_[pidx[fwd], pidx[bwd]]
    edge_forward = np.r_[np.ones(fwd.sum(), bool), np.zeros(bwd.sum(), bool)]
    pieces = gpd.GeoDataFrame({
        "name": roads.name[prun], "grade": grade, "road_ref": roads.ref[prun], "highway": hw,
        "osm_way": roads.way_id[prun], "a": a, "b": b,
        "expressway": kinds == KIND_EXPRESSWAY, "ramp": kinds == KIND_RAMP, "local": local,
        "oneway": ow, "maxspeed": cap, "kmh": kmh, "minutes": minutes}, geometry=geoms, crs=crs)
    # entrances: expressway nodes that a ramp leads onto
    ramp_edges = kinds[edge_piece] == KIND_RAMP
    ex_nodes = np.unique(np.r_[a[kinds == KIND_EXPRESSWAY], b[kinds == KIND_EXPRESSWAY]])
    on = np.unique(edge_v[ramp_edges][np.isin(edge_v[ramp_edges], ex_nodes)])
    names, tree = [], None
    if roads.junction_names and len(on):
        occ = pd.Series(np.arange(len(nid)), index=nid)
        occ = occ[~occ.index.duplicated()]
        j_ids = np.array(sorted(roads.junction_names), np.int64)
        j_ids = j_ids[np.isin(j_ids, occ.index.to_numpy())]
        if len(j_ids):
            at = occ[j_ids].to_numpy()
            tree = shapely.STRtree(shapely.points(np.column_stack([x[at], y[at]])))
            labels = [roads.junction_names[int(j)] for j in j_ids]
    for n in on:
        name = f"OSM node {node_ids[n]}"
        if tree is not None:
            (_, jj), dd = tree.query_nearest(shapely.points(node_xy[[n]]), return_distance=True, all_matches=False)
            j, d = int(jj[0]), float(dd[0])
            if d < 3000:
                name = str(labels[j])
        names.append(name)
    entrances = gpd.GeoDataFrame({"name": names, "phase": "existing", "node": on.astype(np.int64)},
                                 geometry=gpd.points_from_xy(node_xy[on, 0], node_xy[on, 1]), crs=crs)
    c = roads.counts
    notes.append(f"OpenStreetMap {Path(roads.source).name}: {c.get('kept_ways', 0)} drivable ways kept; "
                 f"{c.get('closed_ways', 0)} closed to cars left out")
    if c.get("cut_ways"):
        ex = roads.examples.get("cut_way")
        notes.append(f"clipped extract: {c['cut_ways']} way(s) list {c['missing_nodes']} node(s) the file does not "
                     f"hold{f' (e.g. way {ex})' if ex else ''}; they were cut at those nodes"
                     + (f", {c['lost_ways']} kept no part of two nodes" if c.get("lost_ways") else ""))
    if local.any():
        notes.append(f"{int(local.sum())} piece(s) of {c.get('local_ways', 0)} local way(s) (access=destination, "
                     f"track, parking aisles, driveways) may start or end a trip but carry no through traffic")
    n_cap = int(capped.sum())
    notes.append("speeds: the speeds table's speed for each way's class"
                 + (f", capped by its maxspeed on {n_cap} of {len(geoms)} pieces (--ignore-maxspeed to turn off)"
                    if use_maxspeed else "; maxspeed ignored (--ignore-maxspeed)"))
    if crs != settings.METRIC_CRS:
        notes.append(f"lengths measured in {settings.crs_label(crs)}, the metric system of the data's centre "
                     f"({np.nanmean(lon):.2f}°E, {np.nanmean(lat):.2f}°N)")
    edge_local = local[edge_piece]
    return Network(node_xy, pieces, edge_u.astype(np.int64), edge_v.astype(np.int64), minutes[edge_piece],
                   edge_piece.astype(np.int64), edge_forward, entrances, notes, "current", crs,
                   edge_local if edge_local.any() else None, roads.source, node_ids)


def from_osm_graph(graph, *, speeds: SpeedTable | None = None, use_maxspeed: bool = True,
                   source: str = "graph") -> Network:
    """Build a network from an OSMnx graph (e.g. loaded from GraphML): see :func:`spatial.osm.roads_from_graph`."""
    from .osm import roads_from_graph

    return from_osm_roads(roads_from_graph(graph, source), speeds=speeds, use_maxspeed=use_maxspeed)


def from_osm_file(path, *, speeds: SpeedTable | None = None, use_maxspeed: bool = True,
                  highways=None) -> Network:
    """Build a network from a local OpenStreetMap file, offline: ``.osm`` XML, ``.osm.pbf``
    (read with pyosmium), or a ``.graphml`` saved by OSMnx. See :mod:`spatial.osm` for which
    ways are kept and how each is timed; ``highways`` narrows the classes kept."""
    from . import osm

    name = str(path).lower()
    if not Path(path).exists():
        raise InputError("no such file", path)
    if name.endswith(".graphml"):
        import osmnx as ox
        try:
            graph = ox.load_graphml(path)
        except Exception as exc:  # noqa: BLE001 - XML and value errors come in many classes
            raise InputError(f"cannot read as GraphML: {str(exc).splitlines()[0]}", path) from exc
        return from_osm_graph(graph, speeds=speeds, use_maxspeed=use_maxspeed, source=str(path))
    roads = osm.read_roads(path, highways=osm.DRIVABLE if highways is None else frozenset(highways))
    return from_osm_roads(roads, speeds=speeds, use_maxspeed=use_maxspeed)
