"""Read any planner's layer and normalise it: one GeoDataFrame in CGCS2000 (EPSG:4490).

:func:`read` is the single entry point. It opens GeoJSON, GeoPackage and shapefiles (a
``.shp``, a folder holding one, or a ``.zip``), works out the text encoding of shapefiles,
brings every supported coordinate system to CGCS2000, converts GCJ-02/BD-09 on request,
repairs invalid geometry and reports what it did. Problems that stop the load raise
:class:`spatial.errors.InputError`, whose message is one line naming file, feature and
problem. Everything repaired or suspicious is recorded as a :class:`spatial.errors.Note`
in ``gdf.attrs["notes"]`` and emitted as an :class:`spatial.errors.InputWarning`.
"""
from __future__ import annotations

import contextlib
import contextvars
import struct
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from . import cad, chinacoords, crs as crsmod, filegdb, settings
from .errors import InputError, Notes

VECTOR_SUFFIXES = (".shp", ".zip", ".gpkg", ".geojson", ".json", ".gdb", ".kml", ".kmz", ".dxf",
                   ".tab", ".mif", ".csv", ".xlsx", ".xlsm", ".xls")
#: Tables read as layers (coordinate columns, 界址点, township names).
TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")
#: Formats a folder is searched for first: a folder of shapefiles with a CSV of notes beside
#: them still opens its shapefile.
_PRIMARY_SUFFIXES = (".shp", ".gpkg", ".gdb")
#: Fields that identify a feature in messages and are checked for duplicates, in order.
ID_FIELDS = ("id", "ID", "code", "CODE", "BSM", "OBJECTID", "FID")
LABEL_FIELDS = ("name", "NAME", "名称", "XZQMC", "MC")


# --------------------------------------------------------------------------- sources
@dataclass(frozen=True)
class Source:
    """What to open: the path shown to the planner and the GDAL path with its layer."""

    shown: str          # e.g. "data/towns.zip!towns.shp" or "county.gpkg|CZKFBJ"
    gdal_path: str
    layer: str | None
    kind: str           # shapefile, geopackage, geojson, filegdb, kml, table, dxf, mapinfo
    shp_parts: dict | None = None  # for shapefiles: {".dbf": bytes-reader, ".cpg": ...}


def _zip_members(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as zf:
            return [n for n in zf.namelist() if not n.endswith("/")
                    and not n.startswith("__MACOSX/") and not Path(n).name.startswith("._")]
    except zipfile.BadZipFile as exc:
        raise InputError("not a valid zip archive", path) from exc


def _choose(options: list[str], wanted: str | None, path, what: str) -> str:
    if wanted is not None:
        for opt in options:
            if wanted in (opt, Path(opt).name, Path(opt).stem):
                return opt
        raise InputError(f"no {what} named {wanted!r}; it holds: {', '.join(options)}", path)
    if not options:
        raise InputError(f"holds no {what}", path)
    if len(options) > 1:
        raise InputError(f"holds {len(options)} {what}s ({', '.join(options)}); "
                         f"choose one", path, hint="layer=NAME in Python, --layer NAME on the command line")
    return options[0]


def _shapefile_parts_on_disk(shp: Path) -> dict:
    parts = {}
    for suffix in (".dbf", ".cpg", ".prj", ".shx"):
        for cand in (shp.with_suffix(suffix), shp.with_suffix(suffix.upper())):
            if cand.exists():
                parts[suffix] = cand.read_bytes
                break
    return parts


def _zip_read(path: Path, member: str) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(member)


def _shapefile_parts_in_zip(path: Path, member: str) -> dict:
    stem = member[:-4]
    parts = {}
    with zipfile.ZipFile(path) as zf:
        names = {n.lower(): n for n in zf.namelist()}
    for suffix in (".dbf", ".cpg", ".prj", ".shx"):
        name = names.get((stem + suffix).lower())
        if name:
            parts[suffix] = (lambda n=name: _zip_read(path, n))
    return parts


def _gdb_source(shown_path, gdal_path: str, layer: str | None, has_file) -> Source:
    filegdb.check_complete(gdal_path, shown_path, has_file)
    chosen = filegdb.choose(filegdb.list_layers(gdal_path, shown_path), layer, shown_path)
    if chosen.geometry is None:
        raise InputError(f"layer {chosen.shown!r} is a table without geometry", shown_path)
    return Source(f"{shown_path}|{chosen.shown}", gdal_path, chosen.name, "filegdb")


def data_files(folder: Path) -> list[Path]:
    """Data files and geodatabase folders under ``folder`` (not the files inside a .gdb), in
    name order."""
    found = []
    for x in sorted(folder.rglob("*")):
        if any(part.lower().endswith(".gdb") for part in x.relative_to(folder).parts[:-1]):
            continue
        if x.is_dir() and filegdb.is_gdb_folder(x):
            found.append(x)
        elif x.is_file() and x.suffix.lower() in VECTOR_SUFFIXES:
            found.append(x)
    return found


def _folder_candidates(p: Path) -> list[str]:
    """What a folder given to :func:`read` may hold (zips and .json left out), relative to it."""
    return [str(x.relative_to(p)) for x in data_files(p) if x.suffix.lower() not in (".zip", ".json")]


def open_source(path, layer: str | None = None) -> Source:
    """Resolve ``path`` (and ``layer``) to one readable layer, or raise :class:`InputError`."""
    p = Path(path).expanduser()
    if not p.exists():
        raise InputError("no such file or folder", p)
    if p.is_dir():
        if filegdb.is_gdb_folder(p):
            return _gdb_source(p, str(p), layer, lambda name: (p / name).exists())
        found = _folder_candidates(p)
        primary = [f for f in found if Path(f).suffix.lower() in _PRIMARY_SUFFIXES]
        shps = [f for f in found if f.lower().endswith(".shp")]
        single = primary if primary else found
        if not shps and len(single) == 1:
            return open_source(p / single[0], layer)    # layer= then names a layer inside it
        chosen = _choose(single, layer, p, "data file")
        return open_source(p / chosen)
    if p.stat().st_size == 0:
        raise InputError("file is empty (0 bytes)", p)
    suffix = p.suffix.lower()
    if suffix in cad.UNREADABLE:
        raise InputError(f"cannot read {p.suffix} files", p, hint=cad.UNREADABLE[suffix])
    if suffix == ".zip":
        members = _zip_members(p)
        gdbs = filegdb.gdbs_in_zip(members)
        if gdbs:
            gdb = _choose(gdbs, None, p, "geodatabase") if len(gdbs) > 1 else gdbs[0]
            inside = {m[len(gdb) + 1:].lower() for m in members if m.startswith(gdb + "/")}
            return _gdb_source(f"{p}!{gdb}", f"/vsizip/{p.resolve()}/{gdb}", layer,
                               lambda name: name.lower() in inside)
        shps = sorted(m for m in members if m.lower().endswith(".shp"))
        if not shps:
            others = [m for m in members if m.lower().endswith((".gpkg", ".geojson", ".json"))]
            if len(others) == 1 and layer is None:
                return Source(f"{p}!{others[0]}", f"/vsizip/{p.resolve()}/{others[0]}", None,
                              "geopackage" if others[0].lower().endswith(".gpkg") else "geojson")
            raise InputError("zip archive holds no shapefile (.shp) and no geodatabase (.gdb)", p)
        member = _choose(shps, layer, p, "shapefile")
        return Source(f"{p}!{member}", f"/vsizip/{p.resolve()}/{member}", None, "shapefile",
                      _shapefile_parts_in_zip(p, member))
    if suffix == ".shp":
        return Source(str(p), str(p), None, "shapefile", _shapefile_parts_on_disk(p))
    if suffix == ".dbf":
        raise InputError("a .dbf holds only the attribute table; open the .shp beside it", p)
    if suffix == ".gpkg":
        try:
            listing = pyogrio.list_layers(p)
        except Exception as exc:  # noqa: BLE001 - GDAL's own message is the useful part
            raise InputError(f"cannot open as GeoPackage: {_gdal_message(exc)}", p) from exc
        names = [str(n) for n, geom in listing if geom is not None]
        if not names and len(listing):
            raise InputError(f"holds only tables without geometry ({', '.join(str(n) for n in listing[:, 0])})", p)
        chosen = _choose(names, layer, p, "layer")
        return Source(f"{p}|{chosen}", str(p), chosen, "geopackage")
    if suffix in (".geojson", ".json"):
        return Source(str(p), str(p), None, "geojson")
    shown = f"{p}|{layer}" if layer else str(p)
    if suffix in (".kml", ".kmz"):
        return Source(shown, str(p), layer, "kml")
    if suffix in TABLE_SUFFIXES:
        return Source(shown, str(p), layer, "table")
    if suffix == ".dxf":
        return Source(shown, str(p), layer, "dxf")
    if suffix in (".tab", ".mif"):
        return Source(str(p), str(p), None, "mapinfo")
    raise InputError(f"unsupported file type {p.suffix or '(none)'}; use GeoPackage, shapefile "
                     f"(.shp/.zip/folder), File Geodatabase (.gdb), GeoJSON, KML/KMZ, CSV/Excel, "
                     f"DXF or MapInfo (.tab/.mif)", p)


def _gdal_message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# --------------------------------------------------------------------------- encoding
_CPG_NAMES = {
    "utf8": "utf-8", "utf-8": "utf-8", "65001": "utf-8",
    "gbk": "gb18030", "cp936": "gb18030", "936": "gb18030", "ansi936": "gb18030",
    "gb2312": "gb18030", "gb18030": "gb18030", "54936": "gb18030", "ms936": "gb18030",
}


def _dbf_text_samples(dbf: bytes, max_records: int = 20000) -> list[bytes]:
    """Byte strings of field names and character fields of a dBASE file."""
    if len(dbf) < 32:
        return []
    n_records, header_len, record_len = struct.unpack("<IHH", dbf[4:12])
    samples, fields, offset, pos = [], [], 1, 32
    while pos + 32 <= header_len and dbf[pos] != 0x0D:
        desc = dbf[pos:pos + 32]
        samples.append(desc[:11].split(b"\x00")[0])
        ftype, flen = chr(desc[11]), desc[16]
        if ftype == "C":
            flen += desc[17] * 256  # long character fields use the decimal byte too
            fields.append((offset, flen))
        offset += flen if ftype == "C" else desc[16]
        pos += 32
    for i in range(min(n_records, max_records)):
        start = header_len + i * record_len
        rec = dbf[start:start + record_len]
        for off, flen in fields:
            value = rec[off:off + flen].rstrip(b" \x00")
            if value and max(value) >= 0x80:
                samples.append(value)
    return samples


def detect_encoding(parts: dict) -> tuple[str, str]:
    """Encoding of a shapefile's text: from its .cpg, else detected from the .dbf bytes.

    Returns ``(encoding, how)``; ``how`` says where the answer came from.
    """
    cpg_note = "no .cpg"
    samples = _dbf_text_samples(parts[".dbf"]()) if ".dbf" in parts else []
    if ".cpg" in parts:
        raw = parts[".cpg"]().decode("ascii", "ignore").strip()
        key = raw.lower().replace(" ", "").replace("_", "")
        if key in _CPG_NAMES:
            enc = _CPG_NAMES[key]
            # a .cpg that contradicts the bytes is a mislabelled file: believe the bytes
            if enc != "utf-8" and samples and all(_is_utf8(x) for x in samples):
                return "utf-8", f"detected UTF-8 although the .cpg says {raw}"
            if enc == "utf-8" and samples and not all(_is_utf8(x) for x in samples) \
                    and all(_decodes(x, "gb18030") for x in samples):
                return "gb18030", f"detected GBK/GB18030 although the .cpg says {raw}"
            return enc, f".cpg says {raw}"
        cpg_note = f".cpg {raw[:20]!r} not understood"
    if ".dbf" not in parts:
        return "utf-8", "no .dbf"
    if not samples:
        return "utf-8", "text is plain ASCII"

    def failures(enc):
        bad = 0
        for s in samples:
            try:
                s.decode(enc)
            except UnicodeDecodeError:
                bad += 1
        return bad

    if failures("utf-8") == 0:
        return "utf-8", f"detected UTF-8 ({cpg_note})"
    if failures("gb18030") == 0:
        return "gb18030", f"detected GBK/GB18030 ({cpg_note})"
    enc = min(("utf-8", "gb18030"), key=failures)
    return enc, f"guessed {enc} ({cpg_note}; some text is not valid in either UTF-8 or GBK)"


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
        return True
    except UnicodeDecodeError:
        return False


def _is_utf8(raw: bytes) -> bool:
    return _decodes(raw, "utf-8")


# --------------------------------------------------------------------------- labels
def feature_labels(gdf: pd.DataFrame, fids, word: str = "feature") -> list[str]:
    """'feature 3 (name=撒拉溪镇)' for each row, using the file's own feature ids (or the
    table's row numbers: 'row 7 (名称=…)')."""
    label_col = next((c for c in LABEL_FIELDS if c in gdf.columns), None)
    out = []
    for pos, fid in enumerate(fids):
        text = f"{word} {fid}"
        if label_col is not None:
            value = gdf[label_col].iloc[pos]
            if isinstance(value, str) and value.strip():
                text += f" ({label_col}={value.strip()[:40]})"
        out.append(text)
    return out


def _list_some(labels: list[str], limit: int = 5) -> str:
    shown = ", ".join(labels[:limit])
    return shown + (f" and {len(labels) - limit} more" if len(labels) > limit else "")


# --------------------------------------------------------------------------- CRS
def _resolve_crs(gdf, src: Source, user_crs, notes: Notes) -> CRS:
    if user_crs is not None:
        try:
            given = crsmod.parse_crs(user_crs)
        except ValueError as exc:
            raise InputError(str(exc), src.shown) from exc
        if gdf.crs is not None and not CRS(gdf.crs).equals(given):
            notes.add("warning", f"file says {crsmod.describe(CRS(gdf.crs))}; "
                                 f"using {crsmod.describe(given)} as stated by the user")
        return given
    if gdf.crs is None:
        guess = crsmod.guess_from_numbers(*crsmod.typical_point(gdf.total_bounds))
        missing = {"shapefile": "no .prj file", "dxf": "a DXF drawing carries no coordinate system",
                   "table": "the table's coordinates are metres"}.get(src.kind, "no coordinate system")
        hint = "state it with crs=… in Python or --crs on the command line"
        if guess:
            hint = f"the numbers look like {guess}; {hint}"
        raise InputError(f"{missing}: the coordinate system is unknown", src.shown, hint=hint)
    return CRS(gdf.crs)


def _check_numbers(gdf, src: Source, crs: CRS, notes: Notes) -> CRS:
    """Catch degrees/metres mix-ups, swapped axes and a missing or extra zone prefix."""
    bounds = gdf.total_bounds
    x, y = crsmod.typical_point(bounds)
    if crs.is_geographic:
        lat_lo, lat_hi = settings.CHINA_LAT
        lon_lo, lon_hi = settings.CHINA_LON
        if lat_lo <= bounds[0] and bounds[2] <= lat_hi and lon_lo <= bounds[1] and bounds[3] <= lon_hi:
            raise InputError(
                f"latitude and longitude appear swapped: x runs {bounds[0]:.3f}–{bounds[2]:.3f} "
                f"and y {bounds[1]:.3f}–{bounds[3]:.3f}, but x must be longitude", src.shown,
                hint="fix the file, or read it with swap_xy=True / --swap-xy")
        if not crsmod.looks_like_degrees(bounds):
            guess = crsmod.guess_from_numbers(x, y)
            raise InputError(
                f"coordinates such as ({x:.0f}, {y:.0f}) are not degrees, but the file's "
                f"coordinate system {crsmod.describe(crs)} is geographic", src.shown,
                hint=(f"they look like {guess}; " if guess else "") + "state the real one with --crs")
        return crs
    # projected
    if crsmod.looks_like_degrees(bounds):
        raise InputError(
            f"coordinates such as ({x:.4f}, {y:.4f}) look like degrees, but the file's "
            f"coordinate system {crsmod.describe(crs)} is projected (metres)", src.shown,
            hint="state the real one with --crs 4490 (or 4326)")
    gk = crsmod.gauss_kruger(crs)
    if gk is not None:
        has_prefix = x >= 1e7
        if has_prefix != gk.prefixed:
            if has_prefix:
                zone = int(x // 1e6)
                fixed = gk.with_prefix(True)
                if zone != fixed.zone:
                    raise InputError(
                        f"eastings carry zone prefix {zone} but the coordinate system is "
                        f"{crs.name} (zone {fixed.zone})", src.shown, hint="state the real one with --crs")
            else:
                fixed = gk.with_prefix(False)
            notes.add("repaired", f"eastings {'carry' if has_prefix else 'lack'} the zone prefix "
                                  f"but the coordinate system {crs.name} does "
                                  f"{'not' if has_prefix else ''}; read as EPSG:{fixed.epsg} "
                                  f"({CRS.from_epsg(fixed.epsg).name})")
            return CRS.from_epsg(fixed.epsg)
    return crs


# --------------------------------------------------------------------------- geometry
def make_valid_same_dimension(geoms) -> np.ndarray:
    """``make_valid`` that keeps the dimension of each input: a repaired polygon stays
    polygonal (the lines or points make_valid may add are dropped)."""
    geoms = np.asarray(geoms, dtype=object)
    repaired = shapely.make_valid(geoms)
    for j, (geom, dim) in enumerate(zip(repaired, shapely.get_dimensions(geoms))):
        if shapely.get_dimensions(geom) != dim or shapely.get_type_id(geom) == 7:
            parts = [g for g in shapely.get_parts(geom) if shapely.get_dimensions(g) == dim]
            repaired[j] = shapely.union_all(parts) if parts else shapely.from_wkt("GEOMETRYCOLLECTION EMPTY")
    return repaired


def _repair_geometries(gdf, labels, notes: Notes):
    geoms = gdf.geometry.values
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        notes.add("warning", f"{int(missing.sum())} feature(s) without geometry: "
                             f"{_list_some([labels[i] for i in np.flatnonzero(missing)])}")
    invalid = ~shapely.is_valid(geoms) & ~missing
    if not invalid.any():
        return gdf
    idx = np.flatnonzero(invalid)
    reasons = shapely.is_valid_reason(geoms[idx])
    before = geoms[idx]
    repaired = make_valid_same_dimension(before)
    metric = gpd.GeoSeries(np.concatenate([before, repaired]), crs=settings.STORAGE_CRS).to_crs(settings.METRIC_CRS)
    area = metric.area.to_numpy()
    n = len(idx)
    for j, i in enumerate(idx):
        change = ""
        if shapely.get_dimensions(before[j]) == 2:
            change = f"; area {area[j] / 1e4:.4g} → {area[n + j] / 1e4:.4g} ha"
        notes.add("repaired", f"invalid geometry ({reasons[j]}) repaired with make_valid{change}",
                  feature=labels[i])
    out = gdf.copy()
    new = geoms.copy()
    new[idx] = repaired
    out[out.geometry.name] = gpd.GeoSeries(new, index=out.index, crs=out.crs)
    return out


def km_outside_district(lon, lat) -> np.ndarray:
    """Kilometres from CGCS2000 lon/lat points to the district's bounding box (0 inside it)."""
    minx, miny, maxx, maxy = settings.DISTRICT_BBOX
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    dx = np.maximum(np.maximum(minx - lon, lon - maxx), 0) * 111.0 * np.cos(np.radians((miny + maxy) / 2))
    dy = np.maximum(np.maximum(miny - lat, lat - maxy), 0) * 111.0
    return np.hypot(dx, dy)


def _flag_far_features(gdf, labels, notes: Notes):
    if gdf.empty:
        return
    geoms = gdf.geometry.values
    ok = ~(shapely.is_missing(geoms) | shapely.is_empty(geoms))
    if not ok.any():
        return
    pts = shapely.point_on_surface(geoms[ok])
    far = km_outside_district(shapely.get_x(pts), shapely.get_y(pts)) > settings.FAR_OUTSIDE_KM
    if far.any():
        pos = np.flatnonzero(ok)[far]
        notes.add("warning", f"{len(pos)} feature(s) lie more than {settings.FAR_OUTSIDE_KM:g} km "
                             f"outside 七星关区: {_list_some([labels[i] for i in pos])}")


def _report_duplicate_ids(gdf, notes: Notes, id_field: str | None):
    field = id_field or next((c for c in ID_FIELDS if c in gdf.columns), None)
    if field is None or field not in gdf.columns:
        return
    values = gdf[field]
    dup = values[values.notna() & values.duplicated(keep=False)]
    if len(dup):
        shown = _list_some([str(v) for v in pd.unique(dup)])
        notes.add("warning", f"field {field!r} should identify features but {len(dup)} features "
                             f"share values: {shown}")


# --------------------------------------------------------------------------- read
_FILE_OPTIONS: contextvars.ContextVar[dict] = contextvars.ContextVar("file_options", default={})
FILE_OPTION_NAMES = ("crs", "coords", "x_axis", "geometry", "encoding", "swap_xy")


@contextlib.contextmanager
def file_options(**options):
    """Within the block, files the user names (not catalog layers) are read with these
    :func:`read` options unless a call gives its own: how the command line's ``--crs``,
    ``--coords``, ``--x-axis`` and ``--geometry`` reach every file a command opens."""
    unknown = set(options) - set(FILE_OPTION_NAMES)
    if unknown:
        raise TypeError(f"unknown read options {sorted(unknown)}")
    token = _FILE_OPTIONS.set({k: v for k, v in options.items() if v is not None})
    try:
        yield
    finally:
        _FILE_OPTIONS.reset(token)


def read_named(path, layer: str | None = None, **kwargs) -> gpd.GeoDataFrame:
    """:func:`read` of a file the user named, with the options of :func:`file_options`."""
    return read(path, layer=layer, **{**_FILE_OPTIONS.get(), **kwargs})


def _read_kml(src: Source, **_):
    from . import kml
    return kml.read_kml(src.gdal_path, src.layer)


def _read_table(src: Source, *, crs, geometry, x_axis, encoding):
    from . import tables
    return tables.read_table(src.gdal_path, src.layer, crs=crs, geometry=geometry, x_axis=x_axis,
                             encoding=encoding)


def _read_cad(src: Source, **_):
    return cad.read_dxf(Path(src.gdal_path), src.layer)


#: Formats read by the toolkit's own code rather than by a GDAL driver directly; each returns
#: (GeoDataFrame in the file's own CRS or none, notes).
_OWN_READERS = {"kml": _read_kml, "table": _read_table, "dxf": _read_cad}


def read(path, layer: str | None = None, coords: str | None = None, *, crs=None,
         encoding: str | None = None, swap_xy: bool = False, id_field: str | None = None,
         allow_empty: bool = False, geometry: str | None = None,
         x_axis: str | None = None) -> gpd.GeoDataFrame:
    """Read a vector layer and return it in CGCS2000 geographic coordinates (EPSG:4490).

    Parameters
    ----------
    path : str or Path
        GeoJSON, GeoPackage, shapefile (``.shp``, a folder holding one, or a ``.zip``), File
        Geodatabase (``.gdb`` folder or a zip of one), KML/KMZ, CSV/Excel table with coordinate
        columns, 界址点 or township names, DXF drawing, MapInfo ``.tab``/``.mif``.
    layer : str, optional
        Which part of the file: GeoPackage or geodatabase layer (``DLTB`` or ``三调/DLTB``),
        shapefile inside a folder or zip, KML folder, workbook sheet, or DXF geometry type
        (``polygons``/``lines``/``points``) or CAD layer.
    coords : {"gcj02", "bd09"}, optional
        The file's longitudes/latitudes are in the Chinese web offset system named (AMap and
        Tencent use GCJ-02, Baidu BD-09); they are converted to CGCS2000 (< 1 mm error of the
        inversion; the offset formulas themselves are public approximations).
    crs : int, str or pyproj.CRS, optional
        Coordinate system of the file when it has none (or has a wrong one), e.g. ``4544``.
    encoding : str, optional
        Text encoding of a shapefile; by default taken from its ``.cpg`` or detected
        between UTF-8 and GBK/GB18030.
    swap_xy : bool
        The file stores latitude before longitude; swap them.
    id_field : str, optional
        Field whose values identify features (checked for duplicates).
    allow_empty : bool
        Return an empty layer instead of raising when the layer has no features.
    geometry : {"point", "polygon"}, optional
        Tables: build points, or polygons (界址点 rings; township areas for a township column).
    x_axis : {"north", "east"}, optional
        Tables in metres: the X column holds northings (the Chinese surveying convention) or
        eastings. By default decided from the numbers, and said in the notes.

    Returns
    -------
    geopandas.GeoDataFrame
        In EPSG:4490, with ``attrs["source"]`` (the path shown in messages),
        ``attrs["encoding"]`` and ``attrs["notes"]`` (list of :class:`spatial.errors.Note`).

    Raises
    ------
    spatial.errors.InputError
        With a one-line message naming the file, the feature and the problem.
    """
    src = open_source(path, layer)
    notes = Notes(src.shown)
    if crs is not None:           # a wrong --crs is the user's, said before any reader sees it
        try:
            crs = crsmod.parse_crs(crs)
        except ValueError as exc:
            raise InputError(str(exc), src.shown) from exc
    if coords is not None:
        try:
            coords = chinacoords.normalise_name(coords)
        except ValueError as exc:
            raise InputError(str(exc), src.shown) from exc

    enc = None
    if src.kind == "shapefile":
        if ".dbf" not in (src.shp_parts or {}):
            raise InputError("shapefile has no .dbf (attribute table) beside it", src.shown)
        if ".shx" not in (src.shp_parts or {}):
            raise InputError("shapefile has no .shx (index) beside it", src.shown)
        if encoding:
            import codecs
            try:
                codecs.lookup(encoding)
            except LookupError as exc:
                raise InputError(f"unknown text encoding {encoding!r}; use utf-8 or gbk", src.shown) from exc
            enc = encoding
        else:
            enc, how = detect_encoding(src.shp_parts)
            if "GBK" in how or "guessed" in how or "although" in how:
                notes.add("warning", f"text encoding {how}")
    word = "feature"
    if src.kind in _OWN_READERS:
        gdf, found = _OWN_READERS[src.kind](src, crs=crs, geometry=geometry, x_axis=x_axis,
                                            encoding=encoding)
        if gdf.attrs.get("shown"):           # the sheet the table reader chose
            src = replace(src, shown=gdf.attrs.pop("shown"))
            notes.file = src.shown
        for text in found:
            notes.add("warning", text)
        word = {"table": "row", "kml": "placemark"}.get(src.kind, word)
    else:
        try:
            gdf = pyogrio.read_dataframe(src.gdal_path, layer=src.layer, encoding=enc,
                                         fid_as_index=True, on_invalid="warn")
        except UnicodeDecodeError as exc:
            raise InputError(f"text is not valid {enc or 'UTF-8'}", src.shown,
                             hint="give the right one with encoding=… / --encoding") from exc
        except Exception as exc:  # noqa: BLE001 - GDAL errors come in many classes
            raise InputError(f"cannot read: {_gdal_message(exc)}", src.shown) from exc

    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        raise InputError("has no geometry column (a plain table?)", src.shown)
    if len(gdf) == 0:
        if not allow_empty:
            raise InputError("layer has no features", src.shown)
    if src.kind == "table" and "row" in gdf.columns:
        fids = list(gdf["row"])
    elif src.kind in _OWN_READERS:
        fids = list(range(1, len(gdf) + 1))
    else:
        fids = list(gdf.index)
    gdf = gdf.reset_index(drop=True)
    labels = feature_labels(gdf, fids, word)
    if len(gdf):
        xy, owner = shapely.get_coordinates(gdf.geometry.values, return_index=True)
        bad = ~np.isfinite(xy).all(axis=1)
        if bad.any():
            which = [labels[i] for i in np.unique(owner[bad])]
            raise InputError(f"coordinates that are not numbers (NaN or infinite) in {_list_some(which)}",
                             src.shown, hint="fix or remove those features")

    if len(gdf):
        if swap_xy:
            gdf = gdf.set_geometry(shapely.transform(gdf.geometry.values, lambda c: c[:, ::-1]), crs=gdf.crs)
        if coords is not None and crs is None and gdf.crs is None:
            crs = "EPSG:4326"   # web-map coordinates are longitude/latitude by definition
        file_crs = _resolve_crs(gdf, src, crs, notes)
        file_crs = _check_numbers(gdf, src, file_crs, notes)
        warning = crsmod.datum_warning(file_crs)
        if warning:
            notes.add("warning", warning)
        gdf = gdf.set_crs(file_crs, allow_override=True)
        if coords is not None:
            if not file_crs.is_geographic:
                raise InputError(f"coords={coords} applies to longitude/latitude, but the file is "
                                 f"in the projected system {crsmod.describe(file_crs)}", src.shown)
            gdf = gdf.to_crs(settings.STORAGE_CRS)
            b = gdf.total_bounds
            if not (chinacoords.in_china(b[0], b[1]) and chinacoords.in_china(b[2], b[3])):
                raise InputError(f"coords={coords}: the data extends outside China "
                                 f"({b[0]:.3f}, {b[1]:.3f}, {b[2]:.3f}, {b[3]:.3f}), where "
                                 f"{coords} is not defined", src.shown)
            gdf = gdf.set_geometry(chinacoords.transform_geometries(gdf.geometry.values, coords, "wgs84"),
                                   crs=settings.STORAGE_CRS)
            notes.add("repaired", f"converted from {coords.upper()} to CGCS2000 as requested")
        else:
            gdf = gdf.to_crs(settings.STORAGE_CRS)
        gdf = _repair_geometries(gdf, labels, notes)
        _flag_far_features(gdf, labels, notes)
        _report_duplicate_ids(gdf, notes, id_field)
    else:
        gdf = gdf.set_crs(crs or gdf.crs or settings.STORAGE_CRS, allow_override=True).to_crs(settings.STORAGE_CRS)

    gdf.attrs["source"] = src.shown
    gdf.attrs["encoding"] = enc
    gdf.attrs["notes"] = list(notes)
    return gdf


def check_fields(gdf: pd.DataFrame, required, source: str | None = None) -> None:
    """Raise :class:`InputError` naming the missing fields and the ones the layer has."""
    missing = [f for f in required if f not in gdf.columns]
    if missing:
        geom = gdf.geometry.name if isinstance(gdf, gpd.GeoDataFrame) else None
        have = [c for c in gdf.columns if c != geom]
        raise InputError(f"missing required field(s) {', '.join(missing)}; "
                         f"the layer has: {', '.join(map(str, have)) or '(none)'}",
                         source or gdf.attrs.get("source"),
                         hint="rename them in the file, or map them with fields = {…} in catalog.toml")
