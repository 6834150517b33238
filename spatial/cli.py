"""The ``qxg`` command line: a thin layer over the Python API.

Exit codes: 0 success, 2 bad input (one line on stderr naming file, feature and problem),
1 internal error.
"""
from __future__ import annotations

import codecs
import csv
import functools
import json
import sys
import warnings
from pathlib import Path

import click
import geopandas as gpd
import pandas as pd
from rich.console import Console
from rich.progress import track
from rich.table import Table

from . import catalog as catmod
from . import export, load, settings
from .crs import describe
from .errors import InputError, InputWarning
from .load import read

EXIT_OK, EXIT_INTERNAL, EXIT_BAD_INPUT = 0, 1, 2

console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, soft_wrap=True)


class BadInput(click.ClickException):
    """Raised inside commands to leave with exit code 2 and one line on stderr."""

    exit_code = EXIT_BAD_INPUT

    def show(self, file=None):
        click.echo(f"error: {self.message}", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--layers", "layers_dir", metavar="DIR", envvar="QXG_LAYERS",
              type=click.Path(path_type=str),
              help="Folder or catalog.toml of your own layers; they replace bundled ones by id "
                   "(default: $QXG_LAYERS).")
@click.option("--debug", is_flag=True, help="Show tracebacks of internal errors.")
@click.version_option(package_name="qxg-spatial", prog_name="qxg")
@click.pass_context
def cli(ctx, layers_dir, debug):
    """七星关区 spatial-planning toolkit: layers, analyses and maps in CGCS2000."""
    ctx.obj = {"layers": layers_dir, "debug": debug}


@cli.group()
def layers():
    """List, inspect and validate layers (bundled or your own)."""


def _catalog(ctx) -> catmod.Catalog:
    try:
        return catmod.catalog(ctx.obj["layers"])
    except InputError as exc:
        raise BadInput(exc.line) from exc


RESULT_SUFFIXES = (".gpkg", ".gdb", ".xlsx", ".csv", ".zip", ".geojson")

X_AXIS_HELP = ("Tables in metres: X holds northings (north, the surveying convention) or eastings "
               "(east); default: decided from the numbers.")
GEOMETRY_HELP = ("Tables: points, or polygons (界址点 rings; township areas for a township column); "
                 "default: polygons for 界址点 tables, else points.")


def input_options(prefix: str = ""):
    """Options for the files a command reads (not catalog layers): coordinate system, Chinese
    web offsets, table axes and geometry. ``prefix`` ("source-") keeps them apart from a
    command's own output options."""
    def deco(f):
        @functools.wraps(f)
        def wrapper(*args, in_crs=None, in_coords=None, x_axis=None, in_geometry=None, in_swap_xy=False, **kwargs):
            with load.file_options(crs=in_crs, coords=in_coords, x_axis=x_axis, geometry=in_geometry,
                                   swap_xy=in_swap_xy or None):
                return f(*args, **kwargs)
        wrapper = click.option(f"--{prefix}swap-xy", "in_swap_xy", is_flag=True,
                               help="Files named here store latitude before longitude.")(wrapper)
        wrapper = click.option(f"--{prefix}geometry", "in_geometry", type=click.Choice(["point", "polygon"]),
                               help=GEOMETRY_HELP)(wrapper)
        wrapper = click.option("--x-axis", "x_axis", type=click.Choice(["north", "east"]), help=X_AXIS_HELP)(wrapper)
        wrapper = click.option(f"--{prefix}coords", "in_coords", type=click.Choice(["gcj02", "bd09"]),
                               help="Files named here are in GCJ-02 (AMap, Tencent, 奥维) or BD-09 (Baidu).")(wrapper)
        wrapper = click.option(f"--{prefix}crs", "in_crs", metavar="CRS",
                               help="Coordinate system of files that carry none (DXF, tables in metres), "
                                    "e.g. 4523.")(wrapper)
        return wrapper
    return deco


def _precheck_out(out: Path | None, overwrite: bool) -> None:
    """Refuse a bad --out before any work is done: unknown suffix, or an existing file."""
    if out is None:
        return
    if out.suffix.lower() not in RESULT_SUFFIXES:
        raise BadInput(f"{out}: write results as {', '.join(RESULT_SUFFIXES)}")
    if out.exists() and not overwrite:
        raise BadInput(f"{out}: already exists; add --overwrite to replace it")


def _write_tables(out: Path, tables: dict, overwrite: bool, csv_key: str | None = None,
                  sheet_names: dict | None = None):
    """Write result tables/layers: all of them to .gpkg or .xlsx (sheets renamed by
    ``sheet_names``), one (``csv_key``, default the first) to .csv, .zip or .geojson."""
    fmt = export._SUFFIX_FORMAT.get(out.suffix.lower())
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{out.parent}: cannot create the output folder: {exc.strerror}") from exc
    try:
        if fmt in ("gpkg", "gdb"):
            written = export.write(tables, out, overwrite=overwrite)
        elif fmt == "xlsx":
            named = {(sheet_names or {}).get(k, k): v for k, v in tables.items()}
            written = export.write(named, out, overwrite=overwrite)
        elif fmt in ("csv", "shp", "geojson"):
            written = export.write(tables[csv_key or next(iter(tables))], out, fmt, overwrite=overwrite,
                                   headers="raw")
        else:
            raise InputError("write results as .gpkg, .gdb, .xlsx, .csv, .zip (shapefile) or .geojson", out)
    except InputError as exc:
        raise BadInput(exc.line) from exc
    click.echo(f"wrote {written}")


def _data_sources(cat, ids) -> pd.DataFrame:
    """Which layers an analysis used and how good they are (id, name, statuses, source)."""
    rows = []
    for i in ids:
        entry = cat.get(i)
        if entry is None or not entry.exists:
            continue
        mix = catmod.layer_summary(entry)["status_mix"]
        rows.append({"layer": i, "name": entry.name_zh, "data_status": _mix_text(mix),
                     "origin": entry.origin, "source": str(entry.provenance.get("source", ""))})
    return pd.DataFrame(rows, columns=["layer", "name", "data_status", "origin", "source"])


def _caveat(sources: pd.DataFrame) -> None:
    """One line under the results when any layer used is approximate or illustrative."""
    weak = [f"{r.layer}（{r.data_status}）" for r in sources.itertuples()
            if any(k in r.data_status for k in ("approximate", "illustrative"))]
    if weak:
        click.echo("注意：所用图层含近似或示意数据 — " + "，".join(weak) +
                   "；结果只演示方法，不代表实际情况。用县级数据（--layers）得到实际结果。")


def _mix_text(mix: dict) -> str:
    if not mix:
        return "—"
    order = {s: i for i, s in enumerate(catmod.DATA_STATUSES)}
    return ", ".join(f"{k} {v}" for k, v in sorted(mix.items(), key=lambda kv: order.get(kv[0], 9)))


@layers.command("list")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True, help="Output format (csv/json for scripts).")
@click.pass_context
def layers_list(ctx, fmt):
    """Table of layers: id, 名称, kind, features, CRS and data status."""
    cat = _catalog(ctx)
    rows = []
    entries = list(cat.entries.values())
    for entry in track(entries, description="reading layers", console=err, transient=True,
                       disable=fmt != "table" or not err.is_terminal):
        try:
            info = catmod.layer_summary(entry)
        except Exception as exc:  # noqa: BLE001 - a broken file is shown, not fatal to the list
            info = {"features": None, "crs": None, "status_mix": {}, "error": str(exc).splitlines()[0]}
        status = _mix_text(info["status_mix"]) if entry.exists else "not bundled yet"
        if info.get("error"):
            status = f"unreadable: {info['error']}"
        if entry.id in cat.clashes:
            status = f"several files match: {', '.join(cat.clashes[entry.id])}"
        rows.append({"id": entry.id, "名称": entry.name_zh, "kind": entry.kind,
                     "features": info["features"], "crs": describe(info["crs"]),
                     "data_status": status, "origin": entry.origin})
    if fmt == "json":
        click.echo(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    if fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        return
    table = Table(title="七星关区 layers", title_justify="left")
    for col in ("id", "名称", "kind", "features", "CRS", "data status", "origin"):
        table.add_column(col, justify="right" if col == "features" else "left",
                         no_wrap=col in ("id", "名称", "kind", "CRS"))
    for r in rows:
        table.add_row(r["id"], r["名称"], r["kind"], "—" if r["features"] is None else str(r["features"]),
                      r["crs"], r["data_status"], r["origin"])
    console.print(table)


@layers.command("show")
@click.argument("layer_id")
@click.pass_context
def layers_show(ctx, layer_id):
    """Everything known about one layer: names, file, fields and provenance."""
    cat = _catalog(ctx)
    try:
        entry = cat.get(layer_id)
    except InputError as exc:
        raise BadInput(exc.line) from exc
    lines = [("id", entry.id), ("名称", entry.name_zh), ("name", entry.name_en),
             ("kind", entry.kind), ("geometry", entry.geometry),
             ("file", f"{entry.file}" + (f" | {entry.layer}" if entry.layer else "")
              + ("" if entry.exists else "  (not present)")),
             ("origin", entry.origin),
             ("required fields", ", ".join(entry.required_fields) or "—"),
             ("recognised names", ", ".join(entry.aliases + entry.codes) or "—")]
    for key in ("source", "date", "method", "accuracy", "data_status"):
        lines.append((key, str(entry.provenance.get(key, "—"))))
    if entry.exists and entry.is_raster:
        from .raster import dem_paths
        files = dem_paths(entry.file)
        lines.append(("files", ", ".join(str(p) for p in files[:10]) + (" …" if len(files) > 10 else "")))
    elif entry.exists:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InputWarning)   # shown below as notes
                gdf = cat.load(entry.id)
        except InputError as exc:
            raise BadInput(exc.line) from exc
        info = catmod.layer_summary(entry)
        b = gdf.total_bounds
        lines += [("features", str(len(gdf))), ("file CRS", describe(info["crs"])),
                  ("extent (EPSG:4490)", f"{b[0]:.5f}, {b[1]:.5f} – {b[2]:.5f}, {b[3]:.5f}"),
                  ("fields", ", ".join(c for c in gdf.columns if c != gdf.geometry.name)),
                  ("data status of features", _mix_text(info["status_mix"]))]
        for note in gdf.attrs.get("notes", []):
            lines.append((note.level, note.line))
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column()
    for key, value in lines:
        grid.add_row(key, value)
    console.print(grid)


def _validate_one(label, loader) -> tuple[bool, list[str]]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputWarning)
            gdf = loader()
    except InputError as exc:
        return False, [f"error: {exc.line}"]
    notes = gdf.attrs.get("notes", [])
    lines = [f"{n.level}: {n.line}" for n in notes]
    ok = not any(n.level == "repaired" and "as requested" not in n.problem for n in notes)
    enc = gdf.attrs.get("encoding")
    summary = f"{'ok' if ok else 'fixable'}: {label}: {len(gdf)} feature{'' if len(gdf) == 1 else 's'} → EPSG:4490"
    if enc:
        summary += f", text {enc}"
    return ok, [summary] + lines


def _validate_raster(entry) -> tuple[bool, list[str]]:
    from . import raster
    try:
        files = raster.dem_paths(entry.file)
        infos = [raster._inspect(p, raster.CRS.from_user_input(settings.METRIC_CRS)) for p in files]
    except InputError as exc:
        return False, [f"error: {exc.line}"]
    crss = sorted({describe(i.crs.to_wkt()) for i in infos})
    return True, [f"ok: {entry.id}: {len(files)} raster file(s), {', '.join(crss)}, "
                  f"about {min(i.res_m for i in infos):.0f} m cells"]


@layers.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(path_type=str))
@click.option("--layer", help="Which part of the file: GeoPackage/GDB layer, shapefile in a folder/zip, "
                               "KML folder, sheet, or DXF polygons/lines/points or CAD layer.")
@click.option("--crs", help="Coordinate system when the file has none (DXF, tables in metres), e.g. 4523.")
@click.option("--coords", type=click.Choice(["gcj02", "bd09"]), help="Data is in GCJ-02 / BD-09.")
@click.option("--encoding", help="Text encoding of a shapefile or CSV (default: .cpg or detected).")
@click.option("--swap-xy", is_flag=True, help="The file stores latitude before longitude.")
@click.option("--x-axis", type=click.Choice(["north", "east"]), help=X_AXIS_HELP)
@click.option("--geometry", type=click.Choice(["point", "polygon"]), help=GEOMETRY_HELP)
@click.pass_context
def layers_validate(ctx, paths, layer, crs, coords, encoding, swap_xy, x_axis, geometry):
    """Check files or catalog layers by id (with no PATH, every catalog layer); report each problem.

    Exit code 2 when any file cannot be loaded or needed repair (invalid geometry, wrong
    zone prefix); warnings alone leave the exit code 0.
    """
    results = []
    if paths:
        cat = None
        for path in paths:
            if not Path(path).exists():
                cat = cat or _catalog(ctx)
                entry = cat.get(path) if path in cat.ids() else None
                if entry is not None and entry.exists:          # a catalog id: check that layer
                    results.append(_validate_raster(entry) if entry.is_raster
                                   else _validate_one(entry.id, lambda e=entry: cat.load(e.id)))
                    continue
            results.append(_validate_one(path, lambda p=path: read(
                p, layer=layer, coords=coords, crs=crs, encoding=encoding, swap_xy=swap_xy,
                x_axis=x_axis, geometry=geometry)))
    else:
        cat = _catalog(ctx)
        entries = list(cat.entries.values())
        for entry in track(entries, description="validating layers", console=err,
                           transient=True, disable=not err.is_terminal):
            if not entry.exists:
                if entry.origin == "user":
                    results.append((False, [f"error: {cat.user}: layer {entry.id!r}: the file named in "
                                            f"the catalog does not exist: {entry.file}"]))
                else:
                    results.append((True, [f"reserved: {entry.id} ({entry.name_zh}): no data file yet"]))
                continue
            if entry.is_raster:
                results.append(_validate_raster(entry))
                continue
            results.append(_validate_one(entry.id, lambda e=entry: cat.load(e.id)))
    failed = 0
    for ok, lines in results:
        failed += not ok
        for line in lines:
            stream_err = line.startswith(("error", "repaired", "warning", "fixable"))
            click.echo(line, err=stream_err)
    if failed:
        click.echo(f"error: {failed} of {len(results)} checked file(s) have problems", err=True)
        ctx.exit(EXIT_BAD_INPUT)


def _read_any(ctx, cat, source: str, layer: str | None):
    """A catalog layer by id, or a file: geodata via spatial.read, and tables too when they
    locate their rows (coordinates, 界址点, townships); other tables as plain tables."""
    path = Path(source)
    if path.suffix.lower() in load.TABLE_SUFFIXES:
        from . import tables
        if not path.exists():
            raise InputError("no such file", path)
        sheets = tables.list_sheets(path)
        located = [sh for sh in ([layer] if layer else sheets)
                   if tables.find_location_columns(tables.read_frame(path, sh)[0]) is not None]
        if not located:
            return path.stem, tables.read_frame(path, layer or sheets[0])[0]
    if path.suffix and (path.exists() or path.suffix.lower() in load.VECTOR_SUFFIXES):
        return (layer or path.stem), load.read_named(path, layer=layer)
    entry = cat.get(source)
    return entry.id, cat.load(entry.id)


@cli.command("export")
@click.argument("sources", nargs=-1, metavar="LAYER_OR_RESULT...")
@click.option("--all", "all_layers", is_flag=True, help="Every catalog layer that has data.")
@click.option("--format", "fmt", type=click.Choice(list(export.FORMATS)), default=None,
              help="Output format (default: from --out, else gpkg).")
@click.option("--crs", default="4490", show_default=True,
              help="CGCS2000 system: 4490 (lon/lat), 4544 (3° GK CM 105E), 4523 (3° GK zone 35).")
@click.option("--encoding", type=click.Choice(["utf-8", "gbk"]), default="utf-8", show_default=True,
              help="Text encoding of shapefiles and CSV.")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output file, or folder for several shapefile/GeoJSON/CSV outputs (default: exports/).")
@click.option("--overwrite", is_flag=True, help="Replace existing files.")
@click.option("--layer", help="Layer of a GeoPackage source (or sheet of an XLSX source).")
@click.option("--headers", type=click.Choice(["zh", "raw"]), default="zh", show_default=True,
              help="Chinese column headers in CSV/XLSX, or the field names unchanged.")
@click.option("--coords", "out_coords", type=click.Choice(["wgs84", "gcj02"]), default="wgs84",
              show_default=True, help="KML/KMZ: WGS84 (Google Earth), or GCJ-02 for 奥维/AMap users.")
@input_options("source-")
@click.pass_context
def export_cmd(ctx, sources, all_layers, fmt, crs, encoding, out, overwrite, layer, headers, out_coords):
    """Export layers or analysis results for the county GIS (SHP zip, GPKG, File Geodatabase,
    GeoJSON, KML/KMZ, CSV, XLSX).

    LAYER_OR_RESULT is a catalog id (townships, parks …) or a file: an analysis result, or any
    file the toolkit reads (GDB, KML, DXF, a table with coordinates …). GeoPackage, GDB,
    KML/KMZ and XLSX take several sources into one file; shapefile, GeoJSON and CSV write one
    file per source.
    """
    cat = _catalog(ctx)
    if all_layers:
        sources = tuple(sources) + tuple(e.id for e in cat.entries.values()
                                         if e.exists and not e.is_raster and e.id not in sources)
    if not sources:
        raise BadInput("name at least one layer or result file, or use --all")
    try:
        export.export_crs(crs)
        frames = {}
        for source in sources:
            name, frame = _read_any(ctx, cat, source, layer)
            if name in frames:
                raise InputError(f"two sources are both called {name!r}; export them one at a time "
                                 f"or rename one", source)
            frames[name] = frame
    except InputError as exc:
        raise BadInput(exc.line) from exc
    suffix_fmt = export._SUFFIX_FORMAT.get(out.suffix.lower()) if out is not None and out.suffix else None
    if out is not None and out.suffix and suffix_fmt is None:
        raise BadInput(f"{out}: unknown file type {out.suffix}; use "
                       f"{', '.join(sorted(set(export.FORMATS.values())))}, or a folder")
    if fmt is not None and out is not None and out.suffix and suffix_fmt != fmt:
        raise BadInput(f"{out}: the suffix {out.suffix} does not match --format {fmt} "
                       f"(use {export.FORMATS[fmt]})")
    if fmt in ("shp", "geojson", "csv") and len(frames) > 1 and out is not None and out.suffix:
        raise BadInput(f"{out}: {fmt} holds one layer per file; give a folder as --out for {len(frames)} sources")
    fmt = fmt or suffix_fmt or "gpkg"
    ext = export.FORMATS[fmt]
    to_file = out is not None and bool(out.suffix)
    folder = out.parent if to_file else (out or Path("exports"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"{folder}: cannot create the output folder: {exc.strerror}") from exc
    if fmt in export.MULTI_LAYER:
        jobs = [(frames, out if to_file else folder / f"{next(iter(frames))}{ext}")]
    elif to_file and len(frames) == 1:
        jobs = [(next(iter(frames.values())), out)]
    else:
        jobs = [(df, folder / f"{name}{ext}") for name, df in frames.items()]
    existing = [str(t) for _, t in jobs if Path(t).exists()]
    if existing and not overwrite:
        raise BadInput(f"{existing[0]}: already exists" + (f" (and {len(existing) - 1} more)" if len(existing) > 1 else "")
                       + "; add --overwrite to replace; nothing was written")
    for data, target in jobs:
        try:
            written = export.write(data, target, fmt, crs=crs, encoding=encoding,
                                   overwrite=overwrite, headers=headers, coords=out_coords)
        except InputError as exc:
            raise BadInput(exc.line) from exc
        count = sum(len(d) for d in data.values()) if isinstance(data, dict) else len(data)
        system = (("GCJ-02" if out_coords == "gcj02" else "WGS84") if fmt in ("kml", "kmz")
                  else f"EPSG:{export.export_crs(crs).to_epsg()}")
        click.echo(f"wrote {written} ({count} records, {system}"
                   + (f", {encoding.upper()}" if fmt in ("shp", "csv") else "") + ")")


# --------------------------------------------------------------------------- network & access
def _speeds(speeds_file, terrain_factor):
    from .speeds import SpeedTable
    try:
        return SpeedTable.load(speeds_file, terrain_factor)
    except InputError as exc:
        raise BadInput(exc.line) from exc


@cli.group()
def network():
    """Road networks: inspect the one built from the layers, or fetch OpenStreetMap."""


_IGNORE_MAXSPEED_HELP = ("OpenStreetMap: time every road at its class speed, without the cap of its "
                         "maxspeed tag (on by default: speed = min(class speed, maxspeed)).")


@network.command("info")
@click.option("--scenario", type=click.Choice(["current", "planned"]), default="current", show_default=True)
@click.option("--osm", "osm_file", type=click.Path(path_type=Path),
              help="Use a local OpenStreetMap extract (.osm.pbf, .osm, or the file 'network fetch' wrote) "
                   "instead of the layers.")
@click.option("--speeds", "speeds_file", type=click.Path(path_type=Path), help="TOML file of speeds and class aliases.")
@click.option("--terrain-factor", type=float, default=None, help="Multiply all road speeds (e.g. 0.8).")
@click.option("--class-field", help="Road class field of the roads layer.")
@click.option("--ignore-maxspeed", is_flag=True, help=_IGNORE_MAXSPEED_HELP)
@click.pass_context
def network_info(ctx, scenario, osm_file, speeds_file, terrain_factor, class_field, ignore_maxspeed):
    """Build the network and report nodes, edges, lengths by grade, joins, speed rules and entrances."""
    speeds = _speeds(speeds_file, terrain_factor)
    net = _build_network(ctx, scenario, osm_file, speeds, class_field, not ignore_maxspeed)
    click.echo(net.summary())
    click.echo("speeds (km/h): " + ", ".join(f"{g} {v * (1 if g == '匝道' else speeds.terrain_factor):g}"
                                             for g, v in speeds.speeds.items()))
    for note in net.notes:
        click.echo(f"note: {note}")
    click.echo(f"note: lengths in {net.crs}; digest {net.digest()}")
    for row in net.entrances.itertuples():
        click.echo(f"entrance: {row.name} ({row.phase})")


def _build_network(ctx, scenario, osm_file, speeds, class_field, use_maxspeed=True):
    from . import network as netmod
    try:
        if osm_file:
            return netmod.from_osm_file(osm_file, speeds=speeds, use_maxspeed=use_maxspeed)
        cat = _catalog(ctx)
        roads = cat.load("roads")
        expressways = cat.load("expressways")
        interchanges = cat.load("interchanges")
        return netmod.from_layers(roads, expressways, interchanges, speeds=speeds,
                                  class_field=class_field, scenario=scenario)
    except InputError as exc:
        raise BadInput(exc.line) from exc


@network.command("fetch")
@click.option("--out", type=click.Path(path_type=Path), default=Path("cache/osm_roads.osm"),
              show_default=True, help="Where to save the roads (OpenStreetMap XML).")
@click.option("--buffer-km", type=float, default=2.0, show_default=True,
              help="Download this far beyond the district boundary.")
@click.option("--url", help="Overpass API server (default: $QXG_OVERPASS_URL or overpass-api.de).")
@click.pass_context
def network_fetch(ctx, out, buffer_km, url):
    """Download the district's roads from OpenStreetMap (needs internet) into an .osm file.

    Use it afterwards offline with --osm FILE, like any other extract.
    """
    from . import osm

    def progress(done, total):
        shown = f"{done / 2**20:.1f} MiB" + (f" of {total / 2**20:.1f} MiB" if total else "")
        click.echo(f"\rdownloaded {shown}", nl=False, err=True)
    try:
        boundary = _catalog(ctx).load("boundary")
        path = osm.fetch_drive_network(boundary, out, buffer_km=buffer_km, url=url, progress=progress)
    except InputError as exc:
        click.echo("", err=True)
        raise BadInput(exc.line) from exc
    click.echo("", err=True)
    click.echo(f"wrote {path}")


@cli.group()
def access():
    """Travel-time accessibility analyses."""


@access.command("highway")
@click.option("--minutes", type=float, default=30.0, show_default=True, help="Threshold in minutes.")
@click.option("--scenario", type=click.Choice(["current", "planned", "both"]), default="both",
              show_default=True, help="Today's network, with planned expressways/interchanges, or both.")
@click.option("--out", type=click.Path(path_type=Path), help="Write results: .csv, .xlsx or .gpkg.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option("--speeds", "speeds_file", type=click.Path(path_type=Path), help="TOML file of speeds and class aliases.")
@click.option("--terrain-factor", type=float, default=None, help="Multiply all road speeds (e.g. 0.8).")
@click.option("--access-speed", type=float, default=15.0, show_default=True,
              help="km/h on the straight leg from a township seat to its road.")
@click.option("--class-field", help="Road class field of the roads layer.")
@click.option("--osm", "osm_file", type=click.Path(path_type=Path),
              help="Route on a local OpenStreetMap extract (.osm.pbf, .osm, or the file of 'network fetch') "
                   "instead of the road layers; entrances are its motorway links (current network only).")
@click.option("--ignore-maxspeed", is_flag=True, help=_IGNORE_MAXSPEED_HELP)
@click.option("--max-access-km", type=float, default=None,
              help="Seats farther than this from every road are an error: the roads do not cover them "
                   "(default 5).")
@click.option("--method", type=click.Choice(["network", "surface"]), default="network", show_default=True,
              help="surface: also read each seat's minutes off the travel-time surface (network on roads, "
                   "walking off them) and compare.")
@click.option("--resolution", type=float, default=100.0, show_default=True, help="Surface cell size, metres.")
@click.option("--dem", "dems", multiple=True, type=click.Path(path_type=Path), help="Surface: DEM for walking slopes.")
@click.pass_context
def access_highway(ctx, minutes, scenario, out, overwrite, speeds_file, terrain_factor, access_speed, class_field,
                   osm_file, ignore_maxspeed, max_access_km, method, resolution, dems):
    """乡镇30分钟上高速比例: minutes from every township seat to the nearest expressway entrance."""
    _precheck_out(out, overwrite)
    from . import access as acc
    if not minutes > 0 or minutes == float("inf"):
        raise BadInput(f"--minutes must be a positive number, got {minutes:g}")
    speeds = _speeds(speeds_file, terrain_factor)
    if max_access_km is not None and not max_access_km > 0:
        raise BadInput(f"--max-access-km must be a positive number, got {max_access_km:g}")
    max_access = None if max_access_km is None else max_access_km * 1000.0
    scenarios = ("current", "planned") if scenario == "both" else (scenario,)
    cat = _catalog(ctx)
    try:
        if osm_file:
            from . import network as netmod
            if not Path(osm_file).exists():
                raise InputError("no such file", osm_file)
            if "planned" in scenarios:
                click.echo("OpenStreetMap holds today's roads only: the current network is analysed", err=True)
            scenarios = ("current",)
            towns = cat.load("townships")
            nets = {"current": netmod.from_osm_file(osm_file, speeds=speeds, use_maxspeed=not ignore_maxspeed)}
            rows, kpi, changes, nets = acc.highway_access(towns, None, None, None, minutes=minutes,
                                                          scenarios=scenarios, access_kmh=access_speed,
                                                          networks=nets, max_access_m=max_access)
        else:
            layers_ = {k: cat.load(k) for k in ("townships", "roads", "expressways", "interchanges")}
            rows, kpi, changes, nets = acc.highway_access(
                layers_["townships"], layers_["roads"], layers_["expressways"], layers_["interchanges"],
                minutes=minutes, scenarios=scenarios, speeds=speeds, access_kmh=access_speed,
                class_field=class_field, max_access_m=max_access)
    except InputError as exc:
        raise BadInput(exc.line) from exc
    _print_access(rows, kpi, changes, minutes, scenarios)
    compare = None
    if method == "surface":
        if osm_file:
            raise BadInput("--method surface routes on the road layers, not on --osm")
        if "current" not in scenarios:
            raise BadInput("--method surface compares today's network: use --scenario current or both")
        from .cli_surface import highway_surface
        try:
            compare, surf = highway_surface(ctx, cat, rows, resolution, dems)
        except InputError as exc:
            raise BadInput(exc.line) from exc
        _print_surface_compare(compare, minutes, surf)
    sources = _data_sources(cat, ["townships"] if osm_file else ["townships", "roads", "expressways", "interchanges"])
    _caveat(sources)
    if out is not None:
        tables = {"access": rows, "kpi": kpi, "changes": changes}
        if compare is not None:
            tables["surface"] = compare
        _write_tables(out, {**tables, "data_sources": sources}, overwrite,
                      sheet_names={"access": "乡镇", "kpi": "KPI", "changes": "变化", "surface": "栅格法对比",
                                   "data_sources": "数据来源"})


_SCENARIO_ZH = {"current": "现状", "planned": "规划"}


def _print_surface_compare(compare, minutes, surf):
    t = Table(title=f"路网法与栅格法对比（现状，{surf.res:g} 米格网）", title_justify="left")
    for col in ("名称", "路网法(分钟)", "栅格法(分钟)", "差(分钟)"):
        t.add_column(col, no_wrap=True)
    for r in compare.itertuples():
        t.add_row(str(r.name), "—" if pd.isna(r.minutes_network) else f"{r.minutes_network:.1f}",
                  "—" if pd.isna(r.minutes_surface) else f"{r.minutes_surface:.1f}",
                  "—" if pd.isna(r.difference) else f"{r.difference:+.1f}")
    console.print(t)
    from .access import KPI_TYPES

    kpi = compare[compare["type"].isin(KPI_TYPES)]
    if len(kpi):
        n_net, n_surf = int((kpi["minutes_network"] <= minutes).sum()), int((kpi["minutes_surface"] <= minutes).sum())
        click.echo(f"乡镇{minutes:g}分钟上高速比例（现状）: 路网法 {n_net / len(kpi) * 100:.1f} % ({n_net}/{len(kpi)}), "
                   f"栅格法 {n_surf / len(kpi) * 100:.1f} % ({n_surf}/{len(kpi)})")
    net_share = (compare["minutes_network"] <= minutes).mean()
    surf_share = (compare["minutes_surface"] <= minutes).mean()
    d = compare["difference"].dropna()
    click.echo(f"within {minutes:g} min: network {net_share * 100:.1f} %, surface {surf_share * 100:.1f} % of all "
               f"{len(compare)} seats (街道 included); "
               f"surface − network: median {d.median():+.2f}, largest {d.abs().max():.2f} min "
               f"(the surface reads the seat's cell; the network snaps the seat to its road at the access speed)")
    for note in surf.notes:
        click.echo(f"note: {note}")


def _print_access(rows, kpi, changes, minutes, scenarios):
    table = Table(title=f"乡镇到最近高速出入口的行车时间（阈值 {minutes:g} 分钟）", title_justify="left")
    cols = ["名称", "类型"]
    for s in scenarios:
        cols += [f"{_SCENARIO_ZH[s]}(分钟)", f"{_SCENARIO_ZH[s]}最近出入口"]
    for col in (*cols, "达标"):
        table.add_column(col, no_wrap=True)
    by = {s: rows[rows["scenario"] == s].reset_index(drop=True) for s in scenarios}
    last = by[scenarios[-1]]
    for i, r in last.iterrows():
        cells = []
        for s in scenarios:
            m, e = by[s].at[i, "minutes"], by[s].at[i, "entrance"]
            shown = "不可达" if pd.isna(m) else (f"{m:.1f}" if round(m) == round(minutes) else f"{m:.0f}")
            cells += [shown, e if isinstance(e, str) and e else "—"]
        table.add_row(str(r["name"]), str(r.get("type", "")), *cells,
                      " / ".join("是" if by[s].at[i, "within"] else "否" for s in scenarios))
    console.print(table)
    for k in kpi.itertuples():
        click.echo(f"乡镇{minutes:g}分钟上高速比例（{_SCENARIO_ZH[k.scenario]}）: {k.share * 100:.1f} % "
                   f"({k.within}/{k.townships}) (目标 ≥ {k.target * 100:.0f} %) "
                   f"{'达标' if k.meets_target else '未达标'}")
    if len(changes):
        click.echo("规划后变化的乡镇: " + ", ".join(
            f"{r.name} {r.minutes_current:.0f}→{r.minutes_planned:.0f} 分钟" for r in changes.itertuples()))


@cli.command("map")
@click.argument("themes", nargs=-1, metavar="[THEME ...]")
@click.option("--out", type=click.Path(path_type=Path), default=Path("maps"), show_default=True,
              help="Folder for the HTML maps and index.html.")
@click.option("--basemap", type=click.Choice(["none", "osm", "tianditu-vec", "tianditu-img", "amap"]),
              default="none", show_default=True, help="Background tiles (none works fully offline).")
@click.option("--tianditu-key", envvar="TIANDITU_KEY", help="天地图 key (default: $TIANDITU_KEY).")
@click.option("--dem", "dem", multiple=True, type=click.Path(path_type=Path),
              help="DEM file or folder: draws the terrain map and a hillshade under the others "
                   "(default: $QXG_DEM or the layers' dem, when present).")
@click.option("--allow-partial", is_flag=True, help="Use a DEM that covers less than 95 % of the district.")
@click.option("--fill-voids", is_flag=True, help="Interpolate voids in the DEM.")
@click.option("--resolution", type=float, help="DEM cell size in metres (default: the DEM's own).")
@click.option("--cropland", help="Cropland layer or file for the terrain map's >25° cropland (default: basic_farmland).")
@click.option("--add", "add_files", multiple=True, metavar="FILE",
              help="Draw your own file (KML from 奥维, a GDB layer, a table with coordinates …) on the "
                   "overview map, its fields in the popup (repeatable; FILE|LAYER picks a layer).")
@input_options()
@click.pass_context
def map_cmd(ctx, themes, out, basemap, tianditu_key, dem, allow_partial, fill_voids, resolution, cropland,
            add_files):
    """Write interactive maps: overview, access, coverage, agriculture, sanqu (三区三线), terrain, and index.html.

    With no THEME all themes are drawn whose layers exist. Maps open offline from file://.
    """
    from . import maps, raster
    grid = None
    wants_terrain = not themes or "terrain" in themes
    if dem or (wants_terrain and raster.has_dem(ctx.obj["layers"])):
        grid = raster.read_dem(list(dem) or None, layers=ctx.obj["layers"], allow_partial=allow_partial,
                               fill_voids=fill_voids, resolution=resolution)
        for line in grid.notes:
            click.echo(line)
    crop = None
    extra = {}
    try:
        if cropland:
            crop = _catalog(ctx).layer_or_file(cropland)
        for spec in add_files:
            path, _, sub = spec.partition("|")
            gdf = load.read_named(path, layer=sub or None)
            extra[f"{Path(path).stem}{'|' + sub if sub else ''}"] = gdf
            for note in gdf.attrs.get("notes", []):
                click.echo(f"{note.level}: {note.line}", err=True)
        if extra and themes and "overview" not in themes:
            raise InputError("--add draws on the overview map; add the theme overview")
        written, skipped = maps.write_maps(themes or None, out, layers=ctx.obj["layers"],
                                           basemap=basemap, tianditu_key=tianditu_key, dem=grid, cropland=crop,
                                           extra=extra)
    except InputError as exc:
        raise BadInput(exc.line) from exc
    for path in written:
        click.echo(f"wrote {path}")
    for theme, reason in skipped.items():
        click.echo(f"skipped {theme}: {reason}", err=True)
    if themes and all(t in skipped for t in themes):
        raise BadInput(f"none of the maps asked for could be drawn ({', '.join(themes)})")


@cli.group()
def check():
    """Compliance checks."""


CHECKABLE = ("parks", "roads", "expressways", "interchanges", "reservoirs", "health_facilities", "agri_zones")


@check.command("sanqu-sanxian")
@click.option("--layer", "layer_list", default=",".join(CHECKABLE), show_default=True,
              help="Comma-separated layers to check.")
@click.option("--rules", "rules_file", type=click.Path(path_type=Path), help="Rules table (CSV) to use instead of the default.")
@click.option("--out", type=click.Path(path_type=Path), help="Write results: .gpkg (layer 'conflicts'), .csv or .xlsx.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@input_options()
@click.pass_context
def check_sanqu(ctx, layer_list, rules_file, out, overwrite):
    """Check features against 生态保护红线, 永久基本农田 and 城镇开发边界 (三区三线)."""
    _precheck_out(out, overwrite)
    from . import overlay
    cat = _catalog(ctx)
    wanted = [x.strip() for x in layer_list.split(",") if x.strip()]
    try:
        rules = overlay.load_rules(rules_file, known_layers=cat.ids())
        for w in wanted:
            cat.get(w)
        layers_ = {w: cat.load(w) for w in wanted if cat.get(w).exists}
        lines = {k: cat.load(k) for k in overlay.CONTROL_LINES if cat.get(k).exists}
        if not lines:
            raise InputError("no 三区三线 layer (eco_redline, basic_farmland, urban_boundary) is available",
                             hint="supply them with --layers DIR (county files named CZKFBJ/STBHHX/YJJBNT work)")
        if not layers_:
            raise InputError(f"none of the layers to check has data: {', '.join(wanted)}")
        table, conflicts = overlay.check(layers_, lines, rules)
    except InputError as exc:
        raise BadInput(exc.line) from exc
    missing = [w for w in wanted if w not in layers_]
    if missing:
        click.echo(f"not checked (no data): {', '.join(missing)}", err=True)
    hits = table[table["verdict"] != ""]
    summary = Table(title="三区三线 冲突检查", title_justify="left")
    for col in ("图层", "名称", "管控线", "面积(亩)", "长度(米)", "比例", "判定"):
        summary.add_column(col)
    for r in hits.itertuples():
        summary.add_row(r.layer, r.name, r.line_zh, f"{r.inside_mu:.1f}" if r.inside_mu else "—",
                        f"{r.inside_m:.0f}" if r.inside_m else "—", f"{r.share * 100:.1f} %", r.verdict)
    console.print(summary)
    click.echo(f"checked {len(table) // max(len(lines), 1)} features against {len(lines)} line(s): "
               f"{len(hits)} finding(s), {int((hits['severity'] == 'conflict').sum())} conflict(s)")
    sources = _data_sources(cat, list(layers_) + list(lines))
    _caveat(sources)
    if out is not None:
        _write_tables(out, {"conflicts": conflicts, "checks": table, "data_sources": sources}, overwrite,
                      csv_key="checks", sheet_names={"conflicts": "冲突", "checks": "检查结果", "data_sources": "数据来源"})


@cli.group()
def zones():
    """532/211 area accounting."""


@zones.command("summary")
@click.option("--plots", type=click.Path(path_type=Path), help="The county's planting plots (polygons with a crop field).")
@click.option("--crop-field", default="crop", show_default=True)
@click.option("--township-field", default="township", show_default=True)
@click.option("--out", type=click.Path(path_type=Path), help="Write the tables: .xlsx or .csv.")
@click.option("--overwrite", is_flag=True)
@input_options()
@click.pass_context
def zones_summary(ctx, plots, crop_field, township_field, out, overwrite):
    """刺梨/茶叶/蔬菜 area by township (亩, 万亩) against 50/30/20 万亩; livestock against 211 targets."""
    _precheck_out(out, overwrite)
    from . import overlay
    cat = _catalog(ctx)
    try:
        source = load.read_named(plots) if plots else cat.load_optional("agri_zones")
        towns = cat.load_optional("township_areas")
        tables = {}
        if source is not None:
            by, totals = overlay.crop_summary(source, crop_field=crop_field, township_field=township_field,
                                              townships=towns)
            tables["532_by_township"], tables["532_totals"] = by, totals
        if cat.get("livestock").exists:
            live = cat.load("livestock")
            if {"animal", "capacity"} <= set(live.columns):
                tables["211"] = overlay.livestock_summary(live)
        if not tables:
            raise InputError("no planting zones or plots to account for",
                             hint="give --plots FILE or supply agri_zones with --layers DIR")
    except InputError as exc:
        raise BadInput(exc.line) from exc
    if "532_totals" in tables:
        for r in tables["532_totals"].itertuples():
            target = f"{r.target_wanmu:g} 万亩" if pd.notna(r.target_wanmu) else "—"
            what = "产业布局区域范围（非种植面积）" if r.basis.startswith("zone") else "种植地块"
            click.echo(f"{r.crop}: {r.area_mu:,.1f} 亩 = {r.area_wanmu:.3f} 万亩 [{what}] (规划目标 {target})")
    if "211" in tables:
        for r in tables["211"].itertuples():
            click.echo(f"{r.animal}: {r.capacity:,.0f} (规划目标 {r.target:,.0f} {r.unit}; "
                       f"{r.with_capacity}/{r.parks} 个园区有规模数据)")
    used = ([] if plots else ["township_areas", "agri_zones"]) + (["livestock"] if "211" in tables else [])
    sources = _data_sources(cat, used)
    _caveat(sources)
    if out is not None:
        _write_tables(out, {**tables, "data_sources": sources}, overwrite)


@cli.group()
def coverage():
    """Service coverage: buffers, protection zones, health service circles, where to add sites."""


@coverage.command("buffer")
@click.argument("layer")
@click.option("--distance", required=True, help="With a unit: 500m, 1.5km.")
@click.option("--dissolve", is_flag=True, help="Merge overlapping buffers into one area.")
@click.option("--out", type=click.Path(path_type=Path), help="Output file (.gpkg, .zip, .geojson, .csv, .xlsx).")
@click.option("--overwrite", is_flag=True)
@input_options()
@click.pass_context
def coverage_buffer(ctx, layer, distance, dissolve, out, overwrite):
    """Buffer a layer (catalog id or file) by a distance, measured in EPSG:4544."""
    _precheck_out(out, overwrite)
    from . import coverage as cov
    cat = _catalog(ctx)
    try:
        metres = cov.parse_distance(distance)
        _, gdf = _read_any(ctx, cat, layer, None)
        res = cov.buffers(gdf, metres, dissolve=dissolve)
    except InputError as exc:
        raise BadInput(exc.line) from exc
    click.echo(f"{len(res)} buffer(s) of {metres:g} m, {res['area_km2'].sum():.3f} km² in all")
    if out is not None:
        _write_tables(out, {"buffers": res}, overwrite)


@coverage.command("protection")
@click.option("--layer", default="reservoirs", show_default=True, help="Drinking-water sources (catalog id or file).")
@click.option("--first", "first", required=True, help="Radius of the first-level zone (一级保护区), e.g. 300m.")
@click.option("--second", "second", required=True, help="Reach of the second-level zone (二级保护区) beyond the first, e.g. 2000m.")
@click.option("--out", type=click.Path(path_type=Path))
@click.option("--overwrite", is_flag=True)
@input_options()
@click.pass_context
def coverage_protection(ctx, layer, first, second, out, overwrite):
    """Drinking-water source protection zones as rings around the sources.

    HJ 338-2018 sets the distances by source type and size, and each source's approved
    划分方案 refines them: give the distances that apply; the toolkit does not assume any.
    """
    _precheck_out(out, overwrite)
    from . import coverage as cov
    cat = _catalog(ctx)
    try:
        f, s2 = cov.parse_distance(first), cov.parse_distance(second)
        _, gdf = _read_any(ctx, cat, layer, None)
        res = cov.protection_zones(gdf, f, s2)
    except InputError as exc:
        raise BadInput(exc.line) from exc
    for level, grp in res.groupby("level", sort=False):
        union_km2 = grp.to_crs(settings.METRIC_CRS).union_all().area / 1e6
        click.echo(f"{level}: {len(grp)} zone(s), {union_km2:.3f} km²"
                   + (f" (overlaps counted once; {grp['area_km2'].sum():.3f} km² summed)"
                      if grp["area_km2"].sum() - union_km2 > 0.0005 else ""))
    if out is not None:
        _write_tables(out, {"protection_zones": res}, overwrite)


@coverage.command("health")
@click.option("--urban-minutes", type=float, default=15.0, show_default=True, help="Urban circle, on foot.")
@click.option("--rural-minutes", type=float, default=30.0, show_default=True, help="Rural circle, by road.")
@click.option("--walk-speed", type=float, default=4.5, show_default=True, help="km/h on foot.")
@click.option("--population", type=click.Path(path_type=Path), help="Population raster (e.g. WorldPop GeoTIFF).")
@click.option("--suggest", "k", type=int, default=0, help="Suggest this many new sites (maximal covering).")
@click.option("--candidates", help="Candidate sites (catalog id or file); default: township seats.")
@click.option("--speeds", "speeds_file", type=click.Path(path_type=Path), help="TOML file of speeds and class aliases.")
@click.option("--out", type=click.Path(path_type=Path), help="Write results (.gpkg or .xlsx).")
@click.option("--overwrite", is_flag=True)
@click.option("--method", type=click.Choice(["network", "surface"]), default="network", show_default=True,
              help="surface: the circles from travel-time surfaces (roads as a network, walking off them, "
                   "Tobler on --dem); network: along the roads with an off-road margin.")
@click.option("--resolution", type=float, default=100.0, show_default=True, help="Surface cell size, metres.")
@click.option("--dem", "dems", multiple=True, type=click.Path(path_type=Path), help="Surface: DEM for walking slopes.")
@input_options()
@click.pass_context
def coverage_health(ctx, urban_minutes, rural_minutes, walk_speed, population, k, candidates, speeds_file,
                    out, overwrite, method, resolution, dems):
    """15分钟城市社区健康服务圈 and 30分钟乡村健康服务圈: who is covered, the gaps, new sites."""
    _precheck_out(out, overwrite)
    from . import coverage as cov
    from . import network as netmod
    if urban_minutes <= 0 or rural_minutes <= 0:
        raise BadInput("--urban-minutes and --rural-minutes must be positive")
    if k < 0:
        raise BadInput(f"--suggest must be 0 (none) or a positive number of sites, got {k}")
    cat = _catalog(ctx)
    speeds = _speeds(speeds_file, None)
    try:
        fac = cat.load("health_facilities")
        roads = cat.load("roads")
        ex = cat.load_optional("expressways")
        ic = cat.load_optional("interchanges")
        net = netmod.from_layers(roads, ex, ic, speeds=speeds)
        ub = cat.load_optional("urban_boundary")
        surface_notes = []
        if method == "surface":
            from . import surface as surf
            fr = surf.friction(None, resolution=resolution, dem=list(dems) or None, layers=ctx.obj["layers"],
                               walk_kmh=walk_speed)
            pts = fac[fac.geom_type == "Point"]
            circles, surface_notes = surf.health_circles(pts, net, fr, urban=cov.urban_mask(pts, ub),
                                                          urban_minutes=urban_minutes, rural_minutes=rural_minutes)
        else:
            circles = cov.health_circles(fac, net, urban_boundary=ub, urban_minutes=urban_minutes,
                                         rural_minutes=rural_minutes, walk_kmh=walk_speed)
        tables = {"circles": circles}
        if cat.get("township_areas").exists:
            areas = cat.load("township_areas")
            table, gaps = cov.coverage_stats(circles, areas, population_raster=population)
            tables.update(coverage=table, gaps=gaps)
            console.print(_coverage_table(table))
            click.echo(f"uncovered gaps: {len(gaps)} polygon(s), {gaps['area_km2'].sum():.1f} km²")
        else:
            click.echo("township_areas not available: coverage statistics skipped", err=True)
        if k > 0:
            if candidates:
                cand = _read_any(ctx, cat, candidates, None)[1]
            else:
                cand = cov.candidate_sites(cat.load("townships"), roads, fac)
            demand, weights, unit = _demand(cat, circles)
            cand_urban = cov.urban_mask(cand, ub)
            if method == "surface":
                cover = surf.site_matrix(cand, demand, net, fr, urban=cand_urban, urban_minutes=urban_minutes,
                                         rural_minutes=rural_minutes)
            else:
                cover = cov.site_matrix(cand, demand, net, urban=cand_urban, urban_minutes=urban_minutes,
                                        rural_minutes=rural_minutes, walk_kmh=walk_speed)
            picks = cov.choose_sites(cover, weights, min(k, len(cand)))
            picks["name"] = cand["name"].astype(str).to_numpy()[picks["candidate"]] if "name" in cand else picks["candidate"]
            picks["unit"] = unit
            tables["suggested_sites"] = gpd.GeoDataFrame(picks, geometry=cand.geometry.values[picks["candidate"]],
                                                         crs=cand.crs)
            click.echo(f"demand: {len(demand)} point(s), {weights.sum():,.1f} {unit} not yet covered; "
                       f"{len(cand)} candidate site(s)")
            for r in picks.itertuples():
                click.echo(f"suggest {r.name}: +{r.gain:,.1f} {unit} covered "
                           f"(cumulative {r.cumulative:,.1f}; {r.method})")
    except InputError as exc:
        raise BadInput(exc.line) from exc
    click.echo(f"service areas: {int((circles['setting'] == 'urban').sum())} urban ({urban_minutes:g} min on foot), "
               f"{int((circles['setting'] == 'rural').sum())} rural ({rural_minutes:g} min by road)"
               + (f"; method surface, {resolution:g} m cells (each facility's circle is where it is also the "
                  "nearest of its group)" if method == "surface" else ""))
    for note in surface_notes:
        click.echo(f"note: {note}")
    sources = _data_sources(cat, ["health_facilities", "roads", "expressways", "interchanges", "urban_boundary",
                                  "township_areas", "townships"])
    _caveat(sources)
    if out is not None:
        _write_tables(out, {**tables, "data_sources": sources}, overwrite)


def _coverage_table(table):
    t = Table(title="乡镇健康服务圈覆盖", title_justify="left")
    cols = [("name", "名称"), ("area_km2", "面积(km²)"), ("covered_pct", "面积覆盖率(%)")]
    if "covered_pop_pct" in table.columns:
        cols += [("population", "人口"), ("covered_pop_pct", "人口覆盖率(%)")]
    for _, label in cols:
        t.add_column(label)
    for _, r in table.iterrows():
        t.add_row(*[str(r[c]) for c, _ in cols])
    return t


def _demand(cat, circles):
    """Demand not yet covered: township seats weighted by their population field when the
    seats carry one, else a 1 km grid over the district weighted by land area (km²)."""
    import numpy as np
    from . import coverage as cov
    seats = cat.load("townships")
    if "population" in seats.columns and pd.to_numeric(seats["population"], errors="coerce").notna().any():
        weight = pd.to_numeric(seats["population"], errors="coerce").fillna(0).to_numpy()
        weight = np.where(cov.inside(circles, seats), 0.0, weight)
        return gpd.GeoDataFrame(seats[["name"]], geometry=seats.geometry, crs=seats.crs), weight, "人"
    area = cat.load("township_areas") if cat.get("township_areas").exists else cat.load("boundary")
    grid = cov.demand_grid(area)
    # the circles already drawn are the existing coverage: the same rule the candidates get
    done = cov.inside(circles, grid)
    return grid.to_crs(settings.STORAGE_CRS), np.where(done, 0.0, grid["weight"].to_numpy()), "km²"


def _register_groups() -> None:
    """Command groups kept in their own modules (the CLI is split along its concerns)."""
    from .cli_demo import demo_cmd, doctor_cmd
    from .cli_parcels import parcels_group
    from .cli_site import site_cmd
    from .cli_surface import surface_cmd
    from .cli_terrain import terrain_group

    cli.add_command(terrain_group, name="terrain")
    cli.add_command(demo_cmd, name="demo")
    cli.add_command(doctor_cmd, name="doctor")
    cli.add_command(parcels_group, name="parcels")
    check.add_command(site_cmd, name="site")
    access.add_command(surface_cmd, name="surface")


if __name__ not in ("__main__", "__mp_main__"):
    # run as ``python -m spatial.cli`` the module is imported a second time as spatial.cli
    # (the groups import that name), and that copy is the one that runs: see the end. Worker
    # processes that multiprocessing spawns (a dask LocalCluster) import it as __mp_main__.
    _register_groups()


def _show_warning(message, category, filename, lineno, file=None, line=None):
    if issubclass(category, InputWarning):
        click.echo(f"warning: {message}", err=True)
    else:
        click.echo(f"warning: {category.__name__}: {message}", err=True)


#: what a console that cannot show a character gets instead (the rest become ?)
ASCII_SUBSTITUTES = {
    "≥": ">=", "≤": "<=", "→": "->", "←": "<-", "×": "x", "✓": "ok", "✗": "x", "²": "2", "³": "3",
    "°": " deg", "′": "'", "″": '"', "—": "-", "–": "-", "…": "...", "·": ".", "±": "+/-",
    "≈": "~", "‰": " per mille", "％": "%", "“": '"', "”": '"', "‘": "'", "’": "'", "│": "|",
    "─": "-", "━": "-", "┃": "|", "•": "*", "µ": "u", "≠": "!=", "√": "ok", "\u00a0": " ",
}
ASCII_FALLBACK = "qxg-ascii"


def _ascii_fallback(exc: UnicodeError):
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start:exc.end]
    return "".join(ASCII_SUBSTITUTES.get(ch, "?") for ch in text), exc.end


codecs.register_error(ASCII_FALLBACK, _ascii_fallback)


def _take_debug(argv: list[str]) -> bool:
    """Remove every --debug before a ``--`` from ``argv``: it is accepted after the subcommand too."""
    end = argv.index("--") if "--" in argv else len(argv)
    found = "--debug" in argv[:end]
    argv[:end] = [a for a in argv[:end] if a != "--debug"]
    return found


def main(argv=None) -> int:
    """Console entry point: maps errors to exit codes 2 (bad input) and 1 (internal)."""
    warnings.showwarning = _show_warning
    for stream in (sys.stdout, sys.stderr):
        # a console in a legacy code page (GBK, cp936, ASCII) must not crash the command on a
        # character like ≥ or ²: such characters are written in ASCII (">=", "2"), the rest as ?
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=ASCII_FALLBACK)
    argv = list(argv if argv is not None else sys.argv[1:])
    debug = _take_debug(argv)
    if debug:
        argv.insert(0, "--debug")
    try:
        code = cli.main(args=argv, prog_name="qxg", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return EXIT_INTERNAL
    except InputError as exc:
        click.echo(f"error: {exc.line}", err=True)
        return EXIT_BAD_INPUT
    except Exception as exc:  # noqa: BLE001 - last resort: one line, exit 1
        if debug:
            raise
        click.echo(f"internal error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True)
        return EXIT_INTERNAL
    return code if isinstance(code, int) else EXIT_OK


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    from spatial.cli import run as _run

    _run()
