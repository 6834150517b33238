"""Shortest travel times on a :class:`~spatial.network.Network`, at C speed.

The graph is held as CSR arrays (parallel edges reduced to the fastest) and searched with
``scipy.sparse.csgraph.dijkstra``. Several sources (or targets) with their own starting
offsets — e.g. the minutes of an access leg — are handled by one virtual super-node, and the
source each node is closest to is recovered from the predecessor tree by pointer jumping,
so one search answers "how far to the nearest target, and which one" for every node.

*Local* edges (OpenStreetMap ``access=destination``, tracks, parking aisles) may start or end
a trip but never lie in its middle. The search then runs on three copies of the graph: layer
A before the first ordinary edge (local edges allowed), layer B on ordinary edges, layer C
after leaving them for local edges again (no way back). An ordinary edge leads A→B and B→B,
a local edge A→A, B→C and C→C; a node's answer is the best of its three copies.
"""
from __future__ import annotations

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra


def csr_from_edges(u, v, w, n: int) -> csr_matrix:
    """A CSR matrix with the minimum weight of parallel edges; explicit zeros stay edges."""
    u = np.asarray(u, np.int64)
    v = np.asarray(v, np.int64)
    w = np.asarray(w, float)
    if len(u):
        key = u * n + v
        order = np.argsort(key, kind="stable")
        key, w = key[order], w[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        w = np.minimum.reduceat(w, starts)
        key = key[starts]
        u, v = key // n, key % n
    indptr = np.zeros(n + 1, np.int64)
    indptr[1:] = np.cumsum(np.bincount(u, minlength=n))
    return csr_matrix((w, v.astype(np.int32), indptr), shape=(n, n))


def _with_super_row(base: csr_matrix, targets: np.ndarray, offsets: np.ndarray) -> csr_matrix:
    """``base`` plus one extra node (the last) with edges to ``targets`` weighted ``offsets``."""
    n = base.shape[0]
    order = np.argsort(targets, kind="stable")
    t, o = targets[order], offsets[order]
    first = np.r_[True, t[1:] != t[:-1]]
    starts = np.flatnonzero(first)
    o = np.minimum.reduceat(o, starts) if len(o) else o
    t = t[starts]
    indptr = np.concatenate([base.indptr, [base.indptr[-1] + len(t)]])
    return csr_matrix((np.concatenate([base.data, o]), np.concatenate([base.indices, t.astype(base.indices.dtype)]),
                       indptr), shape=(n + 1, n + 1))


def _roots(pred: np.ndarray, super_node: int) -> np.ndarray:
    """For each node, the child of the super-node its shortest path comes through (-1: none)."""
    n = len(pred)
    parent = pred.copy()
    top = parent == super_node
    unreached = parent < 0
    parent[top | unreached] = np.arange(n)[top | unreached]
    for _ in range(64):
        nxt = parent[parent]
        if np.array_equal(nxt, parent):
            break
        parent = nxt
    roots = parent
    roots[unreached & ~top] = -1
    return roots


class Router:
    """Multi-source shortest paths over ``n`` nodes and directed weighted edges.

    ``local`` (one flag per edge, optional) marks edges that may only start or end a trip.
    """

    def __init__(self, u, v, w, n: int, local=None):
        self.n = int(n)
        self.u = np.asarray(u, np.int64)
        self.v = np.asarray(v, np.int64)
        self.w = np.asarray(w, float)
        if len(self.w) and (np.isnan(self.w).any() or (self.w < 0).any()):
            raise ValueError("edge weights must be non-negative numbers")
        self.local = None if local is None or not np.any(local) else np.asarray(local, bool)
        if self.local is not None and len(self.local) != len(self.u):
            raise ValueError("one local flag per edge is needed")
        self.layers = 3 if self.local is not None else 1
        #: after a search with local edges: the minutes at each node that still allow ordinary
        #: edges (layers A and B), for drawing what is reached along ordinary roads
        self.through = None

    @classmethod
    def from_network(cls, net) -> "Router":
        return cls(net.edge_u, net.edge_v, net.edge_minutes, net.n_nodes, getattr(net, "edge_local", None))

    def _base(self, reverse: bool) -> csr_matrix:
        """The graph (reversed for distances *to* targets) as CSR, built once."""
        key = "_csr_rev" if reverse else "_csr_fwd"
        if getattr(self, key, None) is None:
            u, v = (self.v, self.u) if reverse else (self.u, self.v)
            w, n = self.w, self.n
            if self.local is not None:
                loc, n = self.local, 3 * self.n
                A, B, C = 0, self.n, 2 * self.n
                ou, ov, ow = u[~loc], v[~loc], w[~loc]
                lu, lv, lw = u[loc], v[loc], w[loc]
                u = np.concatenate([A + ou, B + ou, A + lu, B + lu, C + lu])
                v = np.concatenate([B + ov, B + ov, A + lv, C + lv, C + lv])
                w = np.concatenate([ow, ow, lw, lw, lw])
            setattr(self, key, csr_from_edges(u, v, w, n))
        return getattr(self, key)

    def _search(self, sources, offsets, reverse: bool, limit: float):
        sources = np.asarray(sources, np.int64)
        offsets = np.zeros(len(sources)) if offsets is None else np.asarray(offsets, float)
        if len(sources) == 0:
            raise ValueError("no sources to search from")
        N = self.n * self.layers
        # each node listed as a source answers for the list entry with the smallest offset
        lookup = np.full(N, -1, np.int64)
        for i in np.argsort(offsets, kind="stable")[::-1]:
            lookup[sources[i]] = i
        base = self._base(reverse)
        if not offsets.any():
            dist, _, src = dijkstra(base, directed=True, indices=np.unique(sources), min_only=True,
                                    return_predecessors=True, limit=limit)
            which = np.where(src >= 0, lookup[np.maximum(src, 0)], -1)
        else:
            graph = _with_super_row(base, sources, offsets)
            dist, pred = dijkstra(graph, directed=True, indices=N, return_predecessors=True, limit=limit)
            roots = _roots(pred, N)[:N]
            dist = dist[:N]
            which = np.where(roots >= 0, lookup[np.maximum(roots, 0)], -1)
        if self.layers == 1:
            self.through = dist
            return dist, which
        d3, w3 = dist.reshape(3, self.n), which.reshape(3, self.n)
        best = np.argmin(d3, axis=0)
        cols = np.arange(self.n)
        self.through = np.minimum(d3[0], d3[1])
        return d3[best, cols], w3[best, cols]

    def to_nearest(self, targets, offsets=None, limit: float = np.inf):
        """Minutes from every node to its nearest target, and that target's index.

        ``offsets`` (minutes) are added at each target, e.g. the walk from the road to the
        facility. Unreachable nodes get ``inf`` and index ``-1``.
        """
        return self._search(targets, offsets, reverse=True, limit=limit)

    def from_nearest(self, sources, offsets=None, limit: float = np.inf):
        """Minutes from the nearest source to every node, and that source's index."""
        return self._search(sources, offsets, reverse=False, limit=limit)

    def matrix(self, sources, limit: float = np.inf) -> np.ndarray:
        """Minutes from each of ``sources`` (rows) to every node (columns)."""
        sources = np.asarray(sources, np.int64)
        dist = dijkstra(self._base(False), directed=True, indices=sources, limit=limit)
        if self.layers == 1:
            return dist
        return dist.reshape(len(sources), 3, self.n).min(axis=1)
