"""Write a synthetic 三调-like land-use layer (DLTB) over the district: a benchmark and test
fixture, not survey data.

    python scripts/make_parcels.py N OUT.gpkg [--seed 1] [--layer DLTB]

About N polygons tessellate the bundled district boundary: a jittered lattice of quadrilaterals
(a third of them halved along a diagonal), cut at the township boundaries, so every parcel lies
in one township as 三调 图斑 lie in one 坐落单位. Fields as a DLTB layer has them: BSM (标识码),
DLBM, DLMC (地类名称), ZLDWMC (the township's name), TBMJ (m², planar). The codes are drawn
from a smooth random field so classes cluster; their shares (about 35 % cropland, 35 %
forest, 5 % orchard) are invented to look plausible for a karst county, not 三调 statistics.
Written in EPSG:4544 (CGCS2000 / 3-degree Gauss-Kruger CM 105E), the CRS county data come in.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

#: (code, share): invented shares, summing to 1, for a plausible mix; not survey figures.
CODES = (
    ("0103", 0.24), ("0101", 0.08), ("0102", 0.03),                  # 旱地 水田 水浇地
    ("0201", 0.03), ("0202", 0.01), ("0204", 0.01),                  # 果园 茶园 其他园地
    ("0301", 0.19), ("0305", 0.10), ("0307", 0.06),                  # 乔木林 灌木林 其他林地
    ("0404", 0.08),                                                  # 其他草地
    ("0702", 0.03), ("0701", 0.01), ("0601", 0.006), ("0602", 0.004),  # 宅基地 城镇住宅 工业 采矿
    ("08H2", 0.01), ("1003", 0.01), ("1006", 0.02),                  # 公共 公路 农村道路
    ("1101", 0.007), ("1103", 0.005), ("1104", 0.008),               # 河流 水库 坑塘
    ("1202", 0.005), ("1206", 0.01), ("1207", 0.045),                # 设施农用地 裸土地 裸岩石砾地
)


def _codes(x, y, rng):
    """A class for each point: a smooth field plus noise, cut at the cumulative shares."""
    u, v = (x - 540_000.0) / 1000.0, (y - 3_030_000.0) / 1000.0
    phase = rng.uniform(0, 2 * math.pi, 4)
    field = (np.sin(u / 3.1 + phase[0]) * np.cos(v / 2.7 + phase[1])
             + 0.6 * np.sin(u / 1.3 - v / 1.9 + phase[2]) + 0.4 * np.cos(u / 0.7 + v / 0.9 + phase[3]))
    score = field / 1.6 + 0.6 * rng.standard_normal(len(x))
    rank = np.argsort(np.argsort(score, kind="stable"), kind="stable") / max(1, len(x) - 1)
    edges = np.cumsum([s for _, s in CODES])
    idx = np.minimum(np.searchsorted(edges / edges[-1], rank, side="right"), len(CODES) - 1)
    return np.array([c for c, _ in CODES], dtype=object)[idx]


def build(n: int, seed: int = 1) -> gpd.GeoDataFrame:
    """About ``n`` parcels over the bundled district in EPSG:4544."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from spatial import catalog, landuse, settings

    cat = catalog.catalog()
    towns = cat.load("township_areas").to_crs(settings.METRIC_CRS)
    district = shapely.union_all(towns.geometry.values)
    rng = np.random.default_rng(seed)
    # a third of the quadrilaterals are halved: n parcels need n / (1 + 1/3) cells
    cell = math.sqrt(district.area / (n / (1 + 1 / 3)))
    minx, miny, maxx, maxy = district.bounds
    nx, ny = int((maxx - minx) / cell) + 2, int((maxy - miny) / cell) + 2
    gx = minx - cell / 2 + cell * np.arange(nx + 1)
    gy = miny - cell / 2 + cell * np.arange(ny + 1)
    vx, vy = np.meshgrid(gx, gy)
    vx = vx + rng.uniform(-0.2, 0.2, vx.shape) * cell
    vy = vy + rng.uniform(-0.2, 0.2, vy.shape) * cell
    i, j = np.meshgrid(np.arange(ny), np.arange(nx), indexing="ij")
    i, j = i.ravel(), j.ravel()
    corners = np.stack([np.stack([vx[a, b], vy[a, b]], axis=-1)
                        for a, b in ((i, j), (i, j + 1), (i + 1, j + 1), (i + 1, j))], axis=1)
    halve = rng.random(len(i)) < 1 / 3
    quads = corners[~halve]
    tri_a = corners[halve][:, [0, 1, 2]]
    tri_b = corners[halve][:, [0, 2, 3]]
    rings = [shapely.polygons(quads), shapely.polygons(tri_a), shapely.polygons(tri_b)]
    cells = np.concatenate(rings)
    # keep the cells in the district, cut at the township boundaries
    tree = shapely.STRtree(towns.geometry.values)
    ci, ti = tree.query(cells, predicate="intersects")
    tg = towns.geometry.values
    shapely.prepare(tg)
    inside = shapely.contains_properly(tg[ti], cells[ci])
    pieces = cells[ci].copy()
    pieces[~inside] = shapely.intersection(cells[ci][~inside], tg[ti][~inside])
    pieces = shapely.make_valid(pieces)
    polys = shapely.get_dimensions(pieces) == 2
    # keep only the polygonal part of a cut (a cut can leave slivers of lines or points)
    pieces = np.array([g if g.geom_type in ("Polygon", "MultiPolygon") else
                       shapely.union_all([p for p in shapely.get_parts(g) if p.geom_type == "Polygon"])
                       for g in pieces], dtype=object)
    area = shapely.area(pieces)
    keep = polys & (area > 1.0)
    pieces, ti, area = pieces[keep], ti[keep], area[keep]
    # a stable order: north to south, west to east, as a survey numbers its parcels
    pt = shapely.point_on_surface(pieces)
    px, py = shapely.get_x(pt), shapely.get_y(pt)
    order = np.lexsort((px, -py))
    pieces, ti, area, px, py = pieces[order], ti[order], area[order], px[order], py[order]
    codes = _codes(px, py, rng)
    names = landuse.describe(codes)["dlbm_name"].to_numpy()
    gdf = gpd.GeoDataFrame({
        "BSM": [f"5205022026{k:08d}" for k in range(len(pieces))],
        "DLBM": codes, "DLMC": names,
        "ZLDWMC": towns["name"].to_numpy()[ti],
        "TBMJ": np.round(area, 2),
    }, geometry=pieces, crs=settings.METRIC_CRS)
    return gdf


def write(n: int, path, seed: int = 1, layer: str = "DLTB") -> Path:
    path = Path(path)
    gdf = build(n, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    gdf.to_file(path, layer=layer, engine="pyogrio")
    return path


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("n", type=int, help="about how many parcels")
    p.add_argument("out", type=Path, help="output .gpkg (or .gdb, .shp)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--layer", default="DLTB")
    args = p.parse_args(argv)
    out = write(args.n, args.out, seed=args.seed, layer=args.layer)
    print(f"wrote {out}: synthetic DLTB-like parcels (a benchmark fixture, not survey data)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
