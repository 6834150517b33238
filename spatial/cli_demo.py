"""``qxg demo`` (the main job) and ``qxg doctor`` (what this machine has)."""
from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from . import demo as demomod
from . import doctor as doctormod
from .cli_terrain import base


@click.command("demo")
@click.option("--out", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="Folder to write exports/ and maps/ under.")
@click.option("--dem", "dems", multiple=True, type=click.Path(path_type=Path),
              help="DEM file or folder: adds the terrain steps (default: $QXG_DEM or the layers' dem).")
@click.option("--verbose", "-v", is_flag=True, help="Show every step's own output (always in the log).")
@click.pass_context
def demo_cmd(ctx, out, dems, verbose):
    """Run the main job: validate the layers, export them, the access, coverage, 三区三线 and
    zone analyses, the terrain steps when a DEM is there, and the maps; then list every file
    written. Each step's output goes to exports/demo_log.txt."""
    debug = ctx.obj.get("debug", False)
    for d in dems:
        if not d.exists():
            raise base.BadInput(f"{d}: no such DEM file or folder")
    try:
        (out / "exports").mkdir(parents=True, exist_ok=True)
        (out / "maps").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise base.BadInput(f"{out}: cannot create the output folders: {exc.strerror or exc}") from exc
    results = demomod.run(out, ctx.obj.get("layers"), tuple(dems), debug=debug, verbose=verbose)
    rows = demomod.written_files(results, out)
    table = Table(title=f"files written under {out.resolve()}", title_justify="left")
    table.add_column("file", no_wrap=True)
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("what it holds")
    for path, size, what in rows:
        table.add_row(_rel(path, out), demomod.human_size(size), what)
    log = out / "exports" / demomod.LOG_NAME
    table.add_row(_rel(log, out), demomod.human_size(log.stat().st_size), "every step's own output")
    base.console.print(table)
    failed = [r for r in results if not r.ok]
    total = sum(r.seconds for r in results)
    click.echo(f"{len(results) - len(failed)} of {len(results)} steps ok in {total:.0f} s; "
               f"open {_rel(out / 'maps' / 'index.html', out)} in a browser.")
    cat = base._catalog(ctx)
    base._caveat(base._data_sources(cat, cat.ids()))
    if failed:
        for r in failed:
            click.echo(f"failed: {r.step.key}: {r.reason}", err=True)
        ctx.exit(base.EXIT_INTERNAL)


def _rel(path: Path, out: Path) -> str:
    try:
        return str(path.relative_to(out))
    except ValueError:
        return str(path)


@click.command("doctor")
@click.option("--out", type=click.Path(path_type=Path), default=None,
              help="Output folder to check for write permission (default: the current folder).")
@click.pass_context
def doctor_cmd(ctx, out):
    """What this machine has of what the toolkit needs: versions, GDAL drivers (written and read
    back), the PROJ database, the layers in use, the output folder, a browser and a Chinese font
    for screenshots. Exit 0 when everything the main job needs is there."""
    rows = doctormod.run(ctx.obj.get("layers"), out)
    table = Table(title="qxg doctor", title_justify="left")
    for col in ("", "check", "status", "detail", "fix"):
        table.add_column(col, no_wrap=col in ("check", "status"), overflow="fold")
    group = None
    for r in rows:
        table.add_row(r.group if r.group != group else "", r.name, r.status, r.detail, r.fix)
        group = r.group
    base.console.print(table)
    failed = [r for r in rows if r.failed]
    if failed:
        click.echo(f"{len(failed)} needed item(s) missing: " + ", ".join(r.name for r in failed), err=True)
        ctx.exit(base.EXIT_INTERNAL)
    click.echo("everything the main job needs is there" +
               (f" ({sum(r.status == doctormod.OPTIONAL for r in rows)} optional item(s) missing)"
                if any(r.status == doctormod.OPTIONAL for r in rows) else ""))
    click.echo("when asking for help, send this output: qxg doctor > doctor.txt")
