"""Isochrone bands: what a network search reaches, drawn as polygons.

The reached network is computed exactly and without per-piece Python loops: every road piece
is cut at the places snapped onto it and at the point where the times coming from its two
ends meet, so the travel time is linear along every straight stretch between two vertices.
For a band of ``T`` minutes each such stretch is cut where the time reaches ``T``.

The land counted as reached around a reached stretch is either a corridor of fixed half-width
(``buffer_m``) or, with off-road reach, the land the time left carries someone across country
at ``offroad_kmh``: around a stretch whose ends are reached at ``t_a`` and ``t_b`` that is the
union of discs of radius ``(T − t)·v`` along it, which is exactly the convex hull of its two
end discs (the radius changes no faster than the position, as the road is not slower than
the walk). Each band is the union of these shapes.

That union is formed on a grid (``cell_m``, default 25 m or a sixth of the corridor, coarser when the area drawn at once
would need more than :data:`MAX_CELLS` cells): every
cell whose centre lies in any shape is reached, found row by row from the exact interval each
shape cuts out of the row (no sampling of the shapes), and the grid is turned back into
polygons with ``rasterio.features.shapes``. Areas agree with the exact vector union to well
under 1 % (tests compare the two); edges follow the grid.
"""
from __future__ import annotations

import numpy as np
import shapely

#: Grids larger than this many cells are made coarser (the cell used is reported in the
#: result's ``attrs["cell_m"]``): a county drawn at once gets cells of about 30 m, a single
#: township's bands the finest cell.
MAX_CELLS = 8_000_000
#: Pairs (shape, grid row) handled at once: bounds the memory of the burn step.
CHUNK = 1_000_000


def reached_stretches(network, snapped, dist_any: np.ndarray, dist_through: np.ndarray, t_max: float):
    """Straight stretches of ordinary road along which the travel time is linear.

    Returns arrays ``xa, ya, xb, yb, ta, tb`` (metres in the network's CRS, minutes) for every
    stretch whose earlier end is reached before ``t_max``. Expressways and ramps carry trips but
    give access to no land, so they are left out. ``dist_through`` is the time at each node
    from which ordinary roads may still be taken; local pieces may be left from any time.
    """
    pieces = network.pieces
    geoms = np.asarray(pieces.geometry.values, dtype=object)
    n_p = len(geoms)
    L = shapely.length(geoms)
    ordinary = ~(pieces["expressway"].to_numpy(bool) | pieces["ramp"].to_numpy(bool))
    local = pieces["local"].to_numpy(bool) if "local" in pieces.columns else np.zeros(n_p, bool)
    a, b = pieces["a"].to_numpy(np.int64), pieces["b"].to_numpy(np.int64)
    fwd_ok = np.zeros(n_p, bool)
    bwd_ok = np.zeros(n_p, bool)
    fwd_ok[network.edge_piece[network.edge_forward]] = True
    bwd_ok[network.edge_piece[~network.edge_forward]] = True
    rate = np.where(L > 0, pieces["minutes"].to_numpy(float) / np.maximum(L, 1e-12), 0.0)   # min per metre

    inner = (snapped.along_m > 1e-6) & (snapped.along_m < L[snapped.piece] - 1e-6)
    sp = np.concatenate([np.arange(n_p), np.arange(n_p), snapped.piece[inner]])
    ss = np.concatenate([np.zeros(n_p), L, snapped.along_m[inner]])
    sn = np.concatenate([a, b, snapped.node[inner]])
    dep = np.where(local[sp], dist_any[sn], dist_through[sn])
    reach = np.zeros(n_p, bool)
    reach[sp[dep < t_max]] = True
    reach &= ordinary & (L > 0)
    keep = reach[sp]
    sp, ss, sn, dep = sp[keep], ss[keep], sn[keep], dep[keep]
    empty = (np.zeros(0),) * 6
    if len(sp) == 0:
        return empty
    order = np.lexsort((dep, ss, sp))
    sp, ss, dep = sp[order], ss[order], dep[order]
    # one stop per position: the earliest of places snapped to the same point
    first_here = np.r_[True, (sp[1:] != sp[:-1]) | (ss[1:] != ss[:-1])]
    sp, ss, dep = sp[first_here], ss[first_here], dep[first_here]
    # stretch k runs from stop k to stop k+1 of the same piece
    nxt = np.r_[sp[1:] == sp[:-1], False]
    k = np.flatnonzero(nxt)
    p_k = sp[k]
    s0, s1 = ss[k], ss[k + 1]
    t0 = np.where(fwd_ok[p_k], dep[k], np.inf)
    t1 = np.where(bwd_ok[p_k], dep[k + 1], np.inf)
    r_k = rate[p_k]
    # where the times from the two ends meet, the time along the stretch turns
    both = np.isfinite(t0) & np.isfinite(t1) & (r_k > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cross = np.where(both, (t1 - t0 + r_k * (s0 + s1)) / (2 * np.where(r_k > 0, r_k, 1)), np.nan)
    cross_ok = both & (cross > s0 + 1e-6) & (cross < s1 - 1e-6)

    # vertices of the reached pieces with their position along the piece
    P = np.flatnonzero(reach)
    cxy, ci = shapely.get_coordinates(geoms[P], return_index=True)
    seg = np.hypot(*np.diff(cxy, axis=0).T)
    same = ci[1:] == ci[:-1]
    cs = np.concatenate([[0.0], np.cumsum(np.where(same, seg, 0.0))])
    first = np.r_[True, ~same]
    cs -= np.repeat(cs[first], np.diff(np.r_[np.flatnonzero(first), len(cs)]))
    vp, vs = P[ci], cs
    # extra points: snapped places inside pieces and the turning points
    ep = np.concatenate([snapped.piece[inner], p_k[cross_ok]])
    es = np.concatenate([snapped.along_m[inner], cross[cross_ok]])
    ok = reach[ep]
    ep, es = ep[ok], es[ok]
    exy = shapely.get_coordinates(shapely.line_interpolate_point(geoms[ep], es)) if len(ep) else np.zeros((0, 2))
    bp = np.concatenate([vp, ep])
    bs = np.concatenate([vs, es])
    bxy = np.vstack([cxy, exy])
    o = np.lexsort((bs, bp))
    bp, bs, bxy = bp[o], bs[o], bxy[o]
    j = np.flatnonzero((bp[1:] == bp[:-1]) & (bs[1:] > bs[:-1] + 1e-9))
    sub_p = bp[j]
    sa, sb = bs[j], bs[j + 1]
    # the stretch each sub-segment lies in
    big = float(L.max()) + 1.0
    stop_key = sp.astype(float) * big + ss
    mid_key = sub_p.astype(float) * big + (sa + sb) / 2
    kk = np.searchsorted(stop_key, mid_key, side="right") - 1
    # kk indexes stops; map to the stretch arrays (stretch index of stop kk)
    stretch_of_stop = np.full(len(sp), -1)
    stretch_of_stop[k] = np.arange(len(k))
    st = stretch_of_stop[kk]
    good = st >= 0
    j, sub_p, sa, sb, st = j[good], sub_p[good], sa[good], sb[good], st[good]

    def time_at(s, i):
        return np.minimum(t0[i] + r_k[i] * (s - s0[i]), t1[i] + r_k[i] * (s1[i] - s))

    ta, tb = time_at(sa, st), time_at(sb, st)
    live = np.minimum(ta, tb) < t_max
    j, ta, tb = j[live], ta[live], tb[live]
    return bxy[j, 0], bxy[j, 1], bxy[j + 1, 0], bxy[j + 1, 1], ta, tb


def band_shapes(seg, T: float, *, buffer_m: float | None, offroad_m_per_min: float):
    """Capsules (P, Q, rP, rQ) of the land reached within ``T`` minutes along each stretch."""
    xa, ya, xb, yb, ta, tb = seg
    a_first = ta <= tb
    tP = np.where(a_first, ta, tb)
    tQ = np.where(a_first, tb, ta)
    Px, Py = np.where(a_first, xa, xb), np.where(a_first, ya, yb)
    Qx, Qy = np.where(a_first, xb, xa), np.where(a_first, yb, ya)
    live = tP < T
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(tQ > T, (T - tP) / np.where(tQ > tP, tQ - tP, 1.0), 1.0)
    frac = np.clip(frac, 0.0, 1.0)
    Qx, Qy = Px + frac * (Qx - Px), Py + frac * (Qy - Py)
    tQ = np.minimum(tQ, T)
    Px, Py, Qx, Qy, tP, tQ = (v[live] for v in (Px, Py, Qx, Qy, tP, tQ))
    if buffer_m is not None:
        rP = rQ = np.full(len(Px), float(buffer_m))
    else:
        rP, rQ = (T - tP) * offroad_m_per_min, (T - tQ) * offroad_m_per_min
    return Px, Py, Qx, Qy, np.maximum(rP, 0.0), np.maximum(rQ, 0.0)


def _row_intervals(ax, ay, bx, by, ra, rb, y):
    """The interval of the horizontal line ``y`` inside hull(disc(a, ra), disc(b, rb)), per pair."""
    lo = np.full(len(y), np.inf)
    hi = np.full(len(y), -np.inf)
    for cx, cy, r in ((ax, ay, ra), (bx, by, rb)):
        dy = y - cy
        ok = np.abs(dy) <= r
        hw = np.sqrt(np.where(ok, r * r - dy * dy, 0.0))
        lo = np.where(ok, np.minimum(lo, cx - hw), lo)
        hi = np.where(ok, np.maximum(hi, cx + hw), hi)
    dx, dyy = bx - ax, by - ay
    d = np.hypot(dx, dyy)
    tangent = d > np.abs(ra - rb) + 1e-9
    with np.errstate(invalid="ignore", divide="ignore"):
        ex, ey = dx / np.where(d > 0, d, 1), dyy / np.where(d > 0, d, 1)
        sin_b = np.where(tangent, (ra - rb) / np.where(d > 0, d, 1), 0.0)
        cos_b = np.sqrt(np.clip(1 - sin_b * sin_b, 0, 1))
    for side in (1.0, -1.0):
        # outward normal m of an outer tangent line: m·P + ra = m·Q + rb, so m·e = sin β
        mx = sin_b * ex + side * cos_b * (-ey)
        my = sin_b * ey + side * cos_b * ex
        p1x, p1y = ax + ra * mx, ay + ra * my
        p2x, p2y = bx + rb * mx, by + rb * my
        ylo, yhi = np.minimum(p1y, p2y), np.maximum(p1y, p2y)
        ok = tangent & (y >= ylo) & (y <= yhi)
        span = p2y - p1y
        with np.errstate(invalid="ignore", divide="ignore"):
            f = np.where(np.abs(span) > 1e-12, (y - p1y) / np.where(np.abs(span) > 1e-12, span, 1), 0.0)
        x = p1x + np.clip(f, 0, 1) * (p2x - p1x)
        flat = np.abs(span) <= 1e-12
        lo = np.where(ok, np.minimum(lo, np.where(flat, np.minimum(p1x, p2x), x)), lo)
        hi = np.where(ok, np.maximum(hi, np.where(flat, np.maximum(p1x, p2x), x)), hi)
    return lo, hi


def burn(shapes, x0: float, y1: float, cell: float, nrows: int, ncols: int) -> np.ndarray:
    """Cells (row 0 at the top, ``y1``) whose centre lies in any of the capsules ``shapes``."""
    Px, Py, Qx, Qy, rP, rQ = shapes
    diff = np.zeros((nrows, ncols + 1), np.int32)
    if len(Px):
        top = np.maximum(Py + rP, Qy + rQ)
        bot = np.minimum(Py - rP, Qy - rQ)
        j0 = np.clip(np.ceil((y1 - top) / cell - 0.5), 0, nrows - 1).astype(np.int64)
        j1 = np.clip(np.floor((y1 - bot) / cell - 0.5), -1, nrows - 1).astype(np.int64)
        # in row order, so each chunk touches a narrow band of rows
        order = np.argsort(j0, kind="stable")
        Px, Py, Qx, Qy, rP, rQ, j0, j1 = (v[order] for v in (Px, Py, Qx, Qy, rP, rQ, j0, j1))
        count = np.maximum(j1 - j0 + 1, 0)
        ends = np.cumsum(count)
        starts = ends - count
        lo_i = 0
        while lo_i < len(Px):
            # take shapes until about CHUNK pairs
            hi_i = int(np.searchsorted(ends, starts[lo_i] + CHUNK, side="right"))
            hi_i = max(hi_i, lo_i + 1)
            sel = slice(lo_i, hi_i)
            c = count[sel]
            who = np.repeat(np.arange(lo_i, hi_i), c)
            row = j0[who] + (np.arange(len(who)) - np.repeat(starts[sel] - starts[lo_i], c))
            y = y1 - (row + 0.5) * cell
            lo, hi = _row_intervals(Px[who], Py[who], Qx[who], Qy[who], rP[who], rQ[who], y)
            with np.errstate(invalid="ignore"):
                i0 = np.ceil((lo - x0) / cell - 0.5)
                i1 = np.floor((hi - x0) / cell - 0.5)
            ok = np.isfinite(i0) & np.isfinite(i1)
            i0 = np.clip(i0[ok], 0, ncols).astype(np.int64)
            i1 = np.clip(i1[ok], -1, ncols - 1).astype(np.int64)
            r = row[ok]
            fine = i0 <= i1
            if fine.any():
                stride = ncols + 1
                r0, r1 = int(r[fine].min()), int(r[fine].max()) + 1
                base = r0 * stride
                size = (r1 - r0) * stride
                add = np.bincount(r[fine] * stride + i0[fine] - base, minlength=size)
                add -= np.bincount(r[fine] * stride + i1[fine] + 1 - base, minlength=size)
                diff[r0:r1] += add.reshape(r1 - r0, stride).astype(np.int32)
            lo_i = hi_i
        rows = slice(int(j0.min()), int(max(j1.max(), j0.min())) + 1)
        np.cumsum(diff[rows], axis=1, dtype=np.int32, out=diff[rows])
    return diff[:, :ncols] > 0


def polygons_from_labels(labels: np.ndarray, x0: float, y1: float, cell: float, n_bands: int) -> list:
    """One (multi)polygon per band value 1…n_bands from a label grid, valid."""
    from affine import Affine
    from rasterio.features import shapes as raster_shapes

    transform = Affine(cell, 0.0, x0, 0.0, -cell, y1)
    coords, ring_of, poly_of, band_of = [], [], [], []
    n_ring = n_poly = 0
    if labels.any():
        for geom, value in raster_shapes(labels, mask=labels > 0, connectivity=4, transform=transform):
            for ring in geom["coordinates"]:
                xy = np.asarray(ring, float)
                coords.append(xy)
                ring_of.append(np.full(len(xy), n_ring))
                poly_of.append(n_poly)
                n_ring += 1
            band_of.append(int(value) - 1)
            n_poly += 1
    parts: list = [[] for _ in range(n_bands)]
    if n_poly:
        rings = shapely.linearrings(np.concatenate(coords), indices=np.concatenate(ring_of))
        polys = shapely.polygons(rings, indices=np.asarray(poly_of))
        band_of = np.asarray(band_of)
        for k in range(n_bands):
            parts[k] = list(polys[band_of == k])
    # validity is checked once, after the transform to storage coordinates (access.valid_storage)
    return [shapely.Polygon() if not p else (shapely.multipolygons(p) if len(p) > 1 else p[0]) for p in parts]


def valid_union_of_parts(polys) -> shapely.Geometry:
    """A MultiPolygon of parts whose interiors do not overlap (grid regions), each part
    checked and repaired on its own: much cheaper than validating the whole at once, and the
    parts only ever touch at corners."""
    polys = np.asarray(polys, dtype=object)
    if len(polys) == 0:
        return shapely.Polygon()
    bad = ~shapely.is_valid(polys)
    if bad.any():
        from .load import make_valid_same_dimension

        fixed = shapely.get_parts(make_valid_same_dimension(polys[bad]))
        polys = np.concatenate([polys[~bad], fixed[shapely.get_type_id(fixed) == 3]])
        if len(polys) == 0:
            return shapely.Polygon()
    return shapely.multipolygons(polys) if len(polys) > 1 else polys[0]


def grid_for(shapes_list, cell: float):
    """Grid origin, cell and size covering every capsule (cell enlarged past MAX_CELLS)."""
    xs_lo, xs_hi, ys_lo, ys_hi = [], [], [], []
    for Px, Py, Qx, Qy, rP, rQ in shapes_list:
        if len(Px):
            xs_lo.append(np.minimum(Px - rP, Qx - rQ).min())
            xs_hi.append(np.maximum(Px + rP, Qx + rQ).max())
            ys_lo.append(np.minimum(Py - rP, Qy - rQ).min())
            ys_hi.append(np.maximum(Py + rP, Qy + rQ).max())
    if not xs_lo:
        return None
    xmin, xmax, ymin, ymax = min(xs_lo), max(xs_hi), min(ys_lo), max(ys_hi)
    w, h = xmax - xmin, ymax - ymin
    if (w / cell) * (h / cell) > MAX_CELLS:
        cell = float(np.ceil(np.sqrt(w * h / MAX_CELLS)))
    x0 = np.floor(xmin / cell) * cell - cell
    y1 = np.ceil(ymax / cell) * cell + cell
    ncols = int(np.ceil((xmax - x0) / cell)) + 1
    nrows = int(np.ceil((y1 - ymin) / cell)) + 1
    return x0, y1, cell, nrows, ncols


def draw_bands(seg, bands, *, buffer_m: float | None, offroad_m_per_min: float, discs=None,
               cell_m: float | None = None):
    """Polygons of the nested bands (each without the ones before it) and the cell used."""
    cell = float(cell_m) if cell_m else (min(25.0, buffer_m / 6.0) if buffer_m else 25.0)
    per_band = []
    if buffer_m is not None and discs is None:
        # a fixed corridor along a stretch wholly reached by one band is the same in every
        # later band: burn it once, in the first band that reaches all of it
        t_full = np.maximum(seg[4], seg[5])
        done = np.zeros(len(t_full), bool)
        for T in bands:
            per_band.append(band_shapes(tuple(v[~done] for v in seg), T, buffer_m=buffer_m,
                                        offroad_m_per_min=offroad_m_per_min))
            done |= t_full <= T
    else:
        for T in bands:
            s = band_shapes(seg, T, buffer_m=buffer_m, offroad_m_per_min=offroad_m_per_min)
            if discs is not None and len(discs[0]):
                dx, dy = discs
                r = np.full(len(dx), T * offroad_m_per_min)
                s = tuple(np.concatenate([u, v]) for u, v in zip(s, (dx, dy, dx, dy, r, r)))
            per_band.append(s)
    grid = grid_for(per_band, cell)
    if grid is None:
        return [shapely.Polygon() for _ in bands], cell
    x0, y1, cell, nrows, ncols = grid
    labels = np.zeros((nrows, ncols), np.uint8)
    for k in range(len(bands) - 1, -1, -1):          # outer band first, inner bands over it
        labels[burn(per_band[k], x0, y1, cell, nrows, ncols)] = k + 1
    return polygons_from_labels(labels, x0, y1, cell, len(bands)), cell
