"""``qxg demo``: the main job on the bundled (or a planner's) layers, in one Python process.

Each step is an ordinary ``qxg`` command run in-process, so the demo writes exactly what the
commands write. A step's output goes to the log file; the console gets one progress line per
step and, at the end, a table of every file written. A failing step is recorded and the others
still run.
"""
from __future__ import annotations

import contextlib
import html
import io
import re
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import click

from .errors import InputError, InputWarning

LOG_NAME = "demo_log.txt"


@dataclass
class Step:
    key: str
    title: str
    args: list[str]
    #: file name (relative to the demo folder) → what it holds
    outputs: dict[str, str] = field(default_factory=dict)
    #: run before the command, with the layers folder: writes what the command reads
    prepare: Callable[[str | None], None] | None = None


@dataclass
class StepResult:
    step: Step
    code: int
    seconds: float
    output: str
    files: list[Path]

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def reason(self) -> str:
        """The step's error line, for the summary."""
        lines = [ln.strip() for ln in self.output.splitlines() if ln.strip()]
        for ln in reversed(lines):
            if ln.startswith(("error:", "internal error:")):
                return ln
        return lines[-1] if lines else f"exit code {self.code}"


def steps(out: Path, dems: tuple[Path, ...] = (), with_terrain: bool = False) -> list[Step]:
    """The demo's steps; the terrain ones only ``with_terrain`` (a DEM given or found)."""
    ex, mp = out / "exports", out / "maps"
    dem_args = [a for d in dems for a in ("--dem", str(d))]

    def o(name: str) -> str:
        return str(ex / name)

    s = [
        Step("layers list", "列出图层 list the layers", ["layers", "list"]),
        Step("layers validate", "检查图层 validate the layers", ["layers", "validate"]),
        Step("export", "导出图层 export every layer (CGCS2000 / GK CM 105E)",
             ["export", "--all", "--crs", "4544", "--out", o("qxg_layers.gpkg"), "--overwrite"],
             {"exports/qxg_layers.gpkg": "every layer with data, EPSG:4544, Chinese field names"}),
        Step("access highway", "高速可达 township seats to expressway entrances, 30 min",
             ["access", "highway", "--minutes", "30", "--out", o("access_highway.xlsx"), "--overwrite"],
             {"exports/access_highway.xlsx": "minutes from every township seat to the nearest entrance, "
                                             "current and planned, against the plan's 60 % target"}),
        Step("coverage health", "卫生服务圈 health circles and 3 suggested sites",
             ["coverage", "health", "--suggest", "3", "--out", o("health_circles.gpkg"), "--overwrite"],
             {"exports/health_circles.gpkg": "15-/30-minute health circles, uncovered places, suggested sites"}),
        # example distances only: the county's adopted delineation replaces them (README, Coverage)
        Step("coverage protection", "水源保护区示例 example water-source protection zones",
             ["coverage", "protection", "--layer", "reservoirs", "--first", "300m", "--second", "2km",
              "--out", o("water_protection_example.gpkg"), "--overwrite"],
             {"exports/water_protection_example.gpkg": "example first/second-level zones around reservoirs "
                                                        "(300 m / 2 km, not an adopted delineation)"}),
        Step("check sanqu-sanxian", "三区三线检查 conflicts with the three control lines",
             ["check", "sanqu-sanxian", "--out", o("sanqu_check.gpkg"), "--overwrite"],
             {"exports/sanqu_check.gpkg": "overlaps of parks, zones and reservoirs with the 三区三线, by rule"}),
        Step("zones summary", "532/211 汇总 agricultural zones against the plan's targets",
             ["zones", "summary", "--out", o("zones_summary.xlsx"), "--overwrite"],
             {"exports/zones_summary.xlsx": "532/211 zones, townships and areas against the plan's targets"}),
    ]
    if with_terrain:
        s += [
            Step("terrain classes", "坡度分级 slope grades",
                 ["terrain", "classes", *dem_args, "--out", o("slope_grades.gpkg"), "--overwrite"],
                 {"exports/slope_grades.gpkg": "slope grades (GB/T 21010 / 三调) in 亩 by township"}),
            Step("terrain rules", "坡度规则 slope rules on cropland and zones",
                 ["terrain", "rules", *dem_args, "--out", o("terrain_rules.xlsx"), "--overwrite"],
                 {"exports/terrain_rules.xlsx": "cropland ≥ 25° and other slope rules, in 亩"}),
            Step("terrain baqu", "坝区候选 flat 坝区 candidates",
                 ["terrain", "baqu", *dem_args, "--out", o("baqu_candidates.gpkg"), "--overwrite"],
                 {"exports/baqu_candidates.gpkg": "flat areas (坝区) candidates from the DEM"}),
            Step("terrain bands", "高程带 elevation bands",
                 ["terrain", "bands", *dem_args, "--out", o("elevation_bands.xlsx"), "--overwrite"],
                 {"exports/elevation_bands.xlsx": "area in elevation bands by township"}),
        ]
    parcel = ex / EXAMPLE_PARCEL
    s.append(Step("check site", "选址预审 site pre-check of an example parcel (illustrative)",
                  ["check", "site", str(parcel), "--type", "agriculture-orchard", "--name", EXAMPLE_NAME,
                   "--protection", o("water_protection_example.gpkg"), *dem_args,
                   "--out", o("site_check.html"), "--out", o("site_check.xlsx"), "--overwrite"],
                  {f"exports/{EXAMPLE_PARCEL}": "the example parcel the demo drew (illustrative, not a project)",
                   "exports/site_check.html": "site pre-check report of the example parcel (offline, A4)",
                   "exports/site_check.xlsx": "the same report's tables, one sheet each"},
                  prepare=lambda layers: write_example_parcel(parcel, layers)))
    s.append(Step("map", "地图 interactive maps", ["map", *dem_args, "--out", str(mp)]))
    return s


EXAMPLE_PARCEL = "example_parcel.gpkg"
EXAMPLE_NAME = "示例：刺梨种植基地（示意）"


def write_example_parcel(path: Path, layers: str | None = None) -> Path:
    """A 500 m × 400 m parcel across the edge of the 永久基本农田 (or at the district's centre
    when there is none): an illustrative project for the site pre-check, not a real one."""
    import geopandas as gpd
    import shapely
    from shapely.ops import nearest_points

    from . import catalog as catmod
    from . import export, settings

    cat = catmod.catalog(layers)
    if cat.get("basic_farmland").exists:
        farm = shapely.union_all(cat.load("basic_farmland").to_crs(settings.METRIC_CRS).geometry.values)
        inner = farm.representative_point()
        edge = nearest_points(farm.boundary, inner)[0]
        where = "centred on the edge of the 永久基本农田 nearest its representative point"
    else:
        edge = shapely.union_all(cat.load("boundary").to_crs(settings.METRIC_CRS).geometry.values).representative_point()
        where = "at a representative point of the district"
    geom = shapely.box(edge.x - 250, edge.y - 200, edge.x + 250, edge.y + 200)
    gdf = gpd.GeoDataFrame({"name": ["示例地块"], "data_status": ["illustrative"],
                            "method": [f"drawn by qxg demo: 500 m × 400 m {where}"]},
                           geometry=[geom], crs=settings.METRIC_CRS).to_crs(settings.STORAGE_CRS)
    export.write(gdf, path, overwrite=True)
    return path


def _snapshot(folder: Path) -> dict[Path, tuple[float, int]]:
    """Modification time and size of every file under ``folder`` (GDB folders as one entry)."""
    seen: dict[Path, tuple[float, int]] = {}
    if not folder.exists():
        return seen
    for p in folder.rglob("*"):
        if any(part.lower().endswith(".gdb") for part in p.relative_to(folder).parts[:-1]):
            continue
        if p.is_file():
            st = p.stat()
            seen[p] = (st.st_mtime_ns, st.st_size)
    return seen


def run_step(step: Step, layers: str | None, debug: bool = False) -> tuple[int, str]:
    """Run one ``qxg`` command in this process; its stdout, stderr and warnings are returned."""
    from . import cli

    argv = (["--layers", layers] if layers else []) + step.args
    buf = io.StringIO()

    def show(message, category, filename, lineno, file=None, line=None):
        prefix = "warning: " if issubclass(category, InputWarning) else f"warning: {category.__name__}: "
        buf.write(prefix + str(message) + "\n")

    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf), warnings.catch_warnings():
        warnings.showwarning = show
        try:
            if step.prepare is not None:
                step.prepare(layers)
            code = cli.cli.main(args=argv, prog_name="qxg", standalone_mode=False)
            code = code if isinstance(code, int) else 0
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:
            exc.show()
            code = exc.exit_code
        except InputError as exc:
            buf.write(f"error: {exc.line}\n")
            code = cli.EXIT_BAD_INPUT
        except Exception as exc:  # noqa: BLE001 - one step failing must not stop the others
            if debug:
                traceback.print_exc(file=buf)
            buf.write(f"internal error: {type(exc).__name__}: {exc}\n")
            code = cli.EXIT_INTERNAL
    return code, buf.getvalue()


def describe_file(path: Path, out: Path, declared: dict[str, str]) -> str:
    """What a written file holds: the step's description, else a map's title."""
    try:
        rel = path.relative_to(out).as_posix()
    except ValueError:
        rel = path.name
    if rel in declared:
        return declared[rel]
    if path.suffix.lower() == ".html":
        try:
            head = path.read_text(encoding="utf-8", errors="replace")[:20000]
        except OSError:
            head = ""
        m = re.search(r"<title>(.*?)</title>", head, re.S | re.I)
        if m:
            return "map: " + html.unescape(m.group(1)).strip()
        return "map"
    if path.suffix.lower() in (".js", ".css", ".png", ".svg"):
        return "map asset (offline)"
    return ""


def run(out: Path, layers: str | None = None, dems: tuple[Path, ...] = (), debug: bool = False,
        echo=click.echo, verbose: bool = False) -> list[StepResult]:
    """Run every step, log to ``out/exports/demo_log.txt`` and return the results."""
    from . import raster

    with_terrain = bool(dems) or raster.has_dem(layers)
    plan = steps(out, dems, with_terrain)
    (out / "exports").mkdir(parents=True, exist_ok=True)
    log_path = out / "exports" / LOG_NAME
    results: list[StepResult] = []
    with open(log_path, "w", encoding="utf-8") as log:
        log.write(f"qxg demo: {len(plan)} steps, output under {out}\n")
        for i, step in enumerate(plan, 1):
            echo(f"[{i}/{len(plan)}] {step.title} …", nl=False)
            before = {**_snapshot(out / "exports"), **_snapshot(out / "maps")}
            t0 = time.perf_counter()
            code, output = run_step(step, layers, debug)
            seconds = time.perf_counter() - t0
            after = {**_snapshot(out / "exports"), **_snapshot(out / "maps")}
            files = sorted(p for p, sig in after.items() if before.get(p) != sig and p != log_path)
            res = StepResult(step, code, seconds, output, files)
            results.append(res)
            echo(f" ok ({seconds:.1f} s)" if res.ok else f" FAILED ({seconds:.1f} s): {res.reason}")
            if verbose and output.strip():
                echo(_indent(output))
            log.write(f"\n=== [{i}/{len(plan)}] qxg {' '.join(step.args)}  (exit {code}, {seconds:.1f} s)\n")
            log.write(output)
            log.flush()
    if not with_terrain:
        echo("terrain steps skipped: no DEM. Give --dem FILE_OR_FOLDER, set QXG_DEM, put tiles in "
             "layers/dem/, or download Copernicus GLO-30 with: qxg terrain fetch")
    return results


def _indent(text: str) -> str:
    return "\n".join("    " + ln for ln in text.rstrip().splitlines())


def human_size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def written_files(results: list[StepResult], out: Path) -> list[tuple[Path, int, str]]:
    """(path, size, what) for every file the steps wrote, in step order, GDB folders summed."""
    rows: list[tuple[Path, int, str]] = []
    seen: set[Path] = set()
    for res in results:
        for p in res.files:
            if p in seen or not p.exists():
                continue
            seen.add(p)
            rows.append((p, p.stat().st_size, describe_file(p, out, res.step.outputs)))
    return rows

