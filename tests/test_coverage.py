"""Coverage: buffers against πr², unions against geopandas, shares on grids, MCLP by enumeration."""
from __future__ import annotations

import itertools
import math
import re

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import shapely
from rasterio.transform import from_origin
from shapely.geometry import LineString, Point, box

from spatial import coverage, network, settings
from spatial.errors import InputError

CRS = "EPSG:4544"
X, Y = 530000.0, 3020000.0


def pts(*xy, **cols):
    return gpd.GeoDataFrame(cols or {"name": [f"p{i}" for i in range(len(xy))]},
                            geometry=[Point(X + a, Y + b) for a, b in xy], crs=CRS)


@pytest.mark.parametrize("text,metres", [("500m", 500), ("1.5km", 1500), ("300 米", 300), ("2公里", 2000)])
def test_parse_distance(text, metres):
    assert coverage.parse_distance(text) == metres


@pytest.mark.parametrize("bad", ["500", 500, "five hundred", "-3m", "0m"])
def test_parse_distance_refuses(bad):
    with pytest.raises(InputError):
        coverage.parse_distance(bad)


@pytest.mark.parametrize("quad_segs", [8, 16, 64])
def test_buffer_area_against_pi_r_squared(quad_segs):
    r = 800.0
    out = coverage.buffers(pts((0, 0)).to_crs(4490), r, quad_segs=quad_segs)
    area = out.to_crs(CRS).area.iloc[0]
    n = 4 * quad_segs
    # an inscribed n-gon falls short of the circle by about (2π/n)²/6 of its area
    assert abs(area - math.pi * r * r) / (math.pi * r * r) <= (2 * math.pi / n) ** 2 / 6 * 1.05
    assert out["area_km2"].iloc[0] == pytest.approx(area / 1e6, abs=1e-4)


def test_union_of_overlapping_buffers_matches_geopandas():
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 20000, (400, 2))
    p = pts(*map(tuple, xy))
    ours = coverage.buffers(p, 700, dissolve=True).to_crs(CRS).geometry.iloc[0]
    ref = p.buffer(700, quad_segs=16).union_all()          # independent: geopandas, one by one
    assert abs(ours.area - ref.area) / ref.area < 1e-3
    assert ours.symmetric_difference(ref).area / ref.area < 2e-3
    lines = gpd.GeoDataFrame(geometry=[LineString([(X + i * 50, Y), (X + i * 50 + 300, Y + 300)]) for i in range(1200)], crs=CRS)
    ours_l = coverage.union_buffers(lines.geometry.values, 100)
    ref_l = lines.buffer(100).union_all()
    assert abs(ours_l.area - ref_l.area) / ref_l.area < 1e-9


def test_protection_zones_need_distances_and_make_rings():
    res = pts((0, 0), name=["倒天河水库"])
    z = coverage.protection_zones(res, 300, 2000).to_crs(CRS)
    first, second = z.geometry.iloc[0], z.geometry.iloc[1]
    assert list(z["level"]) == ["一级保护区", "二级保护区"]
    assert first.area == pytest.approx(math.pi * 300 ** 2, rel=2e-3)
    assert second.area == pytest.approx(math.pi * (2300 ** 2 - 300 ** 2), rel=2e-3)
    assert first.intersection(second).area < 1.0
    with pytest.raises(InputError, match="positive"):
        coverage.protection_zones(res, 0, 2000)


def test_coverage_shares_on_a_grid():
    # four 1 km townships in a row; one service area covers exactly the first one and half the second
    towns = gpd.GeoDataFrame({"name": list("ABCD"), "population": [1000, 2000, 0, 500]},
                             geometry=[box(X + i * 1000, Y, X + (i + 1) * 1000, Y + 1000) for i in range(4)], crs=CRS)
    area = gpd.GeoDataFrame(geometry=[box(X, Y, X + 1500, Y + 1000)], crs=CRS)
    table, gaps = coverage.coverage_stats(area, towns)
    t = table.set_index("name")
    assert list(t["covered_pct"]) == [100.0, 50.0, 0.0, 0.0]
    assert t.at["B", "covered_km2"] == pytest.approx(0.5)
    assert t.at["B", "covered_population"] == 1000 and np.isnan(t.at["C", "covered_pop_pct"])
    g = gaps.to_crs(CRS).dissolve("township").area
    assert g["B"] == pytest.approx(5e5) and g["C"] == pytest.approx(1e6) and "A" not in g.index


def _population_raster(path, crs="EPSG:4544", value=10.0, origin=(X - 500, Y + 1500), cell=100.0, size=(30, 60)):
    data = np.full(size, value, dtype="float32")
    with rasterio.open(path, "w", driver="GTiff", height=size[0], width=size[1], count=1, dtype="float32",
                       crs=crs, transform=from_origin(origin[0], origin[1], cell, cell), nodata=-1) as dst:
        dst.write(data, 1)
    return path


def test_population_raster_sums_and_other_crs(tmp_path):
    towns = gpd.GeoDataFrame({"name": ["A", "B"]},
                             geometry=[box(X, Y, X + 1000, Y + 1000), box(X + 1000, Y, X + 2000, Y + 1000)], crs=CRS)
    area = gpd.GeoDataFrame(geometry=[box(X, Y, X + 1500, Y + 1000)], crs=CRS)
    r = _population_raster(tmp_path / "pop.tif")
    table, _ = coverage.coverage_stats(area, towns, population_raster=r)
    assert list(table["population"]) == [1000, 1000]                 # 100 cells × 10 people
    assert list(table["covered_population"]) == [1000, 500]
    # the same population in Web Mercator: the layers are transformed, the raster left as is
    r2 = tmp_path / "pop3857.tif"
    with rasterio.open(r) as src:
        from rasterio.warp import calculate_default_transform, reproject, Resampling
        t, w, h = calculate_default_transform(src.crs, "EPSG:3857", src.width, src.height, *src.bounds)
        with rasterio.open(r2, "w", driver="GTiff", height=h, width=w, count=1, dtype="float32",
                           crs="EPSG:3857", transform=t, nodata=-1) as dst:
            reproject(rasterio.band(src, 1), rasterio.band(dst, 1), resampling=Resampling.nearest)
    table2, _ = coverage.coverage_stats(area, towns, population_raster=r2)
    ratio = table2["population"] / table2["population"].sum()
    assert ratio.to_numpy() == pytest.approx([0.5, 0.5], abs=0.05)
    far = _population_raster(tmp_path / "far.tif", origin=(X + 50000, Y + 50000))
    with pytest.raises(InputError, match="does not cover them"):
        coverage.coverage_stats(area, towns, population_raster=far)


def test_facility_counts():
    areas = gpd.GeoDataFrame(geometry=[box(X, Y, X + 100, Y + 100), box(X + 50, Y, X + 150, Y + 100)], crs=CRS)
    places = pts((10, 10), (75, 50), (120, 50), (500, 500))
    assert list(coverage.facility_counts(places, areas)) == [1, 2, 1, 0]


def test_health_circles_walk_in_town_and_drive_outside():
    roads = gpd.GeoDataFrame({"grade": ["三级公路"]}, geometry=[LineString([(X, Y), (X + 30000, Y)])], crs=CRS)
    net = network.from_layers(roads)
    fac = pts((0, 0), (20000, 0), name=["社区卫生服务中心", "乡镇卫生院"], setting=["urban", "rural"])
    circles = coverage.health_circles(fac, net, urban_minutes=15, rural_minutes=30, buffer_m=100, offroad=False)
    c = circles.to_crs(CRS).set_index("name")
    # on foot 15 min at 4.5 km/h = 1125 m of road (one way from the end); by road 30 min at 30 km/h = 15 km
    # the bands are drawn on a grid of a sixth of the corridor (100/6 m): edges within a cell
    assert c.loc["社区卫生服务中心"].geometry.bounds[2] - X == pytest.approx(1125 + 100, abs=100 / 6)
    assert c.loc["乡镇卫生院"].geometry.bounds[2] - X == pytest.approx(30000 + 100, abs=2)   # to the road's end
    assert c.loc["乡镇卫生院"].geometry.bounds[0] - X == pytest.approx(5000 - 100, abs=2)
    assert set(circles["mode"]) == {"步行", "车行"}
    # with off-road access (default): on foot the reach beside the road ends at the same 1,125 m
    # tip; by road the land is reached at 15 km/h with the time left: 2.5 km beyond the road's
    # end (10 min left there), 7.5 km around the centre itself, nothing beyond the 15 km tip
    off = coverage.health_circles(fac, net, urban_minutes=15, rural_minutes=30).to_crs(CRS).set_index("name")
    # (off-road reach is drawn on a 25 m grid: edges within a cell)
    assert off.loc["社区卫生服务中心"].geometry.bounds[2] - X == pytest.approx(1125, abs=25)
    rb = off.loc["乡镇卫生院"].geometry.bounds
    assert rb[2] - X == pytest.approx(32500, abs=25) and rb[0] - X == pytest.approx(5000, abs=25)
    assert rb[3] - Y == pytest.approx(7500, abs=25)
    with pytest.raises(InputError, match="has no points"):
        coverage.health_circles(gpd.GeoDataFrame(geometry=[box(X, Y, X + 1, Y + 1)], crs=CRS), net)
    with pytest.raises(InputError, match="must be positive"):
        coverage.health_circles(fac, net, rural_minutes=-5)


def _enumerate(cover, w, k):
    return max(w[cover[:, list(c)].any(axis=1)].sum() for c in itertools.combinations(range(cover.shape[1]), k))


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_mclp_reaches_the_enumerated_optimum(seed):
    rng = np.random.default_rng(seed)
    cover = rng.random((40, 9)) < 0.25
    w = rng.integers(1, 100, 40).astype(float)
    for k in (1, 2, 3):
        best = _enumerate(cover, w, k)
        exact = coverage.choose_sites(cover, w, k, solver="exact")
        assert exact["cumulative"].iloc[-1] == pytest.approx(best)
        assert list(exact["gain"]) == sorted(exact["gain"], reverse=True)
        greedy = coverage.choose_sites(cover, w, k, solver="greedy")
        assert greedy["cumulative"].iloc[-1] <= best + 1e-9
        assert greedy["cumulative"].iloc[-1] >= (1 - 1 / math.e) * best - 1e-9


def test_greedy_can_miss_the_optimum_that_exact_finds():
    # classic trap: one big site overlapping two others that together cover more
    cover = np.array([[1, 1, 0], [1, 1, 0], [1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 1]], bool)
    w = np.array([10, 10, 10, 10, 9, 9], float)
    assert coverage.choose_sites(cover, w, 2, solver="greedy")["cumulative"].iloc[-1] == 49
    assert coverage.choose_sites(cover, w, 2, solver="exact")["cumulative"].iloc[-1] == 58


def test_coverage_matrix_over_the_network():
    roads = gpd.GeoDataFrame({"grade": ["二级公路"]}, geometry=[LineString([(X, Y), (X + 60000, Y)])], crs=CRS)
    net = network.from_layers(roads)
    cand = pts((0, 0), (30000, 0))
    dem = pts((10000, 0), (25000, 0), (50000, 0))
    m = coverage.coverage_matrix(cand, dem, net, minutes=15)      # 15 km at 60 km/h
    assert m.tolist() == [[True, False], [False, True], [False, False]]
    with pytest.raises(InputError, match="k must be between"):
        coverage.choose_sites(m, [1, 1, 1], 3)


def test_cli_coverage_commands(tmp_path, capsys, monkeypatch, mini_county):
    from spatial import cli
    import pyogrio
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    folder = mini_county["folder"]
    x0, y0 = 520000.0, 3010000.0
    gpd.GeoDataFrame({"name": ["区人民医院", "乙乡卫生院"], "setting": ["urban", "rural"]},
                     geometry=[Point(x0 + 1000, y0), Point(x0 + 20000, y0 + 15000)], crs=CRS).to_file(folder / "health_facilities.geojson")
    gpd.GeoDataFrame({"name": ["西区", "东区"], "population": [30000, 10000]},
                     geometry=[box(x0 - 1000, y0 - 1000, x0 + 10000, y0 + 16000),
                               box(x0 + 10000, y0 - 1000, x0 + 25000, y0 + 16000)], crs=CRS).to_file(folder / "township_areas.geojson")
    layers = ["--layers", str(folder)]
    out = tmp_path / "health.gpkg"
    code = cli.main(layers + ["coverage", "health", "--suggest", "1", "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "service areas: 1 urban (15 min on foot), 1 rural (30 min by road)" in captured.out
    # no population on the seats: demand is a 1 km grid over the township areas, weighted by km²
    m = re.search(r"demand: (\d+) point\(s\), ([\d.,]+) km² not yet covered; (\d+) candidate", captured.out)
    areas = gpd.read_file(folder / "township_areas.geojson")
    assert m and int(m.group(1)) == len(coverage.demand_grid(areas))
    gain = re.search(r"suggest .+: \+([\d.,]+) km² covered \(cumulative ([\d.,]+); exact", captured.out)
    assert gain and 0 < float(gain.group(1)) <= float(m.group(2).replace(",", ""))
    assert {"circles", "coverage", "gaps", "suggested_sites"} <= set(pyogrio.list_layers(out)[:, 0])
    code = cli.main(layers + ["coverage", "protection", "--layer", "interchanges", "--first", "300m",
                              "--second", "2km", "--out", str(tmp_path / "p.zip")])
    captured = capsys.readouterr()
    assert code == 0 and "一级保护区: 2 zone(s)" in captured.out
    assert cli.main(layers + ["coverage", "protection", "--first", "300"]) == 2
    assert cli.main(layers + ["coverage", "health", "--rural-minutes", "-30"]) == 2
    assert "must be positive" in capsys.readouterr().err


def test_population_window_keeps_edge_cells(tmp_path):
    # 100 m cells of one person; a zone from +240 to +760 m holds 6 × 6 cell centres
    r = _population_raster(tmp_path / "one.tif", value=1.0, origin=(X, Y + 1000), size=(10, 10))
    zone = gpd.GeoDataFrame({"name": ["z"]}, geometry=[box(X + 240, Y + 240, X + 760, Y + 760)], crs=CRS)
    assert coverage.zonal_population(r, zone)["population"].iloc[0] == 36


def test_demand_grid_weights_sum_to_the_area():
    area = gpd.GeoDataFrame(geometry=[box(X, Y, X + 10500, Y + 3000)], crs=CRS)
    grid = coverage.demand_grid(area, 1000)
    assert len(grid) == 11 * 3
    assert grid["weight"].sum() == pytest.approx(31.5)
    assert grid["weight"].min() == pytest.approx(0.5)        # the cut column
    with pytest.raises(InputError, match="grid cell size"):
        coverage.demand_grid(area, 0)


def test_offroad_service_area_is_the_analytic_cone():
    # one 60 km/h road from the place eastwards; 10 minutes; 15 km/h across country:
    # reach along the road 10 km, beside it a radius of (10 − t) × 250 m, i.e. a disc of
    # R0 = 2,500 m at the place and a cone to the point 10 km east (tangent half-angle asin 0.25)
    roads = gpd.GeoDataFrame({"grade": ["二级公路"]}, geometry=[LineString([(X, Y), (X + 20000, Y)])], crs=CRS)
    net = network.from_layers(roads)
    fac = pts((0, 0))
    area = coverage.service_areas(fac, net, 10, access_kmh=15, buffer_m=1, offroad=True).to_crs(CRS).area.iloc[0]
    r0, k = 2500.0, 0.25
    d = r0 / k
    t = np.sqrt(d * d - r0 * r0)
    expected = np.pi * r0 ** 2 + r0 * t - np.arccos(k) * r0 ** 2
    assert area == pytest.approx(expected, rel=0.02)
    corridor = coverage.service_areas(fac, net, 10, buffer_m=300).to_crs(CRS).area.iloc[0]
    assert corridor == pytest.approx(10000 * 600 + np.pi * 300 ** 2, rel=0.01)


def test_existing_coverage_and_default_candidates():
    roads = gpd.GeoDataFrame({"name": ["东西路"], "grade": ["二级公路"]},
                             geometry=[LineString([(X, Y), (X + 60000, Y)])], crs=CRS)
    net = network.from_layers(roads)
    fac = pts((0, 0))
    dem = pts((10000, 0), (40000, 0), (10000, 3000))
    done = coverage.covered_by(fac, dem, net, urban=np.array([False]), urban_minutes=15, rural_minutes=15)
    # 10 km by road = 10 min; 3 km off the road at 15 km/h = 12 min more → 22 > 15
    assert done.tolist() == [True, False, False]
    assert done.tolist() == coverage.coverage_matrix(fac, dem, net, 15).any(axis=1).tolist()
    seats = gpd.GeoDataFrame({"name": ["甲", "乙"]}, geometry=[Point(X, Y), Point(X + 50000, Y)], crs=CRS)
    cand = coverage.candidate_sites(seats, roads, fac)
    assert list(cand["name"]) == ["乙", "东西路 中点"]            # 甲 already has the facility


def test_offroad_reach_does_not_depend_on_how_roads_are_cut():
    # one road, or the same road cut in two: the land reached must be the same, including the
    # land beside the stretch that is reached from end to end
    whole = gpd.GeoDataFrame({"grade": ["二级公路"]}, geometry=[LineString([(X, Y), (X + 20000, Y)])], crs=CRS)
    cut = gpd.GeoDataFrame({"grade": ["二级公路"] * 2},
                           geometry=[LineString([(X, Y), (X + 3000, Y)]), LineString([(X + 3000, Y), (X + 20000, Y)])],
                           crs=CRS)
    fac = pts((0, 0))
    a = coverage.service_areas(fac, network.from_layers(whole), 10, access_kmh=15, offroad=True).to_crs(CRS)
    b = coverage.service_areas(fac, network.from_layers(cut), 10, access_kmh=15, offroad=True).to_crs(CRS)
    assert b.area.iloc[0] == pytest.approx(a.area.iloc[0], rel=0.01)
    # 2 km along (2 min) and 1.5 km off the road (6 min at 15 km/h): 8 ≤ 10 minutes
    assert b.geometry.iloc[0].contains(Point(X + 2000, Y + 1500))


def test_offroad_bands_nest():
    roads = gpd.GeoDataFrame({"grade": ["二级公路", "三级公路"]},
                             geometry=[LineString([(X, Y), (X + 20000, Y)]), LineString([(X + 5000, Y), (X + 5000, Y + 9000)])],
                             crs=CRS)
    from spatial import access
    bands = access.isochrones(pts((0, 0)), network.from_layers(roads), bands=(3, 10), offroad_kmh=15).to_crs(CRS)
    inner, ring = bands.geometry.iloc[0], bands.geometry.iloc[1]
    assert inner.intersection(ring).area < 1.0                 # the 3–10 ring excludes the first band
    reached10 = inner.union(ring)
    assert inner.difference(reached10).area < 1.0


def test_service_area_agrees_with_a_brute_force_reach():
    # independent check: a point is reached when, for some point s of the road,
    # time along the road to s plus the straight walk from s at 15 km/h is within the limit
    road = gpd.GeoDataFrame({"grade": ["三级公路"]}, geometry=[LineString([(X, Y), (X + 20000, Y)])], crs=CRS)
    fac = pts((4000, 0))
    area = coverage.service_areas(fac, network.from_layers(road), 20, access_kmh=15, offroad=True).to_crs(CRS).geometry.iloc[0]
    rng = np.random.default_rng(3)
    q = np.column_stack([rng.uniform(-6000, 24000, 3000), rng.uniform(-6000, 6000, 3000)])
    s = np.linspace(0, 20000, 4001)
    t_road = np.abs(s - 4000) / 500.0                     # 30 km/h = 500 m/min
    best = np.min(t_road[None, :] + np.hypot(q[:, :1] - s[None, :], q[:, 1:]) / 250.0, axis=1)
    best = np.minimum(best, np.hypot(q[:, 0] - 4000, q[:, 1]) / 250.0)     # walking straight there
    inside = shapely.contains_xy(area, q[:, 0] + X, q[:, 1] + Y)
    clear = np.abs(best - 20) > 0.3                        # away from the edge (sampling, polygons)
    assert (inside[clear] == (best[clear] <= 20)).all()
    assert inside.sum() > 300


def test_urban_candidates_are_judged_on_foot():
    road = gpd.GeoDataFrame({"grade": ["二级公路"]}, geometry=[LineString([(X, Y), (X + 20000, Y)])], crs=CRS)
    net = network.from_layers(road)
    cand = pts((0, 0), (0, 0))
    dem = pts((1000, 0), (8000, 0))
    m = coverage.site_matrix(cand, dem, net, urban=np.array([True, False]), urban_minutes=15, rural_minutes=15)
    # on foot 15 min = 1,125 m: only the first point; by road 15 min at 60 km/h = 15 km: both
    assert m.tolist() == [[True, True], [False, True]]


def test_second_level_zone_leaves_every_first_level_zone_out():
    src = pts((0, 0), (500, 0))
    z = coverage.protection_zones(src, 300, 1000).to_crs(CRS)
    first = z[z["level"] == "一级保护区"].union_all()
    for g in z[z["level"] == "二级保护区"].geometry:
        assert g.intersection(first).area < 1e-6
    # one source alone: the ring's area is analytic (π(1300² − 300²)) within the polygon bound
    one = coverage.protection_zones(pts((0, 0)), 300, 1000).to_crs(CRS)
    ring = one[one["level"] == "二级保护区"].area.iloc[0]
    assert ring == pytest.approx(math.pi * (1300 ** 2 - 300 ** 2), rel=2e-3)
