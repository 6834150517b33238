"""Download Copernicus DEM GLO-30 tiles (public, no key needed) for a lon/lat box.

Facts this module relies on:

- **Tiles**: the GLO-30 DEM is cut into 1°×1° Cloud-Optimized GeoTIFFs in EPSG:4326 (WGS 84;
  CGCS2000 lon/lat agree with it to well under a pixel). A tile is named by the *lower*
  latitude and the *lower* longitude bound of its box, ``N``/``S`` with two digits and
  ``E``/``W`` with three, e.g. ``Copernicus_DSM_COG_10_N27_00_E105_00_DEM`` covers
  105–106°E, 27–28°N; ``10`` means 1 arc-second (about 30 m). The files place pixel centres
  on whole degrees, so a tile's bounds stick out half a pixel beyond its box: bounds are
  accepted within :data:`BOUNDS_TOLERANCE_DEG`.
- **Where**: AWS Open Data (registry entry ``datasets/copernicus-dem.yaml`` in
  awslabs/open-data-registry; readme https://copernicus-dem-30m.s3.amazonaws.com/readme.html)
  serves each tile at ``{base}/{name}/{name}.tif`` with base :data:`BASE_URL`;
  ``$QXG_DEM_URL`` names a mirror with the same layout.
- **Gaps**: ocean tiles and the tiles of a few countries not yet released have no file (the
  bucket answers HTTP 404 or 403). They are reported as *not published*, not as errors.

:func:`fetch_tiles` downloads to ``NAME.tif.part`` (resumed with an HTTP ``Range`` request
after an interruption), checks the file and only then renames it to ``NAME.tif``, so a
``.tif`` it writes is always a complete, verified tile.
"""
from __future__ import annotations

import http.client
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputError

#: AWS Open Data bucket of Copernicus DEM GLO-30 (``$QXG_DEM_URL`` overrides).
BASE_URL = "https://copernicus-dem-30m.s3.amazonaws.com"
URL_ENV = "QXG_DEM_URL"
#: Largest difference between a file's bounds and its tile's 1°×1° box (degrees).
BOUNDS_TOLERANCE_DEG = 0.01
#: Seconds to wait before the n-th retry of a failed download (times n).
RETRY_DELAY_S = 1.0
#: HTTP answers meaning "there is no file for this tile".
NOT_PUBLISHED = frozenset({403, 404})
SCHEMES = ("http", "https")
CHUNK = 1 << 16
USER_AGENT = "qxg-spatial"


def tile_name(lat: int, lon: int) -> str:
    """The Copernicus GLO-30 name of the tile whose lower-left corner is ``lat``, ``lon``.

    Parameters
    ----------
    lat, lon : int
        Lower latitude (-90…89) and lower longitude (-180…179) bound of the tile, degrees.

    Returns
    -------
    str
        e.g. ``Copernicus_DSM_COG_10_N27_00_E105_00_DEM``; ``lat=-1, lon=-1`` gives
        ``Copernicus_DSM_COG_10_S01_00_W001_00_DEM``.
    """
    lat, lon = int(lat), int(lon)
    if not (-90 <= lat < 90 and -180 <= lon < 180):
        raise InputError(f"no DEM tile has its lower-left corner at lat {lat}, lon {lon}",
                         hint="latitude -90…89, longitude -180…179 degrees")
    ns, ew = ("N" if lat >= 0 else "S"), ("E" if lon >= 0 else "W")
    return f"Copernicus_DSM_COG_10_{ns}{abs(lat):02d}_00_{ew}{abs(lon):03d}_00_DEM"


def _span(low: float, high: float, limit: int) -> range:
    """Whole degrees whose 1° cell meets [low, high]; an upper bound on an edge stays out."""
    first = min(math.floor(low), limit - 1)
    last = max(math.ceil(high), first + 1)
    return range(first, min(last, limit))


def tiles_for_bounds(west: float, south: float, east: float, north: float) -> list[tuple[int, int, str]]:
    """Every GLO-30 tile that intersects a lon/lat box.

    Parameters
    ----------
    west, south, east, north : float
        The box in degrees (WGS 84 or CGCS2000 lon/lat); ``west <= east``, ``south <= north``.
        A box crossing the antimeridian is not supported.

    Returns
    -------
    list of (int, int, str)
        ``(lat, lon, name)`` per tile, ``lat``/``lon`` its lower-left corner in whole degrees,
        sorted by latitude then longitude. An east or north bound lying exactly on a whole
        degree does not pull in the next tile.
    """
    box = (west, south, east, north)
    if not all(math.isfinite(v) for v in box) or not (
            -180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InputError(f"not a lon/lat box: {box}",
                         hint="give (west, south, east, north) in degrees, west <= east, south <= north")
    return [(lat, lon, tile_name(lat, lon))
            for lat in _span(south, north, 90) for lon in _span(west, east, 180)]


def base_url() -> str:
    """The server to download from: ``$QXG_DEM_URL`` or :data:`BASE_URL`."""
    return os.environ.get(URL_ENV, "").strip() or BASE_URL


def tile_url(name: str, base: str | None = None) -> str:
    """``{base}/{name}/{name}.tif``, the address of one tile."""
    return f"{(base or base_url()).rstrip('/')}/{name}/{name}.tif"


@dataclass
class FetchReport:
    """What :func:`fetch_tiles` did, tile by tile (names as :func:`tile_name` gives them).

    Attributes
    ----------
    downloaded : list of str
        Tiles downloaded and verified now.
    present : list of str
        Tiles already in the folder and verified, left as they were.
    not_published : list of str
        Tiles without a file on the server (ocean, or not released).
    failed : list of (str, str)
        ``(name, reason)`` for tiles that could not be got.
    paths : list of Path
        Every verified ``.tif``, sorted.
    """

    downloaded: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)
    not_published: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def lines(self) -> list[str]:
        """A summary line, then one line per tile not published or failed."""
        lines = [f"{len(self.paths)} DEM tile(s) ready: {len(self.downloaded)} downloaded, "
                 f"{len(self.present)} already present, {len(self.not_published)} not published, "
                 f"{len(self.failed)} failed"]
        lines += [f"{name}: not published (ocean or not released)" for name in self.not_published]
        lines += [f"{name}: {reason}" for name, reason in self.failed]
        return lines


def verify_tile(path: str | Path, lat: int, lon: int) -> str | None:
    """Check a downloaded file is the GLO-30 tile at ``lat``, ``lon``.

    Parameters
    ----------
    path : str or Path
        The file (any name; GDAL recognises a GeoTIFF by its content).
    lat, lon : int
        Lower-left corner of the expected tile, degrees.

    Returns
    -------
    str or None
        None when the file opens with rasterio, has one band, is in EPSG:4326 and its bounds
        lie within :data:`BOUNDS_TOLERANCE_DEG` of the tile's box; otherwise the reason.
    """
    import rasterio
    from rasterio.errors import RasterioError

    try:
        with rasterio.open(path) as ds:
            count, crs, bounds = ds.count, ds.crs, tuple(ds.bounds)
    except RasterioError as exc:
        return f"not a readable GeoTIFF ({_first_line(exc)})"
    if count != 1:
        return f"{count} bands, expected 1"
    if crs is None or crs.to_epsg() != 4326:
        return f"coordinate system {crs}, expected EPSG:4326"
    box = (lon, lat, lon + 1, lat + 1)
    if max(abs(a - b) for a, b in zip(bounds, box)) > BOUNDS_TOLERANCE_DEG:
        got = ", ".join(f"{v:.4f}" for v in bounds)
        return f"bounds ({got}) are not the tile's box {box} (west, south, east, north)"
    return None


def fetch_tiles(bounds, out_dir: str | Path, *, base: str | None = None, progress=None,
                timeout: float = 60, retries: int = 3) -> FetchReport:
    """Download the GLO-30 tiles covering ``bounds`` into ``out_dir``.

    Parameters
    ----------
    bounds : (float, float, float, float)
        ``(west, south, east, north)`` in degrees (CGCS2000 ≈ WGS 84 lon/lat).
    out_dir : str or Path
        Folder for ``NAME.tif`` (created when missing); nothing is written elsewhere.
    base : str, optional
        Server address, http or https (default :func:`base_url`).
    progress : callable or True, optional
        ``progress(tile_name, bytes_done, bytes_total)`` during each download
        (``bytes_total`` None when the server does not tell); True shows a ``rich`` progress bar.
    timeout : float
        Seconds to wait for the server on each connection and read.
    retries : int
        How many more times to try a tile after a network error; each try resumes the
        ``.part`` file.

    Returns
    -------
    FetchReport
        Tiles downloaded, already present, not published and failed, and the good paths.

    Raises
    ------
    InputError
        When no tile at all is in the folder afterwards (all failed or none is published).
    """
    base = (base or base_url()).rstrip("/")
    if urllib.parse.urlsplit(base).scheme not in SCHEMES:
        raise InputError("the DEM server address must start with http:// or https://", file=base,
                         hint=f"check {URL_ENV}")
    tiles = tiles_for_bounds(*bounds)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    report = FetchReport()
    with _progress_callback(progress) as tell:
        for lat, lon, name in tiles:
            _fetch_tile(opener, tile_url(name, base), out_dir, lat, lon, name, report,
                        tell, timeout, retries)
    report.paths.sort()
    if not report.paths:
        raise _nothing_got(report, bounds, base, out_dir)
    return report


# --------------------------------------------------------------------------- one tile
class _Refused(Exception):
    """A problem that trying again will not solve."""


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme not in SCHEMES:
            raise _Refused(f"redirect to {newurl} refused (only http and https are followed)")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch_tile(opener, url, out_dir, lat, lon, name, report, tell, timeout, retries):
    target = out_dir / f"{name}.tif"
    if target.exists() and verify_tile(target, lat, lon) is None:
        report.present.append(name)
        report.paths.append(target)
        return
    part = out_dir / f"{name}.tif.part"
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(RETRY_DELAY_S * attempt)
        try:
            _download(opener, url, part, lambda done, total: tell(name, done, total), timeout)
            break
        except urllib.error.HTTPError as exc:
            if exc.code in NOT_PUBLISHED:
                report.not_published.append(name)
                return
            if 300 <= exc.code < 400:           # a redirect urllib would not follow
                report.failed.append((name, f"redirect refused: {_first_line(exc)} ({url})"))
                return
            reason = f"HTTP {exc.code} {exc.reason} from {url}"
        except _Refused as exc:
            report.failed.append((name, f"{exc} ({url})"))
            return
        except (OSError, http.client.HTTPException) as exc:
            reason = f"download from {url} failed: {_first_line(exc) or type(exc).__name__}"
    else:
        report.failed.append((name, f"{reason} (after {retries + 1} tries; run again to resume)"))
        return
    problem = verify_tile(part, lat, lon)
    if problem is not None:
        part.unlink()
        report.failed.append((name, f"downloaded file rejected: {problem} ({url})"))
        return
    os.replace(part, target)
    report.downloaded.append(name)
    report.paths.append(target)


def _download(opener, url, part: Path, tell, timeout) -> None:
    """Fetch ``url`` into ``part``, appending to what is there when the server resumes."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = opener.open(urllib.request.Request(url, headers=headers), timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:
            raise
        if _range_total(exc.headers.get("Content-Range")) == have:
            return                          # the .part was already complete
        part.unlink()
        raise ConnectionError(f"the server cannot resume at byte {have}; starting again") from exc
    with resp:
        if resp.status == 206:
            start = _range_start(resp.headers.get("Content-Range"))
            total = _range_total(resp.headers.get("Content-Range"))
            if start != have:
                part.unlink()
                raise ConnectionError(f"the server resumed at byte {start}, not {have}; starting again")
            mode, done = "ab", have
        else:
            length = resp.headers.get("Content-Length")
            mode, done, total = "wb", 0, int(length) if length else None
        with open(part, mode) as fh:
            while chunk := resp.read(CHUNK):
                fh.write(chunk)
                done += len(chunk)
                tell(done, total)
    if total is not None and done != total:
        raise ConnectionError(f"connection closed after {done} of {total} bytes")


def _range_start(header: str | None) -> int | None:
    """First byte of ``Content-Range: bytes START-END/TOTAL``."""
    try:
        return int(header.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def _range_total(header: str | None) -> int | None:
    """TOTAL of ``Content-Range: bytes START-END/TOTAL`` (or ``bytes */TOTAL``)."""
    try:
        return int(header.rsplit("/", 1)[1])
    except (AttributeError, IndexError, ValueError):
        return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


def _nothing_got(report: FetchReport, bounds, base: str, out_dir: Path) -> InputError:
    if report.failed:
        name, reason = report.failed[0]
        err = InputError(f"no DEM tile could be got; {len(report.failed)} failed, first {name}: {reason}",
                         file=tile_url(name, base),
                         hint=f"check the internet connection or set {URL_ENV} to a mirror; "
                              "interrupted downloads resume when run again")
    else:
        box = ", ".join(f"{float(v):.4f}" for v in bounds)
        err = InputError(f"the server {base} has none of the {len(report.not_published)} GLO-30 tile(s) "
                         f"of the box ({box}) (every request answered 404/403)",
                         file=out_dir,
                         hint="check --url / $QXG_DEM_URL; on the public bucket only ocean and a few "
                              "unreleased countries have no tiles")
    err.report = report
    return err


@contextmanager
def _progress_callback(progress):
    """A ``callback(name, done, total)``: the caller's, a rich progress bar, or one doing nothing."""
    if progress is not True:
        yield progress or (lambda name, done, total: None)
        return
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                               TransferSpeedColumn)

    tasks = {}
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                  TransferSpeedColumn()) as bar:
        def tell(name, done, total):
            if name not in tasks:
                label = name.removeprefix("Copernicus_DSM_COG_10_").removesuffix("_DEM")
                tasks[name] = bar.add_task(label, total=total)
            bar.update(tasks[name], completed=done, total=total)
        yield tell
