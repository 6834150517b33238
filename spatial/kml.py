"""KML and KMZ (Google Earth, 奥维互动地图): read placemarks as a layer, write layers for field staff.

Reading is done by the toolkit's own parser on the standard library's expat, which is told to
refuse every entity declaration: a KML cannot make the parser read a local file (XXE) or
expand entities without bound. Folders become the ``folder`` field (``layer=`` picks one),
placemark names and descriptions become fields (the description's HTML reduced to its text),
ExtendedData becomes fields. Coordinates are WGS84 by the standard (EPSG:4326); apps that write
GCJ-02 need ``coords="gcj02"`` in :func:`spatial.read`.
"""
from __future__ import annotations

import html
import html.parser
import re
import zipfile
import xml.parsers.expat as expat
from pathlib import Path
from xml.etree import ElementTree as ET

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .errors import InputError

TOP_LEVEL = ""          # folder of placemarks outside any <Folder>
_BLOCKS = {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "table", "ul", "ol"}


# --------------------------------------------------------------------------- XML
def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _refuse_entities(path):
    def handler(*_args):
        raise InputError("KML declares XML entities (<!ENTITY …>); refused so that it cannot read "
                         "local files", path)
    return handler


def _declared_encoding(raw: bytes) -> str | None:
    m = re.match(rb"^\s*<\?xml[^>]*encoding=[\"']([A-Za-z0-9_.-]+)[\"']", raw)
    return m.group(1).decode("ascii") if m else None


_EXPAT_ENCODINGS = {"utf-8", "utf8", "utf-16", "utf16", "iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"}


def _text_for_expat(raw: bytes, path, notes: list[str]) -> bytes:
    """The document as bytes expat can read: encodings it lacks (GBK …) decoded here."""
    raw = raw.lstrip(b"\xef\xbb\xbf") if raw.startswith(b"\xef\xbb\xbf") else raw
    declared = _declared_encoding(raw)
    if declared and declared.lower() not in _EXPAT_ENCODINGS:
        try:
            text = raw.decode(declared)
        except (LookupError, UnicodeDecodeError) as exc:
            raise InputError(f"text is not valid {declared} as the XML declaration says", path) from exc
        text = re.sub(r"^(\s*<\?xml[^>]*encoding=)[\"'][^\"']+[\"']", r'\1"UTF-8"', text, count=1)
        return text.encode("utf-8")
    if declared is None:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise InputError("text is neither UTF-8 nor GBK", path) from exc
            notes.append("text read as GBK/GB18030 (the file declares no encoding and is not UTF-8)")
            return text.encode("utf-8")
    return raw


def _parse(raw: bytes, path, notes: list[str]) -> ET.Element:
    data = _text_for_expat(raw, path, notes)
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    refuse = _refuse_entities(path)
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartElementHandler = lambda tag, attrs: builder.start(tag, attrs)
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(data, True)
    except expat.ExpatError as exc:
        raise InputError(f"not valid XML: {expat.ErrorString(exc.code)}: line {exc.lineno}, "
                         f"column {exc.offset}", path) from exc
    return builder.close()


def _document_bytes(path: Path, notes: list[str]) -> bytes:
    if path.suffix.lower() != ".kmz":
        return path.read_bytes()
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if n.lower().endswith(".kml") and not n.startswith("__MACOSX/")]
            if not names:
                raise InputError("KMZ holds no .kml file", path)
            top = [n for n in names if "/" not in n]
            chosen = next((n for n in names if n.lower() == "doc.kml"), None) or \
                (top[0] if len(top) == 1 else sorted(names)[0])
            if len(names) > 1:
                notes.append(f"the KMZ holds {len(names)} .kml files; read {chosen}")
            return zf.read(chosen)
    except zipfile.BadZipFile as exc:
        raise InputError("not a valid KMZ (zip) archive", path) from exc


# --------------------------------------------------------------------------- description text
class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip = max(0, self.skip - 1)
        elif tag in _BLOCKS or tag in ("td", "th"):
            self.parts.append("\n" if tag in _BLOCKS else " ")

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(value: str | None) -> str | None:
    """The text of an HTML fragment: tags removed, entities unescaped, one line per block,
    ``<script>``/``<style>`` contents dropped."""
    if value is None:
        return None
    parser = _Text()
    parser.feed(value)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.parts).splitlines())
    text = "\n".join(line for line in lines if line)
    return text or None


# --------------------------------------------------------------------------- geometry
def _coords(text: str | None, where: str, path) -> tuple[np.ndarray, bool]:
    """(n × 2 array of lon/lat, whether altitudes were present) of a <coordinates> text."""
    tuples = re.split(r"\s+", re.sub(r"\s*,\s*", ",", (text or "").strip()))
    out, has_z = [], False
    for tup in tuples:
        if not tup:
            continue
        parts = [p for p in tup.split(",") if p != ""]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"coordinate {tup[:40]!r} is not lon,lat[,alt]", path, feature=where) from None
        if len(values) < 2 or not all(np.isfinite(values)):
            raise InputError(f"coordinate {tup[:40]!r} is not lon,lat[,alt]", path, feature=where)
        has_z |= len(values) > 2
        out.append(values[:2])
    return np.array(out, dtype=float).reshape(-1, 2), has_z


def _child(el, name):
    return next((c for c in el if _local(c.tag) == name), None)


def _ring(el, where, path, flags) -> np.ndarray:
    coords_el = next((c for c in el.iter() if _local(c.tag) == "coordinates"), None)
    xy, z = _coords(coords_el.text if coords_el is not None else "", where, path)
    flags["z"] |= z
    if len(xy) and not np.array_equal(xy[0], xy[-1]):
        xy = np.vstack([xy, xy[:1]])
    if len(np.unique(xy, axis=0)) < 3:
        raise InputError("a polygon ring has fewer than 3 distinct points", path, feature=where)
    return xy


def _geometry(el, where, path, flags, notes):
    kind = _local(el.tag)
    if kind == "Point":
        xy, z = _coords(getattr(_child(el, "coordinates"), "text", ""), where, path)
        flags["z"] |= z
        if len(xy) != 1:
            raise InputError("a Point needs exactly one coordinate", path, feature=where)
        return shapely.Point(xy[0])
    if kind in ("LineString", "LinearRing"):
        xy, z = _coords(getattr(_child(el, "coordinates"), "text", ""), where, path)
        flags["z"] |= z
        if len(xy) < 2:
            raise InputError(f"a {kind} needs at least 2 coordinates", path, feature=where)
        return shapely.LineString(xy)
    if kind == "Polygon":
        outer = _child(el, "outerBoundaryIs")
        if outer is None:
            raise InputError("a Polygon has no outerBoundaryIs", path, feature=where)
        holes = [_ring(h, where, path, flags) for h in el if _local(h.tag) == "innerBoundaryIs"]
        return shapely.Polygon(_ring(outer, where, path, flags), holes)
    if kind == "Track":
        pts = []
        for c in el:
            if _local(c.tag) == "coord":
                values = (c.text or "").split()
                try:
                    pts.append([float(values[0]), float(values[1])])
                except (IndexError, ValueError):
                    raise InputError(f"gx:coord {c.text!r} is not 'lon lat alt'", path, feature=where) from None
                flags["z"] |= len(values) > 2
        if len(pts) < 2:
            raise InputError("a gx:Track needs at least 2 points", path, feature=where)
        return shapely.LineString(pts)
    if kind in ("MultiGeometry", "MultiTrack"):
        parts = []
        for c in el:
            g = _geometry(c, where, path, flags, notes)
            if g is not None:
                parts.extend(shapely.get_parts(g))
        if not parts:
            return None
        dims = shapely.get_dimensions(parts)
        top = dims.max()
        kept = [p for p, d in zip(parts, dims) if d == top]
        if len(kept) < len(parts):
            notes.append(f"MultiGeometry of mixed types in {where}: kept the "
                         f"{['points', 'lines', 'polygons'][top]}, dropped {len(parts) - len(kept)} part(s)")
        return {0: shapely.MultiPoint, 1: shapely.MultiLineString, 2: shapely.MultiPolygon}[top](kept)
    return None


_GEOMETRY_TAGS = {"Point", "LineString", "LinearRing", "Polygon", "MultiGeometry", "Track", "MultiTrack"}


# --------------------------------------------------------------------------- placemarks
def _text_of(el, name):
    c = _child(el, name)
    return None if c is None or c.text is None else c.text.strip() or None


def _extended(pm) -> dict:
    out = {}
    ext = _child(pm, "ExtendedData")
    if ext is None:
        return out
    for el in ext.iter():
        tag = _local(el.tag)
        if tag == "Data" and el.get("name"):
            value = _child(el, "value")
            out[el.get("name")] = None if value is None or value.text is None else value.text.strip()
        elif tag == "SimpleData" and el.get("name"):
            out[el.get("name")] = (el.text or "").strip()
    return out


def _walk(el, folders, rows):
    for child in el:
        tag = _local(child.tag)
        if tag in ("Folder", "Document"):
            name = _text_of(child, "name") if tag == "Folder" else None
            _walk(child, folders + [name or "(unnamed)"] if tag == "Folder" else folders, rows)
        elif tag == "Placemark":
            rows.append(("/".join(folders), child))


def _placemarks(path, notes):
    root = _parse(_document_bytes(Path(path), notes), path, notes)
    rows = []
    if _local(root.tag) == "Placemark":
        rows.append((TOP_LEVEL, root))
    _walk(root, [], rows)
    if not rows:
        raise InputError("KML holds no placemarks", path)
    return rows


def list_layers(path) -> list[str]:
    """Folder paths holding placemarks ("项目/一期"), in document order; "" is the top level."""
    seen = []
    for folder, _ in _placemarks(path, []):
        if folder not in seen:
            seen.append(folder)
    return seen


def _select(rows, layer, path):
    if layer is None:
        return rows
    key = layer.strip().strip("/")
    folders = list(dict.fromkeys(f for f, _ in rows))
    if key in folders or any(f.startswith(key + "/") for f in folders):
        return [r for r in rows if r[0] == key or r[0].startswith(key + "/")]
    last = [f for f in folders if f.rsplit("/", 1)[-1] == key]
    if len(last) == 1:
        return [r for r in rows if r[0] == last[0] or r[0].startswith(last[0] + "/")]
    shown = ", ".join(f or "(top level)" for f in folders)
    if len(last) > 1:
        raise InputError(f"several folders are named {layer!r}: {', '.join(last)}; give the full path", path)
    raise InputError(f"no folder named {layer!r}; it holds: {shown}", path)


def read_kml(path, layer: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Placemarks of a KML/KMZ as a GeoDataFrame in EPSG:4326 (2D), and the notes of reading.

    Columns: ``name``, ``description`` (text of its HTML), ``folder`` (path joined by "/",
    "" at the top level), then the ExtendedData fields (numbers where every value is one).
    ``layer`` keeps one folder (full path, or its last part when unique) and its sub-folders.
    """
    notes: list[str] = []
    rows = _select(_placemarks(path, notes), layer, path)
    flags = {"z": False}
    records, geoms, extra_cols = [], [], []
    for i, (folder, pm) in enumerate(rows, start=1):
        name = _text_of(pm, "name")
        where = f"placemark {i}" + (f" ({name[:40]})" if name else "")
        geom_el = next((c for c in pm if _local(c.tag) in _GEOMETRY_TAGS), None)
        geoms.append(None if geom_el is None else _geometry(geom_el, where, path, flags, notes))
        desc = _child(pm, "description")
        rec = {"name": name, "description": html_text(desc.text if desc is not None else None),
               "folder": folder}
        for key, value in _extended(pm).items():
            col = f"{key}_data" if key in ("name", "description", "folder") else key
            if col not in extra_cols:
                extra_cols.append(col)
            rec[col] = value
        records.append(rec)
    df = pd.DataFrame(records, columns=["name", "description", "folder"] + extra_cols)
    for col in extra_cols:
        values = df[col].replace("", None)
        numbers = pd.to_numeric(values, errors="coerce")
        codes = values.dropna().astype(str).str.match(r"^0\d").any()     # '0101' stays a code
        if values.notna().any() and not codes and numbers.notna().sum() == values.notna().sum():
            df[col] = numbers
    if flags["z"]:
        notes.append("altitudes dropped (3D coordinates)")
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries(geoms, crs="EPSG:4326"), crs="EPSG:4326"), notes


# --------------------------------------------------------------------------- writing
_NAME_FIELDS = ("name", "名称", "NAME", "Name", "MC", "XZQMC")
_STYLES = {
    "point": '<Style id="point"><IconStyle><scale>1.0</scale></IconStyle><LabelStyle><scale>0.8</scale></LabelStyle></Style>',
    "line": '<Style id="line"><LineStyle><color>ff0000ff</color><width>3</width></LineStyle></Style>',
    "polygon": '<Style id="polygon"><LineStyle><color>ff0000ff</color><width>2</width></LineStyle>'
               '<PolyStyle><color>400000ff</color></PolyStyle></Style>',
}


def _fmt(xy) -> str:
    return " ".join(f"{x:.7f},{y:.7f}" for x, y in xy)


def _kml_geometry(g) -> str:
    kind = g.geom_type
    if kind == "Point":
        return f"<Point><coordinates>{g.x:.7f},{g.y:.7f}</coordinates></Point>"
    if kind == "LineString":
        return f"<LineString><tessellate>1</tessellate><coordinates>{_fmt(g.coords)}</coordinates></LineString>"
    if kind == "Polygon":
        inner = "".join(f"<innerBoundaryIs><LinearRing><coordinates>{_fmt(r.coords)}</coordinates>"
                        f"</LinearRing></innerBoundaryIs>" for r in g.interiors)
        return (f"<Polygon><outerBoundaryIs><LinearRing><coordinates>{_fmt(g.exterior.coords)}</coordinates>"
                f"</LinearRing></outerBoundaryIs>{inner}</Polygon>")
    return "<MultiGeometry>" + "".join(_kml_geometry(p) for p in shapely.get_parts(g)) + "</MultiGeometry>"


def _family(g) -> str:
    return {0: "point", 1: "line", 2: "polygon"}[int(shapely.get_dimensions(g))]


def _value(v):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, (np.integer, np.floating, np.bool_)):
        v = v.item()
    return str(v)


def write_kml(frames: dict, path, *, kmz: bool | None = None, coords: str = "wgs84",
              name_field: str | None = None, fields: list[str] | None = None,
              overwrite: bool = False, document_name: str | None = None) -> Path:
    """Write layers (name → GeoDataFrame, any CRS) as one KML/KMZ, one folder per layer.

    Each placemark is named by ``name_field`` (default: the first of name, 名称 …) and carries
    ``fields`` (default: the other columns, at most 12) in an HTML table description and as
    ExtendedData. Coordinates are WGS84 with 7 decimals, or GCJ-02 with ``coords="gcj02"``.
    Written atomically; an existing file is replaced only with ``overwrite``.
    """
    from . import chinacoords
    from .export import atomic_path

    path = Path(path)
    kmz = path.suffix.lower() == ".kmz" if kmz is None else kmz
    if coords not in ("wgs84", "gcj02"):
        raise InputError(f"coords must be wgs84 or gcj02, not {coords!r}", path)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<kml xmlns="http://www.opengis.net/kml/2.2"><Document>',
           f"<name>{html.escape(document_name or path.stem)}</name>"]
    if coords == "gcj02":
        out.append("<description>坐标为 GCJ-02（高德/奥维），非 WGS84</description>")
    out += list(_STYLES.values())
    for layer, gdf in frames.items():
        g = gdf.to_crs("EPSG:4326")
        geoms = g.geometry.values
        if coords == "gcj02" and len(g):
            geoms = chinacoords.transform_geometries(np.asarray(geoms, dtype=object), "wgs84", "gcj02")
        cols = [c for c in g.columns if c != g.geometry.name]
        label = name_field or next((c for c in _NAME_FIELDS if c in cols), None)
        keys = [c for c in (fields or [c for c in cols if c != label]) if c in cols][:12]
        out.append(f"<Folder><name>{html.escape(str(layer))}</name>")
        for i, geom in enumerate(geoms):
            if geom is None or geom.is_empty:
                continue
            row = g.iloc[i]
            title = _value(row[label]) if label else None
            values = [(k, _value(row[k])) for k in keys]
            values = [(k, v) for k, v in values if v is not None]
            table = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(v)}</td></tr>" for k, v in values)
            data = "".join(f'<Data name="{html.escape(str(k), quote=True)}"><value>{html.escape(v)}</value></Data>'
                           for k, v in values)
            out.append(f"<Placemark><name>{html.escape(title or str(i + 1))}</name>"
                       f"<description>{html.escape('<table>' + table + '</table>')}</description>"
                       f"<styleUrl>#{_family(geom)}</styleUrl>"
                       + (f"<ExtendedData>{data}</ExtendedData>" if data else "")
                       + _kml_geometry(geom) + "</Placemark>")
        out.append("</Folder>")
    out.append("</Document></kml>")
    text = "\n".join(out).encode("utf-8")
    with atomic_path(path, overwrite) as tmp:
        if kmz:
            with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
                zf.writestr("doc.kml", text)
        else:
            Path(tmp).write_bytes(text)
    return path
