"""The qxg command line: subcommands, output and exit codes (0 ok, 2 bad input, 1 internal)."""
from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
from shapely.geometry import Polygon

from spatial import cli, settings


@pytest.fixture(autouse=True)
def no_user_layers(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)


def run(capsys, *args):
    code = cli.main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_subcommands(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "layers" in out
    code, out, _ = run(capsys, "layers", "--help")
    assert code == 0 and all(c in out for c in ("list", "show", "validate"))


def test_layers_list_table_and_csv(capsys):
    code, out, _ = run(capsys, "layers", "list")
    assert code == 0
    for word in ("id", "名称", "kind", "features", "CRS", "data status", "townships", "城镇开发边界"):
        assert word in out
    code, out, _ = run(capsys, "layers", "list", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["id"] for r in rows][:2] == ["boundary", "townships"]
    assert {"id", "名称", "kind", "features", "crs", "data_status", "origin"} <= set(rows[0])


def test_layers_list_shows_user_layer_with_status_mix(capsys, tmp_path, towns):
    t = towns.copy()
    t["data_status"] = ["real", "real", "approximate"]
    t.to_file(tmp_path / "townships.geojson")
    code, out, _ = run(capsys, "--layers", str(tmp_path), "layers", "list", "--format", "json")
    row = next(r for r in json.loads(out) if r["id"] == "townships")
    assert row["features"] == 3 and row["origin"] == "user"
    assert row["data_status"] == "real 2, approximate 1"


def test_layers_show(capsys, tmp_path, towns):
    towns.to_file(tmp_path / "townships.geojson")
    code, out, _ = run(capsys, "--layers", str(tmp_path), "layers", "show", "townships")
    assert code == 0
    assert "乡镇（街道）驻地" in out and "features" in out and "name, code" in out


def test_unknown_layer_exits_2_with_one_line(capsys):
    code, out, err = run(capsys, "layers", "show", "township")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("error: unknown layer 'township'")


def test_validate_bundled_layers_passes(capsys):
    code, out, err = run(capsys, "layers", "validate")
    assert code == 0, err


@pytest.mark.parametrize("case", ["missing", "noprj", "empty", "swapped"])
def test_validate_bad_files_exit_2_with_one_clear_line(capsys, tmp_path, towns, case):
    if case == "missing":
        path = tmp_path / "nope.shp"
    elif case == "noprj":
        path = tmp_path / "noprj.shp"
        towns.to_crs(4544).to_file(path)
        path.with_suffix(".prj").unlink()
    elif case == "empty":
        path = tmp_path / "empty.gpkg"
        path.write_bytes(b"")
    else:
        path = tmp_path / "swapped.geojson"
        path.write_text('{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},'
                        '"geometry":{"type":"Point","coordinates":[27.3,105.1]}}]}', encoding="utf-8")
    code, out, err = run(capsys, "layers", "validate", str(path))
    assert code == 2
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert lines[0].startswith(f"error: {path}") and "Traceback" not in err


def test_validate_reports_repair_and_exits_2(capsys, tmp_path):
    bowtie = Polygon([(105.0, 27.2), (105.1, 27.3), (105.1, 27.2), (105.0, 27.3)])
    path = tmp_path / "bow.geojson"
    gpd.GeoDataFrame({"name": ["地块"]}, geometry=[bowtie], crs=4490).to_file(path)
    code, out, err = run(capsys, "layers", "validate", str(path))
    assert code == 2
    assert "repaired: " in err and "feature 0 (name=地块)" in err and "Self-intersection" in err


def test_validate_with_stated_crs_succeeds(capsys, tmp_path, towns):
    path = tmp_path / "noprj.shp"
    towns.to_crs(4544).to_file(path)
    path.with_suffix(".prj").unlink()
    code, out, err = run(capsys, "layers", "validate", str(path), "--crs", "4544")
    assert code == 0 and "ok: " in out and "3 features" in out


def test_bad_option_value_exits_2(capsys, tmp_path):
    code, _, err = run(capsys, "layers", "validate", "x.shp", "--coords", "mars")
    assert code == 2 and "mars" in err


def test_internal_error_exits_1_without_traceback(capsys, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("disk on fire")
    monkeypatch.setattr(cli.catmod, "catalog", boom)
    code, _, err = run(capsys, "layers", "list")
    assert code == 1 and "internal error: RuntimeError: disk on fire" in err and "Traceback" not in err


def test_console_script_is_installed():
    exe = shutil.which("qxg", path=str(Path(sys.executable).parent))
    assert exe, "the qxg entry point is not installed next to this python"
    proc = subprocess.run([exe, "layers", "show", "nope"], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.startswith("error: unknown layer 'nope'")


def test_export_command_writes_and_refuses_to_overwrite(capsys, tmp_path, towns):
    user = tmp_path / "county"
    user.mkdir()
    towns.to_file(user / "townships.geojson")
    out = tmp_path / "out"
    args = ["--layers", str(user), "export", "townships", "boundary", "--format", "shp",
            "--crs", "4544", "--encoding", "gbk", "--out", str(out)]
    code, stdout, err = run(capsys, *args)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["boundary.zip", "townships.zip"]
    with zipfile.ZipFile(out / "townships.zip") as zf:
        assert zf.read("townships.cpg") == b"936"
    back = pyogrio.read_dataframe(f"/vsizip/{out / 'townships.zip'}/townships.shp")
    assert list(back["name"]) == list(towns["name"])
    code, _, err = run(capsys, *args)
    assert code == 2 and "already exists" in err
    code, _, err = run(capsys, *args, "--overwrite")
    assert code == 0
    gpkg = tmp_path / "all.gpkg"
    code, _, err = run(capsys, "--layers", str(user), "export", "townships", "boundary", "--out", str(gpkg))
    assert code == 0 and sorted(pyogrio.list_layers(gpkg)[:, 0]) == ["boundary", "townships"]


def test_export_a_result_file_and_bad_crs(capsys, tmp_path, towns):
    result = tmp_path / "result.gpkg"
    towns.to_file(result, layer="access")
    code, _, err = run(capsys, "export", str(result), "--format", "csv", "--out", str(tmp_path / "r.csv"))
    assert code == 0, err
    assert (tmp_path / "r.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    code, _, err = run(capsys, "export", str(result), "--crs", "3857", "--out", str(tmp_path / "x.gpkg"))
    assert code == 2 and "unsupported coordinate system '3857'" in err


def test_validate_zip_with_two_shapefiles_and_missing_field(capsys, tmp_path, towns):
    a, b = tmp_path / "a.shp", tmp_path / "b.shp"
    towns.to_file(a)
    towns.to_file(b)
    z = tmp_path / "two.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in tmp_path.glob("[ab].*"):
            zf.write(p, p.name)
    code, out, err = run(capsys, "layers", "validate", str(z))
    assert code == 2 and "holds 2 shapefiles (a.shp, b.shp); choose one" in err
    code, out, err = run(capsys, "layers", "validate", str(z), "--layer", "b")
    assert code == 0
    user = tmp_path / "county"
    user.mkdir()
    towns.drop(columns="code").to_file(user / "townships.geojson")
    code, out, err = run(capsys, "--layers", str(user), "layers", "validate")
    assert code == 2 and "missing required field(s) code" in err


def test_validate_gcj02_file(capsys, tmp_path, towns):
    from spatial import chinacoords
    lon, lat = chinacoords.wgs84_to_gcj02(towns.geometry.x.values, towns.geometry.y.values)
    g = gpd.GeoDataFrame(towns.drop(columns="geometry"), geometry=gpd.points_from_xy(lon, lat), crs=4326)
    g.to_file(tmp_path / "amap.geojson")
    code, out, err = run(capsys, "layers", "validate", str(tmp_path / "amap.geojson"), "--coords", "gcj02")
    assert code == 0 and "converted from GCJ02 to CGCS2000 as requested" in err


def test_results_on_approximate_layers_say_so(tmp_path, capsys, monkeypatch):
    import openpyxl
    from spatial import settings
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    out = tmp_path / "check.xlsx"
    assert cli.main(["check", "sanqu-sanxian", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "注意：所用图层含近似或示意数据" in printed and "eco_redline（illustrative 1）" in printed
    ws = openpyxl.load_workbook(out)["数据来源"]
    rows = {r[0]: r[2] for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["parks"] == "illustrative 12" and rows["basic_farmland"] == "illustrative 1"


def test_bad_outputs_are_refused_before_any_work(tmp_path, capsys, monkeypatch):
    from spatial import settings
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    existing = tmp_path / "a.csv"
    existing.write_text("keep me", encoding="utf-8")
    assert cli.main(["access", "highway", "--out", str(existing)]) == 2
    err = capsys.readouterr()
    assert "already exists; add --overwrite" in err.err and "行车时间" not in err.out   # nothing computed
    assert existing.read_text(encoding="utf-8") == "keep me"
    assert cli.main(["check", "sanqu-sanxian", "--out", str(tmp_path / "x.docx")]) == 2
    assert "write results as" in capsys.readouterr().err
    assert cli.main(["export", "townships", "--out", str(tmp_path / "t.docx")]) == 2
    assert "unknown file type .docx" in capsys.readouterr().err
    # a new folder for results is created
    assert cli.main(["zones", "summary", "--out", str(tmp_path / "new" / "z.xlsx")]) == 0
    assert (tmp_path / "new" / "z.xlsx").exists()


def test_export_all_writes_nothing_when_one_target_exists(tmp_path, capsys, monkeypatch):
    from spatial import settings
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    out = tmp_path / "shp"
    out.mkdir()
    (out / "parks.zip").write_bytes(b"old")
    assert cli.main(["export", "--all", "--format", "shp", "--out", str(out)]) == 2
    assert "nothing was written" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["parks.zip"]


def test_small_input_mistakes_get_one_line(capsys, monkeypatch):
    from spatial import settings
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    for args, message in ((["coverage", "buffer", "reservoirs", "--distance", "-500m"], "must be positive"),
                          (["coverage", "buffer", "reservoirs", "--distance", "500"], "has no unit"),
                          (["coverage", "health", "--suggest", "-1"], "--suggest must be"),
                          (["access", "highway", "--osm", "missing.osm.pbf"], "missing.osm.pbf: no such file")):
        assert cli.main(args) == 2, args
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, (args, err)


def test_validate_takes_catalog_ids_too(capsys, monkeypatch):
    from spatial import settings
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    assert cli.main(["layers", "validate", "townships", "roads"]) == 0
    out = capsys.readouterr().out
    assert "ok: townships: 41 features" in out and "ok: roads:" in out
    assert cli.main(["layers", "validate", "no_such_layer"]) == 2
    assert "no_such_layer: no such file or folder" in capsys.readouterr().err
