"""Cost-distance on a raster: a multi-source Dijkstra over 16 neighbours, compiled with numba.

Each cell connects to its 8 neighbours and the 8 knight's moves (GRASS ``r.walk``/``r.cost``
``-k``; WHO AccessMod). A move from cell a to cell b of horizontal length ``d`` metres costs

    d/2 · (1 / v_a + 1 / v_b)    (minutes, with v in metres per minute)

— half the way in each cell, as AccessMod and ``r.walk`` count it. With elevations the speed of
each half depends on the slope along the move, ``s = (z_b − z_a) / d``, so going up and coming
down differ (anisotropic): ``v_x = base_x · tobler(s) / tobler(0)`` with Tobler's hiking
function ``tobler(s) = 6 · exp(−3.5 · |s + 0.05|)`` km/h.

A move may not enter or leave a barrier cell, and a diagonal or knight's move may not slip
between barrier cells: it is refused when a cell its straight segment crosses is a barrier
(for (1, 1) the two cells beside the corner, for (2, 1) the two cells the segment passes
through). Sources start with their own minutes (e.g. the network time of a road cell).

The search keeps the source each cell is reached from (its label), so one search gives the
travel time to the nearest facility and which facility that is.
"""
from __future__ import annotations

import math

import numpy as np

try:
    import numba

    _njit = numba.njit(cache=True, nogil=True)
except ImportError:           # pragma: no cover - numba is a dependency
    numba = None

    def _njit(f):
        return f

TOBLER_FLAT_KMH = 6.0 * math.exp(-3.5 * 0.05)     # 5.036… km/h on level ground
#: (drow, dcol) of the 16 moves, and for each the two cells its segment crosses (relative to
#: the start; the same cell twice for the straight moves, which cross none)
MOVES = np.array([(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1),
                  (-2, -1), (-2, 1), (2, -1), (2, 1), (-1, -2), (-1, 2), (1, -2), (1, 2)], dtype=np.int64)


def _crossed(dr: int, dc: int):
    if abs(dr) + abs(dc) == 1:
        return (0, 0), (0, 0)
    if abs(dr) == 1 and abs(dc) == 1:
        return (dr, 0), (0, dc)
    if abs(dr) == 2:       # (±2, ±1): through (±1, 0) and (±1, ±1)
        return (dr // 2, 0), (dr // 2, dc)
    return (0, dc // 2), (dr, dc // 2)      # (±1, ±2)


CROSSED = np.array([[*_crossed(int(dr), int(dc))[0], *_crossed(int(dr), int(dc))[1]] for dr, dc in MOVES],
                   dtype=np.int64)


def tobler_kmh(slope):
    """Tobler's hiking function: walking speed (km/h) on a slope (rise over run, signed)."""
    return 6.0 * np.exp(-3.5 * np.abs(np.asarray(slope, dtype=float) + 0.05))


@_njit
def _search(speed, z, use_z, passable, seed_time, seed_label, res, limit, moves, crossed):
    """The search on arrays framed by two cells of barrier (so no move leaves the array).

    An indexed binary heap: each cell is in the heap at most once, and a better time moves it
    up in place (decrease-key), so no stale entries are pushed or popped."""
    rows, cols = speed.shape
    n = rows * cols
    sp = speed.ravel()
    ok = passable.ravel()
    zz = z.ravel()
    m = moves.shape[0]
    delta = np.empty(m, np.int64)
    cross_a = np.empty(m, np.int64)
    cross_b = np.empty(m, np.int64)
    half = np.empty(m)
    length = np.empty(m)
    for k in range(m):
        delta[k] = moves[k, 0] * cols + moves[k, 1]
        cross_a[k] = crossed[k, 0] * cols + crossed[k, 1]
        cross_b[k] = crossed[k, 2] * cols + crossed[k, 3]
        length[k] = res * math.sqrt(moves[k, 0] ** 2 + moves[k, 1] ** 2)
        # half the move's length, in minutes per (km/h)⁻¹: 0.5 · d · 60 / 1000
        half[k] = 0.5 * length[k] * 0.06
    inv = np.empty(n)
    for i in range(n):
        inv[i] = 1.0 / sp[i] if ok[i] else 0.0
    dist = np.full(n, np.inf)
    label = np.full(n, -1, np.int64)
    done = np.zeros(n, np.bool_)
    pos = np.full(n, -1, np.int64)          # the cell's place in the heap, -1 when not in it
    heap = np.empty(1024, np.int64)         # cells; their keys are dist[cell]
    size = 0
    st = seed_time.ravel()
    sl = seed_label.ravel()
    flat = 6.0 * math.exp(-3.5 * 0.05)
    for i in range(n):
        if st[i] < np.inf and ok[i] and st[i] < dist[i]:
            dist[i] = st[i]
            label[i] = sl[i]
            if pos[i] < 0:
                if size == heap.shape[0]:
                    bigger = np.empty(heap.shape[0] * 2, np.int64)
                    bigger[:size] = heap[:size]
                    heap = bigger
                heap[size] = i
                pos[i] = size
                size += 1
            h = pos[i]
            while h > 0:                     # sift up
                q = (h - 1) >> 1
                if dist[heap[q]] <= dist[i]:
                    break
                heap[h] = heap[q]
                pos[heap[h]] = h
                h = q
            heap[h] = i
            pos[i] = h
    while size > 0:
        i = heap[0]
        t = dist[i]
        if t > limit:
            break
        size -= 1
        pos[i] = -1
        if size > 0:                         # the last cell to the root, sifted down
            last = heap[size]
            dl = dist[last]
            h = 0
            while True:
                c = 2 * h + 1
                if c >= size:
                    break
                if c + 1 < size and dist[heap[c + 1]] < dist[heap[c]]:
                    c += 1
                if dl <= dist[heap[c]]:
                    break
                heap[h] = heap[c]
                pos[heap[h]] = h
                h = c
            heap[h] = last
            pos[last] = h
        done[i] = True
        ia = inv[i]
        for k in range(m):
            j = i + delta[k]
            if done[j] or not ok[j]:
                continue
            if not (ok[i + cross_a[k]] and ok[i + cross_b[k]]):
                continue
            nt = t + half[k] * (ia + inv[j])
            if use_z:
                za, zb = zz[i], zz[j]
                if za == za and zb == zb:          # both known (NaN ≠ NaN)
                    f = (6.0 * math.exp(-3.5 * abs((zb - za) / length[k] + 0.05))) / flat
                    nt = t + half[k] * (ia + inv[j]) / f
            if nt < dist[j]:
                dist[j] = nt
                label[j] = label[i]
                if pos[j] < 0:
                    if size == heap.shape[0]:
                        bigger = np.empty(heap.shape[0] * 2, np.int64)
                        bigger[:size] = heap[:size]
                        heap = bigger
                    pos[j] = size
                    size += 1
                h = pos[j]
                while h > 0:                 # sift up (a new cell, or a better time)
                    q = (h - 1) >> 1
                    if dist[heap[q]] <= nt:
                        break
                    heap[h] = heap[q]
                    pos[heap[h]] = h
                    h = q
                heap[h] = j
                pos[j] = h
    # beyond the limit nothing is settled
    for i in range(n):
        if not done[i]:
            dist[i] = np.inf
            label[i] = -1
    return dist.reshape(rows, cols), label.reshape(rows, cols)


def search(speed_kmh: np.ndarray, seed_minutes: np.ndarray, seed_label: np.ndarray | None = None, *,
           res: float, z: np.ndarray | None = None, passable: np.ndarray | None = None,
           limit: float = np.inf, neighbours: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Minutes from the nearest seed to every cell, and that seed's label.

    Parameters
    ----------
    speed_kmh : 2-D float array
        Walking (or travel) speed of each cell on level ground, km/h; cells with a speed of 0,
        NaN or less are barriers.
    seed_minutes : 2-D float array
        Starting minutes of the source cells, ``inf`` elsewhere.
    seed_label : 2-D int array, optional
        Label of each source cell (e.g. its facility's index); default the cell's own index.
    res : float
        Cell size in metres (square cells).
    z : 2-D float array, optional
        Elevations (metres): speeds follow Tobler's function of the slope of each move.
    passable : 2-D bool array, optional
        Extra barrier mask (False = barrier).
    limit : float
        Stop at this many minutes; cells beyond stay ``inf``.
    neighbours : {16, 8}
        Knight's moves too (16, the default) or the 8 neighbours only.
    """
    if neighbours not in (8, 16):
        raise ValueError("neighbours must be 8 or 16")
    speed = np.ascontiguousarray(speed_kmh, dtype=np.float64)
    ok = np.isfinite(speed) & (speed > 0)
    if passable is not None:
        ok &= np.asarray(passable, bool)
    # a one-cell frame of barrier, so the crossed-cell tests never leave the array
    pad = 2
    speed_p = np.pad(np.where(ok, speed, 1.0), pad, constant_values=1.0)
    ok_p = np.pad(ok, pad, constant_values=False)
    st = np.pad(np.asarray(seed_minutes, dtype=np.float64), pad, constant_values=np.inf)
    if seed_label is None:
        seed_label = np.arange(speed.size, dtype=np.int64).reshape(speed.shape)
    sl = np.pad(np.asarray(seed_label, dtype=np.int64), pad, constant_values=-1)
    use_z = z is not None
    z_p = np.pad(np.asarray(z, dtype=np.float64), pad, constant_values=np.nan) if use_z else np.zeros((1, 1))
    k = len(MOVES) if neighbours == 16 else 8
    dist, label = _search(speed_p, z_p, use_z, ok_p, st, sl, float(res), float(limit), MOVES[:k], CROSSED[:k])
    return dist[pad:-pad, pad:-pad], label[pad:-pad, pad:-pad]


def move_cost(speed_a: float, speed_b: float, length_m: float, dz: float = 0.0, use_z: bool = False) -> float:
    """Minutes of one move (the formula of the search, for references and tests)."""
    factor = 1.0
    if use_z:
        factor = (6.0 * math.exp(-3.5 * abs(dz / length_m + 0.05))) / TOBLER_FLAT_KMH
    return 0.5 * length_m * (1.0 / (speed_a * factor) + 1.0 / (speed_b * factor)) * 0.06
