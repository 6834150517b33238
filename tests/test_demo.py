"""``qxg demo`` end to end (a folder named with Chinese and a space, GBK and ASCII consoles),
``qxg doctor`` with a driver hidden, and the console and ``--debug`` handling of ``qxg``."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from spatial import cli, demo, doctor, settings
from test_maps import ARTIFACTS, _open, _png_colors, browser  # noqa: F401 - the Chromium fixture of the map tests

ROOT = Path(__file__).resolve().parent.parent
QXG = [sys.executable, "-c", "import sys; from spatial.cli import main; sys.exit(main())"]
ENCODINGS = ("utf-8", "gbk", "ascii")
EXPECTED = {"exports/qxg_layers.gpkg", "exports/access_highway.xlsx", "exports/health_circles.gpkg",
            "exports/water_protection_example.gpkg", "exports/sanqu_check.gpkg", "exports/zones_summary.xlsx",
            "exports/demo_log.txt", "exports/example_parcel.gpkg", "exports/site_check.html",
            "exports/site_check.xlsx", "maps/index.html", "maps/overview.html", "maps/access.html",
            "maps/coverage.html", "maps/agriculture.html", "maps/sanqu.html", "maps/surface.html"}


@pytest.fixture(autouse=True)
def no_user_layers(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    """The demo three times at once (two cores): UTF-8, GBK and ASCII consoles, each in a folder
    named ``测试 输出``, with a county folder ``县 图层`` (two of the bundled layers copied in)."""
    base = tmp_path_factory.mktemp("demo")
    county = base / "县 图层"
    county.mkdir()
    for name in ("townships.geojson", "reservoirs.geojson"):
        shutil.copy(ROOT / "layers" / name, county / name)
    env = {k: v for k, v in os.environ.items() if k not in (settings.LAYERS_ENV, "QXG_DEM")}
    procs = {}
    for enc in ENCODINGS:
        out = base / enc / "测试 输出"
        out.mkdir(parents=True)
        procs[enc] = (out, subprocess.Popen([*QXG, "--layers", str(county), "demo", "--out", str(out)],
                                            cwd=out, env={**env, "PYTHONIOENCODING": enc},
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    runs = {}
    for enc, (out, proc) in procs.items():
        stdout, stderr = proc.communicate(timeout=600)
        runs[enc] = {"out": out, "code": proc.returncode, "stdout": stdout, "stderr": stderr}
    return runs


def _summary_rows(text: str) -> list[tuple[str, str]]:
    """(file, size) of the summary table's rows (continuation lines have no file)."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line)]
        if len(cells) >= 4 and cells[1] and cells[1] != "file" and "/" in cells[1]:
            rows.append((cells[1], cells[2]))
    return rows


def test_demo_writes_every_file_it_lists(demo_runs):
    run = demo_runs["utf-8"]
    stdout, stderr = run["stdout"].decode("utf-8"), run["stderr"].decode("utf-8")
    assert run["code"] == 0, stderr + stdout
    assert "Traceback" not in stderr
    assert re.findall(r"^\[(\d+)/(\d+)\] .* ok \(", stdout, re.M) == [(str(i), "10") for i in range(1, 11)]
    rows = _summary_rows(stdout)
    assert {f for f, _ in rows} == EXPECTED
    for rel, size in rows:
        path = run["out"] / rel
        assert path.is_file(), rel
        assert size == demo.human_size(path.stat().st_size), rel
    # the data-status notice, once, naming the county folder's layers as what they say they are
    assert stdout.count("注意：所用图层含近似或示意数据") == 1
    assert "terrain steps skipped: no DEM" in stdout
    log = (run["out"] / "exports" / demo.LOG_NAME).read_text("utf-8")
    for step in demo.steps(run["out"]):
        assert f"qxg {' '.join(step.args)}  (exit 0," in log
    assert "wrote " in log and str(run["out"] / "exports" / "sanqu_check.gpkg") in log
    # the site pre-check ran on the parcel the demo drew, says it is an example, and found the
    # orchard's overlap with 永久基本农田 (the parcel straddles its edge)
    assert "选址预审 site pre-check of an example parcel (illustrative)" in stdout
    report = (run["out"] / "exports" / "site_check.html").read_text("utf-8")
    assert "示例：刺梨种植基地（示意）" in report and "预审结论：冲突" in report and "166号" in report
    parcel = pyogrio.read_dataframe(run["out"] / "exports" / "example_parcel.gpkg")
    assert list(parcel["data_status"]) == ["illustrative"]


def test_demo_geopackages_read_back_valid(demo_runs):
    out = demo_runs["utf-8"]["out"]
    packages = sorted((out / "exports").glob("*.gpkg"))
    assert len(packages) == 5
    for gpkg in packages:
        layers = pyogrio.list_layers(gpkg)
        spatial_layers = [name for name, geom in layers if geom is not None]
        assert spatial_layers, gpkg
        for name in spatial_layers:
            gdf = pyogrio.read_dataframe(gpkg, layer=name)
            assert gdf.crs is not None, (gpkg.name, name)
            geoms = gdf.geometry[gdf.geometry.notna()]
            assert shapely.is_valid(geoms.values).all(), (gpkg.name, name)
    # the county folder's townships (copied in, so read from 县 图层) are in the export
    towns = pyogrio.read_dataframe(out / "exports" / "qxg_layers.gpkg", layer="townships")
    assert len(towns) == 41 and towns.crs.to_epsg() == 4544


def test_demo_maps_have_no_external_references(demo_runs):
    out = demo_runs["utf-8"]["out"]
    for page in (out / "maps").glob("*.html"):
        text = page.read_text("utf-8")
        assert not re.search(r"<(script|link|img)[^>]+(src|href)=[\"']?(https?:)?//", text), page.name
        assert "@import" not in text and "url(http" not in text, page.name


def test_demo_map_renders_in_chromium(demo_runs, browser):
    page, log = _open(browser, demo_runs["utf-8"]["out"] / "maps" / "overview.html")
    assert page.evaluate("L.version") == "1.9.4"
    overlays = {o.strip() for o in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()}
    assert {"区界", "高速公路", "高速出入口", "乡镇驻地"} <= overlays, overlays
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "demo_overview.png"
    page.screenshot(path=str(shot))
    assert _png_colors(shot) > 20, f"{shot} looks blank"
    assert log["errors"] == [] and log["external"] == [] and log["dialogs"] == []
    page.close()


@pytest.mark.parametrize("enc", ["gbk", "ascii"])
def test_demo_survives_a_legacy_console(demo_runs, enc):
    run = demo_runs[enc]
    stderr = run["stderr"].decode(enc, errors="replace")
    assert run["code"] == 0, stderr
    assert "UnicodeEncodeError" not in stderr and "Traceback" not in stderr
    # the same files as the UTF-8 run
    ref = demo_runs["utf-8"]["out"]
    files = {p.relative_to(run["out"]).as_posix() for p in run["out"].rglob("*") if p.is_file()}
    assert files == {p.relative_to(ref).as_posix() for p in ref.rglob("*") if p.is_file()}
    # the table is drawn in ASCII where the console has no box characters; ≥ and × became ASCII
    text = run["stdout"].decode(enc, errors="strict" if enc == "gbk" else "replace")
    assert "exports/qxg_layers.gpkg" in text
    if enc == "ascii":
        assert run["stdout"].isascii() or "┃" not in text


def test_make_demo_is_qxg_demo():
    mk = (ROOT / "Makefile").read_text("utf-8")
    recipe = re.search(r"^demo: \$\(STAMP\)\n((?:\t.*\n)+)", mk, re.M).group(1)
    assert [ln.strip() for ln in recipe.splitlines()] == ["$(BIN)/qxg demo"]


# ------------------------------------------------------------------ a failing step
def test_a_failing_step_does_not_hide_the_others(tmp_path, monkeypatch):
    real_steps = demo.steps

    def few(out, dems=(), with_terrain=False):
        s = {st.key: st for st in real_steps(out, dems, with_terrain)}
        broken = demo.Step("broken", "a step with a bad output", ["zones", "summary", "--out", str(out / "x.txt")])
        return [s["layers validate"], broken, s["zones summary"]]

    monkeypatch.setattr(demo, "steps", few)
    out = tmp_path / "演示"
    result = CliRunner().invoke(cli.cli, ["demo", "--out", str(out)])
    assert result.exit_code == cli.EXIT_INTERNAL, result.output
    lines = result.output.splitlines()
    assert any(ln.startswith("[1/3]") and " ok (" in ln for ln in lines)
    assert any(ln.startswith("[2/3]") and "FAILED" in ln and "x.txt: write results as" in ln for ln in lines)
    assert any(ln.startswith("[3/3]") and " ok (" in ln for ln in lines)
    assert "2 of 3 steps ok" in result.output
    assert (out / "exports" / "zones_summary.xlsx").is_file() and not (out / "x.txt").exists()
    assert "exports/zones_summary.xlsx" in result.output
    assert "failed: broken: error:" in result.output


def test_a_crashing_step_is_reported_and_logged(tmp_path, monkeypatch):
    def one(out, dems=(), with_terrain=False):
        return [demo.Step("export", "export", ["export", "--all", "--out", str(out / "exports" / "a.gpkg")])]

    from spatial import export

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(demo, "steps", one)
    monkeypatch.setattr(export, "write", boom)
    result = CliRunner().invoke(cli.cli, ["demo", "--out", str(tmp_path)])
    assert result.exit_code == cli.EXIT_INTERNAL
    assert "FAILED" in result.output and "internal error: RuntimeError: disk on fire" in result.output
    log = (tmp_path / "exports" / demo.LOG_NAME).read_text("utf-8")
    assert "(exit 1," in log and "disk on fire" in log


# ------------------------------------------------------------------ doctor
def test_doctor_passes_here_and_names_what_it_checked(tmp_path):
    result = CliRunner().invoke(cli.cli, ["doctor", "--out", str(tmp_path / "新 文件夹")])
    assert result.exit_code == 0, result.output
    for word in ("GDAL", "PROJ database", "OpenFileGDB", "DXF", "GTiff", "KML", "townships", "output folder",
                 "Chinese font", "write + read back ok"):
        assert word in result.output, word
    assert "everything the main job needs is there" in result.output


def test_doctor_reports_a_hidden_driver(monkeypatch):
    real = doctor.vector_drivers
    monkeypatch.setattr(doctor, "vector_drivers", lambda: {k: v for k, v in real().items() if k != "OpenFileGDB"})
    result = CliRunner().invoke(cli.cli, ["doctor"])
    assert result.exit_code != 0
    row = next(ln for ln in result.output.splitlines() if "OpenFileGDB" in ln and "missing" in ln)
    assert "no OpenFileGDB" in row
    assert "needed item(s) missing: OpenFileGDB" in result.output


def test_doctor_reports_read_only_driver_and_missing_gtiff(monkeypatch):
    real_v, real_r = doctor.vector_drivers, doctor.raster_drivers
    monkeypatch.setattr(doctor, "vector_drivers", lambda: {**real_v(), "GPKG": "r"})
    monkeypatch.setattr(doctor, "raster_drivers", lambda: {k: v for k, v in real_r().items() if k != "GTiff"})
    rows = {r.name: r for r in doctor.run()}
    assert rows["GPKG"].failed and "read only" in rows["GPKG"].detail
    assert rows["GTiff"].failed and rows["GTiff"].fix
    assert not rows["OpenFileGDB"].failed


def test_doctor_output_folder_and_broken_layer(tmp_path):
    afile = tmp_path / "a file"
    afile.write_text("x")
    [row] = doctor.output(afile / "sub")
    assert row.failed and "cannot write" in row.detail
    county = tmp_path / "县 图层"
    county.mkdir()
    (county / "reservoirs.geojson").write_text('{"type": "FeatureCollection", "features": [', "utf-8")
    result = CliRunner().invoke(cli.cli, ["--layers", str(county), "doctor", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert re.search(r"reservoirs.*missing", result.output)
    assert "needed item(s) missing: reservoirs" in result.output


# ------------------------------------------------------------------ console and --debug
def test_symbols_fall_back_to_ascii():
    text = "坡度 ≥ 25° → 冲突 ×2 ✓ 5 km²"
    assert text.encode("ascii", errors=cli.ASCII_FALLBACK) == b"?? >= 25 deg -> ?? x2 ok 5 km2"
    gbk = text.encode("gbk", errors=cli.ASCII_FALLBACK).decode("gbk")
    assert "坡度" in gbk and "冲突" in gbk and "ok" in gbk and "✓" not in gbk


def test_command_output_survives_a_gbk_console(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != settings.LAYERS_ENV}
    proc = subprocess.run([*QXG, "layers", "show", "townships"], env={**env, "PYTHONIOENCODING": "gbk"},
                          capture_output=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr.decode("gbk", "replace")
    text = proc.stdout.decode("gbk")    # strictly GBK: nothing the console cannot show
    assert "乡镇（街道）驻地" in text and "EPSG:4490" in text


def test_debug_is_accepted_after_the_subcommand(monkeypatch, capsys):
    assert cli.main(["layers", "list", "--format", "csv", "--debug"]) == 0
    argv = ["map", "--debug", "--", "--debug"]
    assert cli._take_debug(argv) and argv == ["map", "--", "--debug"]
    from spatial import catalog

    def boom(*a, **k):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(catalog.Catalog, "load", boom)
    assert cli.main(["layers", "show", "townships"]) == 1
    assert "run with --debug" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="broken on purpose"):
        cli.main(["layers", "show", "townships", "--debug"])


def test_files_in_chinese_folders_with_spaces(tmp_path, capsys):
    folder = tmp_path / "县 自然资源局" / "项目 资料"
    names = {"shp": "乡镇 驻地.zip", "gdb": "县 数据.gdb", "kml": "乡镇 点.kml", "xlsx": "乡镇 表.xlsx"}
    for fmt, name in names.items():
        extra = ["--encoding", "gbk"] if fmt == "shp" else []
        assert cli.main(["export", "townships", "--format", fmt, *extra, "--out", str(folder / name)]) == 0
    assert cli.main(["layers", "validate", *(str(folder / n) for n in names.values())]) == 0
    out = capsys.readouterr().out
    for name in names.values():
        assert f"ok: {folder / name}: 41 features" in out or f"ok: {name}: 41 features" in out, out
    maps_dir = tmp_path / "地图 输出"
    assert cli.main(["map", "overview", "--add", str(folder / names["kml"]), "--out", str(maps_dir)]) == 0
    # the added layer is in the legend under its file's name (JSON-escaped in the page)
    assert '"label": ' + json.dumps("乡镇 点") in (maps_dir / "overview.html").read_text("utf-8")
