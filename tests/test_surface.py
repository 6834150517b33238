"""Travel-time surfaces: the grid search against networkx, analytic times, barriers, the hybrid
with the road network (expressways seed nothing), outputs, coverage and capacity."""
from __future__ import annotations

import math

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import rasterio
from shapely.geometry import LineString, Point, box

from spatial import network, settings, surface
from spatial.gridsearch import MOVES, search
from test_maps import browser  # noqa: F401 - the browser fixture

FLAT = 6.0 * math.exp(-3.5 * 0.05)          # Tobler at 0°, km/h


def _tobler(s):
    return 6.0 * math.exp(-3.5 * abs(s + 0.05))


def _reference(speed, seeds, res, z=None):
    """networkx Dijkstra on the same 16-neighbour graph, the move costs written out here."""
    rows, cols = speed.shape
    ok = np.isfinite(speed) & (speed > 0)
    g = nx.DiGraph()
    for r in range(rows):
        for c in range(cols):
            if not ok[r, c]:
                continue
            for dr, dc in MOVES:
                rr, cc = r + dr, c + dc
                if not (0 <= rr < rows and 0 <= cc < cols) or not ok[rr, cc]:
                    continue
                # the straight segment may not pass through a barrier cell
                if abs(dr) + abs(dc) == 2:
                    crossed = [(r + dr, c), (r, c + dc)]
                elif abs(dr) == 2:
                    crossed = [(r + dr // 2, c), (r + dr // 2, c + dc)]
                elif abs(dc) == 2:
                    crossed = [(r, c + dc // 2), (r + dr, c + dc // 2)]
                else:
                    crossed = []
                if any(not (0 <= a < rows and 0 <= b < cols) or not ok[a, b] for a, b in crossed):
                    continue
                d = res * math.hypot(dr, dc)
                f = 1.0
                if z is not None:
                    f = _tobler((z[rr, cc] - z[r, c]) / d) / FLAT
                va, vb = speed[r, c] * f * 1000 / 60, speed[rr, cc] * f * 1000 / 60     # m/min
                g.add_edge((r, c), (rr, cc), w=d / 2 / va + d / 2 / vb)
    for (r, c), t in seeds.items():
        g.add_edge("S", (r, c), w=t)
    return nx.single_source_dijkstra_path_length(g, "S", weight="w")


# ------------------------------------------------------------------ the search itself
@pytest.mark.parametrize("with_z", [False, True])
def test_search_equals_networkx_on_the_same_grid(with_z):
    rng = np.random.default_rng(4)
    rows, cols, res = 22, 27, 40.0
    speed = rng.uniform(1.0, 6.0, (rows, cols))
    speed[rng.random((rows, cols)) < 0.12] = 0.0           # scattered barrier cells
    z = rng.uniform(0, 400, (rows, cols)) if with_z else None
    seeds = {(2, 3): 0.0, (18, 22): 4.5, (10, 1): 1.25}
    for rc in seeds:
        speed[rc] = 3.0
    seed = np.full((rows, cols), np.inf)
    lab = np.full((rows, cols), -1)
    for k, (rc, t) in enumerate(seeds.items()):
        seed[rc], lab[rc] = t, k
    minutes, nearest = search(speed, seed, lab, res=res, z=z)
    ref = _reference(speed, seeds, res, z)
    got = {(r, c): minutes[r, c] for r in range(rows) for c in range(cols) if np.isfinite(minutes[r, c])}
    assert set(got) == set(ref) - {"S"}
    assert max(abs(got[k] - ref[k]) for k in got) < 1e-9
    assert set(np.unique(nearest[np.isfinite(minutes)])) == {0, 1, 2}


def test_uniform_friction_is_straight_distance_within_the_16_neighbour_bound():
    n, res = 161, 25.0
    speed = np.full((n, n), 4.0)
    seed = np.full((n, n), np.inf)
    seed[80, 80] = 0.0
    minutes, _ = search(speed, seed, res=res)
    r, c = np.mgrid[0:n, 0:n]
    straight = np.hypot(r - 80, c - 80) * res / (4.0 * 1000 / 60)
    far = straight > 0
    ratio = minutes[far] / straight[far]
    # 16 moves: exact along 0°, 26.6°, 45°…; the worst direction (13.3°) is 2.75 % long
    assert ratio.min() >= 1 - 1e-12 and ratio.max() <= 1.02749
    assert np.isclose(minutes[80, 160], 80 * res / (4000 / 60)) and np.isclose(minutes[0, 0], 80 * res * math.sqrt(2) / (4000 / 60))
    assert np.isclose(minutes[40, 160], math.hypot(40, 80) * res / (4000 / 60))         # a knight's line
    assert np.median(ratio) < 1.015


def test_tobler_on_a_tilted_plane_up_and_down_the_fall_line():
    n, res, slope = 120, 30.0, 0.2                     # z rises 0.2 m per metre eastwards
    c = np.arange(n)
    z = np.tile(c * res * slope, (n, 1))
    speed = np.full((n, n), FLAT)
    seed = np.full((n, n), np.inf)
    seed[60, 60] = 0.0
    minutes, _ = search(speed, seed, res=res, z=z)
    d = 50 * res
    up = d / (_tobler(slope) * 1000 / 60)
    down = d / (_tobler(-slope) * 1000 / 60)
    assert minutes[60, 110] == pytest.approx(up, rel=1e-12)
    assert minutes[60, 10] == pytest.approx(down, rel=1e-12)
    # uphill is slower by Tobler's ratio e^(3.5·(|0.2 + 0.05| − |−0.2 + 0.05|))
    assert minutes[60, 110] / minutes[60, 10] == pytest.approx(math.exp(3.5 * 0.1), rel=1e-12)
    # across the slope (north–south) it is level: flat walking
    assert minutes[10, 60] == pytest.approx(d / (FLAT * 1000 / 60), rel=1e-12)


def test_a_barrier_forces_the_detour():
    n, res = 101, 20.0
    speed = np.full((n, n), 5.0)
    speed[10:101, 50] = 0.0                           # a wall with a gap at the top (rows 0–9)
    seed = np.full((n, n), np.inf)
    seed[90, 30] = 0.0
    minutes, _ = search(speed, seed, res=res)
    v = 5000 / 60
    behind = minutes[90, 70]
    straight = 40 * res / v
    # round the wall's end through the first open cell above it, (9, 50)
    detour = 2 * math.hypot(81, 20) * res / v
    assert behind > 3 * straight
    assert detour < behind < detour * 1.05        # the 16-neighbour path, near its worst direction
    ref = _reference(speed, {(90, 30): 0.0}, res)
    assert behind == pytest.approx(ref[(90, 70)], abs=1e-9)
    # a diagonal wall one cell thick does not leak between its corners
    speed2 = np.full((n, n), 5.0)
    for i in range(n):
        speed2[i, n - 1 - i] = 0.0
    seed2 = np.full((n, n), np.inf)
    seed2[10, 10] = 0.0
    m2, _ = search(speed2, seed2, res=res)
    assert not np.isfinite(m2[90, 90])


def test_the_limit_stops_the_search():
    speed = np.full((50, 50), 5.0)
    seed = np.full((50, 50), np.inf)
    seed[0, 0] = 0.0
    full, _ = search(speed, seed, res=30.0)
    part, lab = search(speed, seed, res=30.0, limit=5.0)
    assert np.array_equal(np.isfinite(part), full <= 5.0)
    assert np.allclose(part[np.isfinite(part)], full[full <= 5.0])
    assert (lab[~np.isfinite(part)] == -1).all()


# ------------------------------------------------------------------ the hybrid with the network
X0, Y0 = 540_000.0, 3_030_000.0
AREA = box(X0 - 2000, Y0 - 4000, X0 + 24_000, Y0 + 4000)


def _gdf(geoms, **cols):
    return gpd.GeoDataFrame(cols, geometry=list(geoms), crs=settings.METRIC_CRS).to_crs(settings.STORAGE_CRS)


@pytest.fixture(scope="module")
def corridor():
    """A facility at the west end of a road R1; an expressway east along y=Y0 with entrances at
    both ends; a second road R2 at the east entrance going north. Nothing else."""
    r1 = LineString([(X0 - 1500, Y0 + 300), (X0, Y0 + 300)])
    link1 = LineString([(X0, Y0 + 300), (X0, Y0 + 50)])
    r2 = LineString([(X0 + 20_010, Y0 + 50), (X0 + 20_010, Y0 + 3000)])     # inside a column of cells
    roads = _gdf([r1, link1, r2], name=["R1", "L1", "R2"], grade=["三级公路", "三级公路", "三级公路"])
    ex = _gdf([LineString([(X0, Y0), (X0 + 20_000, Y0)])], name=["测试高速"], phase=["existing"])
    ic = _gdf([Point(X0, Y0), Point(X0 + 20_000, Y0)], name=["西口", "东口"], phase=["existing", "existing"])
    net = network.from_layers(roads, ex, ic, scenario="current")
    fac = _gdf([Point(X0 - 1500, Y0 + 300)], name=["卫生院"])
    area = gpd.GeoDataFrame(geometry=[AREA], crs=settings.METRIC_CRS)
    fr = surface.friction(area, resolution=50.0)
    s = surface.travel_surface(fac, net, fr=fr)
    return {"net": net, "fac": fac, "fr": fr, "s": s}


def test_fields_beside_an_expressway_are_not_reached_through_it(corridor):
    s, fr = corridor["s"], corridor["fr"]
    walk = FLAT * 1000 / 60
    # a field right beside the expressway, 18 km east, 150 m north of it
    field_pt = _gdf([Point(X0 + 18_000, Y0 + 150)])
    t_field = s.at(field_pt)[0]
    # the way there: drive to the east entrance and up R2, then walk 2 km west: never walk 18 km
    r2_cell = _gdf([Point(X0 + 20_010, Y0 + 150)])
    t_r2 = s.at(r2_cell)[0]
    assert t_r2 < 40                                  # by the expressway and R2
    assert t_field == pytest.approx(t_r2 + 2010 / walk, rel=0.03)
    # a raster that let the expressway be entered anywhere would reach the field 150 m from it
    # at about the expressway's own time there; the field takes the walk from R2 instead
    assert t_field > t_r2 + 20
    # and no cell on the expressway line between the entrances is seeded
    row, col, _ = fr.cells_of(np.array([X0 + 10_000.0]), np.array([Y0 + 1.0]))
    assert s.minutes[row[0], col[0]] > 60


def test_the_hybrid_time_on_a_road_cell_is_the_network_time(corridor):
    s, net, fr = corridor["s"], corridor["net"], corridor["fr"]
    # along R2 (三级公路, 30 km/h, driven north from the east entrance) the network time at a
    # point y metres up is T(bottom) + y / v; a cell's time is that of the road's entry into it,
    # to within one sampling step (res / 3) of driving
    v = 30 * 1000 / 60
    bottom = int(np.argmin(np.hypot(net.node_xy[:, 0] - (X0 + 20_010), net.node_xy[:, 1] - (Y0 + 50))))
    t0 = s.node_minutes[bottom]
    ys = np.arange(Y0 + 200, Y0 + 2900, 137.0)
    row, col, _ = fr.cells_of(np.full(len(ys), X0 + 20_010), ys)
    for r, c in zip(row, col):
        y_entry = max(Y0 + 50, fr.transform.f - (r + 1) * fr.res)          # the cell's southern edge
        exact = t0 + (y_entry - (Y0 + 50)) / v
        assert exact - 1e-9 <= s.minutes[r, c] <= exact + fr.res / 3 / v + 1e-9
    top = int(np.argmin(np.hypot(net.node_xy[:, 0] - (X0 + 20_010), net.node_xy[:, 1] - (Y0 + 3000))))
    assert s.node_minutes[top] == pytest.approx(t0 + 2950 / v, rel=1e-9)
    # and the facility's own cell is 0
    assert s.at(corridor["fac"])[0] == 0.0


def test_surface_outputs_read_back(corridor, tmp_path):
    s = corridor["s"]
    tif = s.write(tmp_path / "t.tif")
    with rasterio.open(tif) as ds:
        assert ds.crs.to_epsg() == 4544 and ds.res == (50.0, 50.0)
        data = ds.read(1, masked=True)
        assert ds.profile.get("compress", "").lower() == "deflate"
    assert np.allclose(data.filled(np.nan)[~data.mask], s.clipped()[~data.mask], atol=1e-3)
    near = s.write_nearest(tmp_path / "n.tif")
    with rasterio.open(near) as ds:
        assert ds.nodata == -1 and set(np.unique(ds.read(1))) <= {-1, 0}
    iso = s.isochrones((15, 30, 60))
    assert iso.is_valid.all() and list(iso["minutes"]) == [15, 30, 60]
    m = iso.to_crs(settings.METRIC_CRS)
    assert m.geometry.iloc[0].difference(m.geometry.iloc[1]).area < 1e-6 * m.geometry.iloc[0].area + 1
    cat = s.catchments()
    assert cat.is_valid.all() and len(cat) == 1
    cov = s.coverage(None, bands=(15, 30, 60))
    total = cov.iloc[-1]
    assert total["name"] == "合计"
    inside = s.friction.inside
    assert total["area_within_30min_pct"] == pytest.approx(100 * (inside & (s.minutes <= 30)).sum() / inside.sum(), abs=0.01)


def test_population_coverage_from_a_township_table(corridor):
    s, fr = corridor["s"], corridor["fr"]
    towns = gpd.GeoDataFrame({"name": ["西乡", "东乡"], "population": [1000, 3000]},
                             geometry=[box(X0 - 2000, Y0 - 4000, X0 + 11_000, Y0 + 4000),
                                       box(X0 + 11_000, Y0 - 4000, X0 + 24_000, Y0 + 4000)],
                             crs=settings.METRIC_CRS)
    pop, how = surface.population_grid(fr, townships=towns)
    assert "uniformly" in how and pop.sum() == pytest.approx(4000, rel=1e-9)
    cov = s.coverage(towns, population=pop).set_index("name")
    # uniform spread: the people's share equals the area's share in each township
    for name in ("西乡", "东乡"):
        assert cov.loc[name, "pop_within_30min_pct"] == pytest.approx(cov.loc[name, "area_within_30min_pct"], abs=0.05)
    assert cov.loc["合计", "population"] == pytest.approx(4000, rel=1e-6)


def test_capacity_serves_the_nearest_people_first(corridor):
    fr, net = corridor["fr"], corridor["net"]
    pop = np.where(fr.inside, 1.0, 0.0)                 # one person per cell
    fac = _gdf([Point(X0 - 1500, Y0 + 300), Point(X0 + 20_000, Y0 + 3000)], name=["大院", "小院"],
               capacity=[500, 50])
    table, left = surface.allocate_capacity(fac, pop, fr, net, max_minutes=120)
    t = table.set_index("name")
    assert list(table["name"]) == ["大院", "小院"]       # the largest first
    assert t.loc["大院", "served"] == pytest.approx(500) and t.loc["小院", "served"] == pytest.approx(50)
    assert bool(t.loc["大院", "full"]) and bool(t.loc["小院", "full"])
    assert left.sum() == pytest.approx(pop.sum() - 550)
    # the 500 served by 大院 are its 500 nearest cells
    one = surface.travel_surface(fac.iloc[[0]], net, fr=fr)
    served = (pop - left) > 0
    near_big = one.minutes <= t.loc["大院", "minutes_of_last_served"] + 0.005     # the table rounds to 0.01
    assert (served & near_big).sum() >= 500 and served.sum() == 550


def test_the_same_input_gives_the_same_surface(corridor):
    a = surface.travel_surface(corridor["fac"], corridor["net"], fr=corridor["fr"])
    b = surface.travel_surface(corridor["fac"], corridor["net"], fr=corridor["fr"])
    assert np.array_equal(a.minutes, b.minutes) and np.array_equal(a.nearest, b.nearest)


def test_barrier_layers_and_the_boundary(tmp_path):
    area = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 3000, Y0 + 3000)], crs=settings.METRIC_CRS)
    lake = gpd.GeoDataFrame(geometry=[box(X0 + 1000, Y0 - 500, X0 + 1200, Y0 + 2800)], crs=settings.METRIC_CRS)
    pts = gpd.GeoDataFrame(geometry=[Point(X0 + 1500, Y0 + 1500)], crs=settings.METRIC_CRS)
    fr = surface.friction(area, resolution=50.0, barriers=[lake, pts], boundary_barrier=True)
    assert any("points cannot bar the way" in n for n in fr.notes)
    assert (fr.speed[~fr.inside] == 0).all()
    fac = gpd.GeoDataFrame({"name": ["站"]}, geometry=[Point(X0 + 500, Y0 + 1000)], crs=settings.METRIC_CRS)
    s = surface.travel_surface(fac, None, fr=fr)
    across = s.at(gpd.GeoDataFrame(geometry=[Point(X0 + 1700, Y0 + 1000)], crs=settings.METRIC_CRS))[0]
    straight = 1200 / (FLAT * 1000 / 60)
    assert across > 2 * straight               # round the lake's north end, inside the area
    open_fr = surface.friction(area, resolution=50.0)
    s2 = surface.travel_surface(fac, None, fr=open_fr)
    assert s2.at(gpd.GeoDataFrame(geometry=[Point(X0 + 1700, Y0 + 1000)], crs=settings.METRIC_CRS))[0] == \
        pytest.approx(straight, rel=0.03)


def test_landcover_speeds_from_polygons(tmp_path):
    area = gpd.GeoDataFrame(geometry=[box(X0, Y0, X0 + 2000, Y0 + 1000)], crs=settings.METRIC_CRS)
    cover = gpd.GeoDataFrame({"地类": ["林地", "水域"]},
                             geometry=[box(X0, Y0, X0 + 1000, Y0 + 1000), box(X0 + 1500, Y0, X0 + 1600, Y0 + 1000)],
                             crs=settings.METRIC_CRS)
    table = tmp_path / "speeds.csv"
    table.write_text("class,kmh\n林地,2.5\n水域,0\n", encoding="utf-8")
    fr = surface.friction(area, resolution=50.0, landcover=cover, landcover_field="地类",
                          speeds=surface.read_speeds(table))
    row, col, _ = fr.cells_of(np.array([X0 + 500.0, X0 + 1550.0, X0 + 1250.0]), np.array([Y0 + 500.0] * 3))
    assert list(fr.speed[row, col]) == pytest.approx([2.5, 0.0, FLAT])
    bad = tmp_path / "bad.csv"
    bad.write_text("class,kmh\n林地,fast\n", encoding="utf-8")
    with pytest.raises(surface.InputError, match="speeds must be numbers"):
        surface.read_speeds(bad)


def test_search_equals_scikit_image_mcp_on_8_neighbours():
    from skimage.graph import MCP_Geometric

    rng = np.random.default_rng(11)
    speed = rng.uniform(1.0, 6.0, (60, 70))
    seeds = [(5, 5), (50, 60), (30, 2)]
    seed = np.full(speed.shape, np.inf)
    for rc in seeds:
        seed[rc] = 0.0
    mine, _ = search(speed, seed, res=30.0, neighbours=8)
    cost = 30.0 * 0.06 / speed            # minutes to cross a cell: MCP_Geometric averages the two cells
    ref, _ = MCP_Geometric(cost, fully_connected=True).find_costs(seeds)
    assert np.abs(mine - ref).max() < 1e-9


def test_the_surface_map_renders_offline(tmp_path, browser):
    from spatial import maps
    from test_maps import ARTIFACTS, _open, _png_colors

    written, skipped = maps.write_maps(["surface"], tmp_path / "maps")
    page_path = tmp_path / "maps" / "surface.html"
    assert page_path in written and not skipped
    text = page_path.read_text(encoding="utf-8")
    assert "data:image/png;base64," in text and "栅格可达性" in text
    page, log = _open(browser, page_path)
    assert log["external"] == [] and log["errors"] == []
    assert page.locator(".leaflet-image-layer").count() == 1
    assert "到最近设施（分钟）" in page.inner_text("body")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "surface_map.png"
    page.screenshot(path=str(shot))
    assert _png_colors(shot) > 30
    page.close()
