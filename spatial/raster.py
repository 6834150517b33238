"""Raster input and output: a planner's DEM in, GeoTIFF (COG) out.

:func:`read_dem` takes what a county planner has — a GeoTIFF in any coordinate system
(EPSG:4326/4490 geographic, 4544/4523 Gauss-Kruger, UTM 48N), SRTM ``.hgt`` / ``.hgt.zip``
tiles (1″ or 3″, named like ``N27E105.hgt``), ASTER GDEM ``*_dem.tif`` or Copernicus COG tiles,
one file, several, or a folder — and returns one :class:`Grid` in EPSG:4544 over the district
(or any area), at the source's own resolution in metres, bilinear for elevation. Tiles in
different coordinate systems are each warped onto the same grid; GDAL reads every source in
blocks while it warps (``rasterio.warp.reproject`` from the band), so memory is bounded by the
output grid, not by the size of the files. Voids (SRTM −32768, the file's nodata) are counted
and filled only on request.

Every problem with a raster is an :class:`spatial.errors.InputError` naming the file.
"""
from __future__ import annotations

import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import rasterio
import rasterio.io
import rasterio.shutil
import rasterio.coords
import shapely
from affine import Affine
from pyproj import CRS, Transformer
from rasterio import features
from rasterio.enums import Resampling
from rasterio.errors import RasterioIOError
from rasterio._err import CPLE_BaseError
from rasterio.warp import reproject

from . import settings
from .errors import InputError
from .export import atomic_path

DEM_ENV = "QXG_DEM"
RASTER_SUFFIXES = (".tif", ".tiff", ".hgt", ".zip", ".img", ".vrt", ".asc", ".bil")
#: Largest grid read_dem builds (cells): a 10 m grid of the district has about 90 million.
MAX_CELLS = 150_000_000
#: Share of the area a DEM must cover before an analysis goes on without --allow-partial.
MIN_COVERAGE = 0.95
#: Elevations outside this range (metres) cannot be terrain of the district or of China.
ELEVATION_RANGE = (-500.0, 9000.0)
#: Elevations outside this band (metres) are warned about when the area is the district: a
#: deliberately loose band for a karst district of the Guizhou plateau, not a measured range.
DISTRICT_RANGE = (300.0, 3000.0)
SRTM_VOID = -32768
#: Largest error of GDAL's approximate coordinate transformer, in source pixels (GDAL's default
#: 0.125 shifts samples enough to bend the slope of a geographic DEM by ~0.1°).
WARP_TOLERANCE = 0.001
_HGT_NAME = re.compile(r"^[NS]\d{2}[EW]\d{3}\.hgt$", re.IGNORECASE)


@dataclass
class Grid:
    """A single-band raster on a north-up grid: ``data`` float32 with NaN for no data.

    ``inside`` marks the cells whose centres lie in the analysis area (all True when there is
    none); analyses count only those. ``transform`` maps (col, row) to the CRS's x/y.
    """

    data: np.ndarray
    transform: Affine
    crs: CRS
    inside: np.ndarray | None = None
    sources: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    coverage: float = 1.0
    void_share: float = 0.0
    name: str = "dem"

    def __post_init__(self):
        if self.inside is None:
            self.inside = np.ones(self.data.shape, dtype=bool)

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    @property
    def res(self) -> tuple[float, float]:
        """Cell size (x, y) in CRS units (metres for EPSG:4544)."""
        return abs(self.transform.a), abs(self.transform.e)

    @property
    def cell_area(self) -> float:
        return self.res[0] * self.res[1]

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        rows, cols = self.shape
        x0, y0 = self.transform * (0, 0)
        x1, y1 = self.transform * (cols, rows)
        return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)

    def clipped(self) -> np.ndarray:
        """``data`` with NaN outside the area."""
        return np.where(self.inside, self.data, np.nan).astype(self.data.dtype)

    def with_data(self, data: np.ndarray, name: str) -> "Grid":
        """A grid of the same geometry holding other values (slope, aspect, ...)."""
        return Grid(data=data, transform=self.transform, crs=self.crs, inside=self.inside,
                    sources=list(self.sources), notes=[], coverage=self.coverage,
                    void_share=self.void_share, name=name)


# --------------------------------------------------------------------------- sources
def dem_paths(dem=None, layers=None) -> list[Path]:
    """The DEM files to use: ``dem`` (a path, a folder or a list), else ``$QXG_DEM``, else the
    catalog's ``dem`` layer (``layers/dem/`` or a ``dem`` folder/file in the planner's folder).

    A folder contributes every raster file in it (recursively, sorted). Raises
    :class:`InputError` when nothing is named or a path does not exist.
    """
    if dem is None or (isinstance(dem, (list, tuple)) and not dem):
        value = os.environ.get(DEM_ENV, "").strip()
        if value:
            dem = [p for p in value.split(os.pathsep) if p]
        else:
            entry = _catalog_dem(layers)
            if entry is None:
                raise InputError("no DEM given", hint=f"pass --dem FILE_OR_FOLDER or set {DEM_ENV}; "
                                 "`qxg terrain fetch` downloads Copernicus GLO-30 tiles into layers/dem/")
            dem = entry
    items = [dem] if isinstance(dem, (str, Path)) else list(dem)
    out: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if not path.exists():
            raise InputError("DEM file or folder does not exist", path)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.is_file() and _is_raster_name(p))
            if not found:
                raise InputError("folder holds no raster file (.tif, .hgt, .hgt.zip, ...)", path)
            out.extend(found)
        else:
            out.append(path)
    return list(dict.fromkeys(out))


def _catalog_dem(layers=None) -> Path | None:
    from . import catalog as catmod

    entry = catmod.catalog(layers).get("dem")
    if entry.exists and (entry.file.is_file() or any(_is_raster_name(p) for p in entry.file.rglob("*"))):
        return entry.file
    return None


def has_dem(layers=None) -> bool:
    """Whether a DEM is available without --dem: ``$QXG_DEM`` or the catalog's dem layer."""
    return bool(os.environ.get(DEM_ENV, "").strip()) or _catalog_dem(layers) is not None


def _is_raster_name(path: Path) -> bool:
    name = path.name.lower()
    if name.endswith((".part", ".aux.xml", ".ovr")):
        return False
    if name.endswith(("_num.tif", "_wbd.tif")):        # ASTER GDEM's scene counts and water bodies
        return False
    if name.endswith(".zip"):
        return name.endswith(".hgt.zip") or _zip_raster_member(path) is not None
    return path.suffix.lower() in RASTER_SUFFIXES


def _zip_raster_member(path: Path) -> str | None:
    try:
        with zipfile.ZipFile(path) as zf:
            names = sorted(n for n in zf.namelist() if n.lower().endswith((".hgt", ".tif", ".tiff")))
    except (zipfile.BadZipFile, OSError):
        return None
    return names[0] if names else None


def gdal_path(path: Path) -> str:
    """The path GDAL opens: ``/vsizip/`` for zipped tiles; SRTM names are checked."""
    name = path.name
    if name.lower().endswith(".zip"):
        member = _zip_raster_member(path)
        if member is None:
            raise InputError("zip archive holds no .hgt or .tif raster (or is not a valid zip)", path)
        if member.lower().endswith(".hgt") and not _HGT_NAME.match(Path(member).name):
            raise InputError(f"SRTM tile {member!r} inside the zip is not named like N27E105.hgt; "
                             "GDAL finds a tile's position from its name", path)
        return f"/vsizip/{path.resolve()}/{member}"
    if name.lower().endswith(".hgt") and not _HGT_NAME.match(name):
        raise InputError("SRTM tile is not named like N27E105.hgt; GDAL finds a tile's position "
                         "from its name, so rename it", path)
    return str(path)


@dataclass
class _Source:
    path: Path
    gdal: str
    crs: CRS
    res_m: float
    nodata: float | None
    footprint: shapely.Geometry  # in the target CRS


def _open(path: Path):
    try:
        return rasterio.open(gdal_path(path))
    except RasterioIOError as exc:
        text = str(exc).split("\n")[0]
        raise InputError(f"cannot be read as a raster (corrupt, truncated or not a raster file?): {text}",
                         path) from exc


def _unreadable(exc: Exception, where) -> InputError:
    """The one line for a file GDAL cannot read to the end."""
    text = str(exc).split("\n")[0]
    return InputError(f"cannot be read to the end (corrupt or truncated file?): {text}", where)


def _check_readable(ds, path: Path) -> None:
    """Read the first and the last block: a truncated file fails here, not halfway through a warp."""
    from rasterio.windows import Window

    bh, bw = ds.block_shapes[0]
    last = Window((ds.width - 1) // bw * bw, (ds.height - 1) // bh * bh,
                  min(bw, ds.width - (ds.width - 1) // bw * bw), min(bh, ds.height - (ds.height - 1) // bh * bh))
    try:
        with rasterio.Env(CPL_LOG="OFF"):
            ds.read(1, window=Window(0, 0, min(bw, ds.width), min(bh, ds.height)))
            ds.read(1, window=last)
    except (RasterioIOError, CPLE_BaseError) as exc:
        raise _unreadable(exc, path) from exc


def _metres_per_unit(crs: CRS, lat: float) -> tuple[float, float]:
    """Metres per CRS unit along x and y at latitude ``lat``."""
    if crs.is_geographic:
        return (111_320.0 * math.cos(math.radians(lat)), 110_574.0)
    factor = crs.axis_info[0].unit_conversion_factor if crs.axis_info else 1.0
    return factor, factor


def _inspect(path: Path, target: CRS) -> _Source:
    with _open(path) as ds:
        if ds.count != 1:
            kind = "an RGB(A) image" if ds.count in (3, 4) else "a multi-band raster"
            raise InputError(f"has {ds.count} bands; a DEM has one band of elevations "
                             f"(this looks like {kind})", path)
        if ds.crs is None:
            raise InputError("raster has no coordinate system", path,
                             hint="add a .prj/.aux.xml or assign one, e.g. gdal_edit.py -a_srs EPSG:4544")
        try:
            ds.colormap(1)
            has_palette = True
        except ValueError:
            has_palette = False
        if has_palette:
            raise InputError("band has a colour table: it is a categorical or rendered image, "
                             "not elevations", path)
        crs = CRS.from_user_input(ds.crs)
        _check_readable(ds, path)
        unit = (ds.units[0] or "").strip().lower() if ds.units else ""
        if unit in ("ft", "foot", "feet", "us-ft", "us survey foot", "cm", "centimetre", "centimeter"):
            raise InputError(f"elevations are in {unit}; the toolkit needs metres", path,
                             hint="convert it, e.g. gdal_calc.py -A in.tif --calc=A*0.3048 for feet")
        if np.issubdtype(np.dtype(ds.dtypes[0]), np.integer) and ds.dtypes[0] != "int16":
            sample = ds.read(1, masked=True, out_shape=(min(ds.height, 400), min(ds.width, 400)),
                             resampling=Resampling.nearest)
            distinct = np.unique(sample.compressed())
            if 0 < distinct.size <= 16:
                raise InputError(f"only {distinct.size} distinct values ({', '.join(map(str, distinct[:8]))}"
                                 f"{' …' if distinct.size > 8 else ''}): a categorical raster, not elevations", path)
        left, bottom, right, top = ds.bounds
        lat = (bottom + top) / 2 if crs.is_geographic else 27.4
        mx, my = _metres_per_unit(crs, lat)
        # the finer axis: the warp then only interpolates (GDAL widens the bilinear kernel
        # along an axis it shrinks, which bends planes slightly)
        res_m = min(abs(ds.res[0]) * mx, abs(ds.res[1]) * my)
        nodata = ds.nodata
        if nodata is None and ds.dtypes[0] == "int16":
            nodata = SRTM_VOID
        box = shapely.box(left, bottom, right, top)
        footprint = shapely.segmentize(box, max(right - left, top - bottom) / 64)
        footprint = shapely.transform(footprint, _transformer(crs, target), interleaved=False)
        return _Source(path, ds.name, crs, res_m, nodata, footprint)


def _transformer(src: CRS, dst: CRS):
    """``f(x, y) -> (x, y)`` from ``src`` to ``dst``, as :func:`shapely.transform` takes it."""
    return Transformer.from_crs(src, dst, always_xy=True).transform


# --------------------------------------------------------------------------- area
def area_geometry(area=None, layers=None) -> tuple[shapely.Geometry, str]:
    """The analysis area in EPSG:4544 and its label: ``area`` (GeoDataFrame/GeoSeries, a path
    or a geometry in EPSG:4490), else the district boundary from the catalog."""
    from . import catalog as catmod

    if area is None:
        gdf = catmod.catalog(layers).load("boundary")
        label = "the district boundary"
    elif isinstance(area, (str, Path)):
        gdf = catmod.catalog(layers).layer_or_file(area)
        label = str(area)
    elif isinstance(area, (gpd.GeoDataFrame, gpd.GeoSeries)):
        gdf = area
        label = f"the area {area.attrs['source']}" if area.attrs.get("source") else "the given area"
    else:
        if not isinstance(area, shapely.Geometry):
            raise InputError(f"area must be a polygon layer, a file or a shapely geometry, got {type(area).__name__}")
        b = area.bounds
        if not (-180 <= b[0] <= 180 and -180 <= b[2] <= 180 and -90 <= b[1] <= 90 and -90 <= b[3] <= 90):
            raise InputError("a bare geometry is taken as EPSG:4490 lon/lat, but its coordinates are not degrees",
                             hint="pass a GeoSeries/GeoDataFrame with its CRS, e.g. gpd.GeoSeries([geom], crs=4544)")
        gdf = gpd.GeoSeries([area], crs=settings.STORAGE_CRS)
        label = "the given area"
    geoms = gdf.geometry if isinstance(gdf, gpd.GeoDataFrame) else gdf
    polys = geoms[geoms.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polys) == 0:
        raise InputError("area holds no polygons", label)
    if polys.crs is None:
        raise InputError("area has no coordinate system", label)
    merged = shapely.union_all(polys.to_crs(settings.METRIC_CRS).values)
    return merged, label


# --------------------------------------------------------------------------- the DEM
def read_dem(dem=None, *, area=None, layers=None, resolution: float | None = None,
             fill_voids: bool = False, allow_partial: bool = False, crs=settings.METRIC_CRS,
             check_values: bool = True) -> Grid:
    """Read, mosaic, warp and clip a DEM to one grid in EPSG:4544.

    Parameters
    ----------
    dem : path, folder or list of them, optional
        GeoTIFF / SRTM ``.hgt`` / ``.hgt.zip`` / Copernicus tiles; default ``$QXG_DEM``.
    area : GeoDataFrame, path or geometry, optional
        Polygons to clip to (default: the district boundary of the catalog).
    resolution : float, optional
        Cell size in metres; default the finest source's own (1″ SRTM ≈ 29 m here).
    fill_voids : bool
        Fill voids inside the data by inverse-distance interpolation (GDAL FillNodata).
    allow_partial : bool
        Go on when the DEM covers less than 95 % of the area.

    Returns
    -------
    Grid
        float32 elevations in metres, NaN for no data; ``inside`` marks the area's cells.
    """
    target = CRS.from_user_input(crs)
    if target.is_geographic:
        raise InputError(f"the DEM grid must be metric (e.g. EPSG:4544), not {settings.crs_label(target)}")
    paths = dem_paths(dem, layers)
    shape, label = area_geometry(area, layers)
    sources = [_inspect(p, target) for p in paths]
    _check_touching(sources)
    if resolution is not None:
        if not (isinstance(resolution, (int, float)) and math.isfinite(resolution) and resolution > 0):
            raise InputError(f"resolution must be a positive number of metres, got {resolution!r}")
    res = float(resolution) if resolution else _round_res(min(s.res_m for s in sources))
    minx, miny, maxx, maxy = shape.bounds
    pad = 2 * res
    x0, y1 = math.floor((minx - pad) / res) * res, math.ceil((maxy + pad) / res) * res
    x1, y0 = math.ceil((maxx + pad) / res) * res, math.floor((miny - pad) / res) * res
    cols, rows = int(round((x1 - x0) / res)), int(round((y1 - y0) / res))
    if rows * cols > MAX_CELLS:
        raise InputError(f"a {res:g} m grid over {label} would have {rows * cols:,} cells (limit {MAX_CELLS:,})",
                         hint="pass a coarser --resolution or a smaller --area")
    transform = Affine(res, 0.0, x0, 0.0, -res, y1)
    # cells the area touches: zonal sums at its edge then find values under every part of it
    inside = features.geometry_mask([shape], out_shape=(rows, cols), transform=transform, invert=True,
                                    all_touched=True)
    data = np.full((rows, cols), np.nan, dtype=np.float32)
    box = shapely.box(x0, y0, x1, y1)
    groups: dict[str, list] = {}
    for src in sources:
        groups.setdefault(src.crs.to_wkt(), []).append(src)
    for members in groups.values():          # tiles of one CRS: mosaicked first, warped once
        part = _warp_group(members, box, target, transform, (rows, cols))
        take = np.isnan(data) & ~np.isnan(part)
        data[take] = part[take]
    footprints = [s.footprint for s in sources]
    covered = features.geometry_mask(footprints, out_shape=(rows, cols), transform=transform, invert=True)
    n_inside = int(inside.sum())
    if n_inside == 0:
        raise InputError(f"{label} is smaller than one {res:g} m cell")
    files = ", ".join(p.name for p in paths[:4]) + (" …" if len(paths) > 4 else "")
    void = inside & covered & np.isnan(data)
    void_share = float(void.sum()) / max(1, int((inside & covered).sum()))
    tiles_cover = float((inside & covered).sum()) / n_inside
    notes = [f"DEM: {len(paths)} file(s) ({files}); warped to {settings.crs_label(target)} at {res:g} m, bilinear"]
    if void.any() and fill_voids:
        from rasterio.fill import fillnodata
        hole = -1.0e30                                  # never a value: marks cells left unfilled
        filled = fillnodata(np.nan_to_num(data, nan=hole), mask=(~np.isnan(data)).astype("uint8"),
                            max_search_distance=max(3.0, 3000.0 / res))
        filled = np.where(filled <= hole / 2, np.nan, filled)
        data = np.where(void, filled, data).astype(np.float32)
        still = void & np.isnan(data)
        notes.append(f"voids: {void_share:.2%} of the covered area, filled by interpolation up to 3 km from data"
                     + (f"; {still.sum() / void.sum():.1%} of them are farther and stay empty" if still.any() else ""))
    elif void.any():
        notes.append(f"voids: {void_share:.2%} of the covered area have no elevation "
                     "(left empty; --fill-voids interpolates them)")
    coverage = float((inside & ~np.isnan(data)).sum()) / n_inside
    notes.append(f"DEM has elevations for {coverage:.1%} of {label}"
                 + (f" (its tiles cover {tiles_cover:.1%})" if tiles_cover - coverage > 0.0005 else ""))
    if coverage < MIN_COVERAGE and not allow_partial:
        raise InputError(f"the DEM has elevations for {coverage:.1%} of {label} (needs {MIN_COVERAGE:.0%}; "
                         f"tiles cover {tiles_cover:.1%}, voids {void_share:.1%} of that)", files,
                         hint="add the missing tiles, --fill-voids, or pass --allow-partial to go on with what is there")
    grid = Grid(data=data, transform=transform, crs=target, inside=inside,
                sources=[str(p) for p in paths], notes=notes, coverage=coverage, void_share=void_share)
    if check_values:
        check_elevations(grid, files, district=area is None)
    return grid


def _warp_group(members: list, box_target, target: CRS, transform: Affine, shape) -> np.ndarray:
    """The tiles of one CRS mosaicked within the target box (plus a margin), then warped once.

    Reading through :func:`rasterio.merge.merge` only the part of each file the box needs keeps
    memory bounded by the area and raises on a corrupt block (a warp would leave it empty).
    """
    from rasterio.merge import merge

    crs = members[0].crs
    back = shapely.transform(shapely.segmentize(box_target, box_target.length / 256),
                             _transformer(target, crs), interleaved=False)
    with rasterio.open(members[0].gdal) as ds0:
        margin = 3 * max(abs(ds0.res[0]), abs(ds0.res[1]))
    bminx, bminy, bmaxx, bmaxy = back.bounds
    bounds = (bminx - margin, bminy - margin, bmaxx + margin, bmaxy + margin)
    part = np.full(shape, np.nan, dtype=np.float32)
    datasets = []
    try:
        for m in members:
            datasets.append(rasterio.open(m.gdal))
        useful = [d for d in datasets if not rasterio.coords.disjoint_bounds(d.bounds, bounds)]
        if not useful:
            return part
        left = max(bounds[0], min(d.bounds.left for d in useful))
        bottom = max(bounds[1], min(d.bounds.bottom for d in useful))
        right = min(bounds[2], max(d.bounds.right for d in useful))
        top = min(bounds[3], max(d.bounds.top for d in useful))
        # snap to the first tile's pixel grid, so merge copies pixels rather than resampling them
        g = useful[0].transform
        rx, ry = abs(g.a), abs(g.e)
        left = g.c + math.floor((left - g.c) / rx) * rx
        right = g.c + math.ceil((right - g.c) / rx) * rx
        top = g.f - math.floor((g.f - top) / ry) * ry
        bottom = g.f - math.ceil((g.f - bottom) / ry) * ry
        nodata = members[0].nodata
        with rasterio.Env(CPL_LOG="OFF"):
            arr, tr = merge(useful, bounds=(left, bottom, right, top), nodata=nodata if nodata is not None else np.nan,
                            dtype="float32", resampling=Resampling.nearest)
        band = arr[0]
        if nodata is not None:
            band = np.where(band == np.float32(nodata), np.nan, band)
        for m in members[1:]:                          # tiles may declare different nodata values
            if m.nodata is not None and m.nodata != nodata:
                band = np.where(band == np.float32(m.nodata), np.nan, band)
    except (RasterioIOError, CPLE_BaseError) as exc:
        raise _unreadable(exc, ", ".join(m.path.name for m in members)) from exc
    finally:
        for d in datasets:
            d.close()
    reproject(band.astype(np.float32), part, src_transform=tr, src_crs=crs, src_nodata=np.nan,
              dst_nodata=np.nan, dst_transform=transform, dst_crs=target,
              resampling=Resampling.bilinear, num_threads=2, tolerance=WARP_TOLERANCE)
    return part


def _round_res(res_m: float) -> float:
    """Source resolution rounded down to a tidy value (27.55 → 27.5, 82.7 → 82.5, 30 → 30)."""
    step = 0.5 if res_m < 200 else 5.0
    return max(step, math.floor(res_m / step + 1e-6) * step)


def _check_touching(sources: list[_Source]) -> None:
    if len(sources) < 2:
        return
    pieces = [s.footprint.buffer(max(1.0, s.res_m)) for s in sources]
    merged = shapely.union_all(pieces)
    parts = shapely.get_parts(merged)
    if len(parts) > 1:
        groups = []
        for part in parts:
            groups.append(", ".join(s.path.name for s, p in zip(sources, pieces) if part.intersects(p)))
        raise InputError("DEM tiles do not touch: " + " | ".join(f"[{g}]" for g in groups),
                         hint="give tiles that form one block, or each block separately with --area")


def check_elevations(grid: Grid, file: str, district: bool = False) -> None:
    """Refuse values that cannot be metres of elevation here (all zero, > 9000 m, < −500 m)."""
    vals = grid.data[grid.inside]
    vals = vals[~np.isnan(vals)]
    if vals.size == 0:
        raise InputError("the DEM has no elevation inside the area", file)
    lo, hi = float(vals.min()), float(vals.max())
    if lo == hi == 0.0:
        raise InputError("every elevation is 0: not a DEM of this area (a mask or an empty raster?)", file)
    if lo <= -32767:
        raise InputError(f"values down to {lo:g}: an undeclared void value", file,
                         hint="set the file's nodata, e.g. gdal_edit.py -a_nodata -32768 FILE")
    if hi > ELEVATION_RANGE[1] or lo < ELEVATION_RANGE[0]:
        raise InputError(f"values from {lo:g} to {hi:g} cannot be metres of elevation here "
                         f"(expected {ELEVATION_RANGE[0]:g} to {ELEVATION_RANGE[1]:g}; feet or centimetres?)", file)
    if district and (lo < DISTRICT_RANGE[0] or hi > DISTRICT_RANGE[1]):
        grid.notes.append(f"warning: elevations {lo:.0f}–{hi:.0f} m lie outside {DISTRICT_RANGE[0]:g}–"
                          f"{DISTRICT_RANGE[1]:g} m, unusual for the district: check the units and the file")



# --------------------------------------------------------------------------- generic rasters
def read_raster(path, band: int = 1) -> Grid:
    """Any single-band raster as a :class:`Grid` in its own CRS (nodata → NaN), e.g. for zonal stats."""
    path = Path(path)
    if not path.exists():
        raise InputError("raster file does not exist", path)
    with _open(path) as ds:
        if ds.crs is None:
            raise InputError("raster has no coordinate system", path)
        if band < 1 or band > ds.count:
            raise InputError(f"has {ds.count} band(s); band {band} does not exist", path)
        try:
            arr = ds.read(band, masked=True)
        except (RasterioIOError, CPLE_BaseError) as exc:
            raise _unreadable(exc, path) from exc
        data = np.ma.filled(arr.astype(np.float64), np.nan)
        transform, crs = ds.transform, CRS.from_user_input(ds.crs)
    if transform.b != 0 or transform.d != 0:
        raise InputError("rotated rasters are not supported; warp it north-up first", path)
    if transform.e > 0:       # south-up: flip to north-up
        data = data[::-1]
        transform = Affine(transform.a, 0, transform.c, 0, -transform.e,
                           transform.f + transform.e * data.shape[0])
    return Grid(data=data, transform=transform, crs=crs, sources=[str(path)], name=path.stem)


def write_raster(grid: Grid | np.ndarray, path, *, transform: Affine | None = None, crs=None,
                 nodata: float | None = None, dtype: str = "float32", clip: bool = True,
                 overwrite: bool = False, description: str | None = None) -> Path:
    """Write one band as a Cloud-Optimized GeoTIFF (deflate), atomically.

    NaN cells (and, with ``clip``, cells outside the area) are written as ``nodata``
    (−9999 for floats, 0 for bytes unless given).
    """
    path = Path(path)
    if isinstance(grid, Grid):
        arr = grid.clipped() if clip else grid.data
        transform, crs = grid.transform, grid.crs
        description = description or grid.name
    else:
        arr = grid
    if nodata is None:
        nodata = 0 if dtype == "uint8" else -9999.0
    out = np.where(np.isnan(arr), nodata, arr) if np.issubdtype(arr.dtype, np.floating) else arr
    if np.issubdtype(np.dtype(dtype), np.integer) and np.issubdtype(out.dtype, np.floating):
        out = np.rint(out)                 # round, as GDAL does, rather than truncate
    out = out.astype(dtype)
    rows, cols = out.shape
    profile = dict(driver="COG", width=cols, height=rows, count=1, dtype=dtype, crs=crs,
                   transform=transform, nodata=nodata, compress="DEFLATE", BIGTIFF="IF_SAFER")
    with atomic_path(path, overwrite=overwrite) as tmp:
        mem = rasterio.io.MemoryFile()
        with mem.open(driver="GTiff", width=cols, height=rows, count=1, dtype=dtype, crs=crs,
                      transform=transform, nodata=nodata) as ds:
            ds.write(out, 1)
            if description:
                ds.set_band_description(1, description)
            rasterio.shutil.copy(ds, str(tmp), **{k: v for k, v in profile.items()
                                                  if k in ("driver", "compress", "BIGTIFF")})
    return path
