"""Shortest travel times on a :class:`~spatial.network.Network`, at C speed.

The graph is held as CSR arrays (parallel edges reduced to the fastest) and searched with
``scipy.sparse.csgraph.dijkstra``. Several sources (or targets) with their own starting
offsets — e.g. the minutes of an access leg — are handled by one virtual super-node, and the
source each node is closest to is recovered from the predecessor tree by pointer jumping,
so one search answers "how far to the nearest target, and which one" for every node.
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
        order = np.lexsort((w, v, u))
        u, v, w = u[order], v[order], w[order]
        first = np.ones(len(u), bool)
        first[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
        u, v, w = u[first], v[first], w[first]
    indptr = np.zeros(n + 1, np.int64)
    np.add.at(indptr, u + 1, 1)
    indptr = np.cumsum(indptr)
    return csr_matrix((w, v.astype(np.int32), indptr), shape=(n, n))


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
    """Multi-source shortest paths over ``n`` nodes and directed weighted edges."""

    def __init__(self, u, v, w, n: int):
        self.n = int(n)
        self.u = np.asarray(u, np.int64)
        self.v = np.asarray(v, np.int64)
        self.w = np.asarray(w, float)
        if len(self.w) and (np.isnan(self.w).any() or (self.w < 0).any()):
            raise ValueError("edge weights must be non-negative numbers")

    @classmethod
    def from_network(cls, net) -> "Router":
        return cls(net.edge_u, net.edge_v, net.edge_minutes, net.n_nodes)

    def _search(self, sources, offsets, reverse: bool, limit: float):
        sources = np.asarray(sources, np.int64)
        offsets = np.zeros(len(sources)) if offsets is None else np.asarray(offsets, float)
        s = self.n                                   # the virtual super-node
        su, sv = (self.v, self.u) if reverse else (self.u, self.v)
        u = np.concatenate([su, np.full(len(sources), s)])
        v = np.concatenate([sv, sources])
        w = np.concatenate([self.w, offsets])
        graph = csr_from_edges(u, v, w, self.n + 1)
        dist, pred = dijkstra(graph, directed=True, indices=s, return_predecessors=True, limit=limit)
        roots = _roots(pred, s)[: self.n]
        # map the reaching source node back to the index of the source list (first wins on ties
        # of the same node listed twice: the smaller offset is the one kept by csr_from_edges)
        best = {}
        for i in np.argsort(offsets, kind="stable"):
            best.setdefault(int(sources[i]), int(i))
        lookup = np.full(self.n, -1, np.int64)
        keys = np.fromiter(best.keys(), np.int64, len(best))
        lookup[keys] = np.fromiter(best.values(), np.int64, len(best))
        which = np.where(roots >= 0, lookup[np.maximum(roots, 0)], -1)
        return dist[: self.n], which

    def to_nearest(self, targets, offsets=None, limit: float = np.inf):
        """Minutes from every node to its nearest target, and that target's index.

        ``offsets`` (minutes) are added at each target, e.g. the walk from the road to the
        facility. Unreachable nodes get ``inf`` and index ``-1``.
        """
        return self._search(targets, offsets, reverse=True, limit=limit)

    def from_nearest(self, sources, offsets=None, limit: float = np.inf):
        """Minutes from the nearest source to every node, and that source's index."""
        return self._search(sources, offsets, reverse=False, limit=limit)
