"""The CSR router against networkx as an independent reference."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest

from spatial.router import Router, csr_from_edges


def random_graph(seed, n=600, m=2400):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, n, m)
    v = rng.integers(0, n, m)
    w = rng.random(m) * 10
    w[rng.random(m) < 0.02] = 0.0           # some zero-length edges
    return u, v, w, n, rng


def nx_graph(u, v, w, n):
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for a, b, c in zip(u.tolist(), v.tolist(), w.tolist()):
        if not g.has_edge(a, b) or c < g[a][b]["weight"]:
            g.add_edge(a, b, weight=c)
    return g


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_equals_networkx_multi_source_dijkstra(seed):
    u, v, w, n, rng = random_graph(seed)
    targets = rng.choice(n, 15, replace=False)
    dist, which = Router(u, v, w, n).to_nearest(targets)
    g = nx_graph(u, v, w, n).reverse(copy=True)
    ref_len, ref_path = nx.multi_source_dijkstra(g, set(targets.tolist()))
    ref = np.full(n, np.inf)
    for node, d in ref_len.items():
        ref[node] = d
    assert np.array_equal(np.isinf(ref), np.isinf(dist))
    finite = np.isfinite(ref)
    assert np.max(np.abs(ref[finite] - dist[finite])) < 1e-9
    # the target reported is one at exactly that distance
    fwd = nx_graph(u, v, w, n)
    for node in rng.choice(np.flatnonzero(finite), 40):
        t = int(targets[which[node]])
        assert abs(nx.shortest_path_length(fwd, int(node), t, weight="weight") - dist[node]) < 1e-9
    assert (which[~finite] == -1).all()


def test_offsets_equal_networkx_with_a_super_source():
    u, v, w, n, rng = random_graph(9)
    sources = rng.choice(n, 10, replace=False)
    offsets = rng.random(10) * 5
    dist, which = Router(u, v, w, n).from_nearest(sources, offsets)
    g = nx_graph(u, v, w, n)
    for s, o in zip(sources.tolist(), offsets.tolist()):
        g.add_edge("S", s, weight=o)
    ref = nx.single_source_dijkstra_path_length(g, "S")
    for node in range(n):
        if node in ref:
            assert abs(ref[node] - dist[node]) < 1e-9
            assert abs(offsets[which[node]] + nx.shortest_path_length(
                g, int(sources[which[node]]), node, weight="weight") - dist[node]) < 1e-9
        else:
            assert np.isinf(dist[node]) and which[node] == -1


def test_parallel_edges_keep_the_fastest_and_zero_weights_stay_edges():
    m = csr_from_edges([0, 0, 1], [1, 1, 2], [5.0, 2.0, 0.0], 3)
    assert m[0, 1] == 2.0 and m.nnz == 2
    dist, _ = Router([0, 0, 1], [1, 1, 2], [5.0, 2.0, 0.0], 3).from_nearest([0])
    assert list(dist) == [0.0, 2.0, 2.0]


def test_limit_and_negative_weights():
    dist, which = Router([0, 1], [1, 2], [1.0, 1.0], 3).from_nearest([0], limit=1.5)
    assert dist[1] == 1.0 and np.isinf(dist[2]) and which[2] == -1
    with pytest.raises(ValueError, match="non-negative"):
        Router([0], [1], [-1.0], 2)
