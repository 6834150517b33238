"""``qxg parcels …``: jobs over a 三调 land-use layer (DLTB) of any size, partitioned and
optionally on dask (``sanqu``, ``slope``, ``zones``)."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import click
import pandas as pd

from .cli_site import _precheck_place
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


MIN_WORKER_MEMORY = 256 * 2**20


def _check_options(workers, scheduler, memory_limit, partition_size) -> None:
    if workers is not None and workers < 0:
        raise base.BadInput(f"--workers must be 0 (this process) or more, got {workers}")
    if workers and scheduler:
        raise base.BadInput("give --workers (a local cluster) or --scheduler (a running one), not both")
    if partition_size < 1:
        raise base.BadInput(f"--partition-size must be at least 1 parcel, got {partition_size}")
    if scheduler:
        import re
        if not re.fullmatch(r"(tcp|tls|ucx|ws|wss)://[^\s:/]+:\d{1,5}/?|[^\s:/]+:\d{1,5}", scheduler):
            raise base.BadInput(f"--scheduler {scheduler!r}: give the scheduler's address with its port, "
                                "e.g. tcp://10.0.0.5:8786")
    if memory_limit:
        from dask.utils import parse_bytes
        try:
            n = parse_bytes(memory_limit)
        except (ValueError, TypeError):
            raise base.BadInput(f"--memory-per-worker {memory_limit!r}: give a size such as 2GB or 512MB") from None
        if n < MIN_WORKER_MEMORY:
            raise base.BadInput(f"--memory-per-worker {memory_limit}: a worker needs at least 256MB "
                                "(a partition of parcels and its overlays)")


def _precheck(out: Path, overwrite: bool, dltb: Path, others=()) -> Path:
    """Refuse an --out that would fail or destroy something, before any work; return it absolute."""
    if out.suffix.lower() not in SUFFIXES:
        raise base.BadInput(f"{out}: write the results as {', '.join(SUFFIXES)}")
    out = out.expanduser().absolute()
    for src in (dltb, *others):
        src = Path(src).expanduser()
        if src.exists() and out.exists() and os.path.samefile(src, out) or src.absolute() == out:
            raise base.BadInput(f"{out}: is an input of this command; write the results elsewhere")
    if out.exists() and not overwrite:
        raise base.BadInput(f"{out}: already exists; add --overwrite to replace it")
    # the place is checked (writable folder, nothing in the way); a geodatabase is itself a folder
    _precheck_place(out if out.suffix.lower() != ".gdb" else out.with_name(out.name + ".check"))
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise base.BadInput(f"{out.parent}: cannot create the folder: {exc.strerror}") from exc
    return out


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


def _open(dltb, layer_name, in_crs, encoding):
    from . import parcels

    return parcels.open_layer(dltb, layer_name, crs=in_crs, encoding=encoding)


def _run(job, layer, out, workers, scheduler, partition_size, memory_limit, restart):
    """Run the job; the resume file stays until the results are written (see _finish)."""
    from . import parcels

    if workers is None and not scheduler:
        workers = _default_workers()
    the_plan = parcels.plan(layer, partition_size)
    bar = _Progress(f"{job.name} {Path(layer.label).name}")
    resume = resume_path(out)
    had = resume.exists() and not restart
    try:
        tables, info = parcels.run(job, layer, the_plan, workers=workers or 0, scheduler=scheduler, resume=resume,
                                   restart=restart, progress=bar, memory_limit=memory_limit, keep_resume=True)
    except KeyboardInterrupt:
        bar.stop()
        click.echo(f"stopped; the finished partitions are kept in {resume.name}: run the same command to go on",
                   err=True)
        raise SystemExit(130) from None
    finally:
        bar.stop()
    click.echo(f"{info.parcels:,} parcels of {layer.label} in {info.partitions} partition(s) of ≤ {partition_size:,}; "
               f"{info.mode}; computed in {info.seconds:.1f} s (partitioning {info.plan_seconds:.1f} s)"
               + (f"; resumed: {info.resumed} partition(s) from {resume.name}" if had and info.resumed else ""))
    notes = []
    if info.repaired:
        notes.append(f"{info.repaired:,} parcel(s) had invalid geometry (self-intersecting rings and the like), "
                     "repaired with make_valid before the overlay")
    if info.unknown:
        total = sum(info.unknown.values())
        listed = ", ".join(f"{c} ({k:,})" for c, k in sorted(info.unknown.items(), key=lambda kv: (-kv[1], kv[0]))[:8])
        notes.append(f"{total:,} parcel(s) have a land-use code not in layers/rules/dlbm.csv: {listed}; "
                     "they are counted under their own code, in no class group (耕地, 园地 …)")
    if info.parcels != layer.count:
        notes.append(f"the layer reports {layer.count:,} features; {info.parcels:,} were read")
    for n in notes:
        click.echo(f"note: {n}", err=True)
    return tables, info, notes


def _finish(out: Path, tables: dict, overwrite: bool, sheet_names: dict, notes: list, started: float) -> None:
    """Write the results (Chinese headers in .xlsx), then drop the resume file."""
    tables = dict(tables)
    tables["notes"] = pd.DataFrame({"note": notes or ["—"]})
    names = {**sheet_names, "notes": "说明"}
    if out.suffix.lower() == ".xlsx":
        tables = {k: _zh(v) for k, v in tables.items()}
    base._write_tables(out, tables, overwrite, sheet_names=names)
    resume_path(out).unlink(missing_ok=True)
    click.echo(f"done in {time.perf_counter() - started:.1f} s")


#: Chinese column headers of the parcel tables in Excel (GeoPackage and FileGDB keep the field names)
ZH = {"fid": "要素号", "bsm": "标识码", "dlbm": "地类编码", "dlbm_name": "地类名称", "dlbm_group": "地类分组",
      "township": "乡镇", "line": "管控线代码", "line_zh": "管控线", "overlap_m2": "重叠面积(平方米)",
      "overlap_mu": "重叠面积(亩)", "share_pct": "占比(%)", "severity": "级别", "verdict": "判定",
      "source": "依据", "area_mu": "面积(亩)", "eco_redline_mu": "生态保护红线内(亩)",
      "basic_farmland_mu": "永久基本农田内(亩)", "urban_boundary_mu": "城镇开发边界内(亩)",
      "eco_redline_pct": "生态保护红线内占比(%)", "basic_farmland_pct": "永久基本农田内占比(%)",
      "urban_boundary_pct": "城镇开发边界内占比(%)", "ge25_mu": "坡度>25°(亩)", "ge25_pct": "坡度>25°占比(%)",
      "no_dem_pct": "无高程(%)", "no_dem_mu": "无高程(亩)", "cropland_mu": "耕地(亩)", "dem_mu": "有高程(亩)", "parcels": "图斑数",
      "grade": "坡度级", "label": "坡度", "zone": "片区", "crop": "作物", "zone_mu": "片区面积(亩)",
      "parcels_mu": "图斑面积(亩)", "garden_mu": "园地(亩)", "tea_mu": "茶园(亩)", "crop_land": "对应地类",
      "crop_land_mu": "对应地类面积(亩)", "target_wanmu": "规划目标(万亩)", "zones": "片区数",
      "zones_wanmu": "片区面积(万亩)", "crop_land_wanmu": "对应地类面积(万亩)", "of_target_pct": "占规划目标(%)",
      "note": "说明", "origin": "来源类别", "layer": "图层", "name": "名称", "data_status": "数据状态"}
SEVERITY_ZH = {"conflict": "冲突", "review": "需论证"}


def _zh(df):
    if "verdict" not in df.columns:
        df = df.rename(columns={"source": "来源"})
    if "severity" in df.columns:
        df = df.assign(severity=df["severity"].map(SEVERITY_ZH).fillna(df["severity"]))
    if "line_zh" in df.columns and "line" in df.columns:
        df = df.drop(columns=["line"])
    cols = {}
    for c in df.columns:
        if c in ZH:
            cols[c] = ZH[c]
        elif isinstance(c, str) and c.startswith("grade") and c.endswith("_pct"):
            cols[c] = f"坡度{c[5:-4]}级(%)"
    return df.rename(columns=cols)


def _sources(cat, ids):
    return base._data_sources(cat, ids)


@click.group("parcels")
def parcels_group():
    """Jobs over a 三调 land-use layer (DLTB): 三区三线 areas, slope grades, 532 zones — any size,
    in partitions, on a local dask cluster or a running one."""


@parcels_group.command("sanqu")
@click.option("--rules", type=click.Path(path_type=Path), help="Parcel rules CSV (default layers/rules/dltb_rules.csv).")
@engine_options
@click.pass_context
def sanqu_cmd(ctx, rules, dltb, layer, in_crs, encoding, out, overwrite, workers, scheduler, partition_size,
              memory_limit, restart):
    """Area in 亩 per township × 地类 × control line, district totals per class and for 耕地, and
    the parcels that break a rule (e.g. 园地 or 林地 on 永久基本农田)."""
    from . import parcels

    started = time.perf_counter()
    _check_options(workers, scheduler, memory_limit, partition_size)
    out = _precheck(out, overwrite, dltb, [rules] if rules else [])
    cat = base._catalog(ctx)
    try:
        layer_ = _open(dltb, layer, in_crs, encoding)
        lines = {k: cat.load_optional(k) for k in parcels.LINES}
        if all(v is None or len(v) == 0 for v in lines.values()):
            raise InputError("no control line layers (eco_redline, basic_farmland, urban_boundary) in the catalog")
        job = parcels.SanquJob(cat.load_optional("township_areas"), lines, parcels.load_rules(rules))
        tables, info, notes = _run(job, layer_, out, workers, scheduler, partition_size, memory_limit, restart)
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    d = tables["district_class"]
    crop = d[d["dlbm"] == "01"].iloc[0]
    click.echo(f"耕地 {crop['area_mu']:,.1f} 亩: 生态保护红线内 {crop['eco_redline_mu']:,.1f} 亩, "
               f"永久基本农田内 {crop['basic_farmland_mu']:,.1f} 亩, 城镇开发边界内 {crop['urban_boundary_mu']:,.1f} 亩")
    c = tables["conflicts"]
    if len(c):
        for (sev, verdict), g in c.groupby(["severity", "verdict"], sort=True):
            click.echo(f"{SEVERITY_ZH.get(sev, sev)}: {verdict} — {len(g):,} 个图斑, {g['overlap_mu'].sum():,.1f} 亩")
    else:
        click.echo("没有违反规则的图斑")
    sources = _sources(cat, ["township_areas", *parcels.LINES])
    base._caveat(sources)
    _finish(out, {**tables, "data_sources": sources}, overwrite,
            {"township_class": "乡镇地类", "district_class": "全区地类", "conflicts": "冲突图斑",
             "data_sources": "数据来源"}, notes, started)


@parcels_group.command("slope")
@click.option("--dem", "dems", multiple=True, required=True, type=click.Path(path_type=Path),
              help="DEM file(s) or folder.")
@click.option("--resolution", type=float, help="Slope cell size in metres (default: the DEM's own).")
@engine_options
@click.pass_context
def slope_cmd(ctx, dems, resolution, dltb, layer, in_crs, encoding, out, overwrite, workers, scheduler,
              partition_size, memory_limit, restart):
    """Slope-grade shares of every parcel (exact cell fractions) and cropland on slopes > 25° by township."""
    from . import parcels, terrain

    started = time.perf_counter()
    _check_options(workers, scheduler, memory_limit, partition_size)
    out = _precheck(out, overwrite, dltb, dems)
    for d in dems:
        if not d.exists():
            raise base.BadInput(f"{d}: no such DEM file or folder")
    cat = base._catalog(ctx)
    grades = out.with_name(out.name + ".slope-grades.tif")
    try:
        layer_ = _open(dltb, layer, in_crs, encoding)
        t0 = time.perf_counter()
        cover = parcels.write_grades(list(dems), layer_, grades, resolution=resolution, layers=ctx.obj["layers"])
        click.echo(f"slope grades: {grades.name} ({time.perf_counter() - t0:.1f} s)")
        job = parcels.SlopeJob(grades, cat.load_optional("township_areas"), terrain.grade_labels())
        tables, info, notes = _run(job, layer_, out, workers, scheduler, partition_size, memory_limit, restart)
    except InputError as exc:
        grades.unlink(missing_ok=True)
        raise base.BadInput(exc.line) from exc
    notes = list(cover.notes) + notes
    total = tables["cropland_ge25"].iloc[-1]
    if total["no_dem_mu"] > 0:
        notes.append(f"耕地 {total['no_dem_mu']:,.1f} 亩 lie where the DEM has no elevation: left out of the slope "
                     "shares (both tables are shares of the cropland with elevations)")
        click.echo(f"note: {notes[-1]}", err=True)
    click.echo(f"耕地 {total['cropland_mu']:,.1f} 亩 (有高程 {total['dem_mu']:,.1f} 亩), "
               f"其中坡度 > 25° {total['ge25_mu']:,.1f} 亩 ({total['ge25_pct']:.2f} %)")
    sources = _sources(cat, ["township_areas"])
    if out.suffix.lower() == ".xlsx" and len(tables["parcel_slope"]) >= EXCEL_ROWS:
        notes.append(f"{len(tables['parcel_slope']):,} parcels do not fit in an Excel sheet: the per-parcel "
                     "table is left out (write .gpkg or .gdb for it)")
        click.echo(f"note: {notes[-1]}", err=True)
        tables = {k: v for k, v in tables.items() if k != "parcel_slope"}
    _finish(out, {**tables, "data_sources": sources}, overwrite,
            {"parcel_slope": "图斑坡度", "cropland_ge25": "25度以上耕地", "cropland_grades": "耕地坡度分级",
             "data_sources": "数据来源"}, notes, started)
    grades.unlink(missing_ok=True)


@parcels_group.command("zones")
@engine_options
@click.pass_context
def zones_cmd(ctx, dltb, layer, in_crs, encoding, out, overwrite, workers, scheduler, partition_size, memory_limit,
              restart):
    """Cropland, 园地 and tea inside each 532 zone against the plan's 万亩 targets."""
    from . import parcels

    started = time.perf_counter()
    _check_options(workers, scheduler, memory_limit, partition_size)
    out = _precheck(out, overwrite, dltb)
    cat = base._catalog(ctx)
    try:
        layer_ = _open(dltb, layer, in_crs, encoding)
        job = parcels.ZonesJob(cat.load("agri_zones"))
        tables, info, notes = _run(job, layer_, out, workers, scheduler, partition_size, memory_limit, restart)
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    for r in tables["crop_targets"].itertuples():
        click.echo(f"{r.crop}: 规划 {r.target_wanmu:g} 万亩; {r.zones} 个片区内{r.crop_land} {r.crop_land_wanmu:,.2f} 万亩 "
                   f"（占规划目标 {r.of_target_pct:.1f}%）")
    sources = _sources(cat, ["agri_zones"])
    base._caveat(sources)
    _finish(out, {**tables, "data_sources": sources}, overwrite,
            {"zone_land": "片区地类", "crop_targets": "规划目标对比", "data_sources": "数据来源"}, notes, started)
