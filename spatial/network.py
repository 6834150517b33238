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

import contextlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree
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


def _lines(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    m = gdf.to_crs(settings.METRIC_CRS).explode(index_parts=False)
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
    """Cut each line at the distances listed for it (metres along the line)."""
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


def _t_junction_cuts(lines: gpd.GeoDataFrame, kinds: np.ndarray, tol: float) -> tuple[dict, int]:
    """Where a line end touches another line's interior (within tol), cut that line."""
    geoms = lines.geometry.values
    ends = np.concatenate([shapely.get_point(geoms, 0), shapely.get_point(geoms, -1)])
    end_kind = np.concatenate([kinds, kinds])
    end_line = np.concatenate([np.arange(len(geoms)), np.arange(len(geoms))])
    tree = shapely.STRtree(geoms)
    pairs = tree.query(ends, predicate="dwithin", distance=tol)
    cuts: dict[int, list[float]] = {}
    count = 0
    for e, li in zip(*pairs):
        if li == end_line[e]:
            continue
        k_end, k_line = end_kind[e], kinds[li]
        # ordinary roads never split expressways and vice versa; ramps join both
        if {k_end, k_line} == {KIND_ROAD, KIND_EXPRESSWAY}:
            continue
        line = geoms[li]
        # an end already within tol of the line's own ends is joined by clustering instead
        if (shapely.distance(ends[e], shapely.get_point(line, 0)) <= tol
                or shapely.distance(ends[e], shapely.get_point(line, -1)) <= tol):
            continue
        d = shapely.line_locate_point(line, ends[e])
        if 0.01 < d < line.length - 0.01:
            cuts.setdefault(int(li), []).append(float(d))
            count += 1
    return cuts, count


def _cluster_ends(pieces: gpd.GeoDataFrame, start_kind: np.ndarray, end_kind: np.ndarray, tol: float):
    """Node ids for piece ends: ends within tol join, but never a road end with an expressway end."""
    geoms = pieces.geometry.values
    n = len(geoms)
    xy = np.vstack([shapely.get_coordinates(shapely.get_point(geoms, 0)),
                    shapely.get_coordinates(shapely.get_point(geoms, -1))])
    end_kind = np.concatenate([start_kind, end_kind])
    pairs = cKDTree(xy).query_pairs(tol, output_type="ndarray") if len(xy) else np.empty((0, 2), int)
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
    return _assemble(pieces, speeds, tolerance_m, scenario, entrance_rows, notes)


def from_osm_graph(graph, *, speeds: SpeedTable | None = None) -> Network:
    """Build a network from an OSMnx graph (one-way streets kept as OSM says).

    ``motorway`` edges are expressways, ``motorway_link`` ramps; entrances are the motorway
    nodes that an on-ramp joins, named after the nearest named ``motorway_junction``.
    """
    import osmnx as ox

    speeds = speeds or SpeedTable()
    g = ox.project_graph(graph, to_crs=settings.METRIC_CRS)
    nodes, edges = ox.graph_to_gdfs(g, nodes=True, edges=True)
    edges = edges.reset_index()
    # OSMnx merges ways into one edge and lists their values: take the slowest, so the answer
    # does not depend on the list's order (which follows Python's string hashing)
    def slowest(v):
        if not isinstance(v, list):
            return v
        known = [x for x in v if x in speeds.aliases or x in speeds.speeds]
        if not known:
            return sorted(map(str, v))[0]
        return min(sorted(known), key=lambda x: speeds.kmh([speeds.aliases.get(x, x)])[0])
    hw = edges["highway"].map(slowest)
    edges["grade"] = speeds.classify(hw, "OpenStreetMap", "highway")
    edges["name"] = edges.get("name", pd.Series([""] * len(edges))).map(
        lambda v: "/".join(v) if isinstance(v, list) else ("" if pd.isna(v) else str(v)))
    node_ids = nodes.index.to_numpy()
    pos = pd.Series(np.arange(len(node_ids)), index=node_ids)
    u, v = pos[edges["u"]].to_numpy(), pos[edges["v"]].to_numpy()
    kinds = np.where(edges["grade"] == EXPRESSWAY, KIND_EXPRESSWAY,
                     np.where(edges["grade"] == RAMP, KIND_RAMP, KIND_ROAD))
    kmh = speeds.kmh(edges["grade"])
    maxspeed = pd.to_numeric(edges.get("maxspeed", pd.Series(np.nan, index=edges.index)).map(
        lambda s: s[0] if isinstance(s, list) else s), errors="coerce")
    kmh = np.where(maxspeed.fillna(0).to_numpy() > 0, np.minimum(kmh, maxspeed.fillna(np.inf).to_numpy()), kmh)
    length = edges.geometry.length.to_numpy()
    minutes = length / (kmh * 1000.0 / 60.0)
    # OSM lists a two-way street as two directed edges with reversed geometry: make them one
    # piece with a forward and a backward edge, so a place snapped onto it can leave both ways
    twin = _reverse_twins(u, v, edges.geometry.values)
    keep = twin < 0
    keep |= np.arange(len(u)) < np.where(twin < 0, len(u), twin)     # the first of each pair
    piece_of = np.full(len(u), -1)
    piece_of[keep] = np.arange(keep.sum())
    piece_of[~keep] = piece_of[twin[~keep]]
    forward = keep.copy()
    pieces = gpd.GeoDataFrame({"name": edges["name"].to_numpy()[keep], "grade": edges["grade"].to_numpy()[keep],
                               "a": u[keep], "b": v[keep],
                               "expressway": (kinds == KIND_EXPRESSWAY)[keep], "ramp": (kinds == KIND_RAMP)[keep],
                               "kmh": kmh[keep], "minutes": minutes[keep]}, geometry=edges.geometry.values[keep],
                              crs=settings.METRIC_CRS)
    node_xy = np.column_stack([nodes.geometry.x.to_numpy(), nodes.geometry.y.to_numpy()])
    # entrances: expressway nodes with an incoming ramp edge
    on = np.unique(v[(kinds[np.arange(len(v))] == KIND_RAMP) & np.isin(v, u[kinds == KIND_EXPRESSWAY])])
    junctions = nodes[nodes.get("highway", pd.Series(index=nodes.index, dtype=object)) == "motorway_junction"]
    names = []
    for n in on:
        name = f"OSM node {node_ids[n]}"
        if len(junctions):
            d = np.hypot(junctions.geometry.x - node_xy[n, 0], junctions.geometry.y - node_xy[n, 1])
            j = int(np.argmin(d.to_numpy()))
            label = junctions.iloc[j].get("name") if "name" in junctions.columns else None
            if d.iloc[j] < 3000 and isinstance(label, str):
                name = label
        names.append(name)
    entrances = gpd.GeoDataFrame({"name": names, "phase": "existing", "node": on},
                                 geometry=gpd.points_from_xy(node_xy[on, 0], node_xy[on, 1]),
                                 crs=settings.METRIC_CRS)
    return Network(node_xy, pieces, u.astype(np.int64), v.astype(np.int64), minutes, piece_of.astype(np.int64),
                   forward, entrances,
                   [f"OpenStreetMap: {len(node_ids)} nodes, {len(edges)} directed edges"], "current")


@contextlib.contextmanager
def osm_node_names():
    """Keep node names (interchange names) when OSMnx reads OSM data."""
    import osmnx as ox

    before = list(ox.settings.useful_tags_node)
    ox.settings.useful_tags_node = sorted(set(before) | {"name", "ref", "highway"})
    try:
        yield
    finally:
        ox.settings.useful_tags_node = before


def _reverse_twins(u, v, geoms) -> np.ndarray:
    """For each directed edge, the index of its reverse twin (v→u, same line reversed), or -1."""
    twin = np.full(len(u), -1)
    first = shapely.get_coordinates(shapely.get_point(geoms, 0))
    last = shapely.get_coordinates(shapely.get_point(geoms, -1))
    n_coords = shapely.get_num_coordinates(geoms)
    length = np.round(shapely.length(geoms), 3)
    by_key: dict = {}
    for i in range(len(u)):
        by_key.setdefault((int(u[i]), int(v[i]), length[i], int(n_coords[i])), []).append(i)
    for i in range(len(u)):
        if twin[i] >= 0:
            continue
        for j in by_key.get((int(v[i]), int(u[i]), length[i], int(n_coords[i])), []):
            if j != i and twin[j] < 0 and np.allclose(first[i], last[j]) and np.allclose(last[i], first[j]):
                coords_i = shapely.get_coordinates(geoms[i])
                if np.allclose(coords_i, shapely.get_coordinates(geoms[j])[::-1]):
                    twin[i], twin[j] = j, i
                    break
    return twin


def from_osm_file(path, *, speeds: SpeedTable | None = None) -> Network:
    """Build a network from a local OpenStreetMap file, offline: ``.osm`` XML, ``.osm.pbf``
    (read with pyosmium), or the ``.graphml`` cached by ``qxg network fetch``."""
    import osmnx as ox

    name = str(path).lower()
    if not Path(path).exists():
        raise InputError("no such file", path)
    try:
        if name.endswith(".graphml"):
            graph = ox.load_graphml(path)
            return from_osm_graph(graph, speeds=speeds)
        with tempfile.TemporaryDirectory() as tmp:
            xml = _drivable_xml(Path(path), Path(tmp) / "roads.osm")
            with osm_node_names():
                graph = ox.graph_from_xml(str(xml), simplify=True, retain_all=True)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - OSMnx/XML/osmium errors come in many classes
        kind = "OpenStreetMap PBF" if name.endswith(".pbf") else "OpenStreetMap XML"
        raise InputError(f"cannot read as {kind}: {str(exc).splitlines()[0]}", path) from exc
    return from_osm_graph(graph, speeds=speeds)


#: OpenStreetMap highway values a car can use (footways, paths, cycleways, steps, proposed
#: and construction ways are left out, as are ways closed to motor traffic).
DRIVABLE = frozenset({"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
                      "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
                      "residential", "living_street", "road", "service", "track"})
_CLOSED = {"no", "private"}


def _drivable(tags) -> bool:
    if tags.get("highway") not in DRIVABLE or tags.get("area") == "yes":
        return False
    return not any(tags.get(k) in _CLOSED for k in ("access", "motor_vehicle", "motorcar", "vehicle"))


def _drivable_xml(src: Path, out: Path) -> Path:
    """The drivable highway ways of an OSM file (.osm.pbf or .osm) and their nodes, as .osm XML.

    Two passes: the first collects the node ids the kept ways use (in an osmium IdSet, a few
    bits per id), the second writes those nodes (with their tags, e.g. motorway_junction
    names) and the ways, in file order.
    """
    import osmium

    wanted = osmium.index.IdSet()
    ways = 0
    for way in osmium.FileProcessor(str(src), osmium.osm.WAY):
        if _drivable(way.tags):
            ways += 1
            for n in way.nodes:
                wanted.set(n.ref)
    if not ways:
        raise InputError("no drivable highway ways in this file", src)
    with osmium.SimpleWriter(str(out)) as writer:
        for obj in osmium.FileProcessor(str(src), osmium.osm.NODE | osmium.osm.WAY):
            if obj.is_node():
                if obj.id in wanted:
                    writer.add_node(obj)
            elif obj.is_way() and _drivable(obj.tags):
                writer.add_way(obj)
    return out
