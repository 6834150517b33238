"""CAD drawings (DXF) as layers: CAD layers become a field, geometry types become layers.

A DXF carries no coordinate system, so the caller must be told one (``crs=`` / ``--crs``);
the numbers suggest which Gauss-Kruger zone. Closed polylines — how a 用地红线 is drawn — are
read as polygons. Text encoding follows the drawing: UTF-8 for AutoCAD 2007 and later,
otherwise its ``$DWGCODEPAGE`` (ANSI_936 is GBK), checked against the bytes.

DWG, MapGIS and personal geodatabases cannot be read here; :data:`UNREADABLE` says how to
convert each.
"""
from __future__ import annotations

import re
import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from .errors import InputError

#: Geometry families offered as layers of a drawing, in this order.
FAMILIES = {"polygons": ("Polygon", "MultiPolygon"), "lines": ("LineString", "MultiLineString"),
            "points": ("Point", "MultiPoint")}
_COLUMNS = {"Layer": "cad_layer", "SubClasses": "entity", "EntityHandle": "handle", "Text": "text",
            "Linetype": "linetype"}

#: Formats that reach planners but that GDAL (and so this toolkit) cannot read, with the way out.
UNREADABLE = {
    ".dwg": "DWG is AutoCAD's closed format; save it as DXF in CAD (另存为 → AutoCAD DXF) "
            "or convert it with the free ODA File Converter, then read the .dxf",
    ".wt": "MapGIS point files cannot be read here; export to shapefile in MapGIS "
           "(文件转换 → 输出 SHAPE 文件) and read the .shp",
    ".wl": "MapGIS line files cannot be read here; export to shapefile in MapGIS "
           "(文件转换 → 输出 SHAPE 文件) and read the .shp",
    ".wp": "MapGIS polygon files cannot be read here; export to shapefile in MapGIS "
           "(文件转换 → 输出 SHAPE 文件) and read the .shp",
    ".mpj": "a MapGIS project only lists its .wt/.wl/.wp files; export those to shapefile in "
            "MapGIS (文件转换 → 输出 SHAPE 文件)",
    ".mdb": "personal geodatabases (Access .mdb) cannot be read here; in ArcGIS copy the "
            "layers into a File Geodatabase (.gdb) or a GeoPackage and read that",
    ".dwf": "DWF is a viewing format without drawing data; ask for a DXF",
}

_CODEPAGES = {"ANSI_936": "CP936", "ANSI_950": "CP950", "ANSI_1252": "CP1252", "ANSI_932": "CP932",
              "UTF-8": "UTF-8", "UTF8": "UTF-8"}


def _header_value(text: str, name: str) -> str | None:
    m = re.search(r"\$" + name + r"\s*\r?\n\s*\d+\s*\r?\n([^\r\n]*)", text)
    return m.group(1).strip() if m else None


def _is_text(raw: bytes, codec: str) -> bool:
    try:
        raw.decode(codec)
        return True
    except UnicodeDecodeError:
        return False


def encoding(path: Path) -> tuple[str, str]:
    """(GDAL encoding name, how it was decided) for the text of a DXF."""
    raw = Path(path).read_bytes()
    head = raw[:20000].decode("latin-1")
    version = _header_value(head, "ACADVER") or ""
    codepage = (_header_value(head, "DWGCODEPAGE") or "").upper()
    has_high = any(b >= 0x80 for b in raw)
    if not has_high:
        return "UTF-8", "text is plain ASCII"
    if _is_text(raw, "utf-8"):
        return "UTF-8", "text is UTF-8" + (f" (the header names {codepage})" if codepage and
                                          "UTF" not in codepage and version < "AC1021" else "")
    if codepage in _CODEPAGES and _CODEPAGES[codepage] != "CP1252" and \
            _is_text(raw, _CODEPAGES[codepage].lower()):
        return _CODEPAGES[codepage], f"$DWGCODEPAGE {codepage}"
    if _is_text(raw, "gb18030"):
        return "CP936", f"text read as GBK (the header names {codepage or 'no code page'})"
    return _CODEPAGES.get(codepage, "CP1252"), f"$DWGCODEPAGE {codepage or '(none)'}; some text may be wrong"


def _read_entities(path: Path, enc: str) -> gpd.GeoDataFrame:
    options = {"DXF_ENCODING": enc, "DXF_CLOSED_LINE_AS_POLYGON": "TRUE"}
    old = {k: pyogrio.get_gdal_config_option(k) for k in options}
    pyogrio.set_gdal_config_options(options)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return pyogrio.read_dataframe(path, layer="entities")
    except Exception as exc:  # noqa: BLE001 - GDAL's message is what there is
        text = str(exc).strip().splitlines()
        raise InputError(f"cannot read as DXF: {text[0] if text else type(exc).__name__}", path) from exc
    finally:
        pyogrio.set_gdal_config_options(old)


def _close_rings(gdf: gpd.GeoDataFrame, notes: list[str]) -> gpd.GeoDataFrame:
    """Polylines that end where they start (snapped shut, without the closed flag) as polygons."""
    geoms = gdf.geometry.values
    lines = (gdf.geom_type == "LineString").to_numpy()
    if not lines.any():
        return gdf
    ring = np.zeros(len(gdf), dtype=bool)
    ring[lines] = shapely.is_closed(geoms[lines]) & (shapely.get_num_coordinates(geoms[lines]) >= 4)
    if ring.any():
        out = gdf.copy()
        new = np.array(geoms, dtype=object)
        new[ring] = shapely.polygons(shapely.linearrings(shapely.get_coordinates(geoms[ring]), indices=np.repeat(np.arange(ring.sum()), shapely.get_num_coordinates(geoms[ring]))))
        out[out.geometry.name] = gpd.GeoSeries(new, index=out.index, crs=out.crs)
        notes.append(f"{int(ring.sum())} polylines that end where they start read as polygons")
        return out
    return gdf


def _family(types: pd.Series) -> pd.Series:
    out = pd.Series(None, index=types.index, dtype=object)
    for fam, members in FAMILIES.items():
        out[types.isin(members)] = fam
    return out


def _tidy(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = gdf.rename(columns=_COLUMNS)
    if "entity" in out.columns:
        out["entity"] = out["entity"].astype(str).str.split(":").str[-1]
    keep = [c for c in ("cad_layer", "entity", "text", "linetype", "handle") if c in out.columns]
    return out[keep + [out.geometry.name]]


def contents(path: Path) -> tuple[gpd.GeoDataFrame, list[str]]:
    """All model-space entities with their geometry family and the notes of reading."""
    enc, how = encoding(path)
    gdf = _read_entities(path, enc)
    notes = [f"text encoding: {how}"] if enc != "UTF-8" or "header" in how else []
    if "PaperSpace" in gdf.columns:
        paper = gdf["PaperSpace"].fillna(0).astype(bool)
        if paper.any():
            notes.append(f"{int(paper.sum())} paper-space entities (layout sheets) left out")
            gdf = gdf[~paper]
    gdf = _close_rings(gdf, notes)
    fam = _family(gdf.geom_type)
    other = fam.isna() & gdf.geometry.notna()
    if other.any():
        kinds = ", ".join(sorted(set(gdf.geom_type[other].astype(str))))
        notes.append(f"{int(other.sum())} entities of other types ({kinds}) left out")
    gdf = _tidy(gdf)
    gdf["family"] = fam
    return gdf[gdf["family"].notna()].reset_index(drop=True), notes


def list_layers(path: Path) -> list[str]:
    """The geometry families present ("polygons", "lines", "points"), with counts."""
    gdf, _ = contents(path)
    counts = gdf["family"].value_counts()
    return [f for f in FAMILIES if counts.get(f, 0)]


def read_dxf(path: Path, layer: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Entities of one geometry family (``layer`` = polygons/lines/points) or of one CAD layer.

    Without ``layer`` the drawing must hold a single family. The result has no CRS; its
    columns are ``cad_layer``, ``entity`` (DXF entity type), ``text``, ``linetype``, ``handle``.
    """
    path = Path(path)
    gdf, notes = contents(path)
    if gdf.empty:
        raise InputError("the drawing holds no points, lines or polygons in model space", path)
    counts = gdf["family"].value_counts()
    present = ", ".join(f"{f} ({counts[f]})" for f in FAMILIES if counts.get(f, 0))
    cad_layers = sorted(gdf["cad_layer"].dropna().astype(str).unique()) if "cad_layer" in gdf else []
    chosen = gdf
    if layer is not None:
        key = layer.strip()
        if key.lower() in FAMILIES:
            chosen = gdf[gdf["family"] == key.lower()]
            if chosen.empty:
                raise InputError(f"the drawing has no {key.lower()}; it holds {present}", path)
        elif key in cad_layers:
            chosen = gdf[gdf["cad_layer"] == key]
        else:
            raise InputError(f"no geometry type or CAD layer named {layer!r}; it holds {present} "
                             f"on CAD layers {', '.join(cad_layers[:20]) or '(none)'}", path)
    families = [f for f in FAMILIES if (chosen["family"] == f).any()]
    if len(families) > 1:
        sub = chosen["family"].value_counts()
        raise InputError(f"holds {', '.join(f'{f} ({sub[f]})' for f in families)}; choose one", path,
                         hint="layer='polygons' (or a CAD layer name) in Python, --layer polygons on "
                              "the command line")
    out = chosen.drop(columns="family").reset_index(drop=True)
    return gpd.GeoDataFrame(out, geometry=out.geometry.name, crs=None), notes
