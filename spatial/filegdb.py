"""Esri File Geodatabases: list their layers (feature datasets included), spot partial
copies, and write one GDB of many layers for the county GIS.

The 国土空间规划 database (三区三线 划定成果) and the 三调 land-use layers arrive as ``.gdb``
folders, often zipped. GDAL's OpenFileGDB driver reads and writes them; this module adds
what a planner needs around it: the feature dataset each layer sits in, a clear message
when a copy lost some of its ``.gdbtable`` files, and field names that ArcGIS accepts
without losing the Chinese originals.
"""
from __future__ import annotations

import re
import shutil
import tempfile
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio

from .errors import InputError

SYSTEM_TABLE = "a00000001.gdbtable"
#: Longest field and table name the format takes.
NAME_LIMIT = 64
FIELD_MAP_TABLE = "字段对照"


@dataclass(frozen=True)
class GdbLayer:
    """One table of a geodatabase."""

    name: str
    geometry: str | None     # None for attribute tables
    dataset: str             # feature dataset ("" at the top level)

    @property
    def shown(self) -> str:
        return f"{self.dataset}/{self.name}" if self.dataset else self.name


def is_gdb_folder(path: Path) -> bool:
    """A folder named ``*.gdb`` or holding the system catalog table of one."""
    return path.is_dir() and (path.suffix.lower() == ".gdb" or (path / SYSTEM_TABLE).exists())


def gdbs_in_zip(members: list[str]) -> list[str]:
    """The ``.gdb`` folders inside a zip (member paths without a trailing slash)."""
    found = set()
    for name in members:
        parts = name.split("/")
        for i, part in enumerate(parts[:-1]):
            if part.lower().endswith(".gdb"):
                found.add("/".join(parts[:i + 1]))
                break
        else:
            if parts[-1].lower() == SYSTEM_TABLE and len(parts) > 1:
                found.add("/".join(parts[:-1]))
    return sorted(found)


def _message(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _system_catalog(gdal_path: str, shown) -> pd.DataFrame:
    try:
        return pyogrio.read_dataframe(gdal_path, layer="GDB_SystemCatalog", read_geometry=False,
                                      fid_as_index=True)
    except Exception as exc:  # noqa: BLE001 - GDAL's message is what there is
        raise InputError(f"cannot open as a File Geodatabase: {_message(exc)}", shown,
                         hint="is the .gdb folder complete (a00000001.gdbtable …)?") from exc


def check_complete(gdal_path: str, shown, has_file) -> None:
    """Raise when tables named in the geodatabase's catalog have no ``.gdbtable`` file.

    ``has_file(name)`` tells whether a file of the ``.gdb`` folder exists (on disk or in a
    zip). A partial copy — a folder copied without some of its files — otherwise silently
    loses layers.
    """
    if not has_file(SYSTEM_TABLE):
        raise InputError("is not a complete File Geodatabase: a00000001.gdbtable (its system "
                         "catalog) is missing", shown, hint="copy the whole .gdb folder again")
    catalog = _system_catalog(gdal_path, shown)
    fmt = catalog.get("FileFormat", pd.Series(0, index=catalog.index))
    missing = [(int(fid), str(name)) for fid, name, f in zip(catalog.index, catalog["Name"], fmt)
               if int(f) == 0 and not has_file(f"a{int(fid):08x}.gdbtable")]
    if missing:
        shown_tables = ", ".join(f"{name} (a{fid:08x}.gdbtable)" for fid, name in missing[:5])
        raise InputError(f"is a partial copy: {len(missing)} table file(s) are missing: {shown_tables}",
                         shown, hint="copy the whole .gdb folder again, or zip it and send the zip")


def list_layers(gdal_path: str, shown) -> list[GdbLayer]:
    """Every user table of the geodatabase with its geometry type and feature dataset."""
    try:
        listing = pyogrio.list_layers(gdal_path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot open as a File Geodatabase: {_message(exc)}", shown) from exc
    datasets = {}
    try:
        items = pyogrio.read_dataframe(gdal_path, layer="GDB_Items", columns=["Path"],
                                       read_geometry=False)
        for path in items["Path"].dropna().astype(str):
            parts = [p for p in path.split("\\") if p]
            if len(parts) >= 2:
                datasets[parts[-1].lower()] = "/".join(parts[:-1])
    except Exception:  # noqa: BLE001 - without GDB_Items, layers are simply top-level
        pass
    return [GdbLayer(str(name), None if geom is None else str(geom), datasets.get(str(name).lower(), ""))
            for name, geom in listing]


def choose(layers: list[GdbLayer], wanted: str | None, shown) -> GdbLayer:
    """The layer named ``wanted`` (name or dataset/name); without a name the only spatial one."""
    spatial = [lyr for lyr in layers if lyr.geometry is not None]
    listing = ", ".join(f"{lyr.shown}" + ("" if lyr.geometry else " (table)") for lyr in layers)
    if wanted is not None:
        key = wanted.strip().replace("\\", "/").strip("/").lower()
        for lyr in layers:
            if key in (lyr.name.lower(), lyr.shown.lower()):
                return lyr
        raise InputError(f"no layer named {wanted!r}; it holds: {listing or '(nothing)'}", shown)
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise InputError("holds no layer with geometry" + (f" (only tables: {listing})" if layers else ""),
                         shown)
    raise InputError(f"holds {len(spatial)} layers with geometry ({listing}); choose one", shown,
                     hint="layer=NAME in Python, --layer NAME on the command line")


# --------------------------------------------------------------------------- writing
_BAD_CHARS = re.compile(r"[^\w]", flags=re.UNICODE)


def field_names(names, limit: int = NAME_LIMIT) -> dict[str, str]:
    """Names the format accepts for ``names``: letters, digits and ``_`` only, starting with a
    letter, at most ``limit`` characters, unique case-insensitively. Chinese characters are
    letters and stay; ``面积(亩)`` becomes ``面积_亩``. Deterministic (same input, same names)."""
    out, used = {}, set()
    for name in names:
        base = _BAD_CHARS.sub("_", str(name)).strip("_") or "field"
        base = re.sub("_+", "_", base)
        if not (base[0].isalpha()):
            base = "F_" + base
        base = base[:limit]
        cand, n = base, 1
        while cand.lower() in used:
            n += 1
            suffix = f"_{n}"
            cand = base[:limit - len(suffix)] + suffix
        used.add(cand.lower())
        out[name] = cand
    return out


def _fit_integers(df: pd.DataFrame) -> pd.DataFrame:
    """64-bit integer columns that fit in 32 bits written as Integer (ArcMap 10 reads no Int64)."""
    out = df
    for col in df.columns:
        if col == getattr(df, "_geometry_column_name", None):
            continue
        s = df[col]
        if pd.api.types.is_integer_dtype(s.dtype) and s.dtype.itemsize == 8:
            lo, hi = (s.min(), s.max()) if len(s.dropna()) else (0, 0)
            if np.iinfo(np.int32).min <= lo and hi <= np.iinfo(np.int32).max:
                if out is df:
                    out = df.copy()
                out[col] = s.astype("Int32" if s.isna().any() else "int32")
    return out


def write(frames: dict, path: Path) -> dict[str, dict[str, str]]:
    """Write ``frames`` (name → GeoDataFrame or DataFrame) as the geodatabase ``path``.

    ``path`` must not exist (the caller writes to a temporary folder and renames it). Layer
    and field names are made acceptable by :func:`field_names`; every renamed field is listed
    in the table ``字段对照`` (layer, field, original). Returns the renames per layer.
    """
    import geopandas as gpd

    layer_names = field_names(list(frames))
    renames, rows = {}, []
    for name, df in frames.items():
        geom = df.geometry.name if isinstance(df, gpd.GeoDataFrame) else None
        cols = [c for c in df.columns if c != geom]
        mapping = field_names(cols)
        changed = {k: v for k, v in mapping.items() if k != v}
        if changed:
            df = df.rename(columns=changed)
            rows += [{"layer": layer_names[name], "field": v, "original": str(k)} for k, v in changed.items()]
        renames[name] = changed
        df = _fit_integers(df)
        # a feature class holds one geometry type: Polygon beside MultiPolygon becomes MultiPolygon
        multi = geom is not None and len(df) and df.geom_type.str.startswith("Multi").any()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pyogrio.write_dataframe(df, path, layer=layer_names[name], driver="OpenFileGDB",
                                    promote_to_multi=True if multi else None)
    if rows:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            pyogrio.write_dataframe(pd.DataFrame(rows), path, layer=FIELD_MAP_TABLE, driver="OpenFileGDB")
    return renames


def replace_folder(tmp: Path, path: Path) -> None:
    """Move the finished folder ``tmp`` to ``path``, replacing an old one only once the new
    one is in place beside it."""
    old = None
    if path.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
        path.rename(old / path.name)
    try:
        tmp.rename(path)
    except OSError:
        if old is not None:
            (old / path.name).rename(path)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def zip_members(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as zf:
        return zf.namelist()
