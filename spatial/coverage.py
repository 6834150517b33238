"""Service coverage: buffers, network service areas (health circles), coverage statistics,
gaps, and where to add facilities (maximal covering location).

Distances are metres in EPSG:4544, never degrees. Population comes from township figures
(spread evenly over the township's area) or from a population raster such as a WorldPop
GeoTIFF, summed with rasterio at cell centres; the vector layers are transformed to the
raster's coordinate system, never the raster resampled (that would change the counts).
"""
from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .access import isochrones, snap_points
from .errors import InputError
from .network import Network
from .overlay import pair_measures, tile

WALK_KMH = 4.5
_UNITS = {"m": 1.0, "米": 1.0, "km": 1000.0, "公里": 1000.0, "千米": 1000.0}


def parse_distance(text) -> float:
    """'500m', '1.5 km', '300米', '2公里' → metres. A bare number is an error (which unit?)."""
    if isinstance(text, (int, float)):
        raise InputError(f"distance {text} has no unit; write {text}m or {text}km")
    if re.fullmatch(r"\s*-\s*[0-9.]+.*", str(text)):
        raise InputError(f"distance must be positive, got {text!r}")
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(m|km|米|公里|千米)?\s*", str(text))
    if not m:
        raise InputError(f"cannot read distance {text!r}; write e.g. 500m or 1.5km")
    if m.group(2) is None:
        raise InputError(f"distance {text!r} has no unit: metres ({m.group(1)}m) or kilometres ({m.group(1)}km)?")
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if value <= 0:
        raise InputError(f"distance must be positive, got {text!r}")
    return value


def buffers(gdf: gpd.GeoDataFrame, distance_m: float, *, dissolve: bool = False,
            quad_segs: int = 16) -> gpd.GeoDataFrame:
    """Buffer each feature by ``distance_m`` metres (in EPSG:4544); optionally dissolve them.

    Returned in EPSG:4490 with ``distance_m`` and ``area_km2``.
    """
    if distance_m <= 0:
        raise InputError(f"buffer distance must be positive, got {distance_m}")
    if len(gdf) == 0:
        raise InputError("the layer has no features to buffer", gdf.attrs.get("source"))
    m = gdf.to_crs(settings.METRIC_CRS)
    geoms = m.geometry.values
    if dissolve:
        shape = union_buffers(geoms, distance_m, quad_segs)
        out = gpd.GeoDataFrame({"distance_m": [distance_m]}, geometry=[shape], crs=settings.METRIC_CRS)
    else:
        out = m.copy()
        out["distance_m"] = distance_m
        out = out.set_geometry(shapely.buffer(geoms, distance_m, quad_segs=quad_segs))
    out["area_km2"] = (out.geometry.area / 1e6).round(4)
    return out.to_crs(settings.STORAGE_CRS)


def union_buffers(geoms, distance_m: float, quad_segs: int = 16):
    """The union of the buffers of many geometries (GEOS cascaded union over an STRtree).

    Buffering a MultiPoint or unioning in spatial chunks was tried and measured slower
    (``scripts/bench_coverage.py``); this is what ``dissolve`` does too.
    """
    geoms = np.asarray(geoms, dtype=object)
    geoms = geoms[~(shapely.is_missing(geoms) | shapely.is_empty(geoms))]
    if len(geoms) == 0:
        return shapely.Polygon()
    return shapely.union_all(shapely.buffer(geoms, distance_m, quad_segs=quad_segs))


def protection_zones(sources: gpd.GeoDataFrame, first_m: float, second_m: float,
                     *, quad_segs: int = 32) -> gpd.GeoDataFrame:
    """Drinking-water source protection zones as rings around the given sources.

    ``first_m`` is the radius of the first-level zone (一级保护区), ``second_m`` how far the
    second-level zone (二级保护区) reaches beyond its edge (so its outer radius is
    ``first_m + second_m``). HJ 338-2018 sets these by source type and
    size and local 划分方案 refine them; the toolkit has no default, so both must be given.
    """
    if not (first_m > 0 and second_m > 0):
        raise InputError("both protection distances must be positive")
    m = sources.to_crs(settings.METRIC_CRS)
    first = shapely.buffer(m.geometry.values, first_m, quad_segs=quad_segs)
    outer = shapely.buffer(m.geometry.values, first_m + second_m, quad_segs=quad_segs)
    # the second-level zone is what lies beyond every source's first-level zone
    second = shapely.difference(outer, shapely.union_all(first))
    names = m["name"].astype(str).to_numpy() if "name" in m.columns else np.array([""] * len(m))
    out = gpd.GeoDataFrame({"name": np.concatenate([names, names]),
                            "level": ["一级保护区"] * len(m) + ["二级保护区"] * len(m),
                            "distance_m": [first_m] * len(m) + [first_m + second_m] * len(m)},
                           geometry=np.concatenate([first, second]), crs=settings.METRIC_CRS)
    out["area_km2"] = (out.geometry.area / 1e6).round(4)
    return out.to_crs(settings.STORAGE_CRS)


# --------------------------------------------------------------------------- network service areas
def walking(net: Network, kmh: float = WALK_KMH) -> Network:
    """The same roads walked: both directions, no expressways or ramps, ``kmh`` everywhere."""
    if kmh <= 0:
        raise InputError(f"walking speed must be positive, got {kmh}")
    p = net.pieces
    ok = ~(p["expressway"].to_numpy() | p["ramp"].to_numpy())
    idx = np.flatnonzero(ok)
    minutes = p.geometry.length.to_numpy()[idx] / (kmh * 1000.0 / 60.0)
    a, b = p["a"].to_numpy()[idx], p["b"].to_numpy()[idx]
    pieces = p.copy()
    pieces["minutes"] = p.geometry.length.to_numpy() / (kmh * 1000.0 / 60.0)
    return Network(net.node_xy, pieces, np.concatenate([a, b]), np.concatenate([b, a]),
                   np.concatenate([minutes, minutes]), np.concatenate([idx, idx]),
                   np.concatenate([np.ones(len(idx), bool), np.zeros(len(idx), bool)]),
                   net.entrances.iloc[:0], list(net.notes) + [f"walking at {kmh:g} km/h"], net.scenario,
                   net.crs, None, net.source, net.node_id)


def service_areas(facilities: gpd.GeoDataFrame, network: Network, minutes: float, *,
                  access_kmh: float = WALK_KMH, buffer_m: float = 300.0,
                  offroad: bool = False) -> gpd.GeoDataFrame:
    """One polygon per facility: what it reaches within ``minutes`` over ``network``.

    ``offroad``: the land beside reached roads counts as far as the time left carries someone
    across country at ``access_kmh`` (as :func:`coverage_matrix` counts it); otherwise a
    ``buffer_m`` corridor along the reached roads.
    """
    if minutes <= 0:
        raise InputError(f"minutes must be positive, got {minutes}")
    if len(facilities) == 0:
        raise InputError("the facility layer has no features", facilities.attrs.get("source"))
    geoms = []
    for i in range(len(facilities)):
        band = isochrones(facilities.iloc[[i]], network, bands=(minutes,), access_kmh=access_kmh,
                          buffer_m=buffer_m, offroad_kmh=access_kmh if offroad else None)
        geoms.append(band.geometry.iloc[0])
    out = facilities.to_crs(settings.STORAGE_CRS).copy()
    out = out.set_geometry(gpd.GeoSeries(geoms, index=out.index, crs=settings.STORAGE_CRS))
    out["minutes"] = minutes
    return out


def urban_mask(points: gpd.GeoDataFrame, urban_boundary: gpd.GeoDataFrame | None = None) -> np.ndarray:
    """Which points count as urban (measured on foot): their ``setting`` field says urban
    (城市, 城区) when they have one, else they lie inside ``urban_boundary``."""
    if "setting" in points.columns:
        return points["setting"].astype(str).isin(["urban", "城市", "城区"]).to_numpy()
    if urban_boundary is None or not len(urban_boundary):
        return np.zeros(len(points), bool)
    area = urban_boundary.to_crs(settings.STORAGE_CRS).union_all()
    return points.to_crs(settings.STORAGE_CRS).within(area).to_numpy()


def health_circles(facilities: gpd.GeoDataFrame, road_net: Network, *, urban: np.ndarray | None = None,
                   urban_boundary: gpd.GeoDataFrame | None = None, urban_minutes: float = 15.0,
                   rural_minutes: float = 30.0, walk_kmh: float = WALK_KMH, buffer_m: float = 300.0,
                   access_kmh: float = 15.0, offroad: bool = True):
    """15-minute urban (on foot) and 30-minute rural (by road) health service circles.

    With ``offroad`` (default) the land beside reached roads is covered as far as the time
    left carries someone across country (on foot in town, at ``access_kmh`` in the
    countryside), the same rule :func:`coverage_matrix` applies to candidate sites; without
    it, a ``buffer_m`` corridor along the reached roads.

    A facility is urban when ``urban`` says so, else when its ``setting`` field is ``urban``
    (城市), else when it lies inside ``urban_boundary``.
    """
    if urban_minutes <= 0 or rural_minutes <= 0:
        raise InputError("urban and rural minutes must be positive")
    pts = facilities.to_crs(settings.STORAGE_CRS)
    pts = pts[pts.geom_type == "Point"] if len(pts) else pts
    if len(pts) == 0:
        raise InputError("the facility layer has no points", facilities.attrs.get("source"))
    if urban is None:
        urban = urban_mask(pts, urban_boundary)
    parts = []
    if urban.any():
        u = service_areas(pts[urban], walking(road_net, walk_kmh), urban_minutes, access_kmh=walk_kmh,
                          buffer_m=buffer_m, offroad=offroad)
        parts.append(u.assign(setting="urban", mode="步行"))
    if (~urban).any():
        r = service_areas(pts[~urban], road_net, rural_minutes, access_kmh=access_kmh, buffer_m=buffer_m,
                          offroad=offroad)
        parts.append(r.assign(setting="rural", mode="车行"))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=settings.STORAGE_CRS)


# --------------------------------------------------------------------------- statistics
def facility_counts(places: gpd.GeoDataFrame, areas: gpd.GeoDataFrame) -> np.ndarray:
    """How many service areas contain each place (point or representative point)."""
    pts = places.to_crs(settings.STORAGE_CRS).geometry
    pts = pts.where(pts.geom_type == "Point", pts.representative_point()).values
    polys = areas.to_crs(settings.STORAGE_CRS).geometry.values
    shapely.prepare(polys)
    pi, _ = shapely.STRtree(polys).query(pts, predicate="within")
    return np.bincount(pi, minlength=len(pts))


def zonal_population(raster_path, zones: gpd.GeoDataFrame, covered=None) -> pd.DataFrame:
    """Population per zone (and within ``covered``) summed from a raster at cell centres.

    The zones (and the covered area) are transformed to the raster's CRS; a raster that
    does not cover them is an error naming both extents.
    """
    import rasterio
    from rasterio import features, windows

    path = Path(raster_path)
    if not path.exists():
        raise InputError("no such population raster", path)
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read as a raster: {str(exc).splitlines()[0]}", path) from exc
    with src:
        if src.crs is None:
            raise InputError("population raster has no coordinate system", path)
        z = zones.to_crs(src.crs)
        zb = z.total_bounds
        rb = src.bounds
        if zb[0] < rb.left or zb[2] > rb.right or zb[1] < rb.bottom or zb[3] > rb.top:
            raise InputError(f"population raster covers ({rb.left:.4f}, {rb.bottom:.4f}, {rb.right:.4f}, "
                             f"{rb.top:.4f}) but the zones reach ({zb[0]:.4f}, {zb[1]:.4f}, {zb[2]:.4f}, "
                             f"{zb[3]:.4f}) in {src.crs.to_string()}: it does not cover them", path)
        w = windows.from_bounds(*zb, transform=src.transform)
        c0, r0 = int(np.floor(w.col_off)), int(np.floor(w.row_off))
        c1, r1 = int(np.ceil(w.col_off + w.width)), int(np.ceil(w.row_off + w.height))
        win = windows.Window(c0, r0, c1 - c0, r1 - r0).intersection(windows.Window(0, 0, src.width, src.height))
        data = src.read(1, window=win, masked=True).filled(0).astype(float)
        data[~np.isfinite(data)] = 0
        data[data < 0] = 0
        transform = src.window_transform(win)
        shape = data.shape
        ids = features.rasterize(((g, i + 1) for i, g in enumerate(z.geometry.values)), out_shape=shape,
                                 transform=transform, fill=0, dtype="int32")
        out = pd.DataFrame({"population": np.bincount(ids.ravel(), weights=data.ravel(),
                                                      minlength=len(z) + 1)[1:]}, index=zones.index)
        if covered is not None:
            cov = gpd.GeoSeries([covered], crs=settings.STORAGE_CRS).to_crs(src.crs).iloc[0]
            mask = features.rasterize([(cov, 1)], out_shape=shape, transform=transform, fill=0, dtype="uint8") \
                if not cov.is_empty else np.zeros(shape, "uint8")
            out["covered_population"] = np.bincount(ids.ravel(), weights=(data * mask).ravel(),
                                                    minlength=len(z) + 1)[1:]
    return out


def coverage_stats(areas: gpd.GeoDataFrame, townships: gpd.GeoDataFrame, *, population_raster=None,
                   population_field: str = "population"):
    """Per township: area covered (km², %), population covered, and the uncovered gaps.

    Returns ``(table, gaps)``; gaps are polygons (EPSG:4490) with ``township`` and ``area_km2``.
    """
    if len(townships) == 0:
        raise InputError("no township polygons to compute coverage over")
    tz = townships.to_crs(settings.METRIC_CRS)
    covered = shapely.union_all(areas.to_crs(settings.METRIC_CRS).geometry.values) if len(areas) \
        else shapely.Polygon()
    geoms = tz.geometry.values
    area = shapely.area(geoms)
    # the covered area is cut into tiles so each township meets only small, simple pieces
    parts = tile(covered)
    pm = pair_measures(gpd.GeoSeries(geoms), gpd.GeoSeries(parts))
    cov_area = np.minimum(np.bincount(pm["feature"].astype(int), weights=pm["area_m2"], minlength=len(geoms)), area) \
        if len(pm) else np.zeros(len(geoms))
    table = pd.DataFrame({"name": tz["name"].astype(str).to_numpy() if "name" in tz.columns else np.arange(len(tz)),
                          "area_km2": (area / 1e6).round(3), "covered_km2": (cov_area / 1e6).round(3),
                          "covered_pct": np.round(np.where(area > 0, cov_area / area * 100, 0), 2)})
    if population_raster is not None:
        covered_wgs = gpd.GeoSeries([covered], crs=settings.METRIC_CRS).to_crs(settings.STORAGE_CRS).iloc[0]
        pop = zonal_population(population_raster, townships.to_crs(settings.STORAGE_CRS), covered_wgs)
        table["population"] = pop["population"].round(0).to_numpy()
        table["covered_population"] = pop["covered_population"].round(0).to_numpy()
        table["population_source"] = f"raster {Path(population_raster).name}"
    elif population_field in townships.columns:
        popv = pd.to_numeric(townships[population_field], errors="coerce").to_numpy()
        table["population"] = popv
        table["covered_population"] = np.round(popv * np.where(area > 0, cov_area / area, 0), 0)
        table["population_source"] = "township figure spread evenly over its area"
    if "population" in table.columns:
        p = table["population"].to_numpy(dtype=float)
        table["covered_pop_pct"] = np.round(np.where(p > 0, table["covered_population"] / np.where(p > 0, p, 1) * 100, np.nan), 2)
    gap_geoms = np.array(geoms, dtype=object)
    full = cov_area >= area * (1 - 1e-9)
    gap_geoms[full] = shapely.Polygon()
    if len(pm):
        partial = pm[~full[pm["feature"].astype(int).to_numpy()]]
        counts = partial["feature"].value_counts()
        single = partial[partial["feature"].map(counts) == 1]
        f1 = single["feature"].astype(int).to_numpy()
        gap_geoms[f1] = shapely.difference(geoms[f1], parts[single["zone"].astype(int).to_numpy()])
        for i, zs in partial[partial["feature"].map(counts) > 1].groupby("feature")["zone"]:
            gap_geoms[int(i)] = shapely.difference(geoms[int(i)], shapely.union_all(parts[zs.astype(int).to_numpy()]))
    from .load import make_valid_same_dimension

    # cell-edged circles (the surface method) leave gaps whose corners touch: made valid here
    gap_geoms = make_valid_same_dimension(np.asarray(gap_geoms, dtype=object))
    gaps = gpd.GeoDataFrame({"township": table["name"].to_numpy()}, geometry=gap_geoms, crs=settings.METRIC_CRS)
    gaps = gaps[~gaps.geometry.is_empty].explode(index_parts=False)
    gaps = gaps[gaps.geom_type == "Polygon"]
    gaps = gaps[gaps.geometry.area > 1.0].reset_index(drop=True)
    gaps["area_km2"] = (gaps.geometry.area / 1e6).round(4)
    gaps = gaps.to_crs(settings.STORAGE_CRS)
    bad = ~gaps.is_valid
    if bad.any():
        gaps.loc[bad, "geometry"] = make_valid_same_dimension(gaps.geometry.values[bad.to_numpy()])
    return table, gaps


# --------------------------------------------------------------------------- facility location
def coverage_matrix(candidates: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, network: Network,
                    minutes: float, *, access_kmh: float = 15.0, offroad: bool = True) -> np.ndarray:
    """Boolean matrix [demand i, candidate j]: j reaches i within ``minutes``.

    With ``offroad`` (default) the rule is the one the service areas are drawn with: i lies
    in j's service area (network time plus the straight leg across country at
    ``access_kmh``), so a matrix and a map never disagree. Without it, both ends are snapped
    to their nearest road and their straight legs timed at ``access_kmh``.
    """
    dm = demand.to_crs(settings.METRIC_CRS).geometry
    dm = dm.where(dm.geom_type == "Point", dm.representative_point())
    dxy = np.column_stack([dm.x, dm.y])
    if offroad:
        areas = service_areas(candidates, network, minutes, access_kmh=access_kmh, offroad=True)
        polys = areas.to_crs(settings.METRIC_CRS).geometry.values
        out = np.zeros((len(dxy), len(polys)), bool)
        for j, poly in enumerate(polys):
            if not poly.is_empty:
                shapely.prepare(poly)
                out[:, j] = shapely.intersects_xy(poly, dxy[:, 0], dxy[:, 1])
        return out
    cm = candidates.to_crs(settings.METRIC_CRS).geometry
    cm = cm.where(cm.geom_type == "Point", cm.representative_point())
    cxy = np.column_stack([cm.x, cm.y])
    snapped = snap_points(network, np.vstack([cxy, dxy]))
    router = snapped.router()
    per_min = access_kmh * 1000.0 / 60.0
    c_nodes, d_nodes = snapped.node[: len(cxy)], snapped.node[len(cxy):]
    c_off = snapped.access_m[: len(cxy)] / per_min
    d_off = snapped.access_m[len(cxy):] / per_min
    dist = router.matrix(c_nodes, limit=minutes)
    return ((dist[:, d_nodes] + c_off[:, None] + d_off[None, :]) <= minutes).T


def choose_sites(cover: np.ndarray, weights, k: int, *, solver: str = "auto") -> pd.DataFrame:
    """Maximal covering location: the ``k`` candidates covering the most demand weight.

    ``cover[i, j]``: candidate j covers demand i. ``solver`` "exact" (integer programme with
    PuLP/CBC), "greedy", or "auto" (exact when PuLP is installed, else greedy). Returns the
    chosen candidates in order of marginal gain with ``gain`` and ``cumulative``.
    """
    cover = np.asarray(cover, bool)
    w = np.asarray(weights, float)
    n_dem, n_cand = cover.shape
    if not 1 <= k <= n_cand:
        raise InputError(f"k must be between 1 and the {n_cand} candidates, got {k}")
    chosen, method = None, "greedy"
    if solver in ("auto", "exact"):
        try:
            chosen, method = _mclp_exact(cover, w, k), "exact (PuLP/CBC)"
        except ImportError:
            if solver == "exact":
                raise InputError("the exact solver needs PuLP (pip install pulp); use solver='greedy'") from None
    if chosen is None:
        chosen = _mclp_greedy(cover, w, k)
    # order by marginal gain and report it
    rows, covered = [], np.zeros(n_dem, bool)
    remaining = list(chosen)
    while remaining:
        gains = [w[cover[:, j] & ~covered].sum() for j in remaining]
        best = remaining.pop(int(np.argmax(gains)))
        gain = w[cover[:, best] & ~covered].sum()
        covered |= cover[:, best]
        rows.append({"candidate": int(best), "gain": float(gain), "cumulative": float(w[covered].sum())})
    out = pd.DataFrame(rows)
    out["method"] = method
    return out


def _mclp_greedy(cover, w, k):
    covered = np.zeros(cover.shape[0], bool)
    chosen = []
    for _ in range(k):
        gains = ((cover & ~covered[:, None]) * w[:, None]).sum(axis=0)
        gains[chosen] = -1
        j = int(np.argmax(gains))
        chosen.append(j)
        covered |= cover[:, j]
    return chosen


def _mclp_exact(cover, w, k):
    import warnings

    import pulp
    n_dem, n_cand = cover.shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)    # PuLP 3 announces its 4.0 API
        prob = pulp.LpProblem("mclp", pulp.LpMaximize)
        x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(n_cand)]
        y = [pulp.LpVariable(f"y{i}", lowBound=0, upBound=1) for i in range(n_dem)]
        prob += pulp.lpSum(w[i] * y[i] for i in range(n_dem))
        for i in range(n_dem):
            js = np.flatnonzero(cover[i])
            prob += y[i] <= pulp.lpSum(x[j] for j in js)
        prob += pulp.lpSum(x) == k
        status = prob.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[status] != "Optimal":
        raise ImportError("solver did not reach an optimum")
    return [j for j in range(n_cand) if x[j].value() > 0.5]


def demand_grid(area: gpd.GeoDataFrame, cell_m: float = 1000.0) -> gpd.GeoDataFrame:
    """Demand points where no population data exist: one per ``cell_m`` grid cell of ``area``.

    Each point is the cell's representative point inside the area; ``weight`` is the cell's
    area inside ``area`` in km², so a covering model maximises newly covered land.
    """
    if cell_m <= 0:
        raise InputError(f"grid cell size must be positive, got {cell_m:g} m")
    shape = area.to_crs(settings.METRIC_CRS).union_all()
    minx, miny, maxx, maxy = shape.bounds
    xs, ys = np.arange(minx, maxx, cell_m), np.arange(miny, maxy, cell_m)
    gx, gy = np.meshgrid(xs, ys)
    cells = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + cell_m, gy.ravel() + cell_m)
    tree = shapely.STRtree(cells)
    hit = np.unique(tree.query(shape, predicate="intersects"))
    parts = shapely.intersection(cells[hit], shape)
    parts = parts[shapely.area(parts) >= 1.0]        # floating-point slivers along the edges
    return gpd.GeoDataFrame({"weight": shapely.area(parts) / 1e6},
                            geometry=shapely.point_on_surface(parts), crs=settings.METRIC_CRS)


def covered_by(facilities: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, road_net: Network, *,
               urban: np.ndarray, urban_minutes: float, rural_minutes: float,
               walk_kmh: float = WALK_KMH, access_kmh: float = 15.0) -> np.ndarray:
    """Which demand points the existing facilities' health circles contain (urban ones on
    foot, rural ones by road, off-road legs included): the rule :func:`coverage_matrix` uses."""
    circles = health_circles(facilities, road_net, urban=np.asarray(urban, bool), urban_minutes=urban_minutes,
                             rural_minutes=rural_minutes, walk_kmh=walk_kmh, access_kmh=access_kmh)
    return inside(circles, demand)


def inside(areas: gpd.GeoDataFrame, points: gpd.GeoDataFrame) -> np.ndarray:
    """Which points (polygons: their representative point) lie in any of ``areas``."""
    pm = points.to_crs(settings.METRIC_CRS).geometry
    pm = pm.where(pm.geom_type == "Point", pm.representative_point())
    union = areas.to_crs(settings.METRIC_CRS).union_all()
    return shapely.intersects_xy(union, pm.x.to_numpy(), pm.y.to_numpy())


def site_matrix(candidates: gpd.GeoDataFrame, demand: gpd.GeoDataFrame, road_net: Network, *,
                urban: np.ndarray, urban_minutes: float, rural_minutes: float,
                walk_kmh: float = WALK_KMH, access_kmh: float = 15.0) -> np.ndarray:
    """:func:`coverage_matrix` for candidate sites, each judged like the facility it would be:
    urban candidates on foot within ``urban_minutes``, rural ones by road within ``rural_minutes``."""
    urban = np.asarray(urban, bool)
    out = np.zeros((len(demand), len(candidates)), bool)
    if urban.any():
        out[:, urban] = coverage_matrix(candidates[urban], demand, walking(road_net, walk_kmh), urban_minutes,
                                        access_kmh=walk_kmh)
    if (~urban).any():
        out[:, ~urban] = coverage_matrix(candidates[~urban], demand, road_net, rural_minutes, access_kmh=access_kmh)
    return out


def candidate_sites(seats: gpd.GeoDataFrame, roads: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                    min_gap_m: float = 500.0) -> gpd.GeoDataFrame:
    """Default candidate sites: township seats and road midpoints at least ``min_gap_m`` from
    every existing facility (a seat that already has one adds nothing)."""
    s = seats.to_crs(settings.METRIC_CRS)
    r = roads.to_crs(settings.METRIC_CRS)
    mids = r.geometry.interpolate(0.5, normalized=True)
    names = list(s["name"].astype(str)) + [f"{n} 中点" for n in r["name"].astype(str)] if "name" in r else \
        list(s["name"].astype(str)) + [f"道路 {i} 中点" for i in range(len(r))]
    cand = gpd.GeoDataFrame({"name": names, "kind": ["乡镇驻地"] * len(s) + ["道路中点"] * len(r)},
                            geometry=list(s.geometry) + list(mids), crs=settings.METRIC_CRS)
    if len(facilities):
        fac = facilities.to_crs(settings.METRIC_CRS).union_all()
        cand = cand[cand.distance(fac) >= min_gap_m]
    return cand.reset_index(drop=True).to_crs(settings.STORAGE_CRS)
