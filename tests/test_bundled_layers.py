"""The bundled 七星关区 layers: schema, provenance and plausibility against published facts."""
from __future__ import annotations

import pytest
import numpy as np
from pyproj import CRS

from spatial import catalog, metric, settings

BUNDLED = catalog.Catalog(user=None)
PRESENT = [e.id for e in BUNDLED.entries.values() if e.exists]
PROVENANCE_FIELDS = ("name", "data_status", "source")


@pytest.fixture(autouse=True)
def no_user_layers(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)


@pytest.fixture(scope="module")
def boundary():
    return BUNDLED.load("boundary")


def test_boundary_area_matches_published_figure(boundary):
    # plan: area ≈ 3,412 km²; the AMap-derived outline converted from GCJ-02 gives 3,406 km²
    area = metric.area_m2(boundary).sum() / 1e6
    assert area == pytest.approx(3412, rel=0.01)


def test_boundary_extent_matches_the_plan(boundary):
    # plan: 104°51′–105°55′E, 27°03′–27°46′N (to the minute: allow 2′)
    minx, miny, maxx, maxy = boundary.total_bounds
    pminx, pminy, pmaxx, pmaxy = settings.DISTRICT_BBOX
    tol = 2 / 60
    assert abs(minx - pminx) < tol and abs(maxx - pmaxx) < tol
    assert abs(miny - pminy) < tol and abs(maxy - pmaxy) < tol
    assert boundary.geometry.iloc[0].is_valid and len(boundary) == 1


@pytest.mark.parametrize("layer_id", PRESENT)
def test_every_bundled_layer_has_provenance_per_feature(layer_id):
    gdf = BUNDLED.load(layer_id)
    assert gdf.crs == CRS.from_epsg(4490)
    for field in PROVENANCE_FIELDS:
        assert field in gdf.columns, field
        assert gdf[field].notna().all() and (gdf[field].astype(str).str.len() > 0).all()
    assert set(gdf["data_status"]) <= set(catalog.DATA_STATUSES)
    entry = BUNDLED.get(layer_id)
    for key in ("source", "date", "method", "accuracy", "data_status"):
        assert entry.provenance.get(key), (layer_id, key)
    if entry.data_status != "mixed":
        assert set(gdf["data_status"]) == {entry.data_status}


@pytest.mark.parametrize("layer_id", [i for i in PRESENT if i != "boundary"])
def test_every_feature_lies_inside_the_district(layer_id, boundary):
    gdf = BUNDLED.load(layer_id)
    district = metric.to_metric(boundary).union_all().buffer(1000)   # 1 km tolerance
    inside = metric.to_metric(gdf).within(district)
    assert inside.all(), list(gdf.loc[~inside.values, "name"])


@pytest.mark.parametrize("fmt", ["shp", "gpkg", "gdb", "geojson", "kmz", "csv", "xlsx"])
def test_every_bundled_layer_exports_in_every_format(tmp_path, fmt):
    import pyogrio
    from spatial import export
    for layer_id in PRESENT:
        gdf = BUNDLED.load(layer_id)
        crs = 4490 if fmt in ("geojson", "kmz") else 4544
        out = export.write(gdf, tmp_path / f"{layer_id}.{export.FORMATS[fmt].lstrip('.')}", fmt, crs=crs)
        if fmt == "shp":
            back = pyogrio.read_dataframe(f"/vsizip/{out}/{layer_id}.shp")
        elif fmt in ("gpkg", "geojson", "gdb"):
            back = pyogrio.read_dataframe(out)
        elif fmt == "kmz":
            from spatial import kml
            back = kml.read_kml(out)[0]
        elif fmt == "csv":
            import pandas as pd
            back = pd.read_csv(out, encoding="utf-8-sig")
            assert list(back["名称"]) == list(gdf["name"])
            continue
        else:
            import openpyxl
            ws = openpyxl.load_workbook(out).active
            assert ws.max_row == len(gdf) + 1
            continue
        assert len(back) == len(gdf) and list(back["name"]) == list(gdf["name"])


# ------------------------------------------------------------------ content of the bundled layers
LAYER_FIELDS = {
    "townships": ("name", "code", "type", "seat_basis"),
    "township_areas": ("name", "code", "type", "area_km2"),
    "parks": ("name", "number", "industries", "township", "phase"),
    "agri_zones": ("name", "crop", "belt", "township", "plan_target", "target_unit", "area_basis"),
    "livestock": ("name", "animal", "township", "plan_target", "target_unit", "capacity"),
    "baqu": ("name", "use", "township"),
    "reservoirs": ("name", "phase", "township", "capacity_10k_m3"),
    "expressways": ("name", "ref", "phase", "passes"),
    "interchanges": ("name", "expressway", "phase", "method"),
    "roads": ("name", "grade", "detour_factor", "phase"),
    "health_facilities": ("name", "level", "setting", "township"),
    "eco_redline": ("name",), "basic_farmland": ("name",), "urban_boundary": ("name",),
}


def _gazetteer():
    import pandas as pd
    return pd.read_csv(settings.BUNDLED_LAYERS / "sources" / "townships.csv", dtype=str)


@pytest.mark.parametrize("layer_id", sorted(LAYER_FIELDS))
def test_schema_of_every_bundled_layer(layer_id):
    gdf = BUNDLED.load(layer_id)
    assert len(gdf) > 0
    for f in LAYER_FIELDS[layer_id]:
        assert f in gdf.columns, (layer_id, f)
    if "phase" in gdf.columns:
        assert set(gdf["phase"]) <= {"existing", "planned", "reinforcement"}


def test_township_names_codes_and_types_follow_the_gazetteer():
    gaz = _gazetteer().set_index("name")
    towns = BUNDLED.load("townships")
    assert towns["name"].is_unique and len(towns) >= 41
    for r in towns.itertuples():
        assert gaz.at[r.name, "code"] == r.code and gaz.at[r.name, "type"] == r.type
    # every 镇/乡/民族乡 (the plan's 32-plus 乡镇 counted by the KPI) has a seat
    rural = gaz[gaz["type"] != "街道"].index
    assert set(rural) <= set(towns["name"])
    names = set(towns["name"])
    for layer_id in ("township_areas", "parks", "agri_zones", "livestock", "baqu", "reservoirs", "health_facilities"):
        gdf = BUNDLED.load(layer_id)
        if "township" in gdf.columns:
            assert set(gdf["township"]) <= names | {"市东街道"}, layer_id
    for passes in BUNDLED.load("expressways")["passes"]:
        assert set(passes.split("、")) <= names


def test_seats_agree_with_an_independent_source():
    # GeoNames (CC BY 4.0) has points for five units; the bundled seats come from AMap via
    # Vonng/adcode. Two unrelated sources within 1.5 km of each other.
    from shapely.geometry import Point
    import geopandas as gpd
    geonames = {"长春堡镇": (105.185, 27.2388), "撒拉溪镇": (105.04306, 27.20694), "龙场营镇": (105.785, 27.6616),
                "大屯彝族乡": (105.749, 27.6642), "田坎彝族乡": (105.847, 27.701)}
    towns = metric.to_metric(BUNDLED.load("townships")).set_index("name")
    ref = gpd.GeoSeries([Point(v) for v in geonames.values()], index=list(geonames), crs=4326).to_crs(4544)
    for name, p in ref.items():
        assert towns.geometry[name].distance(p) < 1500, name


def test_township_areas_partition_the_district(boundary):
    areas = metric.to_metric(BUNDLED.load("township_areas"))
    total = metric.to_metric(boundary).area.sum()
    assert areas.area.sum() == pytest.approx(total, rel=1e-6)
    assert areas.union_all().area == pytest.approx(total, rel=1e-6)      # no overlaps
    seats = metric.to_metric(BUNDLED.load("townships")).set_index("name")
    for r in areas.itertuples():
        assert r.geometry.contains(seats.geometry[r.name])


def test_plan_targets_are_stored_where_the_plan_states_them():
    agri = BUNDLED.load("agri_zones")
    assert agri.groupby("crop")["plan_target"].unique().map(list).to_dict() == {
        "刺梨": [50.0], "茶叶": [30.0], "蔬菜": [20.0]}
    assert set(agri.loc[agri["crop"] == "刺梨", "township"]) == {
        "长春堡镇", "撒拉溪镇", "杨家湾镇", "八寨镇", "燕子口镇", "林口镇", "生机镇", "海子街镇", "小吉场镇", "普宜镇", "龙场营镇"}
    live = BUNDLED.load("livestock")
    assert live.groupby("animal")["plan_target"].first().to_dict() == {"牛": 20, "羊": 10, "生猪": 100, "家禽": 1000}
    assert sorted(live.loc[live["animal"] == "家禽", "township"]) == sorted(["朱昌镇", "撒拉溪镇", "田坎彝族乡"])
    parks = BUNDLED.load("parks")
    assert sorted(parks["number"]) == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]   # no. 1 has no location
    ub = metric.to_metric(BUNDLED.load("urban_boundary")).area.sum() / 1e6
    assert ub <= 58.0 + 1e-6 and ub > 50          # the plan's 58 km², clipped to the district


def test_interchanges_lie_on_their_expressway():
    ex = metric.to_metric(BUNDLED.load("expressways")).set_index("name")
    for r in metric.to_metric(BUNDLED.load("interchanges")).itertuples():
        assert ex.geometry[r.expressway].distance(r.geometry) < 1.0, r.name


def test_build_script_reproduces_the_bundled_files(tmp_path):
    import importlib.util
    import geopandas as gpd
    spec = importlib.util.spec_from_file_location("build_layers", settings.BUNDLED_LAYERS.parent / "scripts" / "build_layers.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    built = mod.build(tmp_path)
    for name in built:
        a = gpd.read_file(tmp_path / f"{name}.geojson")
        b = gpd.read_file(settings.BUNDLED_LAYERS / f"{name}.geojson")
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
        assert a.geometry.geom_equals_exact(b.geometry, 1e-7).all(), name
        cols = [c for c in a.columns if c != "geometry"]
        assert a[cols].astype(str).equals(b[cols].astype(str)), name


def test_bundled_network_routes_equal_networkx():
    import networkx as nx
    from spatial import network
    from spatial.router import Router
    for scenario in ("current", "planned"):
        net = network.from_layers(BUNDLED.load("roads"), BUNDLED.load("expressways"),
                                  BUNDLED.load("interchanges"), scenario=scenario)
        g = nx.DiGraph()
        for a, b, w in zip(net.edge_u, net.edge_v, net.edge_minutes):
            if not g.has_edge(a, b) or w < g[a][b]["weight"]:
                g.add_edge(int(a), int(b), weight=float(w))
        targets = net.entrances["node"].tolist()
        assert len(targets) == (9 if scenario == "current" else 11)
        ref = nx.multi_source_dijkstra_path_length(g.reverse(copy=True), set(targets))
        dist, _ = Router.from_network(net).to_nearest(targets)
        for node in range(net.n_nodes):
            assert (abs(ref[node] - dist[node]) < 1e-9) if node in ref else np.isinf(dist[node])


def test_district_kpi_both_ways_on_the_bundled_layers():
    from spatial import access
    rows, kpi, changes, _ = access.highway_access(
        BUNDLED.load("townships"), BUNDLED.load("roads"), BUNDLED.load("expressways"),
        BUNDLED.load("interchanges"), minutes=30, scenarios=("current", "planned"))
    counted = rows[rows["type"] != "街道"]
    for r in kpi.itertuples():
        part = counted[counted["scenario"] == r.scenario]
        assert r.townships == 35 and r.within == int(((part["minutes"] <= 30) & part["reachable"]).sum())
    cur, plan = (kpi.set_index("scenario").at[s, "share"] for s in ("current", "planned"))
    assert plan >= cur                                           # opening entrances never lengthens a trip
    a = rows[rows["scenario"] == "current"].set_index("name")["minutes"]
    b = rows[rows["scenario"] == "planned"].set_index("name")["minutes"]
    assert ((b <= a + 1e-9) | a.isna()).all()
    assert set(changes["name"]) == set(a.index[(a - b).abs() > 0.5])
    # the seats a planned entrance is named after gain it
    assert {"生机镇", "团结彝族苗族乡"} <= set(changes["name"])
