"""The layer catalog: which layers exist, where their files are and where they came from.

The bundled catalog is ``layers/catalog.toml``. A planner's own folder (``--layers DIR`` or
the ``QXG_LAYERS`` environment variable) replaces bundled layers by id: either through a
``catalog.toml`` of its own, or simply by file and layer names — the layer id
(``townships.shp``), a Chinese name (``城镇开发边界.shp``) or a territorial-planning database
code (``CZKFBJ``, ``STBHHX``, ``YJJBNT`` as GeoPackage layers or shapefile names).
"""
from __future__ import annotations

import difflib
import tomllib
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

from . import filegdb, landuse, settings
from .errors import InputError, Notes
from .load import VECTOR_SUFFIXES, check_fields, data_files, open_source, read, read_named

RASTER_SUFFIXES = (".tif", ".tiff", ".hgt", ".zip", ".img", ".vrt")

DATA_STATUSES = ("real", "approximate", "illustrative")
CATALOG_NAME = "catalog.toml"
#: Common field names in county data, tried when a required field is missing.
FIELD_SYNONYMS = {
    "name": ("名称", "NAME", "Name", "XZQMC", "MC", "XZMC", "ZWMC"),
    "code": ("XZQDM", "代码", "编码", "区划代码", "CODE", "Code", "DM"),
}
_PROVENANCE_KEYS = ("source", "date", "method", "accuracy", "data_status")
#: Bundled layers built from other bundled layers: using one of them with the user's version of
#: what it was built from mixes two geographies, so loading says so.
DERIVED_FROM = {"township_areas": ("townships",), "interchanges": ("expressways",),
                "agri_zones": ("township_areas", "townships"), "livestock": ("township_areas", "townships")}


@dataclass(frozen=True)
class LayerEntry:
    """One layer of the catalog."""

    id: str
    name_zh: str
    name_en: str
    kind: str
    geometry: str
    file: Path | None = None
    layer: str | None = None
    required_fields: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    codes: tuple[str, ...] = ()
    fields: dict = field(default_factory=dict)
    crs: str | None = None
    coords: str | None = None
    encoding: str | None = None
    provenance: dict = field(default_factory=dict)
    origin: str = "bundled"

    @property
    def data_status(self) -> str:
        return str(self.provenance.get("data_status", ""))

    @property
    def exists(self) -> bool:
        return self.file is not None and self.file.exists()

    @property
    def is_raster(self) -> bool:
        """A raster layer (the DEM): read by :mod:`spatial.raster`, not as features."""
        return self.kind == "raster"

    def matches(self, name: str) -> bool:
        """Whether a file or layer called ``name`` is this layer (id, alias or DB code)."""
        key = name.strip()
        low = key.lower()
        if low == self.id.lower() or low in (a.lower() for a in self.aliases) or key == self.name_zh:
            return True
        up = key.upper()
        return any(up == c or up.startswith(c + "_") or up.startswith(c + "-") for c in self.codes)


_STR_KEYS = ("id", "name_zh", "name_en", "kind", "geometry", "file", "layer", "crs", "coords", "encoding")
_LIST_KEYS = ("required_fields", "aliases", "codes")
GEOMETRY_FAMILIES = {"Point": ("Point", "MultiPoint"), "LineString": ("LineString", "MultiLineString"),
                     "Polygon": ("Polygon", "MultiPolygon")}


def _check_types(raw: dict, path: Path) -> None:
    """One clear line for a value of the wrong type in a [[layer]] entry."""
    lid = raw.get("id", "?")
    for key in _STR_KEYS:
        if key in raw and not isinstance(raw[key], str):
            raise InputError(f"layer {lid!r}: {key} must be text, got {raw[key]!r}", path)
    for key in _LIST_KEYS:
        if key in raw and not (isinstance(raw[key], list) and all(isinstance(x, str) for x in raw[key])):
            raise InputError(f"layer {lid!r}: {key} must be a list of names like [\"name\"], got {raw[key]!r}", path)
    for key in ("fields", "provenance"):
        if key in raw and not (isinstance(raw[key], dict) and all(isinstance(v, str) for v in raw[key].values())):
            raise InputError(f"layer {lid!r}: {key} must be a table of text values, got {raw[key]!r}", path)
    if "geometry" in raw and raw["geometry"] not in GEOMETRY_FAMILIES and raw["geometry"] != "Raster":
        raise InputError(f"layer {lid!r}: geometry must be Point, LineString, Polygon or Raster, "
                         f"got {raw['geometry']!r}", path)


def _entry_from_toml(raw: dict, base: Path, origin: str, catalog_path: Path,
                     inherit: LayerEntry | None = None) -> LayerEntry:
    if "id" not in raw:
        raise InputError("a [[layer]] entry has no id", catalog_path)
    known = {f for f in LayerEntry.__dataclass_fields__} - {"origin"}
    unknown = set(raw) - known
    if unknown:
        raise InputError(f"unknown key(s) {', '.join(sorted(unknown))} in layer {raw['id']!r}",
                         catalog_path, hint=f"known keys: {', '.join(sorted(known))}")
    _check_types(raw, catalog_path)
    values = {} if inherit is None else dict(inherit.__dict__)
    values.update({k: v for k, v in raw.items()})
    for key in ("required_fields", "aliases", "codes"):
        values[key] = tuple(values.get(key, ()))
    if "file" in raw:
        values["file"] = (base / raw["file"]).resolve()
    values["origin"] = origin
    prov = dict(inherit.provenance) if inherit is not None and origin == "bundled" else {}
    prov.update(raw.get("provenance", {}))
    values["provenance"] = prov
    for key in ("name_zh", "name_en", "kind", "geometry"):
        values.setdefault(key, "")
    status = prov.get("data_status")
    if status and status not in DATA_STATUSES + ("mixed",):
        raise InputError(f"layer {raw['id']!r}: data_status {status!r} must be one of "
                         f"{', '.join(DATA_STATUSES)} or mixed", catalog_path)
    return LayerEntry(**values)


def read_catalog_file(path: Path, origin: str, inherit: dict | None = None) -> dict[str, LayerEntry]:
    """Entries of one catalog.toml, keyed by id."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise InputError("no such catalog file", path) from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not a valid TOML catalog: {exc}", path) from exc
    entries = {}
    for raw in data.get("layer", []):
        parent = (inherit or {}).get(raw.get("id"))
        entry = _entry_from_toml(raw, path.parent, origin, path, parent)
        if entry.id in entries:
            raise InputError(f"layer id {entry.id!r} appears twice", path)
        entries[entry.id] = entry
    return entries


def _names_in_file(path: Path) -> list[tuple[str, str | None]]:
    """(name to match, layer) pairs a data file offers: GeoPackage and geodatabase layers
    (also of a zipped geodatabase), else the file stem."""
    try:
        if path.suffix.lower() == ".gpkg":
            return [(str(n), str(n)) for n, geom in pyogrio.list_layers(path) if geom is not None]
        if path.is_dir() or (path.suffix.lower() == ".zip" and filegdb.gdbs_in_zip(filegdb.zip_members(path))):
            gdal_path = str(path)
            if not path.is_dir():
                (gdb,) = filegdb.gdbs_in_zip(filegdb.zip_members(path))[:1]
                gdal_path = f"/vsizip/{path.resolve()}/{gdb}"
            return [(lyr.name, lyr.shown) for lyr in filegdb.list_layers(gdal_path, path)
                    if lyr.geometry is not None]
    except Exception:  # noqa: BLE001 - unreadable: match by file name so loading reports it
        pass
    return [(path.stem, None)]


def _scan_folder(folder: Path, bundled: dict[str, LayerEntry]):
    """Match the data files of a planner's folder to layer ids."""
    found: dict[str, LayerEntry] = {}
    clashes: dict[str, list[str]] = {}
    for path in data_files(folder):
        for name, layer in _names_in_file(path):
            for entry in bundled.values():
                if not entry.matches(name):
                    continue
                shown = f"{path}|{layer}" if layer else str(path)
                if entry.id in found:
                    clashes.setdefault(entry.id, [str(found[entry.id].file) +
                                                  (f"|{found[entry.id].layer}" if found[entry.id].layer else "")])
                    clashes[entry.id].append(shown)
                    continue
                found[entry.id] = replace(
                    entry, file=path.resolve(), layer=layer, origin="user", crs=None, coords=None,
                    encoding=None, fields={},
                    provenance={"source": f"county/user data: {shown}",
                                "date": date.fromtimestamp(path.stat().st_mtime).isoformat(),
                                "method": "supplied by the user",
                                "accuracy": "as supplied",
                                "data_status": "real"})
    for entry in bundled.values():
        if not entry.is_raster:
            continue
        names = [entry.id, *entry.aliases]
        hits = sorted({p for p in folder.iterdir() if p.stem.lower() in {n.lower() for n in names}
                       and (p.is_dir() or p.suffix.lower() in RASTER_SUFFIXES)})
        if len(hits) > 1:
            clashes[entry.id] = [str(h) for h in hits]
        if hits:
            found[entry.id] = replace(
                entry, file=hits[0].resolve(), origin="user",
                provenance={"source": f"county/user data: {hits[0]}",
                            "date": date.fromtimestamp(hits[0].stat().st_mtime).isoformat(),
                            "method": "supplied by the user", "accuracy": "as supplied",
                            "data_status": "real"})
    return found, clashes


class Catalog:
    """The bundled catalog with a planner's layers laid over it by id."""

    def __init__(self, user: str | Path | None = None, bundled_dir: Path | None = None):
        self.bundled_dir = Path(bundled_dir or settings.BUNDLED_LAYERS)
        self.entries = read_catalog_file(self.bundled_dir / CATALOG_NAME, "bundled")
        self.clashes: dict[str, list[str]] = {}
        self.user = Path(user).expanduser() if user else settings.user_layers_path()
        if self.user is not None:
            self._overlay(self.user)

    def _overlay(self, user: Path) -> None:
        if not user.exists():
            raise InputError("layer folder or catalog does not exist", user,
                             hint=f"check --layers / {settings.LAYERS_ENV}")
        if user.is_file():
            if user.suffix.lower() != ".toml":
                raise InputError("--layers must name a folder or a catalog.toml", user)
            self.entries.update(read_catalog_file(user, "user", self.entries))
            return
        found, self.clashes = _scan_folder(user, self.entries)
        self.entries.update(found)
        if (user / CATALOG_NAME).exists():
            explicit = read_catalog_file(user / CATALOG_NAME, "user", self.entries)
            self.entries.update(explicit)
            for key in explicit:
                self.clashes.pop(key, None)

    def ids(self) -> list[str]:
        return list(self.entries)

    def get(self, layer_id: str) -> LayerEntry:
        """The entry for ``layer_id``; an unknown id raises an error suggesting close ones."""
        if layer_id in self.entries:
            return self.entries[layer_id]
        for entry in self.entries.values():
            if entry.matches(layer_id):
                return entry
        close = difflib.get_close_matches(layer_id, self.ids(), n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise InputError(f"unknown layer {layer_id!r}", hint=f"{hint}known layers: {', '.join(self.ids())}")

    def load(self, layer_id: str) -> gpd.GeoDataFrame:
        """Read the layer's file, normalised to EPSG:4490, with its required fields checked."""
        entry = self.get(layer_id)
        if entry.is_raster:
            raise InputError(f"layer {entry.id!r} ({entry.name_zh}) is a raster; the terrain commands "
                             "read it (qxg terrain …, spatial.raster.read_dem)")
        if entry.id in self.clashes:
            raise InputError(f"several files match layer {entry.id!r}: {', '.join(self.clashes[entry.id])}",
                             self.user, hint="keep one, or name the file in a catalog.toml")
        if entry.file is None or not entry.exists:
            if entry.origin == "user":
                raise InputError(f"layer {entry.id!r}: the file named in the catalog does not exist: {entry.file}",
                                 self.user)
            raise InputError(f"layer {entry.id!r} ({entry.name_zh}) has no data file yet"
                             + (f" (expected {entry.file})" if entry.file else ""),
                             hint=f"supply it with --layers DIR or {settings.LAYERS_ENV}")
        gdf = read(entry.file, layer=entry.layer, coords=entry.coords, crs=entry.crs,
                   encoding=entry.encoding)
        notes = Notes(gdf.attrs.get("source"))
        notes.extend(gdf.attrs.get("notes", []))
        if entry.fields:
            gdf = gdf.rename(columns={v: k for k, v in entry.fields.items()})
        for wanted in entry.required_fields:
            if wanted in gdf.columns:
                continue
            for alt in FIELD_SYNONYMS.get(wanted, ()):
                if alt in gdf.columns:
                    gdf = gdf.rename(columns={alt: wanted})
                    notes.add("warning", f"field {alt!r} used as {wanted!r}")
                    break
        check_fields(gdf, entry.required_fields, gdf.attrs.get("source"))
        _check_geometry(gdf, entry)
        if entry.kind == "landuse":
            gdf = _name_landuse_codes(gdf, notes)
        if entry.origin == "bundled":
            theirs = [d for d in DERIVED_FROM.get(entry.id, ()) if d in self.entries and self.entries[d].origin == "user"]
            if theirs:
                notes.add("warning", f"the bundled {entry.id} were built from the bundled {', '.join(theirs)}, "
                                     f"but {', '.join(theirs)} come from your folder: supply your own {entry.id} too")
        gdf.attrs.update(notes=list(notes), layer_id=entry.id, name_zh=entry.name_zh,
                         provenance=dict(entry.provenance), origin=entry.origin)
        return gdf

    def layer_or_file(self, source, layer: str | None = None) -> gpd.GeoDataFrame:
        """``source`` read with :func:`spatial.read` when it is a file (it exists, or is named like
        one), else this catalog's layer of that id or name."""
        path = Path(source)
        if path.exists() or path.suffix.lower() in VECTOR_SUFFIXES:
            return read_named(path, layer=layer)
        return self.load(str(source))

    def load_optional(self, layer_id: str) -> gpd.GeoDataFrame | None:
        """Like :meth:`load`, but None when the layer has no data file."""
        return self.load(layer_id) if self.get(layer_id).exists else None

    def table(self) -> pd.DataFrame:
        """The catalog as a DataFrame, one row per layer (no data files are read)."""
        rows = []
        for e in self.entries.values():
            row = {"id": e.id, "name_zh": e.name_zh, "name_en": e.name_en, "kind": e.kind,
                   "geometry": e.geometry, "file": str(e.file) if e.file else None,
                   "layer": e.layer, "exists": e.exists, "origin": e.origin,
                   "required_fields": ", ".join(e.required_fields)}
            row.update({k: e.provenance.get(k) for k in _PROVENANCE_KEYS})
            rows.append(row)
        return pd.DataFrame(rows)


def _name_landuse_codes(gdf: gpd.GeoDataFrame, notes: Notes) -> gpd.GeoDataFrame:
    """A DLTB layer with ``dlbm_name``/``dlbm_group`` columns from the code table."""
    field = landuse.code_field(gdf)
    if field is None:
        return gdf
    named = landuse.describe(gdf[field])
    unknown = landuse.unknown_codes(gdf[field])
    if unknown:
        notes.add("warning", f"{field} codes not in GB/T 21010-2017 or the 三调 工作分类: "
                             f"{', '.join(unknown[:10])}{' …' if len(unknown) > 10 else ''}; they are left unnamed")
    out = gdf.copy()
    for col in ("dlbm_name", "dlbm_group"):
        out[col] = named[col].to_numpy()
    return out


def _check_geometry(gdf: gpd.GeoDataFrame, entry: LayerEntry) -> None:
    """The layer's features must be of the catalog's geometry type (points, lines or polygons)."""
    allowed = GEOMETRY_FAMILIES.get(entry.geometry)
    if not allowed or len(gdf) == 0:
        return
    types = gdf.geom_type
    wrong = types.notna() & ~types.isin(allowed)
    if wrong.any():
        names = gdf["name"].astype(str) if "name" in gdf.columns else pd.Series(gdf.index.astype(str))
        shown = ", ".join(f"{n} ({t})" for n, t in list(zip(names[wrong], types[wrong]))[:5])
        raise InputError(f"layer {entry.id!r} must hold {entry.geometry} features, but "
                         f"{int(wrong.sum())} are not: {shown}", gdf.attrs.get("source"))


def layer_summary(entry: LayerEntry) -> dict:
    """Feature count, file CRS and the mix of data statuses, read cheaply from the file."""
    out = {"features": None, "crs": None, "status_mix": {}}
    if not entry.exists:
        return out
    if entry.is_raster:
        from .raster import dem_paths, _open
        files = dem_paths(entry.file)
        out["features"] = len(files)
        with _open(files[0]) as ds:
            out["crs"] = ds.crs.to_wkt() if ds.crs else None
        out["status_mix"] = {entry.data_status: len(files)} if entry.data_status else {}
        return out
    src = open_source(entry.file, entry.layer)
    if src.kind in ("kml", "table", "dxf"):          # read by the toolkit itself, not by GDAL
        import warnings
        from .errors import InputWarning
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InputWarning)
            gdf = read(entry.file, layer=entry.layer, coords=entry.coords, crs=entry.crs,
                       encoding=entry.encoding)
        out.update(features=len(gdf), crs="EPSG:4490 (as read)")
        if entry.data_status:
            out["status_mix"] = {entry.data_status: len(gdf)}
        return out
    info = pyogrio.read_info(src.gdal_path, layer=src.layer)
    out["features"] = int(info["features"])
    out["crs"] = info["crs"]
    if "data_status" in list(info["fields"]):
        df = pyogrio.read_dataframe(src.gdal_path, layer=src.layer, columns=["data_status"],
                                    read_geometry=False)
        out["status_mix"] = {str(k): int(v) for k, v in df["data_status"].value_counts().items()}
    elif entry.data_status:
        out["status_mix"] = {entry.data_status: out["features"]}
    return out


def catalog(layers: str | Path | None = None) -> Catalog:
    """The catalog, with ``layers`` (or ``QXG_LAYERS``) laid over the bundled one."""
    return Catalog(layers)


def list_layers(layers: str | Path | None = None) -> pd.DataFrame:
    """The catalog as a DataFrame: id, names, kind, file, provenance, origin."""
    return catalog(layers).table()


def load_layer(layer_id: str, layers: str | Path | None = None) -> gpd.GeoDataFrame:
    """Load a catalog layer by id as a GeoDataFrame in EPSG:4490.

    Parameters
    ----------
    layer_id : str
        One of the catalog ids (``spatial.list_layers().id``), a Chinese layer name or a
        planning-database code such as ``CZKFBJ``.
    layers : str or Path, optional
        A planner's folder or catalog.toml whose layers replace bundled ones by id
        (default: the ``QXG_LAYERS`` environment variable, if set).
    """
    return catalog(layers).load(layer_id)
