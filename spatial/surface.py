"""Travel time over terrain, cell by cell: network times on the roads, walking off them.

The method follows WHO AccessMod 5 (a friction raster, Tobler's hiking function on slopes,
barriers, a cost-distance search with knight's moves as GRASS ``r.walk``) with one change that
matters in a karst district: roads are not burnt into the raster. A raster road can be entered
from any field beside it, so an expressway would serve every field it crosses. Here the roads
stay a network (entrances, one-way streets, as :mod:`spatial.access` routes them):

1. **Friction** (:func:`friction`): a grid in EPSG:4544 at ``resolution`` metres over the area,
   each cell with a walking speed on level ground — Tobler's 5.04 km/h
   (6·e^(−3.5·0.05)), or a land-cover class's speed from a speeds table — and, with a DEM, its
   elevation, so each move's speed follows Tobler's function of its own slope (uphill and
   downhill differ). Reservoirs, rivers (polygons or lines) and, if asked, everything outside
   the area are barriers.
2. **Seeds** (:func:`network_seeds`): the network times to the nearest facility at every node;
   every ordinary road piece reached is sampled every ``resolution / 3`` metres and each cell it
   crosses starts with the best time of its samples. Expressways and ramps seed nothing, so the
   fields beside an expressway are reached only through its entrances' roads. The facilities'
   own cells start at 0.
3. **Search** (:func:`spatial.gridsearch.search`): a 16-neighbour Dijkstra from the seeds over
   the friction.

:func:`travel_surface` does all three; the result (:class:`Surface`) gives minutes and the
nearest facility per cell, catchments, isochrones and coverage of area and population.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from affine import Affine
from rasterio import features

from . import settings
from .errors import InputError
from .gridsearch import TOBLER_FLAT_KMH, search

DEFAULT_RESOLUTION = 100.0
MIN_RESOLUTION = 10.0
MAX_CELLS = 40_000_000
DEFAULT_BANDS = (15.0, 30.0, 60.0)


# --------------------------------------------------------------------------- friction
@dataclass
class Friction:
    """Walking speed (km/h on level ground; 0 = barrier) and elevations on one metric grid."""

    speed: np.ndarray
    transform: Affine
    res: float
    inside: np.ndarray
    z: np.ndarray | None = None
    crs: str = settings.METRIC_CRS
    notes: list = field(default_factory=list)
    area_label: str = "the district boundary"

    @property
    def shape(self):
        return self.speed.shape

    def cells_of(self, x, y) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Row, column of metric points, and whether they fall on the grid."""
        col, row = ~self.transform * (np.asarray(x, float), np.asarray(y, float))
        row, col = np.floor(row).astype(np.int64), np.floor(col).astype(np.int64)
        ok = (row >= 0) & (row < self.shape[0]) & (col >= 0) & (col < self.shape[1])
        return row, col, ok

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        rows, cols = self.shape
        jj, ii = np.meshgrid(np.arange(cols) + 0.5, np.arange(rows) + 0.5)
        x, y = self.transform * (jj, ii)
        return np.asarray(x), np.asarray(y)


def _grid_for(shape: shapely.Geometry, res: float):
    """The grid read_dem uses for the same area and resolution (aligned to multiples of res)."""
    minx, miny, maxx, maxy = shape.bounds
    pad = 2 * res
    x0, y1 = math.floor((minx - pad) / res) * res, math.ceil((maxy + pad) / res) * res
    x1, y0 = math.ceil((maxx + pad) / res) * res, math.floor((miny - pad) / res) * res
    cols, rows = int(round((x1 - x0) / res)), int(round((y1 - y0) / res))
    return Affine(res, 0.0, x0, 0.0, -res, y1), (rows, cols)


def read_speeds(path) -> dict[str, float]:
    """A land-cover speeds table: CSV with columns ``class`` and ``kmh`` (0 = impassable)."""
    p = Path(path)
    try:
        table = pd.read_csv(p, dtype={"class": str}, encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError("no such speeds table", p) from exc
    except UnicodeDecodeError:
        table = pd.read_csv(p, dtype={"class": str}, encoding="gb18030")
    missing = [c for c in ("class", "kmh") if c not in table.columns]
    if missing:
        raise InputError(f"the speeds table needs columns class and kmh (missing {', '.join(missing)})", p)
    kmh = pd.to_numeric(table["kmh"], errors="coerce")
    bad = table.loc[kmh.isna() | (kmh < 0) | (kmh > 200), "class"].astype(str).tolist()
    if bad:
        raise InputError(f"speeds must be numbers of km/h from 0 to 200; not for class(es) {', '.join(bad[:5])}", p)
    return dict(zip(table["class"].astype(str).str.strip(), kmh.astype(float)))


def friction(area=None, *, resolution: float = DEFAULT_RESOLUTION, dem=None, layers=None,
             landcover=None, landcover_field: str | None = None, speeds: dict | None = None,
             barriers=(), boundary_barrier: bool = False, walk_kmh: float = TOBLER_FLAT_KMH) -> Friction:
    """The friction grid over ``area`` (default the district boundary).

    Parameters
    ----------
    resolution : float
        Cell size in metres (10–5000; 100 by default, 30 for a fine surface).
    dem : path(s), optional
        Elevations for Tobler's slope rule; without one the ground is taken as level (said in
        the notes).
    landcover : GeoDataFrame, raster path or polygon file, optional
        Classes whose level-ground walking speed ``speeds`` gives (class → km/h, 0 = barrier);
        unlisted classes walk at ``walk_kmh``.
    barriers : iterable of GeoDataFrames
        Polygons and lines that cannot be crossed (reservoirs, rivers).
    boundary_barrier : bool
        Nothing outside the area can be crossed (otherwise the neighbouring land is walked too).
    """
    from . import raster

    if not (isinstance(resolution, (int, float)) and math.isfinite(resolution)
            and MIN_RESOLUTION <= resolution <= 5000):
        raise InputError(f"resolution must be {MIN_RESOLUTION:g}–5000 metres, got {resolution!r}")
    if not walk_kmh > 0:
        raise InputError(f"walking speed must be positive, got {walk_kmh!r}")
    res = float(resolution)
    notes = []
    z = None
    if dem is not None:
        grid = raster.read_dem(dem if isinstance(dem, (list, tuple)) else [dem], area=area, layers=layers,
                               resolution=res, allow_partial=True)
        transform, shape = grid.transform, grid.shape
        inside = grid.inside
        z = grid.data.astype(np.float64)
        label = raster.area_geometry(area, layers)[1]
        notes += grid.notes
        notes.append("off-road walking: Tobler's hiking function on the slope of each move "
                     "(6·e^(−3.5·|tan θ + 0.05|) km/h; uphill and downhill differ)")
        if np.isnan(z[inside]).any():
            notes.append(f"{np.isnan(z[inside]).mean():.1%} of the cells have no elevation: walked as level ground")
    else:
        geom, label = raster.area_geometry(area, layers)
        transform, shape = _grid_for(geom, res)
        if shape[0] * shape[1] > MAX_CELLS:
            raise InputError(f"a {res:g} m grid over {label} would have {shape[0] * shape[1]:,} cells "
                             f"(limit {MAX_CELLS:,})", hint="use a coarser --resolution or a smaller --area")
        inside = features.geometry_mask([geom], out_shape=shape, transform=transform, invert=True,
                                        all_touched=True)
        tobler = " (Tobler's speed at 0°)" if abs(walk_kmh - TOBLER_FLAT_KMH) < 1e-9 else ""
        notes.append(f"no DEM: off-road walking on level ground at {walk_kmh:.2f} km/h everywhere{tobler}; "
                     "give --dem for slopes")
    speed = np.full(shape, float(walk_kmh))
    if landcover is not None:
        speed, lc_notes = _landcover_speeds(landcover, landcover_field, speeds or {}, transform, shape, walk_kmh)
        notes += lc_notes
    blocked = np.zeros(shape, bool)
    for b in barriers:
        if b is None or len(b) == 0:
            continue
        geoms = b.to_crs(settings.METRIC_CRS).geometry
        kinds = set(geoms.geom_type)
        usable = geoms[geoms.geom_type.isin(["Polygon", "MultiPolygon", "LineString", "MultiLineString"])]
        src = b.attrs.get("source", "barrier layer")
        if len(usable) == 0:
            notes.append(f"barriers: {src} holds {', '.join(sorted(kinds))} only — points cannot bar the way, "
                         "not used (give the water surfaces as polygons)")
            continue
        mask = features.geometry_mask(list(usable.values), out_shape=shape, transform=transform, invert=True,
                                      all_touched=True)
        blocked |= mask
        notes.append(f"barriers: {len(usable)} feature(s) of {src}, {int(mask.sum()):,} cells")
    if boundary_barrier:
        blocked |= ~inside
        notes.append(f"nothing outside {label} is crossed")
    speed = np.where(blocked, 0.0, speed)
    return Friction(speed=speed, transform=transform, res=res, inside=inside, z=z, notes=notes, area_label=label)


def _landcover_speeds(landcover, field_, speeds, transform, shape, walk_kmh):
    notes = []
    if isinstance(landcover, (str, Path)) and Path(landcover).suffix.lower() in (".tif", ".tiff"):
        import rasterio
        from rasterio.warp import Resampling, reproject

        with rasterio.open(landcover) as src:
            classes = np.full(shape, -999999, dtype=np.int64)
            reproject(rasterio.band(src, 1), classes, dst_transform=transform, dst_crs=settings.METRIC_CRS,
                      resampling=Resampling.nearest, dst_nodata=-999999)
        keys = np.where(classes == -999999, "", classes.astype(str))
        label = Path(landcover).name
    else:
        from . import load

        gdf = load.read_named(landcover) if isinstance(landcover, (str, Path)) else landcover
        label = gdf.attrs.get("source", "land cover")
        if field_ is None:
            raise InputError("give the land-cover class field (--landcover-field)", label)
        if field_ not in gdf.columns:
            raise InputError(f"no field {field_!r}; fields are {', '.join(map(str, gdf.columns[:12]))}", label)
        polys = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
        values = polys[field_].astype(str).str.strip()
        codes = {v: i + 1 for i, v in enumerate(sorted(set(values)))}
        raster_codes = features.rasterize(
            ((g, codes[v]) for g, v in zip(polys.to_crs(settings.METRIC_CRS).geometry.values, values)),
            out_shape=shape, transform=transform, fill=0, dtype="int32")
        names = np.array([""] + sorted(codes, key=codes.get), dtype=object)
        keys = names[raster_codes]
    speed = np.full(shape, float(walk_kmh))
    unknown = set()
    for cls in np.unique(keys):
        if cls == "":
            continue
        if cls in speeds:
            speed[keys == cls] = speeds[cls]
        else:
            unknown.add(cls)
    notes.append(f"land cover: {label}, {len(set(np.unique(keys)) - {''})} class(es); speeds from the table"
                 + (f"; no speed for {', '.join(sorted(unknown)[:8])}: walked at {walk_kmh:.2f} km/h" if unknown else ""))
    return speed, notes


# --------------------------------------------------------------------------- seeds from the network
def _piece_minutes(net):
    """Minutes of each piece forward (a→b) and backward (b→a); inf where that way is closed."""
    n = len(net.pieces)
    fwd = np.full(n, np.inf)
    bwd = np.full(n, np.inf)
    e_f = net.edge_forward
    np.minimum.at(fwd, net.edge_piece[e_f], net.edge_minutes[e_f])
    np.minimum.at(bwd, net.edge_piece[~e_f], net.edge_minutes[~e_f])
    return fwd, bwd


def network_seeds(fr: Friction, network, node_minutes: np.ndarray, node_label: np.ndarray, *,
                  inner_nodes: dict | None = None):
    """Seed times and labels of the cells the reached ordinary roads cross.

    ``node_minutes``/``node_label``: minutes to the nearest facility and its index at every
    node of ``network`` (and of the extra nodes where facilities were snapped, listed per piece
    in ``inner_nodes``: piece → (positions along it, node ids)).
    """
    seed = np.full(fr.shape, np.inf)
    label = np.full(fr.shape, -1, np.int64)
    pieces = network.pieces
    ordinary = ~(pieces["expressway"].to_numpy() | pieces["ramp"].to_numpy())
    fwd, bwd = _piece_minutes(network)
    a, b = pieces["a"].to_numpy(), pieces["b"].to_numpy()
    geoms = pieces.geometry.values
    length = shapely.length(geoms)
    step = fr.res / 3.0
    idx = np.flatnonzero(ordinary & (np.isfinite(node_minutes[a]) | np.isfinite(node_minutes[b])))
    if len(idx) == 0:
        return seed, label
    counts = np.maximum(2, np.ceil(length[idx] / step).astype(np.int64) + 1)
    piece_of = np.repeat(idx, counts)
    start = np.repeat(np.cumsum(counts) - counts, counts)
    k = np.arange(len(piece_of)) - start
    pos = k / (np.repeat(counts, counts) - 1) * length[piece_of]
    pts = shapely.line_interpolate_point(geoms[piece_of], pos)
    L = length[piece_of]
    times = np.full(len(pos), np.inf)
    labs = np.full(len(pos), -1, np.int64)
    inner = inner_nodes or {}
    plain = ~np.isin(piece_of, list(inner)) if inner else np.ones(len(pos), bool)
    # a point on a piece reaches a facility through either end, the way the piece may be driven
    with np.errstate(invalid="ignore"):
        via_b = (L - pos) / np.where(L > 0, L, 1) * fwd[piece_of] + node_minutes[b[piece_of]]
        via_a = pos / np.where(L > 0, L, 1) * bwd[piece_of] + node_minutes[a[piece_of]]
    take_b = via_b <= via_a
    times[plain] = np.where(take_b, via_b, via_a)[plain]
    labs[plain] = np.where(take_b, node_label[b[piece_of]], node_label[a[piece_of]])[plain]
    for p, (stations, nodes) in inner.items():
        sel = np.flatnonzero(piece_of == p)
        st = np.concatenate([[0.0], stations, [length[p]]])
        nd = np.concatenate([[a[p]], nodes, [b[p]]])
        seg = np.clip(np.searchsorted(st, pos[sel], side="right") - 1, 0, len(st) - 2)
        Lp = length[p] if length[p] > 0 else 1.0
        to_next = (st[seg + 1] - pos[sel]) / Lp * fwd[p] + node_minutes[nd[seg + 1]]
        to_prev = (pos[sel] - st[seg]) / Lp * bwd[p] + node_minutes[nd[seg]]
        nxt = to_next <= to_prev
        times[sel] = np.where(nxt, to_next, to_prev)
        labs[sel] = np.where(nxt, node_label[nd[seg + 1]], node_label[nd[seg]])
    row, col, ok = fr.cells_of(shapely.get_x(pts), shapely.get_y(pts))
    ok &= np.isfinite(times)
    flat = (row * fr.shape[1] + col)[ok]
    t, lab = times[ok], labs[ok]
    # the best time per cell (the last write of a descending order is the smallest)
    order = np.lexsort((flat, -t))
    s, lb = seed.ravel(), label.ravel()
    s[flat[order]] = t[order]
    lb[flat[order]] = lab[order]
    return seed, label


# --------------------------------------------------------------------------- the surface
@dataclass
class Surface:
    """Minutes to the nearest target and which target, per cell of the friction grid."""

    minutes: np.ndarray           # float64, inf where not reached
    nearest: np.ndarray           # int64 target index, -1 where not reached
    friction: Friction
    targets: gpd.GeoDataFrame     # EPSG:4490, the facilities (or entrances) in index order
    notes: list = field(default_factory=list)
    network: object = None
    node_minutes: np.ndarray | None = None

    @property
    def transform(self):
        return self.friction.transform

    @property
    def res(self):
        return self.friction.res

    def at(self, points: gpd.GeoDataFrame) -> np.ndarray:
        """Minutes at points (their cell's value; NaN off the grid or not reached)."""
        m = points.to_crs(settings.METRIC_CRS).geometry
        m = m.where(m.geom_type == "Point", m.representative_point())
        row, col, ok = self.friction.cells_of(m.x.to_numpy(), m.y.to_numpy())
        out = np.full(len(points), np.nan)
        v = self.minutes[row[ok], col[ok]]
        out[ok] = np.where(np.isfinite(v), v, np.nan)
        return out

    def clipped(self) -> np.ndarray:
        """Minutes inside the area, NaN elsewhere and where not reached (float32)."""
        out = np.where(self.friction.inside & np.isfinite(self.minutes), self.minutes, np.nan)
        return out.astype(np.float32)

    def write(self, path, *, overwrite: bool = False) -> Path:
        from .raster import write_raster

        return write_raster(self.clipped(), path, transform=self.transform, crs=settings.METRIC_CRS,
                            overwrite=overwrite, description="minutes to the nearest facility")

    def write_nearest(self, path, *, overwrite: bool = False) -> Path:
        from .raster import write_raster

        near = np.where(self.friction.inside & (self.nearest >= 0), self.nearest, -1).astype(np.int32)
        return write_raster(near, path, transform=self.transform, crs=settings.METRIC_CRS, nodata=-1,
                            dtype="int32", overwrite=overwrite, description="index of the nearest facility")

    def _polygons(self, codes: np.ndarray, mask: np.ndarray):
        shapes = features.shapes(codes.astype(np.int32), mask=mask, transform=self.transform, connectivity=4)
        by: dict[int, list] = {}
        for geom, value in shapes:
            by.setdefault(int(value), []).append(shapely.geometry.shape(geom))
        out = {}
        for value, parts in sorted(by.items()):
            g = shapely.make_valid(shapely.union_all(parts))
            out[value] = g
        return out

    def catchments(self) -> gpd.GeoDataFrame:
        """One polygon per target: the cells it is the nearest for (valid, dissolved)."""
        mask = self.friction.inside & (self.nearest >= 0)
        polys = self._polygons(np.where(mask, self.nearest, 0), mask)
        names = self._names()
        rows = []
        for i, g in polys.items():
            cells = mask & (self.nearest == i)
            mins = self.minutes[cells]
            rows.append({"target": names[i], "target_index": i, "area_km2": round(cells.sum() * self.res ** 2 / 1e6, 3),
                         "mean_minutes": round(float(mins.mean()), 2), "max_minutes": round(float(mins.max()), 2),
                         "geometry": g})
        return _frame(rows, ["target", "target_index", "area_km2", "mean_minutes", "max_minutes"])

    def isochrones(self, bands=DEFAULT_BANDS) -> gpd.GeoDataFrame:
        """One dissolved polygon per band: every cell within that many minutes (valid)."""
        bands = sorted(float(b) for b in bands)
        if not bands or bands[0] <= 0:
            raise InputError("isochrone bands must be positive minutes")
        rows = []
        for b in bands:
            mask = self.friction.inside & (self.minutes <= b)
            if not mask.any():
                rows.append({"minutes": b, "area_km2": 0.0, "geometry": shapely.Polygon()})
                continue
            g = self._polygons(mask.astype(np.int32), mask).get(1, shapely.Polygon())
            rows.append({"minutes": b, "area_km2": round(mask.sum() * self.res ** 2 / 1e6, 3), "geometry": g})
        return _frame(rows, ["minutes", "area_km2"])

    def _names(self):
        t = self.targets
        return t["name"].astype(str).to_numpy() if "name" in t.columns else np.array([f"target {i}" for i in range(len(t))])

    def coverage(self, townships: gpd.GeoDataFrame | None = None, bands=DEFAULT_BANDS, *,
                 population: np.ndarray | None = None, name_field: str = "name") -> pd.DataFrame:
        """Share of area (and of people, with a population grid) within each band, per
        township and in total."""
        inside = self.friction.inside
        cell_km2 = self.res ** 2 / 1e6
        zones = np.zeros(self.minutes.shape, np.int32)
        names: list[str] = []
        if townships is not None and len(townships):
            tm = townships.to_crs(settings.METRIC_CRS)
            zones = features.rasterize(((g, i + 1) for i, g in enumerate(tm.geometry.values)),
                                       out_shape=self.minutes.shape, transform=self.transform, fill=0,
                                       dtype="int32")
            names = tm[name_field].astype(str).tolist() if name_field in tm.columns else [str(i) for i in range(len(tm))]
        # one pass per band over the cells inside: counts and people per zone (0 = no township)
        z = zones[inside]
        n_z = len(names) + 1
        m = self.minutes[inside]
        cells = np.bincount(z, minlength=n_z)
        people = np.bincount(z, weights=population[inside], minlength=n_z) if population is not None else None
        within_cells = {b: np.bincount(z[m <= b], minlength=n_z) for b in bands}
        within_people = ({b: np.bincount(z[m <= b], weights=population[inside][m <= b], minlength=n_z)
                          for b in bands} if population is not None else {})
        rows = []
        groups = [(n, slice(i + 1, i + 2)) for i, n in enumerate(names)] + [("合计", slice(0, n_z))]
        for name, sel in groups:
            n_cells = int(cells[sel].sum())
            row = {"name": name, "area_km2": round(n_cells * cell_km2, 3)}
            pop_total = float(people[sel].sum()) if people is not None else None
            if people is not None:
                row["population"] = round(pop_total, 1)
            for b in bands:
                row[f"area_within_{b:g}min_pct"] = round(100.0 * int(within_cells[b][sel].sum()) / max(1, n_cells), 2)
                if people is not None:
                    row[f"pop_within_{b:g}min_pct"] = round(100.0 * float(within_people[b][sel].sum()) / pop_total, 2) \
                        if pop_total else np.nan
            rows.append(row)
        return pd.DataFrame(rows)


def _frame(rows, cols):
    if not rows:
        return gpd.GeoDataFrame({c: [] for c in cols}, geometry=[], crs=settings.METRIC_CRS).to_crs(settings.STORAGE_CRS)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=settings.METRIC_CRS).to_crs(settings.STORAGE_CRS)


def travel_surface(targets, network=None, *, fr: Friction | None = None, access_kmh: float = 15.0,
                   limit: float = np.inf, max_access_m: float | None = None, neighbours: int = 16,
                   **friction_options) -> Surface:
    """Minutes from every cell to the nearest target: network times on the roads, walking off them.

    Parameters
    ----------
    targets : GeoDataFrame or "entrances"
        Facility points (any CRS), or the network's expressway entrances.
    network : Network, optional
        Roads to drive on; without one, everything is walked.
    fr : Friction, optional
        A friction grid already built (else :func:`friction` with ``friction_options``).
    access_kmh : float
        Speed of the straight leg between a facility and its road, as the network method uses.
    limit : float
        Minutes beyond which the search stops.
    """
    from . import access as acc

    fr = fr or friction(**friction_options)
    notes = list(fr.notes)
    seed = np.full(fr.shape, np.inf)
    label = np.full(fr.shape, -1, np.int64)
    node_minutes = None
    inner: dict = {}
    if isinstance(targets, str) and targets == "entrances":
        from .router import Router

        if network is None or len(network.entrances) == 0:
            raise InputError("no expressway entrances to time to")
        ent = network.entrances
        targets_gdf = gpd.GeoDataFrame(ent.drop(columns="geometry"), geometry=ent.geometry.values,
                                       crs=network.crs).to_crs(settings.STORAGE_CRS)
        t_nodes = ent["node"].to_numpy(np.int64)
        xy = network.node_xy[t_nodes]
        node_minutes, node_label = Router.from_network(network).to_nearest(t_nodes, np.zeros(len(t_nodes)))
    else:
        if len(targets) == 0:
            raise InputError("the facility layer has no features", targets.attrs.get("source"))
        targets_gdf = targets.to_crs(settings.STORAGE_CRS).reset_index(drop=True)
        xy = acc._points_metric(targets, "facilities", settings.METRIC_CRS)
        if network is not None:
            snapped = acc.snap_points(network, xy)
            acc.check_covered(network, snapped.access_m, targets, "facilities", max_access_m)
            per_min = access_kmh * 1000.0 / 60.0
            node_minutes, node_label = snapped.router().to_nearest(snapped.node, snapped.access_m / per_min)
            # facilities snapped inside a piece: its stations, so times along it stay exact
            for p in np.unique(snapped.piece):
                sel = np.flatnonzero((snapped.piece == p) & (snapped.node >= network.n_nodes))
                if len(sel):
                    order = np.argsort(snapped.along_m[sel], kind="stable")
                    pos, nodes = snapped.along_m[sel][order], snapped.node[sel][order]
                    pos, first = np.unique(np.round(pos, 6), return_index=True)
                    inner[int(p)] = (pos, nodes[first])
    if network is not None and node_minutes is not None:
        s, lab = network_seeds(fr, network, node_minutes, node_label, inner_nodes=inner)
        seed, label = s, lab
        notes.append(f"roads: network times seed {int(np.isfinite(seed).sum()):,} cells along the reached "
                     "ordinary roads (expressways and ramps seed none: the land beside them is reached "
                     "through the entrances' roads)")
    else:
        notes.append("walked only (no roads used for these targets)")
    row, col, ok = fr.cells_of(xy[:, 0], xy[:, 1])
    for i in np.flatnonzero(ok):
        if seed[row[i], col[i]] > 0 or label[row[i], col[i]] != i:
            seed[row[i], col[i]] = 0.0
            label[row[i], col[i]] = i
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} target(s) lie outside the grid and seed only through the roads")
    blocked = (fr.speed[row[ok], col[ok]] <= 0)
    if blocked.any():
        notes.append(f"{int(blocked.sum())} target(s) stand on barrier cells and seed only through the roads")
    minutes, nearest = search(fr.speed, seed, label, res=fr.res, z=fr.z, limit=limit, neighbours=neighbours)
    return Surface(minutes=minutes, nearest=nearest, friction=fr, targets=targets_gdf, notes=notes,
                   network=network, node_minutes=node_minutes)


# --------------------------------------------------------------------------- population
def population_grid(fr: Friction, *, raster_path=None, townships: gpd.GeoDataFrame | None = None,
                    field_: str = "population", weights=None) -> tuple[np.ndarray, str]:
    """People per cell: from a population raster (summed onto the grid), or a township table
    spread over each township's cells (uniformly, or in proportion to a weight raster)."""
    import rasterio
    from rasterio.warp import Resampling, reproject

    def onto_grid(path, resampling):
        with rasterio.open(path) as src:
            out = np.zeros(fr.shape, np.float64)
            reproject(rasterio.band(src, 1), out, dst_transform=fr.transform, dst_crs=settings.METRIC_CRS,
                      resampling=resampling, src_nodata=src.nodata, dst_nodata=0.0)
        return np.nan_to_num(out, nan=0.0)

    if raster_path is not None:
        pop = onto_grid(raster_path, Resampling.sum)
        return np.where(fr.inside, np.maximum(pop, 0.0), 0.0), f"population: {Path(raster_path).name}, summed onto the grid"
    if townships is None or field_ not in townships.columns:
        raise InputError(f"no population: give a population raster, or townships with a {field_!r} field")
    people = pd.to_numeric(townships[field_], errors="coerce").fillna(0).to_numpy()
    zones = features.rasterize(((g, i + 1) for i, g in enumerate(townships.to_crs(settings.METRIC_CRS).geometry.values)),
                               out_shape=fr.shape, transform=fr.transform, fill=0, dtype="int32")
    zones = np.where(fr.inside, zones, 0)
    w = onto_grid(weights, Resampling.average) if weights is not None else np.ones(fr.shape)
    w = np.where(zones > 0, np.maximum(w, 0.0), 0.0)
    totals = np.bincount(zones.ravel(), weights=w.ravel(), minlength=len(townships) + 1)
    share = np.where(totals[zones] > 0, w / np.where(totals[zones] > 0, totals[zones], 1), 0.0)
    pop = share * np.concatenate([[0.0], people])[zones]
    how = f"in proportion to {Path(weights).name}" if weights is not None else "uniformly"
    return pop, f"population: the townships' {field_} spread {how} over their cells"


# --------------------------------------------------------------------------- capacity
def allocate_capacity(facilities: gpd.GeoDataFrame, population: np.ndarray, fr: Friction, network=None, *,
                      capacity_field: str = "capacity", max_minutes: float = 60.0, per_unit: float = 1.0,
                      access_kmh: float = 15.0) -> tuple[pd.DataFrame, np.ndarray]:
    """AccessMod's geographic coverage with capacity: facilities, largest first, serve the
    people nearest to them in order of travel time until full (``capacity × per_unit`` people)
    or ``max_minutes``; the people served are removed before the next facility.

    Returns one row per facility (capacity, people served, minutes of the last served, full?)
    and the people left unserved per cell.
    """
    if capacity_field not in facilities.columns:
        raise InputError(f"the facilities have no {capacity_field!r} field", facilities.attrs.get("source"))
    raw = facilities[capacity_field]
    num = pd.to_numeric(raw, errors="coerce")
    if num.notna().sum() == 0:
        some = ", ".join(map(str, raw.dropna().astype(str).unique()[:3]))
        raise InputError(f"the capacity field {capacity_field!r} holds no numbers (e.g. {some or 'nothing'})",
                         facilities.attrs.get("source"), hint="name a field of beds or doctors")
    if (num < 0).any():
        raise InputError(f"the capacity field {capacity_field!r} has negative values", facilities.attrs.get("source"))
    if num.isna().any():
        import warnings

        from .errors import InputWarning
        warnings.warn(f"{int(num.isna().sum())} facility(ies) have no number in {capacity_field!r}: capacity 0",
                      InputWarning, stacklevel=2)
    cap = num.fillna(0).to_numpy() * per_unit
    left = population.astype(np.float64).copy()
    order = np.argsort(-cap, kind="stable")
    names = facilities["name"].astype(str).to_numpy() if "name" in facilities.columns else np.arange(len(facilities)).astype(str)
    rows = []
    for i in order:
        one = facilities.iloc[[i]]
        s = travel_surface(one, network, fr=fr, access_kmh=access_kmh, limit=max_minutes)
        reach = np.isfinite(s.minutes) & (left > 0) & fr.inside
        idx = np.flatnonzero(reach.ravel())
        t = s.minutes.ravel()[idx]
        o = np.lexsort((idx, t))
        idx, t = idx[o], t[o]
        people = left.ravel()[idx]
        cum = np.cumsum(people)
        full = cum >= cap[i] if len(cum) else np.array([], bool)
        if len(cum) and full.any():
            k = int(np.argmax(full))
            take = people.copy()
            take[k + 1:] = 0.0
            take[k] = cap[i] - (cum[k - 1] if k > 0 else 0.0)
            last = float(t[k])
        else:
            take = people
            last = float(t[-1]) if len(t) else np.nan
        flat = left.ravel()
        flat[idx] -= take
        served = float(take.sum())
        rows.append({"name": names[i], "capacity": cap[i] / per_unit, "people_capacity": cap[i],
                     "served": round(served, 1), "full": bool(len(cum) and cum[-1] >= cap[i]),
                     "minutes_of_last_served": round(last, 2) if np.isfinite(last) else np.nan})
    table = pd.DataFrame(rows)
    return table, left


# --------------------------------------------------------------------------- health circles
def health_circles(facilities: gpd.GeoDataFrame, road_net, fr: Friction, *, urban: np.ndarray,
                   urban_minutes: float = 15.0, rural_minutes: float = 30.0) -> tuple[gpd.GeoDataFrame, list]:
    """The 15-minute urban (on foot) and 30-minute rural (by road, then on foot) health circles
    from travel-time surfaces, in the schema of :func:`spatial.coverage.health_circles`.

    Each facility's polygon is the part of its circle where it is also the nearest facility of
    its group, so the polygons of a group do not overlap; their union is what the group covers.
    """
    pts = facilities.to_crs(settings.STORAGE_CRS).reset_index(drop=True)
    parts, notes = [], []
    for is_urban, minutes, mode, net in ((True, urban_minutes, "步行", None), (False, rural_minutes, "车行", road_net)):
        sel = np.flatnonzero(urban == is_urban)
        if len(sel) == 0:
            continue
        group = pts.iloc[sel].reset_index(drop=True)
        s = travel_surface(group, net, fr=fr, limit=minutes)
        notes += [n for n in s.notes if n not in notes]
        mask = fr.inside & (s.minutes <= minutes) & (s.nearest >= 0)
        polys = s._polygons(np.where(mask, s.nearest, 0), mask) if mask.any() else {}
        geoms = [polys.get(i, shapely.Polygon()) for i in range(len(group))]
        out = gpd.GeoDataFrame(group.drop(columns="geometry"),
                               geometry=gpd.GeoSeries(geoms, crs=settings.METRIC_CRS).to_crs(settings.STORAGE_CRS).values,
                               crs=settings.STORAGE_CRS)
        out["minutes"] = minutes
        out["setting"] = "urban" if is_urban else "rural"
        out["mode"] = mode
        parts.append(out)
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=settings.STORAGE_CRS), notes


def site_matrix(candidates: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, road_net, fr: Friction, *,
                urban: np.ndarray, urban_minutes: float = 15.0, rural_minutes: float = 30.0) -> np.ndarray:
    """Which demand points each candidate site would cover (demand × candidates, bool), from its
    own surface: on foot within ``urban_minutes`` for urban candidates, by road and on foot within
    ``rural_minutes`` for the others — the coverage matrix :func:`spatial.coverage.choose_sites`
    (maximal covering) takes."""
    cand = candidates.to_crs(settings.STORAGE_CRS).reset_index(drop=True)
    cover = np.zeros((len(demand), len(cand)), bool)
    for i in range(len(cand)):
        minutes = urban_minutes if urban[i] else rural_minutes
        s = travel_surface(cand.iloc[[i]], None if urban[i] else road_net, fr=fr, limit=minutes)
        t = s.at(demand)
        cover[:, i] = np.isfinite(t) & (t <= minutes)
    return cover
