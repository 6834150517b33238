"""``qxg parcels …``: jobs over a 三调 land-use layer (DLTB) of any size, partitioned and
optionally on dask (``sanqu``, ``slope``, ``zones``)."""
from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import click
import pandas as pd

from .cli_terrain import base
from .errors import InputError

SUFFIXES = (".gpkg", ".gdb", ".xlsx")
EXCEL_ROWS = 1_048_576          # rows of an Excel sheet, the header included


def _default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def engine_options(f):
    f = click.option("--restart", is_flag=True, help="Ignore a resume file left by an interrupted run.")(f)
    f = click.option("--memory-per-worker", "memory_limit", metavar="SIZE",
                     help="Memory limit of each LocalCluster worker, e.g. 2GB (default: the machine's "
                          "memory shared among the workers).")(f)
    f = click.option("--partition-size", type=int, default=20_000, show_default=True,
                     help="Parcels per partition (memory per task grows with it).")(f)
    f = click.option("--scheduler", metavar="ADDRESS",
                     help="Run on a running dask cluster, e.g. tcp://10.0.0.5:8786 (every worker must "
                          "read the input at the same path).")(f)
    f = click.option("--workers", type=int, default=None,
                     help="Worker processes of the local dask cluster (default: one per CPU); 0 runs "
                          "in this process without dask.")(f)
    f = click.option("--overwrite", is_flag=True)(f)
    f = click.option("--out", type=click.Path(path_type=Path), required=True,
                     help="Results: .gpkg, .gdb or .xlsx.")(f)
    f = click.option("--encoding", help="Text encoding of a shapefile (default: its .cpg, or detected: UTF-8 or GBK).")(f)
    f = click.option("--crs", "in_crs", metavar="CRS",
                     help="Coordinate system of a layer that has none or a wrong one, e.g. 4544.")(f)
    f = click.option("--layer", help="Layer of a GeoPackage or FileGDB (default: DLTB or the only polygon layer).")(f)
    f = click.argument("dltb", type=click.Path(path_type=Path))(f)
    return f


def _precheck(out: Path, overwrite: bool, workers, scheduler) -> None:
    if out.suffix.lower() not in SUFFIXES:
        raise base.BadInput(f"{out}: write the results as {', '.join(SUFFIXES)}")
    if out.exists() and not overwrite:
        raise base.BadInput(f"{out}: already exists; add --overwrite to replace it")
    if workers is not None and workers < 0:
        raise base.BadInput(f"--workers must be 0 (this process) or more, got {workers}")
    if workers and scheduler:
        raise base.BadInput("give --workers (a local cluster) or --scheduler (a running one), not both")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    try:
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise base.BadInput(f"{parent}: cannot write here: {exc.strerror}") from exc


def resume_path(out: Path) -> Path:
    return out.with_name(out.name + ".qxg-resume")


class _Progress:
    """A bar over the partitions on a terminal; a line every tenth elsewhere."""

    def __init__(self, label: str):
        self.label = label
        self.bar = None
        self.last = -1
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

            self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                                TimeRemainingColumn(), console=Console(stderr=True), transient=True)
            self.task = None

    def __call__(self, done: int, total: int):
        if self.bar is not None:
            if self.task is None:
                self.bar.start()
                self.task = self.bar.add_task(self.label, total=total)
            self.bar.update(self.task, completed=done)
            return
        step = max(1, total // 10)
        if done == total or done // step != self.last // step:
            click.echo(f"{self.label}: {done}/{total} partitions", err=True)
        self.last = done

    def stop(self):
        if self.bar is not None and self.task is not None:
            self.bar.stop()


def _run(ctx, job, dltb, layer_name, out, overwrite, workers, scheduler, partition_size, memory_limit, restart):
    from . import parcels

    if workers is None and not scheduler:
        workers = _default_workers()
    layer = parcels.open_layer(dltb, layer_name)
    the_plan = parcels.plan(layer, partition_size)
    bar = _Progress(f"{job.name} {dltb.name}")
    resume = resume_path(out)
    had = resume.exists() and not restart
    try:
        tables, info = parcels.run(job, layer, the_plan, workers=workers or 0, scheduler=scheduler, resume=resume,
                                   restart=restart, progress=bar, memory_limit=memory_limit)
    finally:
        bar.stop()
    click.echo(f"{info.parcels:,} parcels of {layer.label} in {info.partitions} partition(s) of ≤ {partition_size:,}; "
               f"{info.mode}; {info.seconds:.1f} s (partitioning {info.plan_seconds:.1f} s)"
               + (f"; resumed: {info.resumed} partition(s) from {resume.name}" if had and info.resumed else ""))
    if info.repaired:
        click.echo(f"note: {info.repaired:,} parcel(s) had invalid geometry (self-intersecting rings and the like), "
                   "repaired with make_valid before the overlay", err=True)
    if info.parcels != layer.count:
        click.echo(f"note: the layer reports {layer.count:,} features; {info.parcels:,} were read", err=True)
    return tables, info, layer


def _sources(cat, ids):
    return base._data_sources(cat, ids)


def _write(out, tables, overwrite, sheet_names):
    base._write_tables(out, tables, overwrite, sheet_names=sheet_names)


@click.group("parcels")
def parcels_group():
    """Jobs over a 三调 land-use layer (DLTB): 三区三线 areas, slope grades, 532 zones — any size,
    in partitions, on a local dask cluster or a running one."""


@parcels_group.command("sanqu")
@click.option("--rules", type=click.Path(path_type=Path), help="Parcel rules CSV (default layers/rules/dltb_rules.csv).")
@engine_options
@click.pass_context
def sanqu_cmd(ctx, rules, dltb, layer, out, overwrite, workers, scheduler, partition_size, memory_limit, restart):
    """Area in 亩 per township × 地类 × control line, district totals per class and for 耕地, and
    the parcels that break a rule (e.g. 园地 or 林地 on 永久基本农田)."""
    from . import parcels

    _precheck(out, overwrite, workers, scheduler)
    cat = base._catalog(ctx)
    try:
        lines = {k: cat.load_optional(k) for k in parcels.LINES}
        if all(v is None or len(v) == 0 for v in lines.values()):
            raise InputError("no control line layers (eco_redline, basic_farmland, urban_boundary) in the catalog")
        job = parcels.SanquJob(cat.load_optional("township_areas"), lines, parcels.load_rules(rules))
        tables, info, layer_ = _run(ctx, job, dltb, layer, out, overwrite, workers, scheduler, partition_size,
                                    memory_limit, restart)
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    d = tables["district_class"]
    crop = d[d["dlbm"] == "01"].iloc[0]
    click.echo(f"耕地 {crop['area_mu']:,.1f} 亩: 生态保护红线内 {crop['eco_redline_mu']:,.1f} 亩, "
               f"永久基本农田内 {crop['basic_farmland_mu']:,.1f} 亩, 城镇开发边界内 {crop['urban_boundary_mu']:,.1f} 亩")
    c = tables["conflicts"]
    if len(c):
        for (sev, verdict), g in c.groupby(["severity", "verdict"], sort=True):
            click.echo(f"{'冲突' if sev == 'conflict' else '需论证'}: {verdict} — {len(g):,} parcel(s), "
                       f"{g['overlap_mu'].sum():,.1f} 亩")
    else:
        click.echo("no parcel breaks a rule")
    sources = _sources(cat, ["township_areas", *parcels.LINES])
    base._caveat(sources)
    _write(out, {**tables, "data_sources": sources}, overwrite,
           {"township_class": "乡镇地类", "district_class": "全区地类", "conflicts": "冲突图斑",
            "data_sources": "数据来源"})


@parcels_group.command("slope")
@click.option("--dem", "dems", multiple=True, required=True, type=click.Path(path_type=Path),
              help="DEM file(s) or folder.")
@click.option("--resolution", type=float, help="Slope cell size in metres (default: the DEM's own).")
@engine_options
@click.pass_context
def slope_cmd(ctx, dems, resolution, dltb, layer, out, overwrite, workers, scheduler, partition_size, memory_limit,
              restart):
    """Slope-grade shares of every parcel (exact cell fractions) and cropland on slopes ≥ 25° by township."""
    from . import parcels, terrain

    _precheck(out, overwrite, workers, scheduler)
    for d in dems:
        if not d.exists():
            raise base.BadInput(f"{d}: no such DEM file or folder")
    cat = base._catalog(ctx)
    grades = out.with_name(out.name + ".slope-grades.tif")
    try:
        layer_ = parcels.open_layer(dltb, layer)
        t0 = time.perf_counter()
        parcels.write_grades(list(dems), layer_, grades, resolution=resolution, layers=ctx.obj["layers"])
        click.echo(f"slope grades: {grades.name} ({time.perf_counter() - t0:.1f} s)")
        job = parcels.SlopeJob(grades, cat.load_optional("township_areas"), terrain.grade_labels())
        tables, info, _ = _run(ctx, job, dltb, layer, out, overwrite, workers, scheduler, partition_size,
                               memory_limit, restart)
    except InputError as exc:
        grades.unlink(missing_ok=True)
        raise base.BadInput(exc.line) from exc
    total = tables["cropland_ge25"].iloc[-1]
    click.echo(f"耕地 {total['cropland_mu']:,.1f} 亩, 其中坡度 > 25° {total['ge25_mu']:,.1f} 亩 ({total['ge25_pct']:.2f} %)")
    sources = _sources(cat, ["township_areas"])
    if out.suffix.lower() == ".xlsx" and len(tables["parcel_slope"]) >= EXCEL_ROWS:
        click.echo(f"note: {len(tables['parcel_slope']):,} parcels do not fit in an Excel sheet: the per-parcel "
                   "table is left out (write .gpkg or .gdb for it)", err=True)
        tables = {k: v for k, v in tables.items() if k != "parcel_slope"}
    _write(out, {**tables, "data_sources": sources}, overwrite,
           {"parcel_slope": "图斑坡度", "cropland_ge25": "25度以上耕地", "cropland_grades": "耕地坡度分级",
            "data_sources": "数据来源"})
    grades.unlink(missing_ok=True)


@parcels_group.command("zones")
@engine_options
@click.pass_context
def zones_cmd(ctx, dltb, layer, out, overwrite, workers, scheduler, partition_size, memory_limit, restart):
    """Cropland, orchard and tea inside each 532 zone against the plan's 万亩 targets."""
    from . import parcels

    _precheck(out, overwrite, workers, scheduler)
    cat = base._catalog(ctx)
    try:
        job = parcels.ZonesJob(cat.load("agri_zones"))
        tables, info, _ = _run(ctx, job, dltb, layer, out, overwrite, workers, scheduler, partition_size,
                               memory_limit, restart)
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    for r in tables["crop_targets"].itertuples():
        click.echo(f"{r.crop}: 规划 {r.target_wanmu:g} 万亩; {r.zones} 个片区内{r.crop_land} {r.crop_land_wanmu:,.2f} 万亩 "
                   f"({r.of_target_pct:.1f} % of the target)")
    sources = _sources(cat, ["agri_zones"])
    base._caveat(sources)
    _write(out, {**tables, "data_sources": sources}, overwrite,
           {"zone_land": "片区地类", "crop_targets": "规划目标对比", "data_sources": "数据来源"})
