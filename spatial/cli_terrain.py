"""``qxg terrain …``: the DEM commands (slope, classes, rules, 坝区, bands, zonal, fetch)."""
from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path

import click
import numpy as np
import pandas as pd
import shapely

from . import raster, settings, terrain
from .errors import InputError

RASTER_SUFFIXES = (".tif", ".tiff")


class _Base:
    """The shared CLI helpers of :mod:`spatial.cli`, looked up when used (that module imports
    this one while it is being initialised)."""

    def __getattr__(self, name):
        import importlib

        return getattr(importlib.import_module("spatial.cli"), name)


base = _Base()


def _dem_options(f):
    f = base.input_options()(f)
    f = click.option("--overwrite", is_flag=True, help="Replace an existing output file.")(f)
    f = click.option("--resolution", type=click.FloatRange(min=1.0, max=5000.0),
                     help="Cell size in metres, 1–5000 (default: the DEM's own).")(f)
    f = click.option("--fill-voids", is_flag=True, help="Interpolate voids (no-data holes) in the DEM.")(f)
    f = click.option("--allow-partial", is_flag=True,
                     help="Go on when the DEM covers less than 95 % of the area.")(f)
    f = click.option("--area", help="Polygon layer (id or file) to work in (default: the district boundary).")(f)
    f = click.option("--dem", "dem", multiple=True, type=click.Path(path_type=Path), envvar=raster.DEM_ENV,
                     help=f"DEM file or folder (repeatable; default ${raster.DEM_ENV}).")(f)
    return f


@contextlib.contextmanager
def step(label: str):
    """One line per long step: a spinner on a terminal, a plain line with its time otherwise."""
    t0 = time.perf_counter()
    if sys.stderr.isatty():
        with base.err.status(label + " …"):
            yield
    else:
        yield
    base.err.print(f"{label}: {time.perf_counter() - t0:.1f} s", highlight=False)


def _precheck_tif(out: Path, overwrite: bool) -> None:
    if out.suffix.lower() not in RASTER_SUFFIXES:
        raise base.BadInput(f"{out}: write rasters as .tif (Cloud-Optimized GeoTIFF)")
    _precheck_place(out)
    if out.exists() and not overwrite:
        raise base.BadInput(f"{out}: already exists; add --overwrite to replace it")


def _read_dem(ctx, dem, area, allow_partial, fill_voids, resolution) -> raster.Grid:
    with step("reading the DEM"):
        grid = raster.read_dem(list(dem) or None, area=area, layers=ctx.obj["layers"],
                               allow_partial=allow_partial, fill_voids=fill_voids, resolution=resolution)
    for line in grid.notes:
        click.echo(line)
    vals = grid.clipped()
    if np.isfinite(vals).any():
        click.echo(f"elevation {np.nanmin(vals):.0f}–{np.nanmax(vals):.0f} m, mean {np.nanmean(vals):.0f} m; "
                   f"{grid.shape[1]} × {grid.shape[0]} cells")
    return grid


def _townships(ctx):
    cat = base._catalog(ctx)
    towns = cat.load("township_areas") if cat.get("township_areas").exists else cat.load("boundary")
    return cat, towns


def _status_line(cat, ids):
    sources = base._data_sources(cat, ids)
    base._caveat(sources)
    return sources


@click.group()
def terrain_group():
    """Terrain from a DEM: slope, 坡度分级, the plan's slope rules, 坝区, elevation bands."""


@terrain_group.command("info")
@_dem_options
@click.option("--out", type=click.Path(path_type=Path), help="Also write the DEM as warped and clipped (.tif).")
@click.pass_context
def terrain_info(ctx, dem, area, allow_partial, fill_voids, resolution, overwrite, out):
    """Read the DEM(s) and report sources, coverage, voids and elevations; optionally write it in EPSG:4544."""
    if out is not None:
        _precheck_tif(out, overwrite)
    grid = _read_dem(ctx, dem, area, allow_partial, fill_voids, resolution)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        raster.write_raster(grid, out, overwrite=overwrite)
        click.echo(f"wrote {out}")


def _derivative_command(name: str, doc: str):
    @terrain_group.command(name, help=doc)
    @_dem_options
    @click.option("--out", type=click.Path(path_type=Path), required=True, help="Output GeoTIFF (.tif).")
    @click.pass_context
    def command(ctx, dem, area, allow_partial, fill_voids, resolution, overwrite, out):
        _precheck_tif(out, overwrite)
        grid = _read_dem(ctx, dem, area, allow_partial, fill_voids, resolution)
        with step(f"computing {name}"):
            result = terrain.derivatives(grid)[name]
        out.parent.mkdir(parents=True, exist_ok=True)
        if name == "hillshade":
            raster.write_raster(result, out, dtype="uint8", nodata=0, overwrite=overwrite)
        else:
            raster.write_raster(result, out, overwrite=overwrite)
        click.echo(f"wrote {out} ({settings.crs_label(grid.crs)}, {grid.res[0]:g} m, nodata "
                   f"{0 if name == 'hillshade' else -9999})")
    return command


_derivative_command("slope", "Slope in degrees (Horn, as gdaldem) as a GeoTIFF in EPSG:4544.")
_derivative_command("aspect", "Aspect in degrees clockwise from north (Horn; flat cells empty) as a GeoTIFF.")
_derivative_command("hillshade", "Shaded relief (azimuth 315°, altitude 45°) as a byte GeoTIFF.")


TABLE_SUFFIXES = (".gpkg", ".xlsx", ".csv")


def _precheck_table(out, overwrite) -> None:
    """Refuse a bad --out before any work: these commands write tables (.gpkg, .xlsx, .csv)."""
    if out is None:
        return
    if out.suffix.lower() not in TABLE_SUFFIXES:
        raise base.BadInput(f"{out}: write these results as {', '.join(TABLE_SUFFIXES)}")
    _precheck_place(out)
    base._precheck_out(out, overwrite)


def _precheck_place(out: Path) -> None:
    if out.is_dir():
        raise base.BadInput(f"{out}: is a folder, not a file")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise base.BadInput(f"{parent}: is a file, not a folder")


def _tables_out(out, tables, overwrite, csv_key, sheets):
    if out is not None:
        base._write_tables(out, tables, overwrite, csv_key=csv_key, sheet_names=sheets)


def _print_table(df: pd.DataFrame, title: str, columns, limit: int = 60):
    from rich.table import Table

    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(str(c), justify="left" if df[c].dtype == object else "right")
    for _, row in df.head(limit).iterrows():
        t.add_row(*[_fmt(row[c]) for c in columns])
    base.console.print(t)


def _fmt(v) -> str:
    if isinstance(v, float):
        if pd.isna(v):
            return "—"
        if v == 0:
            return "0"
        return f"{v:,.1f}" if abs(v) >= 1 else f"{v:.3f}"
    return str(v)


@terrain_group.command("classes")
@_dem_options
@click.option("--out", type=click.Path(path_type=Path), help="Write the grades: .xlsx, .csv or .gpkg (with polygons).")
@click.option("--min-cells", type=int, default=4, show_default=True,
              help="Polygons only: regions smaller than this many cells join their neighbours.")
@click.pass_context
def terrain_classes(ctx, dem, area, allow_partial, fill_voids, resolution, overwrite, out, min_cells):
    """坡度分级 (≤2°, 2–6°, 6–15°, 15–25°, >25°): area in 亩 per township, and the grade polygons."""
    _precheck_table(out, overwrite)
    grid = _read_dem(ctx, dem, area, allow_partial, fill_voids, resolution)
    cat, towns = _townships(ctx)
    with step("slope and grades"):
        grades = terrain.slope_grades(terrain.slope(grid))
    with step("areas per township"):
        table = terrain.class_areas(grades, towns, terrain.grade_labels())
    labels = list(terrain.grade_labels().values())
    _print_table(table, "坡度分级面积（亩）", ["township", *[f"{x} (亩)" for x in labels]])
    tables = {"slope_grades": table}
    if out is not None and out.suffix.lower() == ".gpkg":
        with step("grade polygons"):
            tables["grade_polygons"] = terrain.class_polygons(grades, terrain.grade_labels(), min_cells=min_cells)
    tables["data_sources"] = _status_line(cat, ["township_areas"])
    _tables_out(out, tables, overwrite, "slope_grades",
                {"slope_grades": "坡度分级", "grade_polygons": "坡度分级图斑", "data_sources": "数据来源"})


@terrain_group.command("rules")
@_dem_options
@click.option("--cropland", help="Cropland polygons: a layer id or file (a 三调 DLTB layer is filtered to "
                                 "DLBM 0101/0102/0103). Default: the basic_farmland layer.")
@click.option("--cropland-layer", help="Layer inside the cropland file (GeoPackage).")
@click.option("--out", type=click.Path(path_type=Path), help="Write the tables: .xlsx, .csv or .gpkg (with the >25° cropland).")
@click.pass_context
def terrain_rules(ctx, dem, area, allow_partial, fill_voids, resolution, overwrite, cropland, cropland_layer, out):
    """The plan's slope rules: cropland >25° (退耕还林还草候选) and 15–25° (坡改梯) per township; 532 zones too."""
    _precheck_table(out, overwrite)
    cat, towns = _townships(ctx)
    if cropland is None:
        crop_src, crop_ids = cat.load("basic_farmland"), ["basic_farmland"]
        click.echo("no --cropland given: the basic_farmland layer (永久基本农田) stands in for cropland")
    else:
        crop_src = cat.layer_or_file(cropland, cropland_layer)
        crop_ids = [crop_src.attrs["layer_id"]] if "layer_id" in crop_src.attrs else []
    crop, what = terrain.cropland_layer(crop_src)
    click.echo(what)
    grid = _read_dem(ctx, dem, area, allow_partial, fill_voids, resolution)
    with step("slope"):
        sl = terrain.slope(grid)
    with step("cropland by grade and township"):
        res = terrain.cropland_rules(sl, crop, towns)
    bt = res["by_township"]
    _print_table(bt, "耕地坡度规则（亩）", ["township", "area_mu", "退耕还林还草候选 (亩)", "坡改梯/综合治理 (亩)"])
    tot = bt.iloc[-1]
    if tot["area_mu"] <= 0:
        raise InputError("no cropland lies inside the area (the townships of the analysis)",
                         cropland or "basic_farmland")
    click.echo(f"cropland {tot['area_mu']:,.1f} 亩: >25° {tot['退耕还林还草候选 (亩)']:,.1f} 亩 (退耕还林还草候选), "
               f"15°–25° {tot['坡改梯/综合治理 (亩)']:,.1f} 亩 (坡改梯/综合治理)"
               + (f", without elevations {tot['无高程 (亩)']:,.1f} 亩 (not judged)" if tot["无高程 (亩)"] > 0.05 else ""))
    outside = crop.to_crs(settings.METRIC_CRS).area.sum() / settings.M2_PER_MU - tot["area_mu"]
    if outside > 0.01 * max(tot["area_mu"], 1):
        click.echo(f"warning: {outside:,.1f} 亩 of the cropland lie outside the townships and are not counted", err=True)
    tables = {"cropland_by_township": bt, "cropland_by_feature": res["by_feature"]}
    ids = crop_ids + ["township_areas"]
    zones = cat.load_optional("agri_zones")
    if zones is not None:
        with step("532 zones by grade"):
            zt = terrain.class_areas(terrain.slope_grades(sl), zones, terrain.grade_labels(), key="zone")
        tables["zones_532"] = zt
        ids.append("agri_zones")
    if out is not None and out.suffix.lower() == ".gpkg":
        tables["cropland_over_25"] = res["steep"]
    tables["data_sources"] = _status_line(cat, ids)
    _tables_out(out, tables, overwrite, "cropland_by_township",
                {"cropland_by_township": "耕地坡度_乡镇", "cropland_by_feature": "耕地坡度_图斑",
                 "zones_532": "532产业区坡度", "cropland_over_25": "25度以上耕地", "data_sources": "数据来源"})


@terrain_group.command("baqu")
@_dem_options
@click.option("--max-slope", type=float, default=terrain.BAQU_MAX_SLOPE, show_default=True,
              help="Steepest slope of 坝区 land, degrees (an assumption: no published limit was found).")
@click.option("--min-mu", type=float, default=terrain.BAQU_MIN_MU, show_default=True,
              help="Smallest 坝区, 亩 (Guizhou's 500亩以上坝区).")
@click.option("--out", type=click.Path(path_type=Path), help="Write the candidates: .gpkg, .xlsx, .csv or .geojson.")
@click.pass_context
def terrain_baqu(ctx, dem, area, allow_partial, fill_voids, resolution, overwrite, max_slope, min_mu, out):
    """坝区 candidates: contiguous land with slope ≤ 6° of at least 500 亩, against the plan's named 坝区."""
    if out is not None and out.suffix.lower() not in TABLE_SUFFIXES + (".geojson", ".zip"):
        raise base.BadInput(f"{out}: write the candidates as .gpkg, .xlsx, .csv, .geojson or .zip")
    if out is not None:
        _precheck_place(out)
    base._precheck_out(out, overwrite)
    grid = _read_dem(ctx, dem, area, allow_partial, fill_voids, resolution)
    cat, towns = _townships(ctx)
    named = cat.load_optional("baqu")
    with step("slope and flat regions"):
        cand = terrain.baqu_candidates(grid, terrain.slope(grid), towns, named, max_slope=max_slope, min_mu=min_mu)
    click.echo(f"{len(cand)} 坝区 candidate(s) (slope ≤ {max_slope:g}°, ≥ {min_mu:g} 亩; "
               f"the {max_slope:g}° limit is an assumption), {cand['area_mu'].sum():,.0f} 亩 in all")
    if len(cand):
        _print_table(cand, "坝区候选", ["baqu_id", "area_mu", "elev_mean", "slope_mean", "township", "named_baqu"], 30)
    tables = {"baqu_candidates": cand}
    ids = ["township_areas"]
    if named is not None:
        check = terrain.named_baqu_check(cand, named)
        tables["named_baqu"] = check
        ids.append("baqu")
        for r in check.itertuples():
            where = (f"inside {r.candidate}" if getattr(r, "within", False)
                     else f"nearest candidate {r.candidate} at {r.distance_m / 1000:.1f} km" if r.candidate else "no candidate")
            click.echo(f"规划坝区 {r.name}: {where}")
    tables["data_sources"] = _status_line(cat, ids)
    _tables_out(out, tables, overwrite, "baqu_candidates",
                {"baqu_candidates": "坝区候选", "named_baqu": "规划坝区", "data_sources": "数据来源"})


@terrain_group.command("bands")
@_dem_options
@click.option("--breaks", default=",".join(f"{b:g}" for b in terrain.DEFAULT_BANDS), show_default=True,
              help="Elevation breaks in metres, comma-separated.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the table: .xlsx, .csv or .gpkg (with band polygons).")
@click.pass_context
def terrain_bands(ctx, dem, area, allow_partial, fill_voids, resolution, overwrite, breaks, out):
    """Elevation bands: area (亩) and share per township."""
    _precheck_table(out, overwrite)
    try:
        edges = [float(b) for b in breaks.split(",") if b.strip()]
    except ValueError as exc:
        raise base.BadInput(f"--breaks must be numbers in metres separated by commas, got {breaks!r}") from exc
    if not edges:
        raise base.BadInput("--breaks needs at least one elevation")
    if not all(math.isfinite(b) for b in edges) or any(b >= a for b, a in zip(edges, edges[1:])):
        raise base.BadInput(f"--breaks must be finite elevations in increasing order, each once, got {breaks!r}")
    grid = _read_dem(ctx, dem, area, allow_partial, fill_voids, resolution)
    cat, towns = _townships(ctx)
    with step("bands per township"):
        table = terrain.elevation_bands(grid, towns, edges)
    labels = list(terrain.band_labels(edges).values())
    _print_table(table, "海拔分带面积（亩）", ["township", *[f"{x} (亩)" for x in labels]])
    tables = {"elevation_bands": table}
    if out is not None and out.suffix.lower() == ".gpkg":
        tables["band_polygons"] = terrain.class_polygons(terrain.classify(grid, edges, "band"),
                                                         terrain.band_labels(edges), field="band")
    tables["data_sources"] = _status_line(cat, ["township_areas"])
    _tables_out(out, tables, overwrite, "elevation_bands",
                {"elevation_bands": "海拔分带", "band_polygons": "海拔分带图斑", "data_sources": "数据来源"})


@terrain_group.command("zonal")
@click.option("--raster", "raster_path", type=click.Path(path_type=Path), required=True, help="Any single-band raster.")
@click.option("--band", type=int, default=1, show_default=True)
@click.option("--zones", "zones_src", required=True, help="Polygon layer id or file.")
@click.option("--zones-layer", help="Layer inside the zones file (GeoPackage).")
@click.option("--classes", is_flag=True, help="Also the area and share of every class (integer rasters).")
@click.option("--percentiles", default="10,50,90", show_default=True)
@click.option("--area", help="Only the parts of the zones inside this polygon layer (id or file).")
@click.option("--allow-partial", is_flag=True, help="Go on when the raster covers less than 95 % of the zones.")
@click.option("--out", type=click.Path(path_type=Path), help="Write the table: .xlsx, .csv or .gpkg.")
@click.option("--overwrite", is_flag=True)
@base.input_options()
@click.pass_context
def terrain_zonal(ctx, raster_path, band, zones_src, zones_layer, classes, percentiles, area, allow_partial,
                  out, overwrite):
    """Zonal statistics of a raster per polygon (exact cell fractions at polygon edges)."""
    _precheck_table(out, overwrite)
    try:
        qs = tuple(float(q) for q in percentiles.split(",") if q.strip())
    except ValueError as exc:
        raise base.BadInput(f"--percentiles must be numbers 0–100, got {percentiles!r}") from exc
    if any(q < 0 or q > 100 for q in qs):
        raise base.BadInput(f"--percentiles must be between 0 and 100, got {percentiles!r}")
    cat = base._catalog(ctx)
    zones = cat.layer_or_file(zones_src, zones_layer)
    if area is not None:
        import geopandas as gpd
        clip = gpd.GeoDataFrame(geometry=[raster.area_geometry(area, ctx.obj["layers"])[0]], crs=settings.METRIC_CRS)
        zones = gpd.clip(zones.to_crs(settings.METRIC_CRS), clip)
        # what touches the area only along an edge is no zone part: keep the polygonal pieces
        parts = [[g for g in shapely.get_parts(geom) if shapely.get_dimensions(g) == 2] for geom in zones.geometry]
        zones = zones.set_geometry([shapely.union_all(p) if p else None for p in parts], crs=zones.crs)
        zones = zones[zones.geometry.notna() & (zones.area > 0)].to_crs(settings.STORAGE_CRS)
        if len(zones) == 0:
            raise InputError("no zone lies inside the area", area)
    grid = raster.read_raster(raster_path, band=band)
    with step("zonal statistics"):
        table = terrain.zonal(grid, zones, percentiles=qs, classes=classes)
    share = table.attrs.get("data_share", 1.0)
    if share < raster.MIN_COVERAGE and not allow_partial:
        raise InputError(f"the raster has values for {share:.1%} of the zones' area (needs "
                         f"{raster.MIN_COVERAGE:.0%})", raster_path, hint="pass --allow-partial to go on")
    click.echo(f"raster values cover {share:.1%} of the zones' area")
    cols = [c for c in ("name", "area_mu", "count", "mean", "min", "max") if c in table.columns]
    _print_table(table, f"分区统计 {raster_path.name}", cols)
    click.echo("cells count by the exact share of their area inside each polygon")
    _tables_out(out, {"zonal": table}, overwrite, "zonal", {"zonal": "分区统计"})


@terrain_group.command("fetch")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              help="Folder for the tiles (default: the dem folder of --layers DIR, else the toolkit's layers/dem).")
@click.option("--url", help=f"Server holding the tiles (default ${'{'}QXG_DEM_URL{'}'} or the AWS Open Data bucket).")
@click.option("--buffer-km", type=float, default=2.0, show_default=True, help="Margin around the area.")
@click.option("--area", help="Polygon layer (id or file) to cover (default: the district boundary).")
@click.option("--allow-partial", is_flag=True, help="Exit 0 even when some tiles could not be downloaded.")
@click.pass_context
def terrain_fetch(ctx, out_dir, url, buffer_km, area, allow_partial):
    """Download the Copernicus GLO-30 tiles covering the district (needs internet; resumable)."""
    import geopandas as gpd

    from . import demfetch

    if out_dir is None:
        user = ctx.obj["layers"]
        out_dir = (Path(user) / "dem") if user and Path(user).is_dir() else settings.BUNDLED_LAYERS / "dem"
    shape, _ = raster.area_geometry(area, ctx.obj["layers"])
    cover = gpd.GeoSeries([shape.buffer(buffer_km * 1000)], crs=settings.METRIC_CRS).to_crs(settings.STORAGE_CRS)
    west, south, east, north = cover.total_bounds
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the folder: {exc.strerror}", out_dir) from exc
    report = demfetch.fetch_tiles((west, south, east, north), out_dir, base=url, progress=sys.stderr.isatty() or None)
    for line in report.lines():
        click.echo(line)
    if report.failed and not allow_partial:
        raise InputError(f"{len(report.failed)} tile(s) could not be downloaded: "
                         + "; ".join(f"{n}: {r}" for n, r in report.failed[:3]),
                         hint="run the same command again to resume, or --allow-partial")
    default_dem = settings.BUNDLED_LAYERS / "dem"
    if Path(out_dir).resolve() in (default_dem.resolve(),) or (ctx.obj["layers"] and Path(out_dir).resolve()
                                                               == (Path(ctx.obj["layers"]) / "dem").resolve()):
        click.echo("the terrain commands and qxg map now find these tiles without --dem")
    else:
        click.echo(f"use them with: qxg terrain classes --dem {out_dir}  (or set {raster.DEM_ENV}={out_dir})")
