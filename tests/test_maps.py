"""Maps: styling functions, the GCJ-02 shift, offline HTML, and a browser test in Chromium."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
from shapely.geometry import Point

from spatial import chinacoords, cli, maps, settings

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = os.environ.get("QXG_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(autouse=True)
def no_user_layers(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)


# ------------------------------------------------------------------ styling
@pytest.mark.parametrize("minutes,color", [(0, "#1a9850"), (15, "#1a9850"), (15.01, "#91cf60"), (30, "#91cf60"),
                                           (44.9, "#fee08b"), (60, "#fc8d59"), (61, "#d73027"),
                                           (float("nan"), maps.UNREACHABLE_COLOR), (None, maps.UNREACHABLE_COLOR)])
def test_minutes_color(minutes, color):
    assert maps.minutes_color(minutes) == color


def test_road_and_point_styles():
    assert maps.road_style("二级公路") == {"color": "#f16913", "weight": 2.6, "opacity": 0.9}
    assert maps.road_style("二级公路", approximate=True)["dashArray"] == "2 5"
    assert maps.road_style("高速公路", planned=True)["dashArray"] == "8 6"
    assert maps.road_style("unknown")["color"] == "#9e9e9e"
    assert maps.point_style("#123456", hollow=True)["fillOpacity"] == 0.0


def test_gcj02_shift_only_for_amap():
    lon, lat = np.array([105.28]), np.array([27.30])
    assert maps.shift_for_basemap(lon, lat, "none") == (pytest.approx(lon), pytest.approx(lat))
    glon, glat = chinacoords.wgs84_to_gcj02(lon, lat)
    slon, slat = maps.shift_for_basemap(lon, lat, "amap")
    assert (slon, slat) == (pytest.approx(glon), pytest.approx(glat))
    gdf = gpd.GeoDataFrame({"name": ["点"]}, geometry=[Point(105.28, 27.30)], crs=4490)
    data = maps.display_geojson(gdf, ["name"], basemap="amap")
    x, y = data["features"][0]["geometry"]["coordinates"]
    assert (x, y) == (pytest.approx(glon[0], abs=1e-5), pytest.approx(glat[0], abs=1e-5))
    assert abs(x - 105.28) > 1e-3            # the shift is hundreds of metres


def test_display_geojson_keeps_values_raw_and_rounds():
    gdf = gpd.GeoDataFrame({"name": ["<b>x</b>"], "n": [np.int64(3)], "v": [np.nan]},
                           geometry=[Point(105.123456789, 27.987654321)], crs=4490)
    f = maps.display_geojson(gdf, ["name", "n", "v"])["features"][0]
    assert f["properties"] == {"name": "<b>x</b>", "n": 3, "v": None}
    assert list(f["geometry"]["coordinates"]) == [pytest.approx(105.12346, abs=1e-9),
                                                  pytest.approx(27.98765, abs=1e-9)]


def test_offline_page_and_basemaps(tmp_path, mini_county):
    written, skipped = maps.write_maps(["overview"], tmp_path / "m", layers=mini_county["folder"])
    page = (tmp_path / "m" / "overview.html").read_text("utf-8")
    assert not re.search(r"<(script|link)[^>]+(src|href)=[\"']?https?://", page)
    assert "Leaflet" in page and "qxg.layer" in page
    written, _ = maps.write_maps(["overview"], tmp_path / "o", layers=mini_county["folder"], basemap="osm")
    assert "tile.openstreetmap.org" in (tmp_path / "o" / "overview.html").read_text("utf-8")
    from spatial.errors import InputError
    with pytest.raises(InputError, match="天地图 basemaps need a key"):
        maps.write_maps(["overview"], tmp_path / "t", layers=mini_county["folder"], basemap="tianditu-vec")
    written, _ = maps.write_maps(["overview"], tmp_path / "t", layers=mini_county["folder"],
                                 basemap="tianditu-img", tianditu_key="KEY123")
    assert "tk=KEY123" in (tmp_path / "t" / "overview.html").read_text("utf-8")
    with pytest.raises(InputError, match="unknown map theme"):
        maps.write_maps(["weather"], tmp_path / "x")


def test_bundled_maps_are_small(tmp_path):
    written, skipped = maps.write_maps(None, tmp_path)
    assert (tmp_path / "overview.html") in written and (tmp_path / "index.html") in written
    for path in written:
        assert path.stat().st_size < 5 * 2**20


def test_cli_map_command(tmp_path, capsys, mini_county):
    code = cli.main(["--layers", str(mini_county["folder"]), "map", "access", "coverage", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert f"wrote {tmp_path / 'access.html'}" in captured.out
    # the county folder has no health facilities: the bundled ones fill in (layers overlay by id)
    assert f"wrote {tmp_path / 'coverage.html'}" in captured.out
    assert cli.main(["map", "--basemap", "tianditu-vec", "--out", str(tmp_path)]) == 2


# ------------------------------------------------------------------ browser
def _png_colors(path: Path) -> int:
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        with rasterio.open(path) as src:
            img = src.read()
    flat = img[:3].reshape(3, -1).T
    return len(np.unique(flat[:: 7], axis=0))


@pytest.fixture(scope="module")
def browser():
    if os.environ.get("QXG_SKIP_BROWSER"):
        pytest.skip("QXG_SKIP_BROWSER is set")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: install Debian's chromium (.ci/run does) "
                    f"or set QXG_CHROMIUM / QXG_SKIP_BROWSER")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


def _open(browser, path: Path, wait_for: str | None = ".leaflet-container", viewport=(1280, 860)):
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    log = {"errors": [], "external": [], "dialogs": []}
    page.on("console", lambda m: log["errors"].append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: log["errors"].append(str(e)))
    page.on("dialog", lambda d: (log["dialogs"].append(d.message), d.dismiss()))

    def block(route):
        if route.request.url.startswith(("http://", "https://")):
            log["external"].append(route.request.url)
            return route.abort()
        return route.continue_()

    page.route("**/*", block)
    page.goto(path.resolve().as_uri())
    if path.name != "index.html" and wait_for:
        page.wait_for_selector(wait_for)
        page.wait_for_timeout(500)
    return page, log


def test_every_map_loads_offline_in_chromium(browser, tmp_path, mini_county):
    # a county feature named like an attack must show as text
    t = mini_county["townships"]
    t.loc[3, "name"] = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    t.to_file(mini_county["folder"] / "townships.geojson")
    x0, y0 = 520000.0, 3010000.0
    gpd.GeoDataFrame({"name": ["区人民医院", "乙乡卫生院"], "setting": ["urban", "rural"]},
                     geometry=[Point(x0 + 1000, y0), Point(x0 + 20000, y0 + 15000)], crs="EPSG:4544") \
        .to_file(mini_county["folder"] / "health_facilities.geojson")
    from shapely.geometry import box
    gpd.GeoDataFrame({"name": ["西区", "东区"]}, geometry=[box(x0 - 1000, y0 - 1000, x0 + 10000, y0 + 16000),
                                                       box(x0 + 10000, y0 - 1000, x0 + 25000, y0 + 16000)],
                     crs="EPSG:4544").to_file(mini_county["folder"] / "township_areas.geojson")
    written, _ = maps.write_maps(None, tmp_path, layers=mini_county["folder"])
    # the county folder's layers replace the bundled ones; the bundled zones and lines fill in
    assert {p.stem for p in written} == {"overview", "access", "coverage", "agriculture", "sanqu", "surface", "index"}
    ARTIFACTS.mkdir(exist_ok=True)
    expected = {"overview": {"区界", "国省干线及县乡道", "高速公路", "高速出入口", "乡镇驻地"},
                "access": {"等时圈（现状出入口）", "区界", "乡镇驻地（按现状行车时间着色）"},
                "coverage": {"服务范围", "未覆盖区域", "医疗卫生设施"},
                "agriculture": {"532 种植", "211 养殖", "坝区"},
                "sanqu": {"生态保护红线", "永久基本农田", "城镇开发边界", "产业园区"},
                "surface": {"到最近设施的时间", "服务范围（最近设施）", "医疗卫生设施"}}
    for path in written:
        page, log = _open(browser, path)
        shot = ARTIFACTS / f"{path.stem}.png"
        page.screenshot(path=str(shot))
        assert log["errors"] == [], (path.name, log["errors"])
        assert log["external"] == [], (path.name, log["external"])
        assert log["dialogs"] == [], (path.name, log["dialogs"])
        if path.stem == "index":
            assert page.locator("a").count() == len(written) - 1
            continue
        assert page.evaluate("typeof L") == "object" and page.evaluate("L.version") == "1.9.4"
        overlays = set(page.locator(".leaflet-control-layers-overlays label").all_inner_texts())
        assert expected[path.stem] <= {o.strip() for o in overlays}, overlays
        assert _png_colors(shot) > 20, f"{shot} looks blank"
        page.close()
    # open the popup of the hostile feature and read it back as text
    page, log = _open(browser, tmp_path / "overview.html")
    text = page.evaluate("""() => {
        let found = null;
        document.querySelectorAll('.leaflet-container').forEach(() => {});
        for (const k of Object.keys(window)) {
            const v = window[k];
            if (v && v.eachLayer && v.getLayers && !v._container) {
                v.eachLayer(l => { if (l.feature && String(l.feature.properties.name).startsWith('<script>')) {
                    l.openPopup(); found = document.querySelector('.leaflet-popup-content').innerText; } });
            }
        }
        return found;
    }""")
    assert text is not None and "<script>alert(1)</script>" in text
    assert page.locator(".leaflet-popup-content script, .leaflet-popup-content img").count() == 0
    assert log["dialogs"] == [] and log["errors"] == []


def test_bundled_layers_draw_every_theme(tmp_path, monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    written, _ = maps.write_maps(None, tmp_path)
    assert {p.stem for p in written} == {"overview", "access", "coverage", "agriculture", "sanqu", "surface", "index"}
    access_page = (tmp_path / "access.html").read_text(encoding="utf-8")
    assert json.dumps("乡镇30分钟上高速比例")[1:-1] in access_page        # JSON-escaped in the page
    sanqu_page = (tmp_path / "sanqu.html").read_text(encoding="utf-8")
    # the check's conflicts are drawn, and the illustrative lines say so on the map
    assert json.dumps("冲突部分")[1:-1] in sanqu_page
    assert json.dumps("示意")[1:-1] in sanqu_page


def test_popups_show_codes_in_chinese():
    from shapely.geometry import Point as _P
    gdf = gpd.GeoDataFrame({"name": ["甲"], "data_status": ["approximate"], "phase": ["planned"],
                            "share": [0.5], "severity": ["conflict"]}, geometry=[_P(105.3, 27.3)], crs=4490)
    props = maps.display_geojson(gdf, ["name", "data_status", "phase", "share", "severity"])["features"][0]["properties"]
    assert props == {"name": "甲", "data_status": "近似", "phase": "规划", "share": "50.0 %", "severity": "冲突"}


def test_terrain_map_renders_in_chromium(browser, tmp_path, monkeypatch):
    from spatial import raster
    from terrain_fixtures import district_dem
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    dem = raster.read_dem(district_dem(tmp_path / "dem.tif", res=250.0))
    written, skipped = maps.write_maps(["terrain", "sanqu"], tmp_path / "maps", dem=dem)
    assert {p.stem for p in written} == {"terrain", "sanqu", "index"} and not skipped
    ARTIFACTS.mkdir(exist_ok=True)
    for name in ("terrain", "sanqu"):
        path = tmp_path / "maps" / f"{name}.html"
        assert path.stat().st_size < 5_000_000
        page, log = _open(browser, path)
        shot = ARTIFACTS / f"{name}_dem.png"
        page.screenshot(path=str(shot))
        assert log["errors"] == [] and log["external"] == [], log
        # the hillshade is an image in its own pane under the overlays, and it has loaded
        widths = page.evaluate("Array.from(document.querySelectorAll('.leaflet-hillshade-pane img'))"
                               ".map(i => i.naturalWidth)")
        assert len(widths) == 1 and widths[0] > 200
        overlays = {o.strip() for o in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()}
        assert "地形晕渲" in overlays
        if name == "terrain":
            assert {"坡度分级", "坝区候选", "区界"} <= overlays
            legend = page.locator(".qxg-legend").inner_text()
            assert "Ⅴ级 >25°" in legend and "坝区候选" in legend
        assert _png_colors(shot) > 20
        page.close()


def test_kml_description_with_script_shows_as_text_in_the_popup(browser, tmp_path, monkeypatch):
    """A KML whose description hides markup: the toolkit keeps its text, the map shows it as text."""
    from click.testing import CliRunner
    from spatial.cli import cli
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)
    kml_path = tmp_path / "外业.kml"
    kml_path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        "<Placemark><name>可疑地块</name><description><![CDATA[<p>&lt;img src=x onerror=alert(3)&gt;</p>"
        "<script>alert(4)</script>]]></description><Point><coordinates>105.29,27.30</coordinates></Point>"
        "</Placemark></Document></kml>", encoding="utf-8")
    res = CliRunner().invoke(cli, ["map", "overview", "--add", str(kml_path), "--out", str(tmp_path / "maps")])
    assert res.exit_code == 0, res.output
    page, log = _open(browser, tmp_path / "maps" / "overview.html")
    text = page.evaluate("""() => {
        let found = null;
        for (const k of Object.keys(window)) {
            const v = window[k];
            if (v && v.eachLayer && v.getLayers && !v._container) {
                v.eachLayer(l => { if (l.feature && l.feature.properties.name === '可疑地块') {
                    l.openPopup(); found = document.querySelector('.leaflet-popup-content').innerText; } });
            }
        }
        return found;
    }""")
    assert text is not None and "<img src=x onerror=alert(3)>" in text
    assert "alert(4)" not in text
    assert page.locator(".leaflet-popup-content script, .leaflet-popup-content img").count() == 0
    overlays = {o.strip() for o in page.locator(".leaflet-control-layers-overlays label").all_inner_texts()}
    assert "外业" in overlays
    assert log["dialogs"] == [] and log["errors"] == [] and log["external"] == []
    page.close()
