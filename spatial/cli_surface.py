"""``qxg access surface``: travel time over terrain, cell by cell (network on roads, walking off them)."""
from __future__ import annotations

import time
from pathlib import Path

import click
import numpy as np
import pandas as pd

from .cli_terrain import base
from .errors import InputError

TABLE_SUFFIXES = (".xlsx", ".gpkg", ".csv")


def parse_bands(text: str) -> tuple[float, ...]:
    try:
        bands = tuple(sorted({float(x) for x in str(text).replace("，", ",").split(",") if x.strip()}))
    except ValueError as exc:
        raise InputError(f"--bands takes minutes separated by commas, e.g. 15,30,60; got {text!r}") from exc
    if not bands or bands[0] <= 0 or not np.isfinite(bands[-1]):
        raise InputError(f"--bands must be positive minutes, got {text!r}")
    return bands


def surface_options(f):
    """The options every surface command shares: grid, DEM, barriers, land cover."""
    opts = [
        click.option("--resolution", type=float, default=100.0, show_default=True,
                     help="Cell size in metres (30 for a fine surface)."),
        click.option("--dem", "dems", multiple=True, type=click.Path(path_type=Path),
                     help="DEM file(s) or folder: Tobler's walking speed on the slope of each move "
                          "(without: level ground, said under the results)."),
        click.option("--area", help="Polygon layer id or file to cover (default: the district boundary)."),
        click.option("--barriers", multiple=True,
                     help="Layer id or file of polygons/lines that cannot be crossed (reservoirs, rivers); repeatable."),
        click.option("--boundary-barrier", is_flag=True, help="Nothing outside the area can be crossed."),
        click.option("--landcover", help="Land-cover raster (.tif) or polygons whose classes walk at --landcover-speeds."),
        click.option("--landcover-field", help="The class field of land-cover polygons."),
        click.option("--landcover-speeds", type=click.Path(path_type=Path),
                     help="CSV of class,kmh (0 = impassable) for --landcover."),
        click.option("--walk-speed", type=float, default=None,
                     help="Level-ground walking speed in km/h (default Tobler's 5.04)."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def build_friction(ctx, cat, resolution, dems, area, barriers, boundary_barrier, landcover, landcover_field,
                   landcover_speeds, walk_speed):
    from . import surface

    area_gdf = cat.layer_or_file(area) if area else None
    bars = []
    for b in barriers:
        g = cat.layer_or_file(b)
        g.attrs.setdefault("source", b)
        bars.append(g)
    speeds = surface.read_speeds(landcover_speeds) if landcover_speeds else None
    if landcover and not landcover_speeds:
        raise InputError("--landcover needs --landcover-speeds (a CSV of class,kmh)")
    lc = landcover
    if landcover and Path(landcover).suffix.lower() not in (".tif", ".tiff"):
        lc = cat.layer_or_file(landcover)
    return surface.friction(area_gdf, resolution=resolution, dem=list(dems) or None, layers=ctx.obj["layers"],
                            landcover=lc, landcover_field=landcover_field, speeds=speeds, barriers=bars,
                            boundary_barrier=boundary_barrier,
                            walk_kmh=walk_speed if walk_speed else surface.TOBLER_FLAT_KMH)


def road_network(cat, scenario: str = "current"):
    from . import network as netmod

    if not cat.get("roads").exists:
        return None
    return netmod.from_layers(cat.load("roads"), cat.load_optional("expressways"), cat.load_optional("interchanges"),
                              scenario=scenario)


def _precheck(path: Path | None, suffixes, overwrite: bool) -> None:
    if path is None:
        return
    if path.suffix.lower() not in suffixes:
        raise base.BadInput(f"{path}: write this as {', '.join(suffixes)}")
    if path.exists() and not overwrite:
        raise base.BadInput(f"{path}: already exists; add --overwrite to replace it")
    if path.parent.exists() and not path.parent.is_dir():
        raise base.BadInput(f"{path.parent}: is a file, not a folder")


@click.command("surface")
@click.option("--to", "to", default="health_facilities", show_default=True,
              help="Facilities: a layer id or file of points, or 'entrances' (expressway entrances).")
@surface_options
@click.option("--bands", default="15,30,60", show_default=True, help="Isochrone and coverage minutes.")
@click.option("--population", type=click.Path(path_type=Path), help="Population raster (people per cell, e.g. WorldPop).")
@click.option("--population-field", help="Or: a field of township_areas with people per township, spread over its cells.")
@click.option("--population-weights", type=click.Path(path_type=Path),
              help="With --population-field: spread in proportion to this raster (default: uniformly).")
@click.option("--capacity-field", help="Facilities' capacity field: serve the nearest people until full (AccessMod).")
@click.option("--people-per-unit", type=float, default=1.0, show_default=True,
              help="People one unit of capacity serves (e.g. 1000 per doctor).")
@click.option("--max-minutes", type=float, default=60.0, show_default=True,
              help="Capacity: how far a facility's catchment may reach.")
@click.option("--out", type=click.Path(path_type=Path), help="Travel-time raster, minutes (Cloud-Optimized GeoTIFF).")
@click.option("--nearest", "nearest_out", type=click.Path(path_type=Path), help="Nearest-facility raster (.tif).")
@click.option("--polygons", "polygons_out", type=click.Path(path_type=Path),
              help="Catchments, isochrones and the coverage tables (.gpkg, or .xlsx for the tables).")
@click.option("--overwrite", is_flag=True)
@base.input_options()
@click.pass_context
def surface_cmd(ctx, to, resolution, dems, area, barriers, boundary_barrier, landcover, landcover_field,
                landcover_speeds, walk_speed, bands, population, population_field, population_weights,
                capacity_field, people_per_unit, max_minutes, out, nearest_out, polygons_out, overwrite):
    """Travel-time surface: minutes from every cell to the nearest facility — network times on the
    roads, walking (Tobler on the DEM's slopes) off them, expressways entered only at entrances."""
    from . import surface

    _precheck(out, (".tif", ".tiff"), overwrite)
    _precheck(nearest_out, (".tif", ".tiff"), overwrite)
    _precheck(polygons_out, (".gpkg", ".xlsx"), overwrite)
    given = [p.expanduser().absolute() for p in (out, nearest_out, polygons_out) if p is not None]
    if len(set(given)) < len(given):
        raise base.BadInput("--out, --nearest and --polygons must be different files")
    for d in dems:
        if not d.exists():
            raise base.BadInput(f"{d}: no such DEM file or folder")
    cat = base._catalog(ctx)
    t0 = time.perf_counter()
    try:
        band_list = parse_bands(bands)
        if population and population_field:
            raise InputError("give --population (a raster) or --population-field (a township table), not both")
        fr = build_friction(ctx, cat, resolution, dems, area, barriers, boundary_barrier, landcover,
                            landcover_field, landcover_speeds, walk_speed)
        net = road_network(cat)
        if to == "entrances":
            targets = "entrances"
            if net is None:
                raise InputError("no roads: the entrances are reached over the road network")
        else:
            targets = cat.layer_or_file(to)
        s = surface.travel_surface(targets, net, fr=fr)
        pop, pop_how = None, None
        if population:
            pop, pop_how = surface.population_grid(fr, raster_path=population)
        elif population_field:
            towns = cat.load("township_areas")
            pop, pop_how = surface.population_grid(fr, townships=towns, field_=population_field,
                                                   weights=population_weights)
        towns = cat.load_optional("township_areas")
        cov = s.coverage(towns, band_list, population=pop)
        alloc = None
        if capacity_field:
            if pop is None:
                raise InputError("--capacity-field needs people: --population or --population-field")
            if isinstance(targets, str):
                raise InputError("--capacity-field needs facilities, not entrances")
            alloc, _left = surface.allocate_capacity(targets, pop, fr, net, capacity_field=capacity_field,
                                                     max_minutes=max_minutes, per_unit=people_per_unit)
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    seconds = time.perf_counter() - t0
    inside = fr.inside
    reached = inside & np.isfinite(s.minutes)
    click.echo(f"surface: {fr.shape[1]} × {fr.shape[0]} cells of {fr.res:g} m ({int(inside.sum()):,} in the area), "
               f"{len(s.targets)} target(s); {seconds:.1f} s")
    if reached.any():
        click.echo(f"minutes to the nearest: median {np.median(s.minutes[reached]):.1f}, "
                   f"90th percentile {np.percentile(s.minutes[reached], 90):.1f}, max {s.minutes[reached].max():.1f}; "
                   f"{int((inside & ~np.isfinite(s.minutes)).sum()):,} cell(s) not reached")
    total = cov.iloc[-1]
    parts = [f"{b:g} 分钟内 面积 {total[f'area_within_{b:g}min_pct']:.1f}%" +
             (f"、人口 {total[f'pop_within_{b:g}min_pct']:.1f}%" if pop is not None else "") for b in band_list]
    click.echo("覆盖（合计）：" + "；".join(parts))
    if pop_how:
        click.echo(pop_how)
    if alloc is not None:
        for r in alloc.itertuples():
            click.echo(f"{r.name}: 容量 {r.people_capacity:,.0f} 人，服务 {r.served:,.0f} 人"
                       f"{'（已满）' if r.full else ''}")
        unserved = float(pop.sum() - alloc['served'].sum())
        click.echo(f"未服务人口：{unserved:,.0f}（{unserved / max(pop.sum(), 1e-9) * 100:.1f}%）")
    for note in s.notes:
        click.echo(f"note: {note}")
    sources = base._data_sources(cat, ["roads", "expressways", "interchanges", "township_areas"]
                                 + ([to] if isinstance(targets, str) is False and to in cat.ids() else []))
    base._caveat(sources)
    try:
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            click.echo(f"wrote {s.write(out, overwrite=overwrite)}")
        if nearest_out is not None:
            nearest_out.parent.mkdir(parents=True, exist_ok=True)
            click.echo(f"wrote {s.write_nearest(nearest_out, overwrite=overwrite)}")
        if polygons_out is not None:
            tables = {"coverage": cov}
            if polygons_out.suffix.lower() == ".gpkg":
                tables = {"catchments": s.catchments(), "isochrones": s.isochrones(band_list), **tables}
            else:          # Excel: the catchments' figures without their outlines
                tables = {"catchments": pd.DataFrame(s.catchments().drop(columns="geometry")), **tables}
            if alloc is not None:
                tables["capacity"] = alloc
            tables["notes"] = pd.DataFrame({"note": s.notes + ([pop_how] if pop_how else [])})
            tables["data_sources"] = sources
            base._write_tables(polygons_out, tables, overwrite,
                               sheet_names={"coverage": "覆盖", "capacity": "容量", "notes": "说明",
                                            "catchments": "服务范围",
                                            "data_sources": "数据来源"})
    except InputError as exc:
        raise base.BadInput(exc.line) from exc


def highway_surface(ctx, cat, rows, resolution, dems):
    """The surface minutes of each township seat to the nearest entrance, beside the network's."""
    from . import surface

    net = road_network(cat, "current")
    fr = surface.friction(None, resolution=resolution, dem=list(dems) or None, layers=ctx.obj["layers"])
    s = surface.travel_surface("entrances", net, fr=fr)
    seats = cat.load("townships")
    current = rows[rows["scenario"] == "current"].reset_index(drop=True)
    surf = s.at(seats)
    table = pd.DataFrame({"name": current["name"], "type": current.get("type", pd.Series([""] * len(current))),
                          "minutes_network": current["minutes"], "minutes_surface": np.round(surf, 2)})
    table["difference"] = (table["minutes_surface"] - table["minutes_network"]).round(2)
    return table, s

