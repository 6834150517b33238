"""Zonal statistics with exact cell fractions.

Every cell counts by the exact share of its area that lies inside the polygon (the rule of
exactextract), not by whether its centre does: a polygon's zonal area equals its vector area,
and small parcels of a 三调 layer get their true share of each slope grade.

The fractions come from a scanline form of Green's theorem, vectorised over all polygons of a
batch at once: every ring edge is cut at the grid lines it crosses, so each piece lies in one
cell; a piece adds the signed area between itself and the bottom of its cell to that cell and
its signed width to every cell below it in the same column (a cumulative sum per column of the
polygon's window). Summed over a polygon's rings this gives, per cell, the area of the polygon
inside the cell. Memory is bounded by the batch's windows (about ``max_cells`` cells).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import shapely

from .errors import InputError

DEFAULT_PERCENTILES = (10, 50, 90)


def _grid_params(transform, shape):
    a, e = transform.a, transform.e
    if transform.b != 0 or transform.d != 0 or a <= 0 or e >= 0:
        raise InputError("zonal statistics need a north-up raster without rotation")
    rows, cols = shape
    x0, y0 = transform.c, transform.f
    return x0, y0, a, -e, rows, cols


def coverage_fractions(geoms, transform, shape, max_cells: int = 4_000_000):
    """All of :func:`iter_coverage` at once (see there)."""
    parts = list(iter_coverage(geoms, transform, shape, max_cells))
    if not parts:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
    return tuple(np.concatenate(a) for a in zip(*parts))


def iter_coverage(geoms, transform, shape, max_cells: int = 4_000_000):
    """Cells covered by each polygon and the covered share of each cell.

    Parameters
    ----------
    geoms : array of shapely (Multi)Polygons
        In the raster's coordinate system; other geometry types and empties cover nothing.
    transform, shape : the raster's affine transform (north-up) and (rows, cols).

    Yields
    ------
    zone, cell, frac : ndarrays, one triple per batch of polygons (no polygon is split
        between batches; a batch's windows hold about ``max_cells`` cells)
        For every (polygon, cell) pair with a share above 1e-9 (below that it is rounding,
        not cover): the polygon's position in ``geoms``, the flat cell index
        ``row * cols + col`` and the share in (0, 1]. Sorted by polygon, then cell.
    """
    x0, y0, dx, dy, rows, cols = _grid_params(transform, shape)
    geoms = np.asarray(geoms, dtype=object)
    xmin, ymax = x0, y0
    xmax, ymin = x0 + cols * dx, y0 - rows * dy
    clipped = shapely.clip_by_rect(geoms, xmin, ymin, xmax, ymax)
    kinds = shapely.get_type_id(clipped)
    ok = np.isin(kinds, (3, 6)) & ~shapely.is_empty(clipped)
    b = shapely.bounds(clipped)
    c0 = np.zeros(len(geoms), dtype=np.int64)
    r0 = np.zeros(len(geoms), dtype=np.int64)
    width = np.zeros(len(geoms), dtype=np.int64)
    height = np.zeros(len(geoms), dtype=np.int64)
    with np.errstate(invalid="ignore"):
        umin, umax = (b[:, 0] - x0) / dx, (b[:, 2] - x0) / dx
        vmin, vmax = (y0 - b[:, 3]) / dy, (y0 - b[:, 1]) / dy
    c0[ok] = np.clip(np.floor(umin[ok]), 0, cols - 1)
    r0[ok] = np.clip(np.floor(vmin[ok]), 0, rows - 1)
    width[ok] = np.clip(np.ceil(umax[ok]), 1, cols) - c0[ok]
    height[ok] = np.clip(np.ceil(vmax[ok]), 1, rows) - r0[ok]
    width, height = np.maximum(width, 1), np.maximum(height, 1)
    sizes = np.where(ok, width * height, 0)

    idx = np.flatnonzero(ok)
    start = 0
    while start < len(idx):
        stop = start
        total = 0
        while stop < len(idx) and (stop == start or total + sizes[idx[stop]] <= max_cells):
            total += sizes[idx[stop]]
            stop += 1
        batch = idx[start:stop]
        z, c, f = _batch(clipped[batch], batch, c0[batch], r0[batch], width[batch], height[batch],
                         x0, y0, dx, dy, cols)
        yield z, c, f
        start = stop


def _batch(geoms, zone_ids, c0, r0, width, height, x0, y0, dx, dy, cols):
    geoms = shapely.orient_polygons(geoms, exterior_cw=False)
    parts, part_of = shapely.get_parts(geoms, return_index=True)
    rings, ring_of = shapely.get_rings(parts, return_index=True)
    coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
    ring_zone = part_of[ring_of]                       # batch position of each ring
    u = (coords[:, 0] - x0) / dx
    v = (y0 - coords[:, 1]) / dy
    same = coord_ring[:-1] == coord_ring[1:]
    e_zone = ring_zone[coord_ring[:-1][same]]
    u0, v0 = u[:-1][same], v[:-1][same]
    u1, v1 = u[1:][same], v[1:][same]
    moving = (u0 != u1)                                 # vertical edges add nothing
    e_zone, u0, v0, u1, v1 = e_zone[moving], u0[moving], v0[moving], u1[moving], v1[moving]
    n_edges = len(u0)
    if n_edges == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)

    # cut every edge at the grid lines it crosses: parameters t in (0, 1)
    ts, owners = [np.zeros(n_edges), np.ones(n_edges)], [np.arange(n_edges), np.arange(n_edges)]
    for a, b in ((u0, u1), (v0, v1)):
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        first = np.floor(lo) + 1
        count = np.maximum(0, np.ceil(hi) - first).astype(np.int64)
        if count.sum():
            owner = np.repeat(np.arange(n_edges), count)
            step = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
            k = first[owner] + step
            with np.errstate(divide="ignore", invalid="ignore"):
                t = (k - a[owner]) / (b[owner] - a[owner])
            keep = (t > 0) & (t < 1)
            ts.append(t[keep]), owners.append(owner[keep])
    t = np.concatenate(ts)
    owner = np.concatenate(owners)
    order = np.lexsort((t, owner))
    t, owner = t[order], owner[order]
    pu = u0[owner] + t * (u1[owner] - u0[owner])
    pv = v0[owner] + t * (v1[owner] - v0[owner])
    pair = owner[:-1] == owner[1:]
    ua, ub = pu[:-1][pair], pu[1:][pair]
    va, vb = pv[:-1][pair], pv[1:][pair]
    pz = e_zone[owner[:-1][pair]]
    w = ub - ua
    keep = w != 0
    ua, ub, va, vb, pz, w = ua[keep], ub[keep], va[keep], vb[keep], pz[keep], w[keep]
    umid, vmid = (ua + ub) / 2, (va + vb) / 2
    col = np.floor(umid).astype(np.int64)
    row = np.floor(vmid).astype(np.int64)
    lc = col - c0[pz]
    lr = row - r0[pz]
    h = height[pz]
    inside = (lc >= 0) & (lc < width[pz]) & (lr >= 0) & (lr < h)
    sizes = width * height
    offsets = np.cumsum(sizes) - sizes
    total = int(sizes.sum())
    flat = offsets[pz] + lc * h + lr                    # column-major inside each window
    partial = np.bincount(flat[inside], weights=(w * (row + 1 - vmid))[inside], minlength=total)
    below = inside & (lr + 1 < h)
    diff = np.bincount(flat[below] + 1, weights=w[below], minlength=total)
    run_len = np.repeat(height, width)
    run_start = np.cumsum(run_len) - run_len
    cs = np.cumsum(diff)
    base = np.where(run_start > 0, cs[np.maximum(run_start - 1, 0)], 0.0)
    cover = -(partial + cs - np.repeat(base, run_len))
    hit = np.flatnonzero(cover > 1e-9)
    frac = np.minimum(cover[hit], 1.0)
    win = np.searchsorted(offsets, hit, side="right") - 1
    local = hit - offsets[win]
    lcol, lrow = local // height[win], local % height[win]
    cell = (r0[win] + lrow) * cols + (c0[win] + lcol)
    zone = zone_ids[win]
    order = np.lexsort((cell, zone))
    return zone[order], cell[order], frac[order]


def _weighted_percentile(zone, values, weights, n_zones, q):
    """Per zone, the smallest value whose cumulative weight reaches q % of the zone's weight."""
    out = np.full(n_zones, np.nan)
    if len(values) == 0:
        return out
    order = np.lexsort((values, zone))
    z, v, w = zone[order], values[order], weights[order]
    cw = np.cumsum(w)
    totals = np.bincount(z, weights=w, minlength=n_zones)
    first = np.searchsorted(z, np.arange(n_zones), side="left")
    before = np.where(first > 0, cw[np.maximum(first - 1, 0)], 0.0)
    target = before + totals * q / 100.0
    pos = np.searchsorted(cw, target - 1e-12 * np.maximum(1.0, np.abs(target)), side="left")
    has = totals > 0
    last = np.searchsorted(z, np.arange(n_zones), side="right") - 1
    pos = np.clip(pos, first, np.maximum(last, first))       # never outside the zone's own values
    pos = np.minimum(pos, len(v) - 1)
    out[has] = v[pos[has]]
    return out


def zonal_stats(values: np.ndarray, transform, zones, *, percentiles=DEFAULT_PERCENTILES,
                classes: bool = False, cell_area: float | None = None, labels=None) -> pd.DataFrame:
    """Statistics of a raster for every polygon, every cell weighted by its covered share.

    Parameters
    ----------
    values : 2-D float array (NaN = no data) on ``transform``.
    zones : array or GeoSeries of polygons in the raster's CRS.
    percentiles : percentiles to report (weighted, step rule: the smallest value whose
        cumulative covered area reaches the percentile).
    classes : also report, for integer classes, each class's covered area and share.
    cell_area : area of one cell in m² (default |a·e| of the transform, right for metric CRSs).

    Returns
    -------
    DataFrame, one row per zone: ``area_m2`` (the polygon's area inside the raster),
    ``data_m2`` (the part with values), ``count`` (covered cells with values, as exact
    fractions), ``mean``, ``min``, ``max``, ``p<q>``; with ``classes`` also ``m2_<k>`` and
    ``share_<k>`` for every class k present.
    """
    geoms = np.asarray(getattr(zones, "values", zones), dtype=object)
    n = len(geoms)
    cell_area = float(cell_area or abs(transform.a * transform.e))
    flat_values = values.ravel()
    area, count, wsum = np.zeros(n), np.zeros(n), np.zeros(n)
    vmin, vmax = np.full(n, np.nan), np.full(n, np.nan)
    pcts = {q: np.full(n, np.nan) for q in percentiles}
    class_m2: dict[int, np.ndarray] = {}
    # batches hold whole polygons, so each batch's results are final for its polygons
    for zone, cell, frac in iter_coverage(geoms, transform, values.shape):
        vals = flat_values[cell].astype(np.float64)
        valid = ~np.isnan(vals)
        area += np.bincount(zone, weights=frac, minlength=n)
        zv, fv, vv = zone[valid], frac[valid], vals[valid]
        if not len(vv):
            continue
        count += np.bincount(zv, weights=fv, minlength=n)
        wsum += np.bincount(zv, weights=fv * vv, minlength=n)
        starts = np.flatnonzero(np.r_[True, zv[1:] != zv[:-1]])
        vmin[zv[starts]] = np.minimum.reduceat(vv, starts)
        vmax[zv[starts]] = np.maximum.reduceat(vv, starts)
        for q in percentiles:
            got = _weighted_percentile(zv, vv, fv, n, q)
            pcts[q] = np.where(np.isnan(got), pcts[q], got)
        if classes:
            keys = vv.astype(np.int64)
            for k in np.unique(keys):
                sel = keys == k
                class_m2.setdefault(int(k), np.zeros(n))
                class_m2[int(k)] += np.bincount(zv[sel], weights=fv[sel], minlength=n) * cell_area
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, wsum / count, np.nan)
    df = pd.DataFrame({"area_m2": area * cell_area, "data_m2": count * cell_area, "count": count,
                       "mean": mean, "min": vmin, "max": vmax})
    for q in percentiles:
        df[f"p{q:g}"] = pcts[q]
    for k in sorted(class_m2):
        df[f"m2_{k}"] = class_m2[k]
        with np.errstate(invalid="ignore", divide="ignore"):
            df[f"share_{k}"] = np.where(count > 0, class_m2[k] / (count * cell_area), np.nan)
    if labels is not None:
        df.index = pd.Index(list(labels))
    return df
