"""Building networks: joins, expressway rules, one-way streets, OSM files, class mapping."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import LineString, Point

from spatial import access, network
from spatial.errors import InputError
from spatial.router import Router
from spatial.speeds import SpeedTable

DATA = Path(__file__).parent / "data"
CRS = "EPSG:4544"


def lines(*coords, grade="二级公路", **cols):
    return gpd.GeoDataFrame({"grade": [grade] * len(coords), **cols},
                            geometry=[LineString(c) for c in coords], crs=CRS)


def test_mini_county_network_equals_networkx(mini_county):
    for scenario in ("current", "planned"):
        net = network.from_layers(mini_county["roads"], mini_county["expressways"],
                                  mini_county["interchanges"], scenario=scenario)
        g = nx.DiGraph()
        for a, b, w in zip(net.edge_u, net.edge_v, net.edge_minutes):
            if not g.has_edge(a, b) or w < g[a][b]["weight"]:
                g.add_edge(int(a), int(b), weight=float(w))
        targets = net.entrances["node"].tolist()
        ref = nx.multi_source_dijkstra_path_length(g.reverse(copy=True), set(targets))
        dist, _ = Router.from_network(net).to_nearest(targets)
        for node in range(net.n_nodes):
            assert (abs(ref[node] - dist[node]) < 1e-9) if node in ref else np.isinf(dist[node])


def test_entrances_and_scenarios(mini_county):
    cur = network.from_layers(mini_county["roads"], mini_county["expressways"], mini_county["interchanges"])
    plan = network.from_layers(mini_county["roads"], mini_county["expressways"], mini_county["interchanges"],
                               scenario="planned")
    assert list(cur.entrances["name"]) == ["东互通"]
    assert sorted(plan.entrances["name"]) == ["东互通", "北互通"]
    assert cur.pieces["expressway"].sum() == 2 and plan.pieces["expressway"].sum() == 4   # split at the ramp


def test_expressway_without_entrance_is_not_used():
    # road 0→10 km along y=0; expressway along y=50 m from 0→10 km, entrance only at x=10 km;
    # a town at x=0 must drive 10 km of road (10 min at 60 km/h), not hop on the expressway.
    roads = lines([(0, 0), (10000, 0)])
    ex = gpd.GeoDataFrame(geometry=[LineString([(0, 50), (10000, 50)])], crs=CRS)
    ic = gpd.GeoDataFrame({"name": ["口"]}, geometry=[Point(10000, 50)], crs=CRS)
    net = network.from_layers(roads, ex, ic)
    town = gpd.GeoDataFrame({"name": ["镇"]}, geometry=[Point(0, 40)], crs=CRS)     # nearer the expressway
    res = access.to_nearest(town, "entrances", net, access_kmh=15)
    assert res["access_m"].iloc[0] == pytest.approx(40.0)        # snapped to the road, not the expressway
    expected = 40 / 250 + 10.0 + 50 / (40 * 1000 / 60)           # access + road + ramp
    assert res["minutes"].iloc[0] == pytest.approx(expected, abs=0.01)


def test_crossing_lines_are_not_joined_but_t_junctions_and_gaps_are():
    # a road crosses another without a shared vertex: a bridge, no junction
    roads = lines([(0, 0), (1000, 0)], [(500, -500), (500, 500)], [(1000, 5), (2000, 5)], [(1500, 5), (1500, 800)])
    net = network.from_layers(roads, tolerance_m=10)
    # end (1000,0) and (1000,5) joined across 5 m; (1500,5) splits the third line (T junction)
    assert any("joined across gaps of up to 5.0 m" in n for n in net.notes)
    assert any("T junctions" in n for n in net.notes)
    g = nx.Graph(list(zip(net.edge_u.tolist(), net.edge_v.tolist())))
    comps = [len(c) for c in nx.connected_components(g)]
    assert sorted(comps) == [2, 5]           # the crossing road stays separate


def test_one_way_streets_are_respected():
    # square 0→1→2→3→0 one-way (counter-clockwise); going "back" costs three sides
    sq = [(0, 0), (1000, 0), (1000, 1000), (0, 1000)]
    roads = lines(*[[sq[i], sq[(i + 1) % 4]] for i in range(4)], grade="四级公路", oneway=["yes"] * 4)
    net = network.from_layers(roads)
    router = Router.from_network(net)
    node_at = {tuple(np.round(xy)): i for i, xy in enumerate(net.node_xy)}
    d, _ = router.from_nearest([node_at[(1000.0, 0.0)]])
    per_side = 1000 / (20 * 1000 / 60)
    assert d[node_at[(0.0, 0.0)]] == pytest.approx(3 * per_side)
    assert d[node_at[(1000.0, 1000.0)]] == pytest.approx(per_side)
    # "-1" means against the drawing direction
    rev = network.from_layers(lines([(0, 0), (1000, 0)], grade="四级公路", oneway=["-1"]))
    assert len(rev.edge_u) == 1 and tuple(np.round(rev.node_xy[rev.edge_u[0]])) == (1000.0, 0.0)


def test_unknown_road_classes_list_the_values_and_the_fix():
    roads = lines([(0, 0), (1, 0)], [(1, 0), (2, 0)], [(2, 0), (3, 0)], grade="x")
    roads["grade"] = ["二级公路", "县道", "9"]
    with pytest.raises(InputError) as info:
        network.from_layers(roads)
    msg = str(info.value)
    assert "'9', '县道'" in msg and "[aliases]" in msg and "--speeds" in msg


def test_speeds_file_maps_codes_and_scales(tmp_path):
    f = tmp_path / "speeds.toml"
    f.write_text('terrain_factor = 0.5\n[speeds]\n"二级公路" = 80\n[aliases]\n"3" = "二级公路"\n', encoding="utf-8")
    table = SpeedTable.load(f)
    roads = lines([(0, 0), (8000, 0)], grade="3")
    net = network.from_layers(roads, speeds=table)
    assert net.edge_minutes[0] == pytest.approx(8000 / (40 * 1000 / 60))     # 80 × 0.5 = 40 km/h
    f.write_text('[speeds]\n"快速路" = 80\n', encoding="utf-8")
    with pytest.raises(InputError, match="unknown grade '快速路'"):
        SpeedTable.load(f)


def test_detour_factor_and_speed_override():
    roads = lines([(0, 0), (6000, 0)], [(6000, 0), (12000, 0)], detour_factor=[1.5, 1.0], speed_kmh=[None, 36])
    net = network.from_layers(roads)
    by_piece = dict(zip(net.edge_piece.tolist(), net.edge_minutes.tolist()))
    assert sorted(round(v, 6) for v in by_piece.values()) == [9.0, 10.0]      # 9 km @60; 6 km @36


def test_osm_file_offline_with_oneway_and_ramp():
    net = network.from_osm_file(DATA / "mini.osm")
    assert list(net.entrances["name"]) == ["测试互通"]
    assert net.pieces["expressway"].any() and net.pieces["ramp"].any()
    # a place on the primary road west of the ramp reaches the entrance via the ramp
    place = gpd.GeoDataFrame({"name": ["村"]}, geometry=[Point(105.290, 27.2950)], crs=4490)
    res = access.to_nearest(place, "entrances", net)
    assert res["reachable"].iloc[0] and res["target"].iloc[0] == "测试互通"
    # the one-way street runs 8 (105.32, 27.295) → 9 (105.32, 27.29) → 10 (105.30, 27.29) → 7;
    # P is half-way between 8 and 9, J is node 7 on the primary road
    P = gpd.GeoDataFrame({"name": ["P"]}, geometry=[Point(105.320, 27.2925)], crs=4490)
    J = gpd.GeoDataFrame({"name": ["J"]}, geometry=[Point(105.300, 27.2950)], crs=4490)
    m = lambda lon0, lat0, lon1, lat1: float(gpd.GeoSeries([Point(lon0, lat0), Point(lon1, lat1)], crs=4490)
                                             .to_crs(CRS).pipe(lambda g: g.iloc[0].distance(g.iloc[1])))
    with_flow = (m(105.32, 27.2925, 105.32, 27.29) + m(105.32, 27.29, 105.30, 27.29)
                 + m(105.30, 27.29, 105.30, 27.295)) / 250            # 15 km/h = 250 m/min
    against = m(105.30, 27.295, 105.32, 27.295) / 1000 + m(105.32, 27.295, 105.32, 27.2925) / 250
    forward = access.to_nearest(P, J, net)["minutes"].iloc[0]
    backward = access.to_nearest(J, P, net)["minutes"].iloc[0]
    assert forward == pytest.approx(with_flow, abs=0.05)
    assert backward == pytest.approx(against, abs=0.05)


def test_bad_osm_file(tmp_path):
    bad = tmp_path / "bad.osm"
    bad.write_text("<osm><node", encoding="utf-8")
    with pytest.raises(InputError, match="cannot read as OpenStreetMap XML"):
        network.from_osm_file(bad)


def test_line_end_near_another_lines_start_still_joins():
    # B ends 15 m from A's interior, 15 m along A: within tolerance, so they connect
    roads = lines([(0, 0), (1000, 0)], [(15, 500), (15, 15)])
    net = network.from_layers(roads, tolerance_m=20)
    origin = gpd.GeoDataFrame({"name": ["o"]}, geometry=[Point(15, 500)], crs=CRS)
    target = gpd.GeoDataFrame({"name": ["t"]}, geometry=[Point(1000, 0)], crs=CRS)
    res = access.to_nearest(origin, target, net)
    assert res["reachable"].iloc[0]
    assert res["minutes"].iloc[0] == pytest.approx((485 + 985) / 1000, abs=0.05)   # 60 km/h


def test_osm_two_way_street_can_be_left_both_ways():
    net = network.from_osm_file(DATA / "mini.osm")
    # the primary road 6 (105.28) – 7 (105.30) – 8 (105.32) at lat 27.295 is two-way
    place = gpd.GeoDataFrame({"name": ["P"]}, geometry=[Point(105.290, 27.2950)], crs=4490)
    east = gpd.GeoDataFrame({"name": ["E"]}, geometry=[Point(105.320, 27.2950)], crs=4490)
    west = gpd.GeoDataFrame({"name": ["W"]}, geometry=[Point(105.280, 27.2950)], crs=4490)
    d = gpd.GeoSeries([Point(105.29, 27.295), Point(105.32, 27.295), Point(105.28, 27.295)], crs=4490).to_crs(CRS)
    to_e = access.to_nearest(place, east, net)["minutes"].iloc[0]
    to_w = access.to_nearest(place, west, net)["minutes"].iloc[0]
    assert to_e == pytest.approx(d.iloc[0].distance(d.iloc[1]) / 1000, abs=0.02)     # 60 km/h, no detour
    assert to_w == pytest.approx(d.iloc[0].distance(d.iloc[2]) / 1000, abs=0.02)


def test_a_simplified_graphml_reads_offline_the_same_in_every_order(tmp_path):
    import osmnx as ox
    graph = ox.graph_from_xml(str(DATA / "mini.osm"), simplify=True, retain_all=True)
    ox.save_graphml(graph, tmp_path / "cache.graphml")
    a = network.from_osm_file(DATA / "mini.osm")
    b = network.from_osm_file(tmp_path / "cache.graphml")
    assert a.pieces.geometry.length.sum() == pytest.approx(b.pieces.geometry.length.sum())
    assert b.digest() == network.from_osm_file(tmp_path / "cache.graphml").digest()


def test_a_speed_table_without_a_grade_is_named_not_a_crash():
    table = SpeedTable(speeds={"三级公路": 30.0})
    roads = lines([(500000, 3000000), (510000, 3000000)], grade="二级公路")
    with pytest.raises(InputError, match="no positive speed for road grade.*二级公路"):
        network.from_layers(roads, speeds=table)


def _to_pbf(src: Path, dst: Path, extra_way=None, extra_ways=()):
    import osmium
    with osmium.SimpleWriter(str(dst)) as w:
        for o in osmium.FileProcessor(str(src)):
            if o.is_node():
                w.add_node(o)
            elif o.is_way():
                w.add_way(o)
        if extra_way is not None:
            w.add_way(extra_way)
        for way in extra_ways:
            w.add_way(way)
    return dst


def test_osm_pbf_reads_like_the_xml(tmp_path):
    import osmium
    # a building outline on the same nodes must not become a road
    building = osmium.osm.mutable.Way(id=999, nodes=[1, 2, 3], tags={"building": "yes"})
    pbf = _to_pbf(DATA / "mini.osm", tmp_path / "mini.osm.pbf", extra_way=building)
    a, b = network.from_osm_file(DATA / "mini.osm"), network.from_osm_file(pbf)
    assert (a.n_nodes, len(a.edge_u)) == (b.n_nodes, len(b.edge_u))
    assert np.allclose(np.sort(a.edge_minutes), np.sort(b.edge_minutes))
    assert list(a.entrances["name"]) == list(b.entrances["name"]) == ["测试互通"]


def test_osm_pbf_errors_name_the_file(tmp_path):
    import osmium
    empty = tmp_path / "nothing.osm.pbf"
    with osmium.SimpleWriter(str(empty)) as w:
        w.add_node(osmium.osm.mutable.Node(id=1, location=(105.3, 27.3), tags={}))
    with pytest.raises(InputError, match="no drivable highway ways") as e:
        network.from_osm_file(empty)
    assert "nothing.osm.pbf" in str(e.value)
    junk = tmp_path / "junk.osm.pbf"
    junk.write_bytes(b"not a pbf at all")
    with pytest.raises(InputError, match="cannot read as OpenStreetMap PBF"):
        network.from_osm_file(junk)
    with pytest.raises(InputError, match="no such file"):
        network.from_osm_file(tmp_path / "missing.osm.pbf")


def test_only_drivable_ways_become_roads(tmp_path):
    import osmium
    Way = osmium.osm.mutable.Way
    extra = [Way(id=991, nodes=[1, 3], tags={"highway": "footway"}),
             Way(id=992, nodes=[1, 3], tags={"highway": "proposed"}),
             Way(id=993, nodes=[1, 3], tags={"highway": "primary", "access": "private"}),
             Way(id=994, nodes=[1, 3], tags={"highway": "construction"})]
    base = network.from_osm_file(DATA / "mini.osm")
    for suffix in (".osm.pbf", ".osm"):
        path = _to_pbf(DATA / "mini.osm", tmp_path / f"more{suffix}", extra_ways=extra)
        net = network.from_osm_file(path)
        assert (net.n_nodes, len(net.edge_u)) == (base.n_nodes, len(base.edge_u)), suffix
        assert np.allclose(np.sort(net.edge_minutes), np.sort(base.edge_minutes))
