"""Terrain from a DEM: slope, aspect, hillshade, 坡度分级, the plan's slope rules, 坝区 and bands.

Everything works on a :class:`spatial.raster.Grid` in EPSG:4544 (metres), so slopes are
always computed on metric cells; :func:`spatial.raster.read_dem` warps geographic DEMs first.

Slope and aspect follow Horn (1981) as ``gdaldem`` computes them: the 3×3 window, edge cells
and cells next to no-data left empty (gdaldem without ``-compute_edges``). Hillshade follows
gdaldem's default (azimuth 315°, altitude 45°, z-factor 1, values 1–255).

坡度分级: the five grades of 《第三次全国国土调查技术规程》(TD/T 1055-2019) and
《利用DEM确定耕地坡度分级技术规定（试行）》(2008): Ⅰ ≤ 2°, Ⅱ 2°–6°, Ⅲ 6°–15°,
Ⅳ 15°–25°, Ⅴ > 25° (a slope on a break belongs to the lower grade).

The plan (第七章第一节) returns cropland on slopes of 25° and more to forest and grass and
restructures 15°–25° cropland; :func:`cropland_rules` reports both per township. On a
continuous raster "≥ 25°" and "> 25°" differ by no measurable area.
"""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio import features

from . import landuse, settings
from .errors import InputError
from .load import make_valid_same_dimension
from .raster import Grid
from .zonal import zonal_stats

#: (code, label, upper bound in degrees)
SLOPE_GRADES = ((1, "Ⅰ级 ≤2°", 2.0), (2, "Ⅱ级 2°–6°", 6.0), (3, "Ⅲ级 6°–15°", 15.0),
                (4, "Ⅳ级 15°–25°", 25.0), (5, "Ⅴ级 >25°", 90.0))
GRADE_BREAKS = (2.0, 6.0, 15.0, 25.0)
#: 坝区: contiguous flat land of at least 500 亩. The 500 亩 is Guizhou's own threshold
#: ("500亩以上坝区", the province's 坝区农业产业结构调整; 1,641 such 坝区 were counted).
#: No published slope limit was found: 6° (the upper bound of grades Ⅰ–Ⅱ, land that needs no
#: terracing) is this toolkit's assumption and a parameter.
BAQU_MIN_MU = 500.0
BAQU_MAX_SLOPE = 6.0
DEFAULT_BANDS = (1000.0, 1400.0, 1800.0)
M2_PER_MU = settings.M2_PER_MU


# --------------------------------------------------------------------------- derivatives
def _window(z: np.ndarray):
    """The eight neighbours of every interior cell (a b c / d e f / g h i, north at the top)."""
    return (z[:-2, :-2], z[:-2, 1:-1], z[:-2, 2:], z[1:-1, :-2],
            z[1:-1, 2:], z[2:, :-2], z[2:, 1:-1], z[2:, 2:])


def gradient(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """Horn's gradient (dz/dx east, dz/dy north), unitless, NaN on edges and next to no data."""
    if grid.crs is not None and grid.crs.is_geographic:
        raise InputError("slopes need a metric grid, but this one is in degrees",
                         grid.sources[0] if grid.sources else None,
                         hint="read it with spatial.raster.read_dem, which warps it to EPSG:4544")
    z = grid.data.astype(np.float64)
    xres, yres = grid.res
    a, b, c, d, f, g, h, i = _window(z)
    gx = np.full(z.shape, np.nan)
    gy = np.full(z.shape, np.nan)
    gx[1:-1, 1:-1] = ((c + 2 * f + i) - (a + 2 * d + g)) / (8.0 * xres)
    gy[1:-1, 1:-1] = ((a + 2 * b + c) - (g + 2 * h + i)) / (8.0 * yres)
    return gx, gy


def slope(grid: Grid, gx=None, gy=None) -> Grid:
    """Slope in degrees (Horn), float32, NaN where undefined."""
    if gx is None:
        gx, gy = gradient(grid)
    s = np.degrees(np.arctan(np.hypot(gx, gy))).astype(np.float32)
    return grid.with_data(s, "slope")


def aspect(grid: Grid, gx=None, gy=None) -> Grid:
    """Aspect in degrees clockwise from north, the direction the slope faces; NaN on flat cells."""
    if gx is None:
        gx, gy = gradient(grid)
    # the downhill direction is −∇z: east component −gx, north component −gy
    with np.errstate(invalid="ignore"):
        asp = np.degrees(np.arctan2(-gx, -gy)) % 360.0
        asp = np.where((gx == 0) & (gy == 0), np.nan, asp)
    asp = np.where(asp >= 360.0, 0.0, asp)
    return grid.with_data(asp.astype(np.float32), "aspect")


def hillshade(grid: Grid, azimuth: float = 315.0, altitude: float = 45.0, zfactor: float = 1.0,
              gx=None, gy=None) -> Grid:
    """Shaded relief 1–255 (gdaldem's formula), NaN where undefined."""
    if gx is None:
        gx, gy = gradient(grid)
    az, alt = math.radians(azimuth), math.radians(altitude)
    x, y = -gx, gy                      # gdaldem's x (west minus east) and y (north minus south)
    with np.errstate(invalid="ignore"):
        cang = (math.sin(alt) - (y * math.cos(az) * math.cos(alt) * zfactor
                                 - x * math.sin(az) * math.cos(alt) * zfactor)) / \
            np.sqrt(1.0 + zfactor * zfactor * (x * x + y * y))
        shade = np.where(cang <= 0.0, 1.0, 1.0 + 254.0 * cang)
    shade = np.where(np.isnan(gx), np.nan, shade)
    return grid.with_data(shade.astype(np.float32), "hillshade")


def derivatives(grid: Grid) -> dict[str, Grid]:
    """Slope, aspect and hillshade from one gradient pass."""
    gx, gy = gradient(grid)
    return {"slope": slope(grid, gx, gy), "aspect": aspect(grid, gx, gy),
            "hillshade": hillshade(grid, gx=gx, gy=gy)}


# --------------------------------------------------------------------------- classes
def classify(values: Grid, breaks, name: str) -> Grid:
    """Class codes 1..len(breaks)+1 (a value on a break falls in the lower class), NaN kept."""
    arr = values.data
    codes = np.digitize(arr, np.asarray(breaks, dtype=float), right=True) + 1
    out = np.where(np.isnan(arr), np.nan, codes).astype(np.float32)
    return values.with_data(out, name)


def slope_grades(slope_grid: Grid) -> Grid:
    """坡度分级 codes 1–5 (Ⅰ ≤ 2°, Ⅱ 2–6°, Ⅲ 6–15°, Ⅳ 15–25°, Ⅴ > 25°)."""
    return classify(slope_grid, GRADE_BREAKS, "slope_grade")


def grade_labels() -> dict[int, str]:
    return {code: label for code, label, _ in SLOPE_GRADES}


def band_labels(breaks) -> dict[int, str]:
    edges = [float(b) for b in breaks]
    labels = {1: f"≤{edges[0]:g} m"}
    for k in range(1, len(edges)):
        labels[k + 1] = f"{edges[k - 1]:g}–{edges[k]:g} m"
    labels[len(edges) + 1] = f">{edges[-1]:g} m"
    return labels


def class_polygons(classes: Grid, labels: dict[int, str], min_cells: int = 4,
                   field: str = "grade") -> gpd.GeoDataFrame:
    """Polygons of each class inside the area, dissolved per class, in EPSG:4490.

    Regions smaller than ``min_cells`` cells are merged into their neighbours first
    (``rasterio.features.sieve``) so the polygons stay readable; area tables never use them.
    """
    arr = np.where(classes.inside & ~np.isnan(classes.data), classes.data, 0).astype(np.int32)
    if min_cells > 1:
        arr = features.sieve(arr, size=min_cells, connectivity=4)
        arr = np.where(classes.inside & ~np.isnan(classes.data), arr, 0).astype(np.int32)
    geoms, codes = [], []
    for geom, value in features.shapes(arr, mask=arr > 0, transform=classes.transform, connectivity=4):
        geoms.append(shapely.geometry.shape(geom))
        codes.append(int(value))
    if not geoms:
        return gpd.GeoDataFrame({field: [], "label": [], "area_mu": []}, geometry=[], crs=settings.STORAGE_CRS)
    gdf = gpd.GeoDataFrame({field: codes}, geometry=geoms, crs=classes.crs)
    gdf = gdf.dissolve(by=field, as_index=False).sort_values(field).reset_index(drop=True)
    gdf.geometry = make_valid_same_dimension(gdf.geometry.values)
    gdf["label"] = gdf[field].map(labels)
    gdf["area_mu"] = (gdf.geometry.area / M2_PER_MU).round(2)
    gdf["note"] = (f"图斑：小于 {min_cells} 个格网的碎斑并入相邻图斑，面积以分级统计表为准" if min_cells > 1
                   else "图斑：按格网边界生成")
    return gdf[[field, "label", "area_mu", "note", "geometry"]].to_crs(settings.STORAGE_CRS)


def _zones_metric(zones: gpd.GeoDataFrame, crs) -> gpd.GeoSeries:
    polys = zones[zones.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polys) != len(zones):
        raise InputError(f"{len(zones) - len(polys)} of {len(zones)} zones are not polygons",
                         zones.attrs.get("source"))
    return zones.geometry.to_crs(crs)


def class_areas(classes: Grid, zones: gpd.GeoDataFrame, labels: dict[int, str], *,
                name_field: str = "name", key: str = "township") -> pd.DataFrame:
    """Area in 亩 of every class inside every zone (exact cell fractions), with shares.

    Only cells inside the analysis area count. Columns: ``key``, ``area_mu`` (the zone's area
    with data), one ``<label> (亩)`` column per class and one ``<label> 比例`` share each.
    """
    data = classes.clipped()
    geoms = _zones_metric(zones, classes.crs)
    stats = zonal_stats(data, classes.transform, geoms, percentiles=(), classes=True,
                        cell_area=classes.cell_area)
    names = zones[name_field].astype(str).values if name_field in zones.columns else np.arange(len(zones)).astype(str)
    out = pd.DataFrame({key: names, "area_mu": (stats["data_m2"] / M2_PER_MU).values})
    for code, label in labels.items():
        m2 = stats.get(f"m2_{code}", pd.Series(0.0, index=stats.index)).values
        out[f"{label} (亩)"] = m2 / M2_PER_MU
    for code, label in labels.items():
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"{label} 比例"] = np.where(out["area_mu"] > 0, out[f"{label} (亩)"] / out["area_mu"], np.nan)
    total = {key: "合计", "area_mu": out["area_mu"].sum()}
    for code, label in labels.items():
        total[f"{label} (亩)"] = out[f"{label} (亩)"].sum()
        total[f"{label} 比例"] = total[f"{label} (亩)"] / total["area_mu"] if total["area_mu"] else np.nan
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    return _round(out)


def _round(df: pd.DataFrame) -> pd.DataFrame:
    for col in df.columns:
        if df[col].dtype.kind == "f":
            df[col] = df[col].round(4 if "比例" in str(col) or col.endswith("share") else 2)
    return df


# --------------------------------------------------------------------------- cropland rules
def cropland_layer(gdf: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, str]:
    """The cropland polygons of a layer: a 三调 DLTB layer's DLBM 0101/0102/0103, else all polygons."""
    source = gdf.attrs.get("source")
    polys = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polys) == 0:
        raise InputError("the cropland layer holds no polygons", source)
    field = landuse.code_field(polys)
    if field is not None:
        crop = polys[landuse.describe(polys[field])["is_cropland"].to_numpy()]
        codes = "/".join(landuse.cropland_codes())
        if len(crop) == 0:
            raise InputError(f"no parcel has {field} {codes} (cropland)", source)
        return crop, f"cropland: {len(crop)} of {len(polys)} parcels with {field} in 0101 水田, 0102 水浇地, 0103 旱地"
    n = len(polys)
    return polys, f"cropland: all {n} polygon{'s' if n != 1 else ''} of the layer (no DLBM field)"


def cropland_rules(slope_grid: Grid, cropland: gpd.GeoDataFrame, townships: gpd.GeoDataFrame,
                   *, name_field: str = "name") -> dict:
    """The plan's slope rules on cropland: area per slope grade and township, and the verdicts.

    Returns a dict with ``by_township`` (亩 per grade, 退耕还林还草候选 = grade Ⅴ,
    坡改梯/综合治理 = grade Ⅳ), ``by_feature`` (the same per cropland polygon, with its verdict)
    and ``steep`` (the cropland on slopes > 25° as polygons, EPSG:4490).
    """
    grades = slope_grades(slope_grid)
    crop_m = cropland.to_crs(slope_grid.crs)
    crop_m = crop_m[crop_m.geom_type.isin(["Polygon", "MultiPolygon"])].reset_index(drop=True)
    labels = grade_labels()
    crop_m["_fid"] = np.arange(len(crop_m))
    towns = townships[[name_field, "geometry"]].to_crs(slope_grid.crs).rename(columns={name_field: "township"})
    pieces = gpd.overlay(crop_m[["_fid", "geometry"]], towns, how="intersection", keep_geom_type=True)
    data = grades.clipped()
    st = zonal_stats(data, grades.transform, pieces.geometry.values, percentiles=(), classes=True,
                     cell_area=grades.cell_area)
    mu = pd.DataFrame({f"g{c}": st.get(f"m2_{c}", pd.Series(0.0, index=st.index)).values / M2_PER_MU
                       for c in labels})
    mu["township"] = pieces["township"].values
    mu["_fid"] = pieces["_fid"].values
    mu["area_mu"] = pieces.geometry.area.values / M2_PER_MU
    mu["nodata_mu"] = mu["area_mu"] - mu[[f"g{c}" for c in labels]].sum(axis=1)

    def finish(df, key):
        out = pd.DataFrame({key: df.index})
        out["area_mu"] = df["area_mu"].values
        for c, label in labels.items():
            out[f"{label} (亩)"] = df[f"g{c}"].values
        out["退耕还林还草候选 (亩)"] = df["g5"].values
        out["坡改梯/综合治理 (亩)"] = df["g4"].values
        out["无高程 (亩)"] = df["nodata_mu"].clip(lower=0).values
        return out

    by_town = mu.groupby("township", sort=True)[[*(f"g{c}" for c in labels), "area_mu", "nodata_mu"]].sum()
    by_town = finish(by_town, "township")
    total = by_town.drop(columns="township").sum()
    by_town = pd.concat([by_town, pd.DataFrame([{"township": "合计", **total.to_dict()}])], ignore_index=True)
    by_feat = mu.groupby("_fid", sort=True)[[*(f"g{c}" for c in labels), "area_mu", "nodata_mu"]].sum()
    by_feat = finish(by_feat, "feature")
    main_town = mu.sort_values(["_fid", "area_mu"], ascending=[True, False]).drop_duplicates("_fid")
    by_feat["township"] = by_feat["feature"].map(dict(zip(main_town["_fid"], main_town["township"])))
    for col in ("name", "BSM", "DLBM", "DLMC", "id"):
        if col in crop_m.columns:
            by_feat[col] = crop_m.loc[by_feat["feature"], col].values
    steep_share = by_feat["退耕还林还草候选 (亩)"] / by_feat["area_mu"].where(by_feat["area_mu"] > 0)
    mid_share = by_feat["坡改梯/综合治理 (亩)"] / by_feat["area_mu"].where(by_feat["area_mu"] > 0)
    nodata_share = by_feat["无高程 (亩)"] / by_feat["area_mu"].where(by_feat["area_mu"] > 0)
    by_feat["verdict"] = np.select([steep_share >= 0.5, steep_share > 0, mid_share > 0, nodata_share > 0.5,
                                    by_feat["area_mu"] <= 0],
                                   ["退耕还林还草候选（过半 >25°）", "部分 >25°：退耕还林还草候选",
                                    "坡改梯/综合治理（15°–25°）", "无高程数据：未判定", "不在分析范围内"], "符合")
    steep = _steep_polygons(grades, crop_m)
    return {"by_township": _round(by_town), "by_feature": _round(by_feat), "steep": steep}


def _steep_polygons(grades: Grid, crop_m: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Cropland on grade Ⅴ (> 25°): the grade-Ⅴ cells' squares cut by the cropland polygons."""
    mask = (grades.data == 5) & grades.inside
    if not mask.any() or len(crop_m) == 0:
        return gpd.GeoDataFrame({"area_mu": []}, geometry=[], crs=settings.STORAGE_CRS)
    shapes = [shapely.geometry.shape(g) for g, v in
              features.shapes(mask.astype(np.uint8), mask=mask, transform=grades.transform, connectivity=4)]
    steep_cells = shapely.union_all(shapes)
    crop_union = shapely.union_all(crop_m.geometry.values)
    inter = make_valid_same_dimension(np.array([shapely.intersection(steep_cells, crop_union)]))
    parts = shapely.get_parts(inter)
    parts = parts[shapely.get_type_id(parts) == 3]
    parts = parts[shapely.area(parts) > 0]
    gdf = gpd.GeoDataFrame({"area_mu": np.round(shapely.area(parts) / M2_PER_MU, 2)},
                           geometry=parts, crs=grades.crs)
    gdf["rule"] = "耕地坡度 >25°：退耕还林还草候选（规划第七章第一节）"
    return gdf.to_crs(settings.STORAGE_CRS)


# --------------------------------------------------------------------------- 坝区
def baqu_candidates(dem: Grid, slope_grid: Grid, townships: gpd.GeoDataFrame | None = None,
                    named: gpd.GeoDataFrame | None = None, *, max_slope: float = BAQU_MAX_SLOPE,
                    min_mu: float = BAQU_MIN_MU, name_field: str = "name") -> gpd.GeoDataFrame:
    """Contiguous land with slope ≤ ``max_slope`` of at least ``min_mu`` 亩 (4-connected cells).

    Flat land is :func:`flat_land` (the slope rule plus the basin's rim cells).

    Each candidate has its area (亩, from its cells), mean/min/max elevation, mean slope, the
    township holding most of it and the plan's named 坝区 (``named`` points) that lie in it.
    """
    flat = flat_land(dem, slope_grid, max_slope)
    from scipy import ndimage    # here: scipy.ndimage costs 0.4 s to import for every command

    labels, n = ndimage.label(flat, structure=[[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    cols = ["baqu_id", "area_mu", "elev_mean", "elev_min", "elev_max", "slope_mean", "township",
            "named_baqu", "geometry"]
    if n == 0:
        return gpd.GeoDataFrame({c: [] for c in cols[:-1]}, geometry=[], crs=settings.STORAGE_CRS)
    counts = np.bincount(labels.ravel(), minlength=n + 1)
    area_mu = counts * slope_grid.cell_area / M2_PER_MU
    keep = np.flatnonzero(area_mu >= min_mu)
    keep = keep[keep > 0]
    if len(keep) == 0:
        return gpd.GeoDataFrame({c: [] for c in cols[:-1]}, geometry=[], crs=settings.STORAGE_CRS)
    lab = labels.ravel()
    z = dem.data.ravel().astype(np.float64)
    s = slope_grid.data.ravel().astype(np.float64)
    sel = np.isin(lab, keep)
    zl, zz, ss = lab[sel], z[sel], s[sel]
    zsum = np.bincount(zl, weights=np.nan_to_num(zz), minlength=n + 1)
    zcnt = np.bincount(zl, weights=~np.isnan(zz), minlength=n + 1)
    zmin = np.full(n + 1, np.inf)
    zmax = np.full(n + 1, -np.inf)
    np.fmin.at(zmin, zl, zz)
    np.fmax.at(zmax, zl, zz)
    scnt = np.bincount(zl, weights=~np.isnan(ss), minlength=n + 1)
    smean = np.bincount(zl, weights=np.nan_to_num(ss), minlength=n + 1) / np.maximum(scnt, 1)
    kept = np.where(np.isin(labels, keep), labels, 0).astype(np.int32)
    geoms = {}
    for geom, value in features.shapes(kept, mask=kept > 0, transform=slope_grid.transform, connectivity=4):
        geoms.setdefault(int(value), []).append(shapely.geometry.shape(geom))
    order = sorted(keep, key=lambda k: (-counts[k], k))
    polys = [shapely.union_all(geoms[k]) for k in order]
    gdf = gpd.GeoDataFrame({
        "baqu_id": [f"BQ{i + 1:03d}" for i in range(len(order))],
        "area_mu": [round(float(area_mu[k]), 1) for k in order],
        "elev_mean": [round(float(zsum[k] / zcnt[k]), 1) if zcnt[k] else np.nan for k in order],
        "elev_min": [round(float(zmin[k]), 1) for k in order],
        "elev_max": [round(float(zmax[k]), 1) for k in order],
        "slope_mean": [round(float(smean[k]), 2) for k in order],
    }, geometry=polys, crs=slope_grid.crs)
    gdf["township"] = _main_zone(gdf, townships, name_field) if townships is not None else None
    gdf["named_baqu"] = ""
    if named is not None and len(named):
        pts = named.to_crs(slope_grid.crs)
        hits = gpd.sjoin(pts[[name_field, "geometry"]], gdf[["baqu_id", "geometry"]], predicate="within")
        found = hits.groupby("baqu_id")[name_field].apply(lambda s: "、".join(sorted(map(str, s))))
        gdf["named_baqu"] = gdf["baqu_id"].map(found).fillna("")
    return gdf[cols].to_crs(settings.STORAGE_CRS)


def flat_land(dem: Grid, slope_grid: Grid, max_slope: float) -> np.ndarray:
    """Cells of slope ≤ ``max_slope``, plus the one-cell rim that Horn's 3×3 window misses.

    A cell at the edge of a flat basin gets the slope of the hillside beyond it, because its
    window reaches one cell out; left out, every basin would lose a ring of cells (its
    perimeter × the cell size: about 19 % of a 600 亩 square on a 30 m DEM). So a cell next to
    flat land joins it when the step between the two cells' elevations is itself no steeper
    than ``max_slope``.
    """
    valid = slope_grid.inside & ~np.isnan(slope_grid.data)
    flat = valid & (slope_grid.data <= max_slope)
    z = dem.data
    limit = math.tan(math.radians(max_slope))
    rim = np.zeros_like(flat)
    res_x, res_y = slope_grid.res
    for dr, dc, dist in ((0, 1, res_x), (0, -1, res_x), (1, 0, res_y), (-1, 0, res_y)):
        nb_flat = np.zeros_like(flat)
        nb_z = np.full(z.shape, np.nan, dtype=z.dtype)
        rs = slice(max(dr, 0), z.shape[0] + min(dr, 0))
        rd = slice(max(-dr, 0), z.shape[0] + min(-dr, 0))
        cs = slice(max(dc, 0), z.shape[1] + min(dc, 0))
        cd = slice(max(-dc, 0), z.shape[1] + min(-dc, 0))
        nb_flat[rd, cd] = flat[rs, cs]
        nb_z[rd, cd] = z[rs, cs]
        with np.errstate(invalid="ignore"):
            rim |= nb_flat & (np.abs(z - nb_z) <= limit * dist)
    return flat | (rim & slope_grid.inside & ~np.isnan(z))


def named_baqu_check(candidates: gpd.GeoDataFrame, named: gpd.GeoDataFrame, *, name_field="name") -> pd.DataFrame:
    """For each of the plan's named 坝区: the candidate containing it, or the nearest and how far."""
    rows = []
    cand = candidates.to_crs(settings.METRIC_CRS)
    for _, row in named.to_crs(settings.METRIC_CRS).iterrows():
        entry = {"name": row[name_field], "candidate": "", "distance_m": np.nan}
        if len(cand):
            d = cand.distance(row.geometry)
            k = int(np.argmin(d.values))
            entry["distance_m"] = round(float(d.iloc[k]), 0)
            entry["candidate"] = cand["baqu_id"].iloc[k]
            entry["within"] = bool(d.iloc[k] == 0)
            entry["candidate_mu"] = cand["area_mu"].iloc[k]
        rows.append(entry)
    return pd.DataFrame(rows)


def _main_zone(gdf: gpd.GeoDataFrame, zones: gpd.GeoDataFrame, name_field: str) -> list:
    z = zones[[name_field, "geometry"]].to_crs(gdf.crs)
    pieces = gpd.overlay(gdf[["baqu_id", "geometry"]], z, how="intersection", keep_geom_type=True)
    if len(pieces) == 0:
        return [None] * len(gdf)
    pieces["_a"] = pieces.geometry.area
    best = pieces.sort_values(["baqu_id", "_a"], ascending=[True, False]).drop_duplicates("baqu_id")
    names = dict(zip(best["baqu_id"], best[name_field]))
    return [names.get(b) for b in gdf["baqu_id"]]


# --------------------------------------------------------------------------- bands and zonal
def elevation_bands(dem: Grid, zones: gpd.GeoDataFrame, breaks=DEFAULT_BANDS, *,
                    name_field: str = "name") -> pd.DataFrame:
    """Area (亩) and share of every elevation band per zone (township), exact cell fractions."""
    breaks = sorted(float(b) for b in breaks)
    if not breaks:
        raise InputError("give at least one elevation break, e.g. --breaks 1000,1400,1800")
    bands = classify(dem, breaks, "elevation_band")
    return class_areas(bands, zones, band_labels(breaks), name_field=name_field)


def zonal(grid: Grid, zones: gpd.GeoDataFrame, *, percentiles=(10, 50, 90), classes: bool = False,
          name_field: str | None = "name") -> pd.DataFrame:
    """Statistics of any raster for any polygon layer (exact cell fractions).

    Cells outside the grid's area (``grid.inside``) do not count. The zones are transformed
    to the raster's CRS; areas are m² of that CRS (metric CRSs) or of cells in degrees².
    """
    geoms = _zones_metric(zones, grid.crs)
    data = grid.clipped()
    if classes:
        finite = data[np.isfinite(data)]
        if finite.size and (np.any(finite != np.round(finite)) or np.unique(finite).size > 256):
            raise InputError("classes need a raster of integer class codes (at most 256 of them)",
                             grid.sources[0] if grid.sources else None)
    cell_area = grid.cell_area if not grid.crs.is_geographic else None
    st = zonal_stats(data, grid.transform, geoms.values, percentiles=percentiles, classes=classes,
                     cell_area=cell_area)
    zone_units = float(shapely.area(geoms.values).sum())      # in the raster's own units (m² or deg²)
    data_units = float(st["count"].sum()) * abs(grid.transform.a * grid.transform.e)
    share = data_units / zone_units if zone_units > 0 else 0.0
    if grid.crs.is_geographic:        # areas of geographic cells: use the polygons' own areas
        st = st.drop(columns=["area_m2", "data_m2"])
    out = pd.DataFrame(index=st.index)
    if name_field and name_field in zones.columns:
        out["name"] = zones[name_field].astype(str).values
    out = pd.concat([out, st.reset_index(drop=True)], axis=1)
    if "area_m2" in out:
        out.insert(1 if "name" in out else 0, "area_mu", out["area_m2"] / M2_PER_MU)
    out = _round(out)
    out.attrs["data_share"] = share       # share of the zones' area with raster values
    return out
