"""Rebuild the bundled 七星关区 layers (everything except the boundary) from layers/sources/.

Inputs, all in ``layers/sources/`` and each naming its own sources:

- ``townships.csv``            the NBS 2023 township list (names, codes, types);
- ``vonng_adcode_520502.csv``  Vonng/adcode (CC BY 4.0): AMap centre points, GCJ-02, of the
                               district's towns and of some communities;
- ``expressways.csv``, ``interchanges.csv``, ``roads.csv``, ``parks.csv``, ``zones.csv``,
  ``baqu.csv``, ``reservoirs.csv``, ``health.csv``: features named by the plan or by news
  and notices, each tied to the township (or line, or chainage) that places it.

Positions: a township seat is the AMap centre point converted from GCJ-02 with
spatial.chinacoords; every other feature hangs on seats (at a seat, on a straight line
through seats, or on such a line at the point nearest a seat or at a chainage). Nothing is
placed without a named place to hang on; what cannot be placed is listed and left out.
The three control lines are illustrative shapes, as the real 三区三线 are not public.

    python scripts/build_layers.py [--out layers/]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import LineString, Point
from shapely.ops import substring

from spatial import chinacoords, settings
from spatial.export import write_geojson

SOURCES = settings.BUNDLED_LAYERS / "sources"
METRIC = settings.METRIC_CRS
PLAN = "七星关区国民经济和社会发展第十四个五年规划和二〇三五年远景目标纲要 (2021)"
VONNG = "Vonng/adcode data/adcode/520502.csv @294c4ef (CC BY 4.0; AMap centre points, GCJ-02; snapshot of 2016-07-31 codes)"
VONNG_COLUMNS = ["code", "parent", "name", "level", "rank", "adcode", "post_code", "area_code", "ur_code",
                 "municipality", "virtual", "dummy", "lon", "lat", "center", "province", "city", "county",
                 "town", "village"]

#: Assumptions of the approximate road network (stated in the layer and in SOURCES.md).
LINK_GRADE = "三级公路"
DETOUR_FACTOR = 1.4
#: Illustrative sizes (not facts): park outline, urban boundary, red-line and farmland patches.
PARK_AREA_M2 = 1.0e6
URBAN_AREA_M2 = 58.0e6       # the plan's 2025 built-up-area target (≥ 58 km²)
REDLINE_RADIUS_M = 3000.0
FARMLAND_AREA_M2 = 3000 * settings.M2_PER_MU
SETTLEMENT_M = 1000.0        # kept out of the illustrative red line around each seat


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(SOURCES / name, dtype=str, keep_default_na=False, encoding="utf-8")


def vonng() -> pd.DataFrame:
    df = pd.read_csv(SOURCES / "vonng_adcode_520502.csv", header=None, names=VONNG_COLUMNS, dtype=str,
                     keep_default_na=False, encoding="utf-8")
    df["lon"] = pd.to_numeric(df["lon"], errors="coerce")
    df["lat"] = pd.to_numeric(df["lat"], errors="coerce")
    return df


def _wgs(lon, lat):
    x, y = chinacoords.gcj02_to_wgs84(np.asarray(lon, float), np.asarray(lat, float))
    return np.atleast_1d(x), np.atleast_1d(y)


def _frame(rows: list[dict], geoms, crs=METRIC) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=list(geoms), crs=crs).to_crs(settings.STORAGE_CRS)


# --- townships -----------------------------------------------------------------------------

def townships(adcode: pd.DataFrame) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Seats of the township-level units: AMap centre points (GCJ-02 → CGCS2000)."""
    gaz = _csv("townships.csv")
    towns = adcode[adcode["rank"] == "4"].set_index("code")
    villages = adcode[(adcode["rank"] == "5") & adcode["lon"].notna()]
    rows, pts, missing = [], [], []
    for r in gaz.itertuples():
        lon = lat = None
        if r.code in towns.index and towns.at[r.code, "name"].replace("办事处", "") != r.name:
            raise SystemExit(f"code {r.code}: {r.name} in the gazetteer but "
                             f"{towns.at[r.code, 'name']} in Vonng/adcode: check the code systems")
        if r.code in towns.index and pd.notna(towns.at[r.code, "lon"]):
            lon, lat = towns.at[r.code, "lon"], towns.at[r.code, "lat"]
            basis = "AMap centre point of the township"
        else:
            members = villages[villages["parent"] == r.code]
            if len(members):
                lon, lat = members["lon"].mean(), members["lat"].mean()
                basis = (f"mean of the AMap points of {len(members)} member 社区 "
                         f"({'、'.join(members['name'].str.replace('居委会', ''))}); the township itself has none")
        if lon is None:
            missing.append(r.name)
            continue
        x, y = _wgs(lon, lat)
        rows.append({"name": r.name, "code": r.code, "type": r.type, "data_status": "approximate",
                     "source": f"names/codes: {r.list_source} ({r.list_date}); position: {VONNG}",
                     "seat_basis": basis,
                     "accuracy": "AMap's representative point of the unit, not verified as the 政府驻地; "
                                 "GCJ-02 removed to < 1 mm; assume ±1 km"})
        pts.append(Point(x[0], y[0]))
    gdf = gpd.GeoDataFrame(pd.DataFrame(rows), geometry=pts, crs=settings.STORAGE_CRS)
    return gdf, missing


def city_centre(adcode: pd.DataFrame) -> Point:
    row = adcode[adcode["code"] == "520502000000"].iloc[0]
    x, y = _wgs(row["lon"], row["lat"])
    return gpd.GeoSeries([Point(x[0], y[0])], crs=settings.STORAGE_CRS).to_crs(METRIC).iloc[0]


def township_areas(seats: gpd.GeoDataFrame, boundary: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Thiessen polygons of the seats clipped to the district outline."""
    pts = seats.to_crs(METRIC)
    outline = boundary.to_crs(METRIC).union_all()
    cells = shapely.voronoi_polygons(shapely.MultiPoint(list(pts.geometry)), extend_to=outline.envelope.buffer(5000))
    geoms = []
    for p in pts.geometry:
        cell = next(c for c in cells.geoms if c.contains(p))
        geoms.append(cell.intersection(outline))
    rows = [{"name": r.name, "code": r.code, "type": r.type, "area_km2": round(g.area / 1e6, 2),
             "data_status": "approximate",
             "source": "Thiessen polygons of the bundled township seats, clipped to the bundled boundary",
             "method": "each place belongs to the nearest seat; not the legal township boundary"}
            for r, g in zip(pts.itertuples(), geoms)]
    return _frame(rows, geoms)


# --- helpers that hang features on seats -----------------------------------------------------

class Places:
    def __init__(self, seats: gpd.GeoDataFrame, centre: Point, adcode: pd.DataFrame):
        m = seats.to_crs(METRIC)
        self.seat = dict(zip(m["name"], m.geometry))
        self.seat["城区"] = centre
        self.adcode = adcode

    def __call__(self, name: str) -> Point:
        if name not in self.seat:
            raise KeyError(f"no seat position for {name!r}")
        return self.seat[name]

    def community(self, name: str) -> Point:
        row = self.adcode[(self.adcode["name"] == name) & self.adcode["lon"].notna()]
        if row.empty:
            raise KeyError(f"no position for community {name!r}")
        x, y = _wgs(row["lon"].iloc[0], row["lat"].iloc[0])
        return gpd.GeoSeries([Point(x[0], y[0])], crs=settings.STORAGE_CRS).to_crs(METRIC).iloc[0]


def expressways(places: Places) -> gpd.GeoDataFrame:
    src = _csv("expressways.csv")
    rows, geoms = [], []
    for r in src.itertuples():
        route = r.route.split("|")
        geoms.append(LineString([places(p) for p in route]))
        rows.append({"name": r.name, "ref": r.ref, "phase": r.phase, "opened": r.opened,
                     "passes": "、".join(route), "data_status": "approximate",
                     "source": f"{r.source}: {r.source_note}",
                     "method": "straight lines through the seats of the townships the source says it passes, "
                               "in that order; the real alignment is not public here",
                     "accuracy": "several km off the real alignment between seats"})
    return _frame(rows, geoms)


def interchanges(ex: gpd.GeoDataFrame, places: Places) -> gpd.GeoDataFrame:
    lines = dict(zip(ex["name"], ex.to_crs(METRIC).geometry))
    rows, geoms = [], []
    for r in _csv("interchanges.csv").itertuples():
        line = lines[r.expressway]
        if r.placement == "km":
            pt = line.interpolate(float(r.km) * 1000.0)
            how = f"at {r.km} km along the approximate line from its start"
        else:
            pt = line.interpolate(line.project(places(r.town)))
            how = f"where the approximate line passes nearest the {r.town} seat"
        rows.append({"name": r.name, "expressway": r.expressway, "phase": r.phase, "kind": "出入口",
                     "data_status": "approximate", "source": f"{r.source}: {r.source_note}",
                     "method": how, "accuracy": "position follows the approximate line; several km"})
        geoms.append(pt)
    return _frame(rows, geoms)


def roads(seats: gpd.GeoDataFrame, places: Places, boundary: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Plan-named links between seats plus neighbour links (Gabriel graph) so every seat is reached."""
    named = _csv("roads.csv")
    pts = seats.to_crs(METRIC)
    names = list(pts["name"]) + ["城区"]
    xy = np.array([(p.x, p.y) for p in pts.geometry] + [(places("城区").x, places("城区").y)])
    outline = boundary.to_crs(METRIC).union_all()
    pairs = set()
    for i in range(len(xy)):
        for j in range(i + 1, len(xy)):
            mid, r2 = (xy[i] + xy[j]) / 2, ((xy[i] - xy[j]) ** 2).sum() / 4
            d2 = ((xy - mid) ** 2).sum(axis=1)
            d2[[i, j]] = np.inf
            if (d2 >= r2).all():        # Gabriel: no other seat inside the circle on i–j
                pairs.add((i, j))
    mst = _mst_pairs(xy)
    keep = []
    for i, j in sorted(pairs):
        seg = LineString([xy[i], xy[j]])
        outside = seg.difference(outline).length / seg.length
        if outside <= 0.2 or (i, j) in mst:
            keep.append((i, j))
    rows, geoms, done = [], [], set()
    for r in named.itertuples():
        a, b = names.index(r.start), names.index(r.end)
        done.add(tuple(sorted((a, b))))
        rows.append(_road_row(r.name, r.ref, f"{r.source}" + (f"; {r.note}" if r.note else ""), "规划提质改造的现有道路"))
        geoms.append(LineString([xy[a], xy[b]]))
    for i, j in keep:
        if (i, j) in done:
            continue
        rows.append(_road_row(f"{names[i]}—{names[j]} 连接线", "",
                              "assumed link between neighbouring township seats (Gabriel graph of the seats)",
                              "近似连接线"))
        geoms.append(LineString([xy[i], xy[j]]))
    return _frame(rows, geoms)


def _road_row(name, ref, source, kind):
    return {"name": name, "ref": ref, "grade": LINK_GRADE, "grade_basis": "assumed (grade not published)",
            "detour_factor": DETOUR_FACTOR, "phase": "existing", "kind": kind, "data_status": "approximate",
            "source": source,
            "method": f"straight line between seats; travel length = straight length × {DETOUR_FACTOR} "
                      f"(assumed mountain-road detour factor)"}


def _mst_pairs(xy: np.ndarray) -> set:
    from scipy.sparse.csgraph import minimum_spanning_tree
    from scipy.spatial.distance import cdist
    tree = minimum_spanning_tree(cdist(xy, xy)).tocoo()
    return {tuple(sorted((int(i), int(j)))) for i, j in zip(tree.row, tree.col)}


def parks(places: Places) -> tuple[gpd.GeoDataFrame, list[str]]:
    radius = float(np.sqrt(PARK_AREA_M2 / np.pi))
    rows, geoms, skipped = [], [], []
    for r in _csv("parks.csv").itertuples():
        if not r.town:
            skipped.append(f"{r.name} ({r.placement_note})")
            continue
        rows.append({"name": r.name, "number": int(r.number), "industries": r.industries, "township": r.town,
                     "phase": "existing", "data_status": "illustrative",
                     "source": f"{r.source}; {r.placement_note}",
                     "method": f"disc of {PARK_AREA_M2 / 1e6:g} km² at the seat of the township the park is "
                               "named after: position approximate, outline illustrative (no extent is published)"})
        geoms.append(places(r.town).buffer(radius, 64))
    return _frame(rows, geoms), skipped


def zones(areas: gpd.GeoDataFrame, layer: str) -> gpd.GeoDataFrame:
    by_name = dict(zip(areas["name"], areas.to_crs(METRIC).geometry))
    rows, geoms = [], []
    for r in _csv("zones.csv").itertuples():
        if r.layer != layer:
            continue
        towns = r.townships.split("|")
        for t in towns:
            row = {"name": f"{r.name}·{t}", "zone": r.name, "township": t, "belt": r.belt,
                   "plan_target": float(r.plan_target), "target_unit": r.target_unit,
                   "area_basis": "zone", "data_status": "approximate", "source": r.source,
                   "method": "the township's approximate area (Thiessen polygon): the plan assigns the "
                             "industry to the township, not to mapped plots"}
            row["crop" if layer == "agri_zones" else "animal"] = r.item
            if layer == "livestock":
                row["capacity"] = None
            rows.append(row)
            geoms.append(by_name[t])
    return _frame(rows, geoms)


def points_at_seats(csv_name: str, places: Places, extra) -> tuple[gpd.GeoDataFrame, list[str]]:
    rows, geoms, skipped = [], [], []
    for r in _csv(csv_name).itertuples():
        if not r.town:
            skipped.append(f"{r.name} ({r.placement_note})")
            continue
        row = {"name": r.name, "township": r.town, "data_status": "approximate",
               "source": f"{r.source}; {r.placement_note}", "accuracy": "placed at the township seat; several km"}
        row.update(extra(r))
        rows.append(row)
        geoms.append(places(r.town))
    return _frame(rows, geoms), skipped


def health(seats: gpd.GeoDataFrame, places: Places) -> gpd.GeoDataFrame:
    src = _csv("health.csv")
    rows, geoms = [], []
    for r in src.itertuples():
        if r.place.startswith("community:"):
            rows.append({"name": r.name, "level": r.level, "setting": r.setting, "township": "市东街道",
                         "data_status": "approximate", "source": f"{r.source}; {r.placement_note}"})
            geoms.append(places.community(r.place.split(":", 1)[1]))
        else:
            kinds = r.place.split(":", 1)[1].split("|")
            for s in seats[seats["type"].isin(kinds)].itertuples():
                rows.append({"name": f"{s.name}卫生院", "level": r.level, "setting": r.setting,
                             "township": s.name, "data_status": "illustrative",
                             "source": f"{r.source}; {r.placement_note}"})
                geoms.append(places(s.name))
    return _frame(rows, geoms)


def control_lines(places: Places, boundary, reservoirs: gpd.GeoDataFrame, baqu: gpd.GeoDataFrame):
    """Illustrative 三区三线 consistent with the plan's wording (the real lines are not public)."""
    outline = boundary.to_crs(METRIC).union_all()
    centre = places("城区")
    urban = centre.buffer(np.sqrt(URBAN_AREA_M2 / np.pi), 64).intersection(outline)
    existing = reservoirs[reservoirs["phase"] == "existing"].to_crs(METRIC)
    red = shapely.union_all([g.buffer(REDLINE_RADIUS_M, 64) for g in existing.geometry]).intersection(outline)
    seats_m = [places(n) for n in places.seat if n != "城区"]
    settlements = shapely.union_all([p.buffer(SETTLEMENT_M, 32) for p in seats_m])
    red = red.difference(urban).difference(settlements)      # red lines leave settlements out
    farm = shapely.union_all([g.buffer(np.sqrt(FARMLAND_AREA_M2 / np.pi), 64) for g in baqu.to_crs(METRIC).geometry])
    farm = farm.intersection(outline).difference(urban).difference(red)
    note = "illustrative: drawn to demonstrate the checks; the real 三区三线 are not public"
    out = {
        "urban_boundary": _frame([{"name": "城镇开发边界（示意）", "area_km2": round(urban.area / 1e6, 1),
                                   "data_status": "illustrative", "source": note,
                                   "method": f"disc of {URBAN_AREA_M2 / 1e6:g} km² (the plan's 2025 built-up-area "
                                             "target) around the AMap centre of the district, clipped"}], [urban]),
        "eco_redline": _frame([{"name": "生态保护红线（示意）", "area_km2": round(red.area / 1e6, 1),
                                "data_status": "illustrative", "source": note,
                                "method": f"{REDLINE_RADIUS_M / 1000:g} km around the placed existing "
                                          "reservoirs, standing in for their catchments, leaving "
                                          f"{SETTLEMENT_M / 1000:g} km around each seat and the urban boundary out"}], [red]),
        "basic_farmland": _frame([{"name": "永久基本农田（示意）", "area_km2": round(farm.area / 1e6, 2),
                                   "data_status": "illustrative", "source": note,
                                   "method": "3,000 亩 around each placed 坝区 named in the plan, outside the "
                                             "other two lines"}], [farm]),
    }
    return out


def build(out: Path) -> dict[str, gpd.GeoDataFrame]:
    adcode = vonng()
    boundary = gpd.read_file(settings.BUNDLED_LAYERS / "boundary.geojson")
    seats, missing = townships(adcode)
    places = Places(seats, city_centre(adcode), adcode)
    areas = township_areas(seats, boundary)
    ex = expressways(places)
    res, res_skipped = points_at_seats("reservoirs.csv", places, lambda r: {
        "phase": r.phase, "status": r.status,
        "capacity_10k_m3": float(r.capacity_10k_m3) if r.capacity_10k_m3 else None})
    bq, bq_skipped = points_at_seats("baqu.csv", places, lambda r: {"use": r.use})
    pk, pk_skipped = parks(places)
    layers = {"townships": seats, "township_areas": areas, "expressways": ex,
              "interchanges": interchanges(ex, places), "roads": roads(seats, places, boundary),
              "parks": pk, "agri_zones": zones(areas, "agri_zones"), "livestock": zones(areas, "livestock"),
              "baqu": bq, "reservoirs": res, "health_facilities": health(seats, places),
              **control_lines(places, boundary, res, bq)}
    for name, gdf in layers.items():
        write_geojson(gdf, out / f"{name}.geojson")
        print(f"{name:18s} {len(gdf):3d} features")
    print("township units without a public position (left out):", "、".join(missing) or "none")
    for label, items in (("reservoirs", res_skipped), ("baqu", bq_skipped), ("parks", pk_skipped)):
        if items:
            print(f"{label} not placed: " + "; ".join(items))
    return layers


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=settings.BUNDLED_LAYERS)
    args = parser.parse_args(argv)
    build(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
