"""Export layers and result tables for the county GIS: shapefile, GeoPackage, File Geodatabase,
GeoJSON, KML/KMZ (for field staff), CSV, XLSX.

Every write goes to a temporary file beside the target and is renamed into place only when
complete, so an existing file is never left half-written; it is replaced only with
``overwrite=True``.

Shapefiles are the classic trouble spot, so :func:`write` packs each layer as a ``.zip``
holding ``.shp .shx .dbf .prj .cpg``: the ``.prj`` in ESRI WKT (ArcGIS and QGIS read it as the
chosen CGCS2000 system), the ``.cpg`` and the dBASE language-driver byte naming the encoding,
field names cut to the 10-byte dBASE limit by a deterministic mapping stored in the zip as
``fieldmap.csv``, text longer than 254 bytes kept whole in ``<layer>_longtext.csv``, and
mixed geometry types split into one shapefile per type. GeoPackage is the recommended format:
many layers in one file, full Chinese field names, UTF-8, no size limits. A File Geodatabase
(``.gdb``, written by GDAL's OpenFileGDB driver) holds many layers and tables too; field
names keep their Chinese but lose characters ArcGIS refuses (``面积(亩)`` → ``面积_亩``), and
the table ``字段对照`` lists every such rename. KML/KMZ carry the name and key fields of each
feature in its description, in WGS84 or, on request, GCJ-02.
"""
from __future__ import annotations

import contextlib
import csv
import io
import os
import shutil
import tempfile
import warnings
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS

from .errors import InputError

FORMATS = {"shp": ".zip", "gpkg": ".gpkg", "gdb": ".gdb", "geojson": ".geojson", "kml": ".kml",
           "kmz": ".kmz", "csv": ".csv", "xlsx": ".xlsx"}
_SUFFIX_FORMAT = {".zip": "shp", ".shp": "shp", ".gpkg": "gpkg", ".gdb": "gdb", ".geojson": "geojson",
                  ".json": "geojson", ".kml": "kml", ".kmz": "kmz", ".csv": "csv", ".xlsx": "xlsx"}
#: Formats that hold many layers in one file (or folder).
MULTI_LAYER = ("gpkg", "gdb", "xlsx", "kml", "kmz")
#: Encodings offered for shapefiles and CSV: Python codec, GDAL name, .cpg text, dBASE LDID.
ENCODINGS = {"utf-8": ("utf-8", "UTF-8", "UTF-8", 0x00), "gbk": ("gbk", "CP936", "936", 0x4D)}
#: CGCS2000 systems the county GIS takes: geographic, and every Gauss-Kruger zone.
EXPORT_CRS = {4490} | set(range(4491, 4555))
DBF_NAME_BYTES = 10
DBF_TEXT_BYTES = 254
#: A shapefile part approaching 2 GiB (the format's limit) triggers a warning.
SHP_WARN_BYTES = 1_600_000_000
SHP_LIMIT_BYTES = 2**31 - 1

#: Chinese column headers for tables (CSV/XLSX) when ``headers="zh"``.
HEADER_LABELS = {
    "id": "编号", "name": "名称", "code": "代码", "type": "类型", "kind": "类别",
    "data_status": "数据状态", "source": "来源", "method": "方法", "accuracy": "精度",
    "date": "日期", "phase": "阶段", "layer": "图层", "feature_id": "要素编号",
    "area_m2": "面积(平方米)", "area_mu": "面积(亩)", "area_ha": "面积(公顷)",
    "area_km2": "面积(平方千米)", "length_m": "长度(米)", "length_km": "长度(千米)",
    "minutes": "行车时间(分钟)", "entrance": "最近高速出入口", "within": "是否达标",
    "scenario": "情景", "population": "人口", "share": "比例", "target": "目标",
    "verdict": "判定", "line": "管控线", "x": "X坐标", "y": "Y坐标",
    "lon": "经度", "lat": "纬度", "geometry_type": "几何类型", "wkt": "几何(WKT)",
}


class ExportWarning(UserWarning):
    """Something the county GIS staff should know about an export (cut text, size)."""


# --------------------------------------------------------------------------- atomic writes
@contextlib.contextmanager
def atomic_path(path: Path, overwrite: bool = True, keep_existing: bool = False):
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    With ``keep_existing`` the temporary file starts as a copy of the existing one (to add
    layers to a GeoPackage). On any error the temporary file is removed and ``path`` is left
    as it was.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError("is a folder, not a file", path)
    if path.exists() and not overwrite and not keep_existing:
        raise InputError("already exists; pass overwrite=True (--overwrite) to replace it", path)
    if not path.parent.exists():
        raise InputError("folder does not exist", path.parent)
    if not path.parent.is_dir():
        raise InputError("is a file, not a folder", path.parent)
    if not os.access(path.parent, os.W_OK):
        raise InputError("folder is not writable", path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent)
    except OSError as exc:
        raise InputError(f"cannot write here: {exc.strerror}", path.parent) from exc
    os.close(fd)
    os.unlink(tmp)          # GDAL drivers want to create the file themselves
    try:
        if keep_existing and path.exists():
            shutil.copyfile(path, tmp)
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_geojson(gdf: gpd.GeoDataFrame, path: Path, precision: int = 7, overwrite: bool = True) -> Path:
    """Write a layer as RFC 7946 GeoJSON (lon/lat; CGCS2000 and WGS84 agree to centimetres).

    ``precision`` decimals of a degree: 7 is about 1 cm, ample for planning layers.
    """
    out = gdf.to_crs("EPSG:4326") if gdf.crs is not None else gdf
    with atomic_path(Path(path), overwrite) as tmp:
        pyogrio.write_dataframe(out, tmp, driver="GeoJSON", layer_options={
            "COORDINATE_PRECISION": str(precision), "RFC7946": "YES", "WRITE_NAME": "NO"})
    return Path(path)


# --------------------------------------------------------------------------- helpers
def _format_of(path: Path, fmt: str | None) -> str:
    if fmt:
        fmt = fmt.lower()
        if fmt not in FORMATS:
            raise InputError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
        return fmt
    if path.suffix.lower() not in _SUFFIX_FORMAT:
        raise InputError(f"cannot tell the format from the suffix {path.suffix or '(none)'}; "
                         f"give format= (one of {', '.join(FORMATS)})", path)
    return _SUFFIX_FORMAT[path.suffix.lower()]


def export_crs(value) -> CRS:
    """The requested CGCS2000 system, or an error naming the supported ones."""
    try:
        code = int(str(value).upper().replace("EPSG:", ""))
    except ValueError:
        code = None
    if code not in EXPORT_CRS:
        raise InputError(f"unsupported coordinate system {value!r} for export; use 4490 (CGCS2000 "
                         f"geographic), 4544 (3° GK CM 105E), 4523 (3° GK zone 35) or another "
                         f"CGCS2000 Gauss-Kruger code 4491–4554")
    return CRS.from_epsg(code)


def _encoding(name: str):
    key = str(name).lower().replace("_", "-")
    key = {"utf8": "utf-8", "cp936": "gbk", "936": "gbk", "gb2312": "gbk"}.get(key, key)
    if key not in ENCODINGS:
        raise InputError(f"unsupported encoding {name!r}; use utf-8 or gbk")
    return key, ENCODINGS[key]


def _text_columns(df: pd.DataFrame) -> list:
    geom = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
    return [c for c in df.columns if c != geom and (df[c].dtype == object or pd.api.types.is_string_dtype(df[c]))]


def _label(df: pd.DataFrame, pos: int) -> str:
    for col in ("name", "名称", "NAME"):
        if col in df.columns and isinstance(df[col].iloc[pos], str):
            return f"feature {pos} (name={df[col].iloc[pos]})"
    return f"feature {pos}"


def check_encodable(df: pd.DataFrame, codec: str, encoding: str, where) -> None:
    """Raise naming the first field name or value the encoding cannot hold."""
    for col in df.columns:
        try:
            str(col).encode(codec)
        except UnicodeEncodeError as exc:
            raise InputError(f"field name {str(col)!r} cannot be written in {encoding.upper()}",
                             where, hint="choose --encoding utf-8 or rename the field") from exc
    for col in _text_columns(df):
        for pos, value in enumerate(df[col]):
            if isinstance(value, str):
                try:
                    value.encode(codec)
                except UnicodeEncodeError as exc:
                    bad = value[exc.start:exc.end]
                    raise InputError(f"value {value!r} in field {str(col)!r} holds {bad!r}, which "
                                     f"{encoding.upper()} cannot encode", where, feature=_label(df, pos),
                                     hint="choose --encoding utf-8") from exc


def _cut_bytes(text: str, limit: int, codec: str) -> str:
    """The longest prefix of ``text`` whose encoding fits in ``limit`` bytes."""
    out = text
    while len(out.encode(codec)) > limit:
        out = out[:-1]
    return out


def short_field_names(names, encoding: str = "utf-8") -> dict[str, str]:
    """Map field names to unique dBASE names of at most 10 bytes in ``encoding``.

    Deterministic: names that already fit keep their spelling (first come, first kept, case
    ignored as dBASE does); the others are cut at a character boundary, and a collision gets
    ``_1``, ``_2`` … in the order of the columns.
    """
    codec = ENCODINGS[_encoding(encoding)[0]][0]
    names = [str(n) for n in names]
    mapping: dict[str, str] = {}
    used: set[str] = set()
    for name in names:
        if len(name.encode(codec)) <= DBF_NAME_BYTES and name.casefold() not in used:
            mapping[name] = name
            used.add(name.casefold())
    for name in names:
        if name in mapping:
            continue
        short, i = _cut_bytes(name, DBF_NAME_BYTES, codec), 0
        while short.casefold() in used or not short:
            i += 1
            suffix = f"_{i}"
            short = _cut_bytes(name, DBF_NAME_BYTES - len(suffix), codec) + suffix
        mapping[name] = short
        used.add(short.casefold())
    return mapping


_FAMILY = {"Point": "point", "MultiPoint": "point", "LineString": "line", "MultiLineString": "line",
           "LinearRing": "line", "Polygon": "polygon", "MultiPolygon": "polygon"}


def _split_by_geometry_type(gdf: gpd.GeoDataFrame) -> dict[str, gpd.GeoDataFrame]:
    """One frame per shapefile type (point, line, polygon); collections are exploded."""
    types = gdf.geom_type
    if (types == "GeometryCollection").any():
        warnings.warn("geometry collections split into their parts for the shapefile", ExportWarning, 2)
        gdf = gdf.explode(index_parts=False)
        types = gdf.geom_type
    family = types.map(_FAMILY)
    present = [f for f in ("point", "line", "polygon") if (family == f).any()]
    if not present:
        return {"point": gdf}
    family = family.fillna(present[0])          # features without geometry go with the first type
    return {f: gdf[family == f] for f in present}


def _estimate_shp_bytes(gdf: gpd.GeoDataFrame) -> tuple[int, int]:
    coords = int(shapely.get_num_coordinates(gdf.geometry.values).sum())
    parts = int(shapely.get_num_geometries(gdf.geometry.values).sum())
    shp = 100 + len(gdf) * 52 + parts * 4 + coords * 16
    rec = 1
    for col in gdf.columns:
        if col == gdf.geometry.name:
            continue
        if col in _text_columns(gdf):
            longest = gdf[col].dropna().astype(str).str.len().max()
            rec += min(DBF_TEXT_BYTES, (int(longest) if pd.notna(longest) and longest > 0 else 1) * 3)
        else:
            rec += 24
    return shp, 32 * (len(gdf.columns) + 1) + len(gdf) * rec


def _set_dbf_language_driver(dbf: Path, ldid: int) -> None:
    with open(dbf, "r+b") as fh:
        fh.seek(29)
        fh.write(bytes([ldid]))


def _csv_bytes(rows: list[list], header: list[str]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")


# --------------------------------------------------------------------------- shapefile
def _write_shapefile_zip(gdf: gpd.GeoDataFrame, path: Path, encoding: str, overwrite: bool) -> Path:
    key, (codec, gdal_enc, cpg, ldid) = _encoding(encoding)
    stem = Path(path).stem
    check_encodable(gdf, codec, key, path)
    fields = [c for c in gdf.columns if c != gdf.geometry.name]
    mapping = short_field_names(fields, key)
    renamed = gdf.rename(columns=mapping)
    text_cols = [(col, mapping[col]) for col in fields if col in _text_columns(gdf)]
    parts = _split_by_geometry_type(renamed)
    long_rows = []
    for fam, part in parts.items():
        name = stem if len(parts) == 1 else f"{stem}_{fam}"
        part = part.reset_index(drop=True)
        for col, short in text_cols:
            for pos, value in enumerate(part[short]):
                if isinstance(value, str) and len(value.encode(codec)) > DBF_TEXT_BYTES:
                    long_rows.append([f"{name}.shp", pos, col, short, value])
                    part.iloc[pos, part.columns.get_loc(short)] = _cut_bytes(value, DBF_TEXT_BYTES, codec)
        parts[fam] = part
    if long_rows:
        warnings.warn(f"{path}: {len(long_rows)} text value(s) longer than {DBF_TEXT_BYTES} bytes were "
                      f"cut in the .dbf; the full text is in {stem}_longtext.csv inside the zip",
                      ExportWarning, 3)
    if len(parts) > 1:
        warnings.warn(f"{path}: mixed geometry types written as separate shapefiles: "
                      + ", ".join(f"{stem}_{f}.shp ({len(p)})" for f, p in parts.items()), ExportWarning, 3)
    for fam, part in parts.items():
        shp_bytes, dbf_bytes = _estimate_shp_bytes(part)
        biggest = max(shp_bytes, dbf_bytes)
        if biggest > SHP_LIMIT_BYTES:
            raise InputError(f"the {fam} shapefile would need about {biggest / 2**30:.1f} GiB, beyond the "
                             f"format's 2 GiB limit", path, hint="export as GeoPackage (--format gpkg)")
        if biggest > SHP_WARN_BYTES:
            warnings.warn(f"{path}: the {fam} shapefile is about {biggest / 2**30:.2f} GiB, close to the "
                          f"2 GiB limit of the format; GeoPackage has no such limit", ExportWarning, 3)
    with tempfile.TemporaryDirectory(dir=Path(path).parent if Path(path).parent.exists() else None) as tmpdir:
        written = []
        for fam, part in parts.items():
            name = stem if len(parts) == 1 else f"{stem}_{fam}"
            shp = Path(tmpdir) / f"{name}.shp"
            pyogrio.write_dataframe(part, shp, driver="ESRI Shapefile", encoding=gdal_enc)
            shp.with_suffix(".cpg").write_text(cpg, encoding="ascii")
            _set_dbf_language_driver(shp.with_suffix(".dbf"), ldid)
            written += [shp.with_suffix(s) for s in (".shp", ".shx", ".dbf", ".prj", ".cpg")]
        with atomic_path(Path(path), overwrite) as tmpzip:
            with zipfile.ZipFile(tmpzip, "w", zipfile.ZIP_DEFLATED) as zf:
                for f in written:
                    zf.write(f, f.name)
                zf.writestr("fieldmap.csv", _csv_bytes([[k, v] for k, v in mapping.items()],
                                                       ["full_name", "short_name"]))
                if long_rows:
                    zf.writestr(f"{stem}_longtext.csv",
                                _csv_bytes(long_rows, ["shapefile", "fid", "field", "short_field", "value"]))
    return Path(path)


# --------------------------------------------------------------------------- tables
def table_for_export(df: pd.DataFrame, headers: str = "zh") -> pd.DataFrame:
    """A plain table: geometry replaced by coordinates, headers in Chinese when asked.

    Points become x/y (lon/lat in EPSG:4490); other geometries their type, a representative
    point and WKT (only kept for CSV by the caller: Excel cells hold at most 32,767 characters).
    """
    out = pd.DataFrame(df).copy()
    computed_names: list[str] = []
    if isinstance(df, gpd.GeoDataFrame):
        geom = df.geometry
        geographic = df.crs is None or CRS(df.crs).is_geographic
        xname, yname = ("lon", "lat") if geographic else ("x", "y")
        reps = shapely.point_on_surface(geom.values)
        out = out.drop(columns=geom.name)
        digits = 7 if geographic else 2
        computed = {"geometry_type": geom.geom_type.values, xname: np.round(shapely.get_x(reps), digits),
                    yname: np.round(shapely.get_y(reps), digits),
                    "wkt": shapely.to_wkt(geom.values, rounding_precision=digits)}
        for key, values in computed.items():
            name = key
            while name in out.columns:          # never overwrite a column of the user's
                name += "_geom"
            out[name] = values
            computed_names.append(name)
    if headers == "zh":
        # the computed coordinate columns get their labels first; a user column keeps its own
        # name when its label is taken or names another existing column
        labels, used = {}, set(out.columns)
        order = computed_names + [c for c in out.columns if c not in computed_names]
        for c in order:
            label = HEADER_LABELS.get(c.removesuffix("_geom") if c in computed_names else c, c)
            if label != c and label not in used:
                labels[c] = label
                used.discard(c)
                used.add(label)
        out = out.rename(columns=labels)
    return out


def _sheet_name(name: str, used: set) -> str:
    clean = "".join("_" if ch in '[]:*?/\\' else ch for ch in str(name))[:31] or "sheet"
    base, i = clean, 1
    while clean in used:
        suffix = f"_{i}"
        clean = base[:31 - len(suffix)] + suffix
        i += 1
    used.add(clean)
    return clean


def _write_xlsx(frames: dict[str, pd.DataFrame], path: Path, headers: str, overwrite: bool) -> Path:
    with atomic_path(path, overwrite) as tmp:
        used: set[str] = set()
        with pd.ExcelWriter(tmp, engine="openpyxl") as xw:
            for name, df in frames.items():
                table = table_for_export(df, headers)
                wkt_col = HEADER_LABELS["wkt"] if headers == "zh" else "wkt"
                table = table.drop(columns=[wkt_col], errors="ignore")
                sheet = _sheet_name(name, used)
                table.to_excel(xw, sheet_name=sheet, index=False)
                ws = xw.sheets[sheet]
                # a text that begins with = is data, never a formula (no formula can come from
                # a table: a name like "=1+1" or "=HYPERLINK(…)" must stay what it says)
                for row in ws.iter_rows():
                    for cell in row:
                        if cell.data_type == "f":
                            cell.data_type = "s"
                ws.freeze_panes = "A2"
                for i, col in enumerate(table.columns, start=1):
                    width = max([len(str(col)) * 2] + [len(str(v)) for v in table[col].head(200)])
                    ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = min(60, width + 2)
    return path


# --------------------------------------------------------------------------- public API
def _write_gdb(frames: dict, path: Path, overwrite: bool) -> Path:
    """A File Geodatabase folder, written beside the target and renamed into place."""
    from . import filegdb
    split = {}
    for name, df in frames.items():
        parts = _split_by_geometry_type(df) if isinstance(df, gpd.GeoDataFrame) and len(df) else {"": df}
        for fam, part in parts.items():
            split[name if len(parts) == 1 else f"{name}_{fam}"] = part
    frames = split
    if path.suffix.lower() != ".gdb":
        raise InputError("a File Geodatabase is a folder whose name ends in .gdb", path)
    if path.exists() and not overwrite:
        raise InputError("already exists; pass overwrite=True (--overwrite) to replace it", path)
    if path.exists() and not filegdb.is_gdb_folder(path):
        raise InputError("exists and is not a File Geodatabase; refusing to replace it", path)
    if not path.parent.is_dir():
        raise InputError("folder does not exist", path.parent)
    work = Path(tempfile.mkdtemp(prefix=f".{path.stem}-", dir=path.parent))
    try:
        tmp = work / path.name
        try:
            filegdb.write(frames, tmp)
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - GDAL errors come in many classes
            raise InputError(f"cannot write the geodatabase: {str(exc).splitlines()[0]}", path) from exc
        filegdb.replace_folder(tmp, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return path


def write(data, path, format: str | None = None, *, crs=4490, encoding: str = "utf-8",
          overwrite: bool = False, headers: str = "zh", add: bool = False,
          coords: str = "wgs84") -> Path:
    """Write a layer, a table, or several of them for the county GIS.

    Parameters
    ----------
    data : GeoDataFrame, DataFrame, or dict of name → frame
        A dict writes several layers into one GeoPackage or sheets into one workbook.
    path : str or Path
        Target file; for shapefiles a ``.zip``.
    format : {"shp", "gpkg", "gdb", "geojson", "kml", "kmz", "csv", "xlsx"}, optional
        Default: from the suffix of ``path``.
    crs : int or str
        4490 (CGCS2000 geographic, default), 4544 (3° GK CM 105E), 4523 (zone 35) or another
        CGCS2000 Gauss-Kruger code. GeoJSON is always longitude/latitude (4490).
    encoding : {"utf-8", "gbk"}
        Text encoding of shapefiles and CSV (GeoPackage and XLSX are always Unicode).
    overwrite : bool
        Replace an existing file (otherwise an error).
    headers : {"zh", "raw"}
        Chinese column headers for CSV/XLSX tables, or the field names unchanged.
    add : bool
        GeoPackage only: add (or replace) these layers in an existing file.
    coords : {"wgs84", "gcj02"}
        KML/KMZ only: write WGS84 (the KML standard) or GCJ-02 (for 奥维/AMap users).

    Returns
    -------
    Path of the written file.
    """
    path = Path(path)
    fmt = _format_of(path, format)
    frames = data if isinstance(data, dict) else {path.stem: data}
    if not frames:
        raise InputError("nothing to export", path)
    target_crs = export_crs(crs)
    for name, df in frames.items():
        if not isinstance(df, pd.DataFrame):
            raise InputError(f"{name!r} is not a table or layer", path)
        if isinstance(df, gpd.GeoDataFrame) and df.crs is None:
            raise InputError(f"layer {name!r} has no coordinate system", path)
    if fmt in ("shp", "geojson", "kml", "kmz"):
        for name, df in frames.items():
            if not isinstance(df, gpd.GeoDataFrame):
                raise InputError(f"{name!r} is a table without geometry; export it as csv, xlsx "
                                 f"or gpkg", path)
    # GeoPackage takes plain tables too (as attribute tables)
    frames = {n: df.to_crs(target_crs) if isinstance(df, gpd.GeoDataFrame) else df
              for n, df in frames.items()}

    if fmt == "gpkg":
        with atomic_path(path, overwrite, keep_existing=add) as tmp:
            for name, df in frames.items():
                pyogrio.write_dataframe(df, tmp, layer=str(name), driver="GPKG")
        return path
    if fmt == "xlsx":
        return _write_xlsx(frames, path, headers, overwrite)
    if fmt == "gdb":
        return _write_gdb(frames, path, overwrite)
    if fmt in ("kml", "kmz"):
        if target_crs.to_epsg() != 4490:
            raise InputError("KML is longitude/latitude by definition; use --crs 4490 "
                             "(and --coords gcj02 for 奥维/AMap users)", path)
        from . import kml
        return kml.write_kml(frames, path, kmz=fmt == "kmz", coords=coords, overwrite=overwrite)
    if len(frames) > 1:
        raise InputError(f"{fmt} holds one layer per file; write them one by one or use gpkg", path)
    (df,) = frames.values()
    if fmt == "shp":
        if path.suffix.lower() != ".zip":
            path = path.with_suffix(".zip")
        return _write_shapefile_zip(df, path, encoding, overwrite)
    if fmt == "geojson":
        if target_crs.to_epsg() != 4490:
            raise InputError("GeoJSON is longitude/latitude by definition (RFC 7946); use --crs 4490 "
                             "or another format for projected coordinates", path)
        return write_geojson(df, path, overwrite=overwrite)
    # csv
    key, (codec, *_rest) = _encoding(encoding)
    table = table_for_export(df, headers)
    check_encodable(table, codec, key, path)
    with atomic_path(path, overwrite) as tmp:
        table.to_csv(tmp, index=False, encoding="utf-8-sig" if key == "utf-8" else codec)
    return path
