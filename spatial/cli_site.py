"""``qxg check site``: the site pre-check (选址预审) of a project's boundary."""
from __future__ import annotations

import re
import tempfile
from pathlib import Path

import click
import pandas as pd
from rich.table import Table

from .cli_terrain import base
from .errors import InputError

TYPE_HELP = "Project kind, decides the rules: " + ", ".join(
    ["construction (建设项目, default)", "agriculture-grain", "agriculture-orchard (园地: 刺梨, 茶, 果)",
     "forestry", "road", "water"])


def _one_line(text) -> str:
    """A name as one console line (a newline inside a name would break the table)."""
    return " ".join(str(text).split())


def _safe_name(text: str) -> str:
    """A file name from a project name (Chinese kept; path separators and reserved characters not)."""
    name = re.sub(r'[\\/:*?"<>|\x00-\x1f]+', "_", text).strip(" .") or "项目"
    return name[:80]


def _precheck_place(out: Path) -> None:
    """Refuse an --out that cannot be written before any work: a folder in its place, a file
    where a folder should be, a folder without write permission."""
    if out.is_dir() and out.suffix:
        raise base.BadInput(f"{out}: is a folder, not a file")
    parent = out.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        raise base.BadInput(f"{parent}: is a file, not a folder")
    try:       # a probe, removed at once: permissions alone do not tell (root, read-only mounts)
        with tempfile.TemporaryFile(dir=parent):
            pass
    except OSError as exc:
        raise base.BadInput(f"{parent}: cannot write here: {exc.strerror}") from exc


def _projects(path: Path, layer: str | None) -> list[tuple[str, Path, str | None]]:
    """(project name, file, layer) for every parcel layer in a folder or geodatabase."""
    import pyogrio

    from . import load

    def polygon_layers(p: Path):
        try:
            listed = pyogrio.list_layers(p)
        except Exception as exc:       # a file GDAL cannot open: said per file, not a traceback
            raise InputError(f"cannot list its layers: {load._gdal_message(exc)}", p) from exc
        return [str(n) for n, g in listed if g is None or "POLYGON" in str(g).upper()]

    if path.suffix.lower() == ".gdb" or (path.suffix.lower() == ".zip" and ".gdb" in path.name.lower()):
        names = [layer] if layer else [n for n in polygon_layers(path) if n]
        return [(n, path, n) for n in names]
    if not path.is_dir():
        raise InputError("--each needs a folder or a geodatabase (.gdb)", path)
    out = []
    for f in load.data_files(path):
        if f.suffix.lower() == ".gdb":
            out += [(f"{f.stem}_{n}", f, n) for n in polygon_layers(f)]
        elif f.suffix.lower() == ".gpkg" and layer is None and len(several := polygon_layers(f)) > 1:
            out += [(f"{f.stem}_{n}", f, n) for n in several]      # a GeoPackage of several projects
        else:
            out.append((f.stem, f, layer))
    if not out:
        raise InputError("the folder holds no data file to check", path)
    return out


@click.command("site")
@click.argument("source", type=click.Path(path_type=Path))
@click.option("--layer", help="Which part of the file: GeoPackage/GDB layer, KML folder, sheet, DXF layer.")
@click.option("--name", "project_name", help="The project's name (default: the file's name).")
@click.option("--type", "project_type", default="construction", show_default=True, metavar="TYPE", help=TYPE_HELP)
@click.option("--dem", "dems", multiple=True, type=click.Path(path_type=Path),
              help="DEM file(s) or folder for the slope grades.")
@click.option("--protection", help="Drinking-water source protection zones (file or layer id) with a level field.")
@click.option("--near", "near_m", type=float, default=1000.0, show_default=True,
              help="Metres within which reservoirs, parks and 532/211 zones are listed.")
@click.option("--rules", "rules_file", type=click.Path(path_type=Path), help="Site rules table (CSV) to use instead.")
@click.option("--out", "outs", multiple=True, type=click.Path(path_type=Path),
              help="Write the report: .html (self-contained), .xlsx, .gpkg; repeat for several. "
                   "With --each: a folder.")
@click.option("--each", is_flag=True, help="SOURCE is a folder or GDB: check every parcel layer as its own project.")
@click.option("--overwrite", is_flag=True, help="Replace existing output files.")
@base.input_options()
@click.pass_context
def site_cmd(ctx, source, layer, project_name, project_type, dems, protection, near_m, rules_file, outs, each,
             overwrite):
    """选址预审: check a project's boundary (KML, DXF, shapefile, GDB, 界址点 Excel …) against the
    三区三线, slope, water-source protection, nearby features and access, by the project's type."""
    from . import site, site_report

    try:
        ptype = site.check_type(project_type)
        if not source.exists():
            raise InputError("no such file or folder", source)
        for d in dems:
            if not d.exists():
                raise InputError("no such DEM file or folder", d)
        if not near_m >= 0:
            raise InputError(f"--near must be a non-negative number of metres, got {near_m:g}")
        rules = site.load_rules(rules_file)
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    if each:
        return _each(ctx, source, layer, ptype, dems, protection, near_m, rules, outs, overwrite, project_name)
    seen = set()
    for out in outs:
        try:
            site_report.check_suffix(out)
        except InputError as exc:
            raise base.BadInput(exc.line) from exc
        key = out.resolve()
        if key in seen:
            raise base.BadInput(f"{out}: given twice as --out")
        seen.add(key)
        if key == source.resolve():
            raise base.BadInput(f"{out}: is the input file; write the report elsewhere")
        if out.exists() and not overwrite:
            raise base.BadInput(f"{out}: already exists; add --overwrite to replace it")
        _precheck_place(out)
    cat = base._catalog(ctx)
    try:
        report = site.check_site(source, name=project_name, project_type=ptype, dem=list(dems) or None,
                                 protection=protection, near_m=near_m, rules=rules, catalog=cat,
                                 layers=ctx.obj["layers"], read_options={"layer": layer})
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    _print(report)
    for out in outs:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            written = site_report.write(report, out, overwrite=overwrite)
        except InputError as exc:
            raise base.BadInput(exc.line) from exc
        click.echo(f"wrote {written}")
    click.echo(site.DISCLAIMER)


def _print(report) -> None:
    from .site import PROJECT_TYPES, SEVERITY_ZH

    p = report.parcels
    click.echo(f"{report.project}（{PROJECT_TYPES[report.project_type]}）：{len(p)} 块地块，合计 "
               f"{p['area_mu'].sum():,.2f} 亩 = {p['area_ha'].sum():,.4f} 公顷 = {p['area_m2'].sum():,.1f} 平方米")
    t = Table(title="选址预审结论", title_justify="left")
    for col in ("结论", "地块", "事项", "说明"):
        t.add_column(col)
    for r in report.findings.itertuples():
        t.add_row(r.结论, _one_line(r.地块), r.事项, _one_line(r.说明))
    base.console.print(t)
    for _, r in report.access.head(30).iterrows():
        if pd.notna(r["行车时间(分钟)"]):
            click.echo(f"{_one_line(r['地块'])} → {r['目的地']} {r['名称']}: {r['行车时间(分钟)']:.1f} 分钟, "
                       f"道路 {r['道路里程(公里)']:.1f} 公里")
        elif pd.notna(r["直线距离(公里)"]):
            click.echo(f"{_one_line(r['地块'])} → {r['目的地']} {r['名称']}: 直线 {r['直线距离(公里)']:.2f} 公里")
    click.echo(f"预审结论：{SEVERITY_ZH[report.worst()]}")


def _each(ctx, source, layer, ptype, dems, protection, near_m, rules, outs, overwrite, project_name=None):
    from . import export, site, site_report

    if len(outs) > 1:
        raise base.BadInput("with --each give one --out: the folder for the reports")
    folder = outs[0] if outs else Path("site_reports")
    if folder.suffix.lower() in site_report.SUFFIXES:
        raise base.BadInput(f"{folder}: with --each, --out is a folder (one report per project and a summary)")
    summary_path = folder / "预审汇总.xlsx"
    _precheck_place(summary_path)
    if summary_path.exists() and not overwrite:
        raise base.BadInput(f"{summary_path}: already exists; add --overwrite to replace it")
    if project_name:
        click.echo("--name is not used with --each: each project is named after its file or layer", err=True)
    try:
        projects = _projects(source, layer)
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    out_dir = folder.resolve()
    projects = [p for p in projects if out_dir not in p[1].resolve().parents]     # not our own reports
    prepared = site.SiteContext(base._catalog(ctx))
    try:          # options shared by every project are checked once, before any is written
        site.check_shared(prepared, protection=protection, dem=list(dems) or None, layers=ctx.obj["layers"])
    except InputError as exc:
        raise base.BadInput(exc.line) from exc
    rows, failed = [], 0
    used_names: dict[str, int] = {}
    report_paths = []
    for name, _, _ in projects:
        stem = _safe_name(name)
        used_names[stem.lower()] = used_names.get(stem.lower(), 0) + 1
        if used_names[stem.lower()] > 1:          # a.gpkg and sub/a.gpkg: both reports kept
            stem = f"{stem}（{used_names[stem.lower()]}）"
        report_paths.append(folder / f"{stem}.html")
    if not overwrite:
        existing = [p for p in report_paths if p.exists()]
        if existing:
            raise base.BadInput(f"{existing[0]}: already exists; add --overwrite to replace it")
    for (name, path, lyr), out in zip(projects, report_paths):
        try:
            report = site.check_site(path, name=name, project_type=ptype, dem=list(dems) or None,
                                     protection=protection, near_m=near_m, rules=rules,
                                     layers=ctx.obj["layers"], read_options={"layer": lyr}, context=prepared)
        except InputError as exc:
            failed += 1
            rows.append({"项目": name, "文件": str(path), "图层": lyr or "", "地块数": 0, "面积(亩)": None,
                         "结论": "未检查", "冲突": None, "需论证": None, "报告": "", "说明": exc.line})
            click.echo(f"{name}: not checked: {exc.line}", err=True)
            continue
        folder.mkdir(parents=True, exist_ok=True)
        site_report.write(report, out, overwrite=overwrite)
        f = report.findings
        rows.append({"项目": name, "文件": str(path), "图层": lyr or "", "地块数": len(report.parcels),
                     "面积(亩)": round(report.total_mu, 3), "结论": site.SEVERITY_ZH[report.worst()],
                     "冲突": int((f["severity"] == "conflict").sum()), "需论证": int((f["severity"] == "review").sum()),
                     "报告": str(out), "说明": "；".join(f.loc[f["severity"].isin(["conflict", "review"]), "说明"].head(5))})
        click.echo(f"{name}: {site.SEVERITY_ZH[report.worst()]} ({report.total_mu:,.1f} 亩) → {out}")
    summary = pd.DataFrame(rows)
    folder.mkdir(parents=True, exist_ok=True)
    export.write({"预审汇总": summary}, summary_path, overwrite=overwrite, headers="raw")
    click.echo(f"wrote {summary_path} ({len(rows)} projects, {failed} not checked)")
    click.echo(site.DISCLAIMER)
    if failed:
        ctx.exit(1)

