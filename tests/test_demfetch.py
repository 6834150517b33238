"""Copernicus DEM tiles: naming, which tiles a box needs, and downloading from a local server."""
from __future__ import annotations

import http.server
import threading
from pathlib import Path

import numpy as np
import pytest
import rasterio
from rasterio.transform import Affine

from spatial import demfetch
from spatial.errors import InputError

PIXELS = 60                      # a fixture tile is 60 × 60 pixels of 1′
DISTRICT_BOX = (104.9, 26.9, 105.6, 27.6)     # about 七星关区 with a margin (west, south, east, north)
DISTRICT_TILES = [(26, 104), (26, 105), (27, 104), (27, 105)]
N27E105 = "Copernicus_DSM_COG_10_N27_00_E105_00_DEM"
N26E105 = "Copernicus_DSM_COG_10_N26_00_E105_00_DEM"


# ------------------------------------------------------------------ naming and tile lists
def test_tile_name_uses_the_lower_left_corner_in_every_hemisphere():
    assert demfetch.tile_name(27, 105) == N27E105
    assert demfetch.tile_name(-1, -1) == "Copernicus_DSM_COG_10_S01_00_W001_00_DEM"
    assert demfetch.tile_name(0, 0) == "Copernicus_DSM_COG_10_N00_00_E000_00_DEM"
    assert demfetch.tile_name(-90, -180) == "Copernicus_DSM_COG_10_S90_00_W180_00_DEM"
    with pytest.raises(InputError):
        demfetch.tile_name(90, 0)


def test_the_district_box_needs_four_tiles_in_a_fixed_order():
    tiles = demfetch.tiles_for_bounds(*DISTRICT_BOX)
    assert [(lat, lon) for lat, lon, _ in tiles] == DISTRICT_TILES
    assert [name for *_, name in tiles] == [demfetch.tile_name(lat, lon) for lat, lon in DISTRICT_TILES]


def test_bounds_on_whole_degrees_do_not_pull_in_the_next_tile():
    assert [t[:2] for t in demfetch.tiles_for_bounds(105, 27, 106, 28)] == [(27, 105)]
    assert [t[:2] for t in demfetch.tiles_for_bounds(104.5, 27.2, 105.0, 27.8)] == [(27, 104)]
    assert [t[:2] for t in demfetch.tiles_for_bounds(105.0, 27.0, 105.0, 27.0)] == [(27, 105)]   # a point
    assert [t[:2] for t in demfetch.tiles_for_bounds(179.5, 89.5, 180, 90)] == [(89, 179)]


def test_southern_and_western_boxes_round_down():
    tiles = demfetch.tiles_for_bounds(-1.5, -0.5, -0.2, 0.5)
    assert [t[:2] for t in tiles] == [(-1, -2), (-1, -1), (0, -2), (0, -1)]
    assert tiles[1][2] == "Copernicus_DSM_COG_10_S01_00_W001_00_DEM"


@pytest.mark.parametrize("box", [(106, 27, 105, 28), (105, 28, 106, 27), (0, -91, 1, 0),
                                 (float("nan"), 0, 1, 1)])
def test_a_box_that_is_not_a_box_is_refused(box):
    with pytest.raises(InputError, match="lon/lat box"):
        demfetch.tiles_for_bounds(*box)


def test_base_url_comes_from_the_environment(monkeypatch):
    assert demfetch.base_url() == "https://copernicus-dem-30m.s3.amazonaws.com"
    monkeypatch.setenv(demfetch.URL_ENV, "http://mirror.example/dem/")
    assert demfetch.base_url() == "http://mirror.example/dem/"
    assert demfetch.tile_url(N27E105) == f"http://mirror.example/dem/{N27E105}/{N27E105}.tif"


# ------------------------------------------------------------------ a local tile server
def _tile_bytes(folder: Path, lat: int, lon: int) -> bytes:
    """A 1°×1° GeoTIFF laid out like Copernicus (pixel centres on whole minutes here)."""
    step = 1 / PIXELS
    path = folder / f"{lat}_{lon}.tif"
    elevation = (np.arange(PIXELS * PIXELS, dtype="float32").reshape(PIXELS, PIXELS) + 1000 * lat + lon)
    transform = Affine(step, 0, lon - step / 2, 0, -step, lat + 1 + step / 2)
    with rasterio.open(path, "w", driver="GTiff", width=PIXELS, height=PIXELS, count=1, dtype="float32",
                       crs="EPSG:4326", transform=transform) as ds:
        ds.write(elevation, 1)
    return path.read_bytes()


@pytest.fixture(scope="module")
def tile_bytes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiles")
    return {demfetch.tile_name(lat, lon): _tile_bytes(folder, lat, lon) for lat, lon in DISTRICT_TILES}


class _Tiles(http.server.BaseHTTPRequestHandler):
    """Serves ``/{name}/{name}.tif`` with Range support, and misbehaves when told to."""

    def do_GET(self):  # noqa: N802 - the http.server API
        state = self.server.state
        name = self.path.strip("/").split("/")[0]
        state["requests"].append((name, self.headers.get("Range")))
        if name in state["redirect"]:
            self.send_response(302)
            self.send_header("Location", state["redirect"][name])
            self.end_headers()
            return
        data = state["files"].get(name)
        if data is None or self.path != f"/{name}/{name}.tif":
            self.send_error(404)
            return
        start = 0
        wanted = self.headers.get("Range")
        if wanted and not state["ignore_range"]:
            start = int(wanted.removeprefix("bytes=").rstrip("-"))
            if start >= len(data):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.end_headers()
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = state["drop_once"].pop(name, None)
        self.wfile.write(body if cut is None else body[:cut])

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Ask the local server directly and retry at once."""
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.delenv(demfetch.URL_ENV, raising=False)
    monkeypatch.setattr(demfetch, "RETRY_DELAY_S", 0.0)


@pytest.fixture
def server(tile_bytes):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    httpd.state = {"files": dict(tile_bytes), "requests": [], "drop_once": {}, "redirect": {},
                   "ignore_range": False}
    httpd.base = f"http://127.0.0.1:{httpd.server_port}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _fetch(server, out, box=DISTRICT_BOX, **kw):
    return demfetch.fetch_tiles(box, out, base=server.base, timeout=5, **kw)


# ------------------------------------------------------------------ fetching
def test_fetch_writes_verified_tiles_with_the_right_bounds(server, tmp_path, tile_bytes):
    seen = []
    report = _fetch(server, tmp_path, progress=lambda name, done, total: seen.append((name, done, total)))
    names = [demfetch.tile_name(lat, lon) for lat, lon in DISTRICT_TILES]
    assert report.downloaded == names
    assert report.present == report.not_published == report.failed == []
    assert report.paths == sorted(tmp_path / f"{n}.tif" for n in names)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.tif" for n in names)
    for (lat, lon), name in zip(DISTRICT_TILES, names):
        with rasterio.open(tmp_path / f"{name}.tif") as ds:
            assert ds.count == 1 and ds.crs.to_epsg() == 4326 and ds.shape == (PIXELS, PIXELS)
            assert tuple(ds.bounds) == pytest.approx((lon, lat, lon + 1, lat + 1), abs=1 / PIXELS)
            assert ds.read(1)[0, 0] == 1000 * lat + lon
        assert (tmp_path / f"{name}.tif").read_bytes() == tile_bytes[name]
    last = {name: (done, total) for name, done, total in seen}
    assert last == {n: (len(tile_bytes[n]), len(tile_bytes[n])) for n in names}
    assert report.lines() == ["4 DEM tile(s) ready: 4 downloaded, 0 already present, "
                              "0 not published, 0 failed"]


def test_a_second_fetch_downloads_nothing(server, tmp_path):
    _fetch(server, tmp_path)
    asked = len(server.state["requests"])
    report = _fetch(server, tmp_path)
    assert report.downloaded == [] and len(report.present) == 4 and len(report.paths) == 4
    assert len(server.state["requests"]) == asked


def test_an_interrupted_download_resumes_with_a_range_request(server, tmp_path, tile_bytes):
    cut = 1000
    server.state["drop_once"][N27E105] = cut
    report = _fetch(server, tmp_path, box=(105.2, 27.2, 105.4, 27.4), retries=1)
    assert report.downloaded == [N27E105]
    assert server.state["requests"] == [(N27E105, None), (N27E105, f"bytes={cut}-")]
    assert (tmp_path / f"{N27E105}.tif").read_bytes() == tile_bytes[N27E105]
    assert not (tmp_path / f"{N27E105}.tif.part").exists()


def test_a_part_file_left_by_an_earlier_run_is_resumed_or_restarted(server, tmp_path, tile_bytes):
    box = (105.2, 27.2, 105.4, 27.4)
    server.state["drop_once"][N27E105] = 500
    with pytest.raises(InputError, match="no DEM tile could be got"):
        _fetch(server, tmp_path, box=box, retries=0)
    assert (tmp_path / f"{N27E105}.tif.part").stat().st_size == 500
    assert not (tmp_path / f"{N27E105}.tif").exists()
    server.state["ignore_range"] = True                 # the server answers 200: start from zero
    report = _fetch(server, tmp_path, box=box)
    assert report.downloaded == [N27E105]
    assert server.state["requests"][-1] == (N27E105, "bytes=500-")
    assert (tmp_path / f"{N27E105}.tif").read_bytes() == tile_bytes[N27E105]


def test_a_complete_part_file_is_verified_without_downloading_again(server, tmp_path, tile_bytes):
    (tmp_path / f"{N27E105}.tif.part").write_bytes(tile_bytes[N27E105])
    report = _fetch(server, tmp_path, box=(105.2, 27.2, 105.4, 27.4))
    assert report.downloaded == [N27E105]
    # the server answers 416 (nothing left to send) and the file is checked as it is
    assert server.state["requests"] == [(N27E105, f"bytes={len(tile_bytes[N27E105])}-")]
    assert (tmp_path / f"{N27E105}.tif").read_bytes() == tile_bytes[N27E105]


def test_a_tile_the_server_does_not_have_is_not_published(server, tmp_path):
    del server.state["files"][N26E105]
    report = _fetch(server, tmp_path)
    assert report.not_published == [N26E105] and report.failed == []
    assert len(report.downloaded) == 3 and len(report.paths) == 3
    assert f"{N26E105}: not published (ocean or not released)" in report.lines()
    assert not list(tmp_path.glob(f"{N26E105}*"))


def test_a_corrupt_or_misplaced_file_fails_and_leaves_no_tif(server, tmp_path, tile_bytes):
    server.state["files"][N27E105] = b"<?xml version='1.0'?><Error><Code>InternalError</Code></Error>"
    server.state["files"][N26E105] = tile_bytes[N27E105]          # the right file in the wrong place
    report = _fetch(server, tmp_path)
    failed = dict(report.failed)
    assert sorted(failed) == [N26E105, N27E105]
    assert "downloaded file rejected" in failed[N27E105] and "GeoTIFF" in failed[N27E105]
    assert "bounds" in failed[N26E105] and "(105, 26, 106, 27)" in failed[N26E105]
    assert len(report.paths) == 2
    for name in failed:
        assert not list(tmp_path.glob(f"{name}*"))
    assert any(line.startswith(f"{N27E105}: downloaded file rejected") for line in report.lines())


@pytest.mark.parametrize("target", ["file:///etc/passwd", "ftp://127.0.0.1/tile.tif"])
def test_a_redirect_away_from_http_is_refused(server, tmp_path, target):
    server.state["redirect"][N27E105] = target
    report = _fetch(server, tmp_path, box=(105.2, 26.2, 105.4, 27.4))
    assert report.downloaded == [N26E105]
    assert report.failed[0][0] == N27E105 and "refused" in report.failed[0][1]
    assert [r for r in server.state["requests"] if r[0] == N27E105] == [(N27E105, None)]   # not retried
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{N26E105}.tif"]


def test_no_tile_at_all_is_an_input_error(server, tmp_path):
    server.state["files"].clear()
    with pytest.raises(InputError, match=r"has none of the 4 GLO-30 tile\(s\).*404") as err:
        _fetch(server, tmp_path)
    assert len(err.value.report.not_published) == 4
    assert list(tmp_path.iterdir()) == []


def test_a_server_that_cannot_be_reached_is_an_input_error_after_retries(tmp_path):
    probe = http.server.HTTPServer(("127.0.0.1", 0), _Tiles)
    port = probe.server_port
    probe.server_close()                                  # nothing listens on this port now
    with pytest.raises(InputError, match="after 3 tries") as err:
        demfetch.fetch_tiles((105.2, 27.2, 105.4, 27.4), tmp_path, base=f"http://127.0.0.1:{port}",
                             retries=2, timeout=2)
    assert err.value.file == f"http://127.0.0.1:{port}/{N27E105}/{N27E105}.tif"


def test_only_http_servers_are_asked(tmp_path):
    with pytest.raises(InputError, match="http"):
        demfetch.fetch_tiles(DISTRICT_BOX, tmp_path, base="file:///tmp")
