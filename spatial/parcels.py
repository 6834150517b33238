"""三调 parcels (DLTB) at county and province scale: streamed, spatially partitioned jobs.

A land-use layer of a few hundred thousand parcels (a county) or tens of millions (a province)
is never held whole. The engine

1. reads the layer's geometry once, in chunks (pyogrio Arrow), keeping only each parcel's fid
   and a Hilbert key of its bounding-box centre;
2. sorts by the key and cuts the order into partitions of ``size`` parcels — spatially compact
   groups, each parcel in exactly one, so a parcel is never cut by a partition border or
   counted twice;
3. runs a job on every partition — read by fid, in the worker — either in this process or on
   dask (a ``LocalCluster`` of ``workers`` processes, or a running scheduler by address),
   through a dask-geopandas frame whose partitions are these groups;
4. keeps each finished partition's partial result in a resume file (SQLite) as it arrives, so
   a killed run continues where it stopped, and adds the partials up in partition order (the
   same numbers whichever way and in whatever order the partitions ran).

Jobs (:class:`SanquJob`, :class:`SlopeJob`, :class:`ZonesJob`) produce small additive tables per
partition: areas per township × DLBM × control line, per-parcel slope shares, areas per 532
zone, and the parcels that break a rule of ``layers/rules/dltb_rules.csv``.
"""
from __future__ import annotations

import hashlib
import math
import os
import pickle
import sqlite3
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import landuse, settings
from .errors import InputError
from .overlay import (CONTROL_LINES, MIN_AREA_M2, PLAN_CROP_TARGETS_WANMU, check_rules_table, read_rules_csv, tile,
                      where_mask)

RULES_FILE = settings.BUNDLED_LAYERS / "rules" / "dltb_rules.csv"
DEFAULT_PARTITION = 20_000
READ_CHUNK = 250_000
FID_BATCH = 4_000
#: a parcel that lies in a township but for this much (digitising and rounding noise) is wholly in it
SNAP_M = 0.001
OUTSIDE = "（区外）"
#: the three control lines and their Chinese names
LINES = CONTROL_LINES
ORCHARD_GROUP = "园地"
#: the land each 532 crop is planted on: 刺梨 on 果园/其他园地, tea on 茶园, vegetables on 耕地
CROP_LAND = {"刺梨": ("dlbm", ("0201", "0201K", "0204", "0204K"), "果园、其他园地"),
             "茶叶": ("dlbm", ("0202", "0202K"), "茶园"),
             "蔬菜": ("dlbm_group", ("耕地",), "耕地")}


# --------------------------------------------------------------------------- the layer
@dataclass(frozen=True)
class Layer:
    """A parcel layer on disk: what the workers need to read their partitions."""
    path: str               # the path GDAL opens (absolute, so that remote workers find it too)
    layer: str | None
    crs_wkt: str            # the coordinate system the numbers are in (the file's, or repaired)
    count: int
    code_field: str
    name_field: str | None
    id_field: str | None
    bounds: tuple
    signature: str          # size and modification time: a changed file invalidates a resume
    shown: str = ""
    encoding: str | None = None

    @property
    def label(self) -> str:
        return self.shown or (f"{self.path}:{self.layer}" if self.layer else self.path)


ID_FIELDS = ("BSM", "bsm", "标识码", "TBBH", "tbbh", "图斑编号")
SAMPLE = 2_000
VECTOR_KINDS = ("geopackage", "filegdb", "shapefile", "geojson", "mapinfo")


def _choose_layer(p: Path, layer: str | None) -> str | None:
    """The DLTB layer of a GeoPackage or FileGDB: the one asked for, else DLTB or the only one."""
    import pyogrio

    if not (p.suffix.lower() in (".gpkg", ".gdb") or p.is_dir()):
        return layer
    try:
        layers = pyogrio.list_layers(p)
    except Exception as exc:        # noqa: BLE001 - GDAL's own message, on one line
        raise InputError(f"cannot open as a vector layer: {str(exc).splitlines()[0]}", p) from exc
    names = [str(n) for n in layers[:, 0]]
    kinds = {str(n): str(k) for n, k in layers}
    if layer is not None:
        if layer not in names:
            raise InputError(f"no layer {layer!r}; layers are {', '.join(names)}", p)
        return layer
    polys = [n for n in names if "POLYGON" in (kinds.get(n) or "").upper()]
    dltb = [n for n in polys if n.upper() == "DLTB"]
    if dltb:
        return dltb[0]
    if len(polys) == 1:
        return polys[0]
    if not polys:
        raise InputError(f"no polygon layer (layers: {', '.join(f'{n} ({kinds[n]})' for n in names) or 'none'})", p)
    raise InputError(f"{len(polys)} polygon layers: give --layer, one of {', '.join(polys)}", p)


def open_layer(path, layer: str | None = None, *, crs=None, encoding: str | None = None) -> Layer:
    """Check a DLTB-like layer (polygons, a coordinate system that fits the numbers, a DLBM
    field, the text encoding) from a sample of its features, as the loader checks any file;
    repairs and doubts are emitted as :class:`spatial.errors.InputWarning`."""
    import pyogrio
    from pyproj import CRS

    from . import load
    from .errors import Notes

    p = Path(path).expanduser()
    if not p.exists():
        raise InputError("no such file or folder", p)
    p = p.resolve()
    src = load.open_source(p, _choose_layer(p, layer))
    if src.kind not in VECTOR_KINDS:
        raise InputError(f"a parcel layer is read from a GeoPackage, FileGDB, shapefile or GeoJSON, not a "
                         f"{src.kind} file", src.shown)
    notes = Notes(src.shown)
    enc = encoding
    if src.kind == "shapefile" and enc is None:
        enc, how = load.detect_encoding(src.shp_parts)
        if "GBK" in how or "guessed" in how or "although" in how:
            notes.add("warning", f"text encoding {how}")
    try:
        info = pyogrio.read_info(src.gdal_path, layer=src.layer, encoding=enc)
        sample = pyogrio.read_dataframe(src.gdal_path, layer=src.layer, encoding=enc, max_features=SAMPLE)
    except Exception as exc:        # noqa: BLE001 - GDAL's own message, on one line
        raise InputError(f"cannot read: {load._gdal_message(exc)}", src.shown) from exc
    gtype = str(info.get("geometry_type") or "")
    if gtype and "POLYGON" not in gtype.upper() and gtype not in ("Unknown", "None"):
        raise InputError(f"holds {gtype} features, not parcels (polygons)", src.shown)
    n = int(info["features"])
    if n < 0:
        n = int(pyogrio.read_info(src.gdal_path, layer=src.layer, force_feature_count=True)["features"])
    if n == 0 or len(sample) == 0:
        raise InputError("layer has no features", src.shown)
    fields = [str(f) for f in info["fields"]]
    code = landuse.code_field(pd.DataFrame(columns=fields))
    if code is None:
        raise InputError(f"has no land-use code field (DLBM or 地类编码); fields are {', '.join(fields[:15])}",
                         src.shown)
    # the loader's own checks on the sample: a missing or wrong CRS, a zone prefix, degrees vs metres
    file_crs = load._resolve_crs(sample, src, crs, notes)
    file_crs = load._check_numbers(sample, src, file_crs, notes)
    name = next((f for f in fields if f in landuse.NAME_FIELDS), None)
    ident = next((f for f in fields if f in ID_FIELDS), None)
    st = p.stat() if p.is_file() else max((f.stat() for f in p.rglob("*") if f.is_file()),
                                           key=lambda s: s.st_mtime, default=p.stat())
    sig = f"{p}|{src.layer}|{n}|{st.st_size}|{int(st.st_mtime)}|{CRS(file_crs).to_epsg() or ''}"
    bounds = tuple(info.get("total_bounds") or ())
    return Layer(src.gdal_path, src.layer, CRS(file_crs).to_wkt(), n, code, name, ident, bounds, sig,
                 shown=src.shown, encoding=enc)


# --------------------------------------------------------------------------- partitions
def _hilbert(x: np.ndarray, y: np.ndarray, order: int = 16) -> np.ndarray:
    """Hilbert-curve index of integer cell coordinates in [0, 2**order)."""
    x = x.astype(np.int64).copy()
    y = y.astype(np.int64).copy()
    d = np.zeros(len(x), np.int64)
    s = 1 << (order - 1)
    while s > 0:
        rx = (x & s) > 0
        ry = (y & s) > 0
        d += s * s * ((3 * rx) ^ ry)
        # rotate the quadrant
        flip = ~ry
        swap_x = flip & rx
        x = np.where(swap_x, s - 1 - x, x)
        y = np.where(swap_x, s - 1 - y, y)
        x, y = np.where(flip, y, x), np.where(flip, x, y)
        s >>= 1
    return d


def _flag_far(layer: Layer, fid, x, y) -> None:
    """Warn when parcels lie far outside the district (a wrong CRS, or another county's data)."""
    from pyproj import CRS, Transformer

    from .errors import Notes

    if len(x) == 0:
        return
    from .load import km_outside_district

    lon, lat = Transformer.from_crs(CRS.from_wkt(layer.crs_wkt), settings.STORAGE_CRS, always_xy=True).transform(x, y)
    far = ~(km_outside_district(lon, lat) <= settings.FAR_OUTSIDE_KM)
    if far.any():
        some = ", ".join(f"fid {int(f)}" for f in fid[far][:5])
        Notes(layer.label).add("warning", f"{int(far.sum()):,} of {len(fid):,} parcel(s) lie more than "
                                          f"{settings.FAR_OUTSIDE_KM:g} km outside 七星关区 (e.g. {some}): "
                                          "a wrong coordinate system, or another county's data?")


@dataclass
class Plan:
    """The partitions: fids of each, in Hilbert order of the parcels' centres."""
    parts: list
    digest: str
    seconds: float = 0.0

    def __len__(self):
        return len(self.parts)


def plan(layer: Layer, size: int = DEFAULT_PARTITION, chunk: int = READ_CHUNK) -> Plan:
    """Read the geometry in chunks and cut the Hilbert order into partitions of ``size``."""
    import pyogrio

    if size < 1:
        raise InputError(f"the partition size must be at least 1, got {size}")
    t0 = time.perf_counter()
    fids, cx, cy = [], [], []
    for start in range(0, layer.count, chunk):
        meta, table = pyogrio.read_arrow(layer.path, layer=layer.layer, columns=[], return_fids=True,
                                         skip_features=start, max_features=chunk, encoding=layer.encoding)
        names = table.column_names
        geom_col = meta.get("geometry_name") or next(c for c in names if c != meta.get("fid_column"))
        fid_col = meta.get("fid_column") or next(c for c in names if c != geom_col)
        if geom_col not in names:
            geom_col = next(c for c in names if c != fid_col)
        g = shapely.from_wkb(table.column(geom_col).to_numpy(zero_copy_only=False))
        b = shapely.bounds(g)
        ok = np.isfinite(b).all(axis=1)
        fid = np.asarray(table.column(fid_col).to_numpy(), dtype=np.int64)
        fids.append(fid)
        cx.append(np.where(ok, (b[:, 0] + b[:, 2]) / 2, np.nan))
        cy.append(np.where(ok, (b[:, 1] + b[:, 3]) / 2, np.nan))
    fid = np.concatenate(fids)
    x, y = np.concatenate(cx), np.concatenate(cy)
    empty = ~np.isfinite(x)
    if empty.all():
        raise InputError("every feature has an empty geometry", layer.label)
    _flag_far(layer, fid[~empty], x[~empty], y[~empty])
    minx, maxx = np.nanmin(x), np.nanmax(x)
    miny, maxy = np.nanmin(y), np.nanmax(y)
    span = max(maxx - minx, maxy - miny, 1e-9)
    n = (1 << 16) - 1
    ix = np.where(empty, 0, np.round((np.nan_to_num(x, nan=minx) - minx) / span * n))
    iy = np.where(empty, 0, np.round((np.nan_to_num(y, nan=miny) - miny) / span * n))
    key = _hilbert(ix, iy)
    order = np.lexsort((fid, key))
    k = max(1, math.ceil(len(fid) / size))
    parts = [np.sort(p) for p in np.array_split(fid[order], k)]
    h = hashlib.sha256(layer.signature.encode())
    h.update(str(size).encode())
    for p in parts:
        h.update(p.tobytes())
    return Plan(parts, h.hexdigest()[:16], time.perf_counter() - t0)


def read_part(layer: Layer, fids) -> gpd.GeoDataFrame:
    """One partition's parcels in EPSG:4544, valid, with their codes described.

    Columns: ``fid``, ``bsm`` (the 标识码 or the fid), ``dlbm``, ``dlbm_name``, ``dlbm_group``,
    ``is_cropland``, geometry."""
    import pyogrio

    cols = sorted(c for c in {layer.code_field, layer.name_field, layer.id_field} if c)
    fids = np.asarray(fids)
    # GDAL filters fids with SQL outside GeoPackage, at most 4,997 in one statement
    step = len(fids) if layer.path.lower().endswith(".gpkg") else FID_BATCH
    pieces = [pyogrio.read_dataframe(layer.path, layer=layer.layer, fids=fids[i:i + step], columns=cols,
                                     fid_as_index=True, use_arrow=True, encoding=layer.encoding)
              for i in range(0, max(len(fids), 1), max(step, 1))]
    gdf = pieces[0] if len(pieces) == 1 else pd.concat(pieces)
    gdf = gdf.set_crs(layer.crs_wkt, allow_override=True)
    geo = gdf.geometry
    if not geo.crs.equals(settings.METRIC_CRS):
        geo = geo.to_crs(settings.METRIC_CRS)
    g = np.asarray(geo.array, dtype=object)
    bad = ~shapely.is_valid(g) & ~shapely.is_missing(g)
    if bad.any():
        from .load import make_valid_same_dimension
        g = g.copy()
        g[bad] = make_valid_same_dimension(g[bad])
    desc = landuse.describe(gdf[layer.code_field].to_numpy(dtype=object, na_value=None))
    out = gpd.GeoDataFrame({
        "fid": gdf.index.to_numpy(dtype=np.int64),
        "bsm": (gdf[layer.id_field].astype(str).to_numpy() if layer.id_field else gdf.index.astype(str).to_numpy()),
        "dlbm": desc["dlbm"].fillna("").to_numpy(),
        "dlbm_name": (desc["dlbm_name"].fillna(gdf[layer.name_field].astype(str) if layer.name_field else "")
                      .to_numpy()),
        "dlbm_group": desc["dlbm_group"].fillna("").to_numpy(),
        "is_cropland": desc["is_cropland"].to_numpy(),
    }, geometry=g, crs=settings.METRIC_CRS)
    out.attrs["repaired"] = int(bad.sum())
    raw = gdf[layer.code_field].to_numpy(dtype=object, na_value=None)
    unknown = pd.isna(desc["dlbm_name"].to_numpy())
    out.attrs["unknown"] = pd.Series(np.where(pd.isna(raw[unknown]), "（空）",
                                              raw[unknown].astype(str))).value_counts().to_dict()
    return out


def _meta(layer: Layer) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"fid": np.array([], np.int64), "bsm": np.array([], object),
                             "dlbm": np.array([], object), "dlbm_name": np.array([], object),
                             "dlbm_group": np.array([], object), "is_cropland": np.array([], bool)},
                            geometry=[], crs=settings.METRIC_CRS)


# --------------------------------------------------------------------------- shared geometry
def _pieces(zones: np.ndarray, max_vertices: int = 256):
    """Zones tiled into simple pieces (index of the zone for each piece), for fast overlays."""
    geoms, owner = [], []
    for i, z in enumerate(zones):
        if z is None or z.is_empty:
            continue
        t = tile(z, max_vertices)
        geoms.extend(t)
        owner.extend([i] * len(t))
    return np.array(geoms, dtype=object), np.array(owner, dtype=np.int64)


def _overlay_areas(parcels: np.ndarray, pieces: np.ndarray, owner: np.ndarray, *, geometry: bool = True,
                   tree=None):
    """(parcel, zone, area m², part) of every overlapping pair; a parcel a piece covers is its own
    part (not cut), so only parcels across a piece's edge are intersected."""
    empty = (np.array([], np.int64), np.array([], np.int64), np.array([], float), np.array([], dtype=object))
    if len(parcels) == 0 or len(pieces) == 0:
        return empty
    tree = tree if tree is not None else shapely.STRtree(pieces)
    fi, zi = tree.query(parcels, predicate="intersects")
    if len(fi) == 0:
        return empty
    f, z = parcels[fi], pieces[zi]
    inside = shapely.covers(z, f)
    part = f.copy()
    cut = ~inside
    part[cut] = shapely.intersection(f[cut], z[cut])
    area = shapely.area(part)
    keep = area > MIN_AREA_M2
    return fi[keep], owner[zi[keep]], area[keep], (part[keep] if geometry else empty[3])


def _metric_union(gdf: gpd.GeoDataFrame | None):
    if gdf is None or len(gdf) == 0:
        return None
    g = gdf.to_crs(settings.METRIC_CRS).geometry.values
    g = g[shapely.get_dimensions(g) == 2]
    return shapely.make_valid(shapely.union_all(shapely.make_valid(g))) if len(g) else None


class _Townships:
    """Township polygons tiled for overlays, with their names; "（区外）" for land outside them."""

    def __init__(self, townships: gpd.GeoDataFrame | None, name_field: str = "name"):
        if townships is None or len(townships) == 0:
            self.names = np.array([], dtype=object)
            self.pieces, self.owner = np.array([], dtype=object), np.array([], np.int64)
            return
        t = townships.to_crs(settings.METRIC_CRS)
        self.names = (t[name_field].astype(str).to_numpy() if name_field in t.columns
                      else np.array([str(i) for i in range(len(t))], dtype=object))
        geoms = shapely.make_valid(t.geometry.values)
        self.geoms = geoms
        self.pieces, self.owner = _pieces(geoms)
        self._tree = None

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_tree", "_grid", "grown")}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._tree = None

    @property
    def tree(self):
        if self._tree is None and len(self.pieces):
            shapely.prepare(self.pieces)
            self._tree = shapely.STRtree(self.pieces)
            # parcels cut along a township's edge stray from it by rounding: within SNAP_M they are inside
            self.grown = shapely.buffer(self.pieces, SNAP_M, quad_segs=2, join_style="mitre")
            shapely.prepare(self.grown)
            # a coarse raster of the pieces: a first guess of the piece under a point, in numpy
            from affine import Affine
            from rasterio import features

            minx, miny, maxx, maxy = shapely.total_bounds(self.pieces)
            res = max(maxx - minx, maxy - miny) / 2048
            shape = (int(np.ceil((maxy - miny) / res)) + 1, int(np.ceil((maxx - minx) / res)) + 1)
            self._grid = (minx, maxy, res, features.rasterize(
                ((g, i) for i, g in enumerate(self.pieces)), out_shape=shape,
                transform=Affine(res, 0, minx, 0, -res, maxy), fill=-1, dtype="int32"))
        return self._tree

    def _piece_at(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """A guess of the piece holding each point (−1: none); callers confirm it."""
        self.tree          # built with the grown pieces and the grid
        x0, y0, res, grid = self._grid
        c = np.floor((x - x0) / res).astype(np.int64)
        r = np.floor((y0 - y) / res).astype(np.int64)
        ok = (r >= 0) & (r < grid.shape[0]) & (c >= 0) & (c < grid.shape[1])
        out = np.full(len(x), -1, np.int64)
        out[ok] = grid[r[ok], c[ok]]
        return out

    def split(self, parcels: np.ndarray):
        """(parcel, township name, m²) for every parcel × township part, plus each parcel's
        remainder outside every township."""
        total = shapely.area(parcels)
        if len(self.pieces) == 0 or len(parcels) == 0:
            pi, ti, area = np.array([], np.int64), np.array([], np.int64), np.array([], float)
        else:
            # most parcels lie inside one piece: find it from a point, confirm with one covers test,
            # and overlay only the rest (the parcels on a township boundary)
            b = shapely.bounds(parcels)
            one = self._piece_at((b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2)
            cand = np.nonzero(one >= 0)[0]
            covered = np.zeros(len(parcels), bool)
            covered[cand] = shapely.covers(self.grown[one[cand]], parcels[cand])
            rest_idx = np.nonzero(~covered)[0]
            ri, rt, ra, _ = _overlay_areas(parcels[rest_idx], self.pieces, self.owner, geometry=False,
                                           tree=self.tree)
            done = np.nonzero(covered)[0]
            pi = np.concatenate([done, rest_idx[ri]])
            ti = np.concatenate([self.owner[one[done]], rt])
            area = np.concatenate([total[done], ra])
            order = np.argsort(pi, kind="stable")
            pi, ti, area = pi[order], ti[order], area[order]
        inside = np.bincount(pi, weights=area, minlength=len(parcels))
        rest = total - inside
        out = rest > MIN_AREA_M2
        names = np.concatenate([self.names[ti] if len(ti) else np.array([], dtype=object),
                                np.full(int(out.sum()), OUTSIDE, dtype=object)])
        return (np.concatenate([pi, np.nonzero(out)[0]]), names, np.concatenate([area, rest[out]]))

    def main(self, parcels: np.ndarray, split=None) -> np.ndarray:
        """The township holding most of each parcel ("（区外）" where none does)."""
        pi, names, area = split if split is not None else self.split(parcels)
        best = np.full(len(parcels), OUTSIDE, dtype=object)
        if len(pi):
            order = np.lexsort((-area, pi))
            first = np.ones(len(order), bool)
            first[1:] = pi[order][1:] != pi[order][:-1]
            best[pi[order][first]] = names[order][first]
        return best


def load_rules(path=None) -> pd.DataFrame:
    """The parcel rules: line, where (on dlbm or dlbm_group), severity, verdict, source."""
    p = Path(path) if path else RULES_FILE
    rules = read_rules_csv(p).fillna("")
    check_rules_table(rules, ("line", "where", "severity", "verdict", "source"), p)
    if (rules["source"].str.strip() == "").any():
        raise InputError("every rule must name its source", p)
    return rules


# --------------------------------------------------------------------------- jobs
class SanquJob:
    """Area in 亩 per township × DLBM × control line; the parcels a rule flags."""

    name = "sanqu"

    def __init__(self, townships, lines: dict, rules: pd.DataFrame | None = None):
        self.towns = _Townships(townships)
        self.lines = {k: _metric_union(v) for k, v in lines.items() if k in LINES}
        self.line_ids = [k for k in LINES if self.lines.get(k) is not None]
        # each line tiled into simple pieces (their townships come from the township split)
        self.line_pieces = {lid: _pieces(np.array([self.lines[lid]], dtype=object))[0] for lid in self.line_ids}
        self.rules = rules if rules is not None else load_rules()

    def params(self) -> str:
        h = hashlib.sha256()
        for lid in self.line_ids:
            h.update(lid.encode())
            h.update(shapely.to_wkb(self.lines[lid]))
        h.update(shapely.to_wkb(shapely.GeometryCollection(list(self.towns.pieces))) if len(self.towns.pieces) else b"")
        h.update(self.rules.to_csv().encode())
        return f"sanqu:{h.hexdigest()[:16]}"

    def run(self, part: gpd.GeoDataFrame) -> dict:
        g = np.asarray(part.geometry.array, dtype=object)
        split = self.towns.split(g)
        pi, town, area = split
        codes = part["dlbm"].to_numpy()
        rows = [pd.DataFrame({"township": town, "dlbm": codes[pi], "line": "total", "m2": area})]
        flagged = []
        main_town = None
        for lid in self.line_ids:
            pieces = self.line_pieces[lid]
            fi, _, a, inter = _overlay_areas(g, pieces, np.zeros(len(pieces), np.int64))
            if len(fi) == 0:
                continue
            # the line's part of each parcel, split by township: the parcel ∩ line pieces ∩ towns
            tpi, ttown, tarea = self.towns.split(inter)
            rows.append(pd.DataFrame({"township": ttown, "dlbm": codes[fi[tpi]], "line": lid, "m2": tarea}))
            per = pd.DataFrame({"parcel": fi, "m2": a, "geometry": inter})
            per = per.groupby("parcel", sort=True).agg(m2=("m2", "sum"), geometry=("geometry", list))
            sub = part.iloc[per.index.to_numpy()]
            for rule in self.rules[self.rules["line"] == lid].itertuples():
                hit = where_mask(sub, rule.where, "DLTB")
                if not hit.any():
                    continue
                if main_town is None:
                    main_town = self.towns.main(g, split)
                idx = per.index.to_numpy()[hit]
                geoms = [shapely.union_all(p) for p in per["geometry"].to_numpy()[hit]]
                flagged.append(gpd.GeoDataFrame({
                    "fid": part["fid"].to_numpy()[idx], "bsm": part["bsm"].to_numpy()[idx],
                    "dlbm": codes[idx], "dlbm_name": part["dlbm_name"].to_numpy()[idx],
                    "township": main_town[idx], "line": lid, "line_zh": LINES[lid],
                    "overlap_m2": per["m2"].to_numpy()[hit], "parcel_m2": shapely.area(g[idx]),
                    "severity": rule.severity, "verdict": rule.verdict, "source": rule.source},
                    geometry=shapely.make_valid(np.array(geoms, dtype=object)), crs=settings.METRIC_CRS))
        table = pd.concat(rows, ignore_index=True).groupby(["township", "dlbm", "line"], sort=True,
                                                             as_index=False)["m2"].sum()
        conflicts = (pd.concat(flagged, ignore_index=True) if flagged else None)
        return {"areas": table, "conflicts": conflicts, "parcels": len(part)}

    def combine(self, partials: list) -> dict:
        areas = pd.concat([p["areas"] for p in partials], ignore_index=True)
        areas = areas.groupby(["township", "dlbm", "line"], sort=True, as_index=False)["m2"].sum()
        wide = areas.pivot_table(index=["township", "dlbm"], columns="line", values="m2", aggfunc="sum",
                                 fill_value=0.0).reset_index()
        for lid in ["total", *LINES]:
            if lid not in wide.columns:
                wide[lid] = 0.0
        town_order = {n: i for i, n in enumerate(list(self.towns.names) + [OUTSIDE])}
        wide["_t"] = wide["township"].map(town_order).fillna(len(town_order))
        wide = wide.sort_values(["_t", "dlbm"], kind="stable").reset_index(drop=True)
        desc = landuse.describe(wide["dlbm"].to_numpy())        # after the sort: row for row
        per_town = pd.DataFrame({"township": wide["township"], "dlbm": wide["dlbm"],
                                 "dlbm_name": desc["dlbm_name"].fillna("").to_numpy(),
                                 "dlbm_group": desc["dlbm_group"].fillna("").to_numpy()})
        per_town["area_mu"] = (wide["total"] / settings.M2_PER_MU).round(4)
        for lid in LINES:
            per_town[f"{lid}_mu"] = (wide[lid] / settings.M2_PER_MU).round(4)
        district = self._district(wide, desc)
        conflicts = [p["conflicts"] for p in partials if p["conflicts"] is not None and len(p["conflicts"])]
        if conflicts:
            c = pd.concat(conflicts, ignore_index=True).sort_values(["line", "fid"], kind="stable")
            c = gpd.GeoDataFrame(c, geometry="geometry", crs=settings.METRIC_CRS)
            c["overlap_mu"] = (c["overlap_m2"] / settings.M2_PER_MU).round(4)
            c["overlap_m2"] = c["overlap_m2"].round(2)
            c["share_pct"] = (100 * c["overlap_m2"] / c["parcel_m2"]).round(2)
            c = c.drop(columns=["parcel_m2"]).reset_index(drop=True).to_crs(settings.STORAGE_CRS)
        else:
            c = gpd.GeoDataFrame({k: [] for k in ("fid", "bsm", "dlbm", "dlbm_name", "township", "line",
                                                  "line_zh", "overlap_m2", "severity", "verdict", "source",
                                                  "overlap_mu", "share_pct")},
                                 geometry=[], crs=settings.STORAGE_CRS)
        return {"township_class": per_town, "district_class": district, "conflicts": c}

    def _district(self, wide: pd.DataFrame, desc: pd.DataFrame) -> pd.DataFrame:
        cols = ["total", *LINES]
        d = wide.groupby("dlbm", sort=True)[cols].sum().reset_index()
        dd = landuse.describe(d["dlbm"].to_numpy())
        out = pd.DataFrame({"dlbm": d["dlbm"], "dlbm_name": dd["dlbm_name"].fillna("").to_numpy(),
                            "dlbm_group": dd["dlbm_group"].fillna("").to_numpy()})
        crop = d["dlbm"].isin(landuse.cropland_codes())
        total_row = d.loc[crop, cols].sum()
        out = pd.concat([out, pd.DataFrame([{"dlbm": "01", "dlbm_name": "耕地合计（0101–0103）",
                                             "dlbm_group": landuse.CROPLAND_GROUP}])], ignore_index=True)
        vals = pd.concat([d[cols], pd.DataFrame([total_row])], ignore_index=True)
        out["area_mu"] = (vals["total"] / settings.M2_PER_MU).round(4).to_numpy()
        for lid in LINES:
            out[f"{lid}_mu"] = (vals[lid] / settings.M2_PER_MU).round(4).to_numpy()
            out[f"{lid}_pct"] = np.where(vals["total"] > 0, 100 * vals[lid] / vals["total"].replace(0, np.nan),
                                         0.0).round(3)
        return out


class SlopeJob:
    """Per-parcel slope-grade shares (exact cell fractions) and cropland ≥ 25° by township."""

    name = "slope"

    def __init__(self, grades_path, townships, labels: dict):
        self.grades_path = str(Path(os.fspath(grades_path)).absolute())
        self.towns = _Townships(townships)
        self.labels = labels

    def params(self) -> str:
        st = os.stat(self.grades_path)
        return f"slope:{Path(self.grades_path).name}:{st.st_size}:{len(self.towns.pieces)}"

    def run(self, part: gpd.GeoDataFrame) -> dict:
        import rasterio
        from rasterio.windows import Window, from_bounds

        from .zonal import zonal_stats

        g = np.asarray(part.geometry.array, dtype=object)
        ok = ~shapely.is_empty(g) & ~shapely.is_missing(g)
        with rasterio.open(self.grades_path) as src:
            minx, miny, maxx, maxy = shapely.total_bounds(g[ok]) if ok.any() else (0, 0, 0, 0)
            w = from_bounds(minx, miny, maxx, maxy, src.transform)
            c0, r0 = max(0, int(math.floor(w.col_off)) - 1), max(0, int(math.floor(w.row_off)) - 1)
            c1 = min(src.width, int(math.ceil(w.col_off + w.width)) + 1)
            r1 = min(src.height, int(math.ceil(w.row_off + w.height)) + 1)
            if c1 <= c0 or r1 <= r0:
                data = np.full((1, 1), np.nan)
                tr = src.transform
            else:
                win = Window(c0, r0, c1 - c0, r1 - r0)
                raw = src.read(1, window=win)
                data = np.where(raw == 0, np.nan, raw.astype(np.float64))
                tr = src.window_transform(win)
        stats = zonal_stats(data, tr, g, percentiles=(), classes=True)
        area = shapely.area(g)
        res = pd.DataFrame({"fid": part["fid"].to_numpy(), "bsm": part["bsm"].to_numpy(),
                            "dlbm": part["dlbm"].to_numpy(), "dlbm_name": part["dlbm_name"].to_numpy(),
                            "is_cropland": part["is_cropland"].to_numpy(),
                            "township": self.towns.main(g), "area_m2": area,
                            "data_m2": stats["data_m2"].to_numpy()})
        for k in self.labels:
            col = f"m2_{k}"
            res[col] = stats[col].to_numpy() if col in stats.columns else 0.0
        return {"per_parcel": res, "parcels": len(part)}

    def combine(self, partials: list) -> dict:
        p = pd.concat([x["per_parcel"] for x in partials], ignore_index=True).sort_values("fid", kind="stable")
        p = p.reset_index(drop=True)
        keys = list(self.labels)
        data = p["data_m2"].to_numpy()
        steep = keys[-1]
        table = pd.DataFrame({"fid": p["fid"], "bsm": p["bsm"], "dlbm": p["dlbm"], "dlbm_name": p["dlbm_name"],
                              "township": p["township"], "area_mu": (p["area_m2"] / settings.M2_PER_MU).round(4)})
        for k in keys:
            share = np.where(data > 0, p[f"m2_{k}"].to_numpy() / np.where(data > 0, data, 1), np.nan)
            table[f"grade{k}_pct"] = np.round(100 * share, 3)
        # measured where the DEM has elevations (exact covered cell fractions), never extrapolated
        area = p["area_m2"].to_numpy()
        covered = np.minimum(data, area)
        table["dem_mu"] = np.round(covered / settings.M2_PER_MU, 4)
        table["ge25_mu"] = np.round(p[f"m2_{steep}"].to_numpy() / settings.M2_PER_MU, 4)
        table["no_dem_pct"] = np.round(100 * (1 - covered / np.where(area > 0, area, 1)), 3).clip(min=0)
        crop = p["is_cropland"].to_numpy(bool)
        c = table[crop]
        town_order = {n: i for i, n in enumerate(list(self.towns.names) + [OUTSIDE])}
        by = c.groupby("township", sort=False).agg(cropland_mu=("area_mu", "sum"), dem_mu=("dem_mu", "sum"),
                                                   ge25_mu=("ge25_mu", "sum"), parcels=("fid", "count")).reset_index()
        by["_t"] = by["township"].map(town_order).fillna(len(town_order))
        by = by.sort_values("_t", kind="stable").drop(columns="_t").reset_index(drop=True)
        total = pd.DataFrame([{"township": "合计", "cropland_mu": by["cropland_mu"].sum(), "dem_mu": by["dem_mu"].sum(),
                               "ge25_mu": by["ge25_mu"].sum(), "parcels": int(by["parcels"].sum())}])
        by = pd.concat([by, total], ignore_index=True)
        by["no_dem_mu"] = (by["cropland_mu"] - by["dem_mu"]).clip(lower=0).round(3)
        by["ge25_pct"] = np.where(by["dem_mu"] > 0, 100 * by["ge25_mu"] / by["dem_mu"].replace(0, np.nan), 0.0).round(3)
        for col in ("cropland_mu", "dem_mu", "ge25_mu"):
            by[col] = by[col].round(3)
        # cropland by grade, district-wide: shares of the cropland with elevations
        grades = []
        for k in keys:
            m2 = float(p[f"m2_{k}"].to_numpy()[crop].sum())
            grades.append({"grade": k, "label": self.labels[k], "cropland_mu": round(m2 / settings.M2_PER_MU, 3)})
        g = pd.DataFrame(grades)
        g["share_pct"] = (100 * g["cropland_mu"] / max(g["cropland_mu"].sum(), 1e-12)).round(3)
        return {"parcel_slope": table, "cropland_ge25": by, "cropland_grades": g}


class ZonesJob:
    """Cropland, orchard and tea inside each 532 zone, against the plan's 万亩 targets."""

    name = "zones"

    def __init__(self, zones: gpd.GeoDataFrame, crop_field: str = "crop"):
        if crop_field not in zones.columns:
            raise InputError(f"the zones have no {crop_field!r} field; fields are {', '.join(map(str, zones.columns))}",
                             zones.attrs.get("source", "agri_zones"))
        z = zones.to_crs(settings.METRIC_CRS).reset_index(drop=True)
        self.zone_names = (z["name"].astype(str).to_numpy() if "name" in z.columns
                           else np.array([str(i) for i in range(len(z))], dtype=object))
        self.crops = z[crop_field].astype(str).to_numpy()
        self.zone_m2 = z.area.to_numpy()
        self.pieces, self.owner = _pieces(shapely.make_valid(z.geometry.values))

    def params(self) -> str:
        h = hashlib.sha256()
        h.update(shapely.to_wkb(shapely.GeometryCollection(list(self.pieces))) if len(self.pieces) else b"")
        h.update("|".join(self.crops).encode())
        return f"zones:{h.hexdigest()[:16]}"

    def run(self, part: gpd.GeoDataFrame) -> dict:
        pi, zi, area, _ = _overlay_areas(np.asarray(part.geometry.array, dtype=object), self.pieces, self.owner)
        t = pd.DataFrame({"zone": zi, "dlbm": part["dlbm"].to_numpy()[pi], "m2": area})
        return {"areas": t.groupby(["zone", "dlbm"], sort=True, as_index=False)["m2"].sum(), "parcels": len(part)}

    def combine(self, partials: list) -> dict:
        a = pd.concat([p["areas"] for p in partials], ignore_index=True)
        a = a.groupby(["zone", "dlbm"], sort=True, as_index=False)["m2"].sum()
        d = landuse.describe(a["dlbm"].to_numpy())
        a["dlbm_group"] = d["dlbm_group"].fillna("").to_numpy()
        rows = []
        for i, name in enumerate(self.zone_names):
            s = a[a["zone"] == i]
            crop = self.crops[i]
            row = {"zone": name, "crop": crop, "zone_mu": self.zone_m2[i] / settings.M2_PER_MU,
                   "parcels_mu": s["m2"].sum() / settings.M2_PER_MU,
                   "cropland_mu": s.loc[s["dlbm_group"] == landuse.CROPLAND_GROUP, "m2"].sum() / settings.M2_PER_MU,
                   "garden_mu": s.loc[s["dlbm_group"] == ORCHARD_GROUP, "m2"].sum() / settings.M2_PER_MU,
                   "tea_mu": s.loc[s["dlbm"].isin(CROP_LAND["茶叶"][1]), "m2"].sum() / settings.M2_PER_MU}
            if crop in CROP_LAND:
                kind, values, label = CROP_LAND[crop]
                row["crop_land"] = label
                row["crop_land_mu"] = s.loc[s[kind].isin(values), "m2"].sum() / settings.M2_PER_MU
            rows.append(row)
        per_zone = pd.DataFrame(rows)
        for c in per_zone.columns:
            if c.endswith("_mu"):
                per_zone[c] = per_zone[c].round(3)
        crops = []
        for crop, target in PLAN_CROP_TARGETS_WANMU.items():
            s = per_zone[per_zone["crop"] == crop]
            land = CROP_LAND[crop][2]
            have = float(s["crop_land_mu"].sum()) / 1e4 if len(s) else 0.0
            crops.append({"crop": crop, "target_wanmu": target, "zones": len(s),
                          "zones_wanmu": round(float(s["zone_mu"].sum()) / 1e4, 4),
                          "crop_land": land, "crop_land_wanmu": round(have, 4),
                          "of_target_pct": round(100 * have / target, 2)})
        return {"zone_land": per_zone, "crop_targets": pd.DataFrame(crops)}


# --------------------------------------------------------------------------- resume
class Resume:
    """Finished partitions of one run, in a SQLite file next to the output."""

    def __init__(self, path, key: str):
        self.path = Path(path)
        self.key = key
        self.db = sqlite3.connect(str(self.path), timeout=30)
        self.db.execute("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT)")
        self.db.execute("CREATE TABLE IF NOT EXISTS done (part INTEGER PRIMARY KEY, payload BLOB)")
        row = self.db.execute("SELECT v FROM meta WHERE k = 'key'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('key', ?)", (key,))
            self.db.commit()
        elif row[0] != key:
            self.db.close()
            raise InputError("belongs to another run (a different input, job, options or partitions)",
                             self.path, hint="delete it, or give --restart to start over")

    def done(self) -> dict:
        return {int(p): pickle.loads(b) for p, b in self.db.execute("SELECT part, payload FROM done")}

    def save(self, part: int, partial: dict) -> None:
        self.db.execute("INSERT OR REPLACE INTO done VALUES (?, ?)", (int(part), pickle.dumps(partial, protocol=5)))
        self.db.commit()

    def close(self, remove: bool = False) -> None:
        self.db.close()
        if remove:
            self.path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- running
@dataclass
class RunInfo:
    partitions: int
    resumed: int = 0
    parcels: int = 0
    repaired: int = 0
    unknown: dict = field(default_factory=dict)
    mode: str = "single process"
    seconds: float = 0.0
    plan_seconds: float = 0.0
    notes: list = field(default_factory=list)


def _run_one(job, layer, fids):
    return _job_run(job, read_part(layer, fids))


def run(job, layer: Layer, the_plan: Plan, *, workers: int = 0, scheduler: str | None = None,
        resume: Path | None = None, restart: bool = False, progress=None,
        memory_limit: str | None = None, keep_resume: bool = False) -> tuple[dict, RunInfo]:
    """Run ``job`` over every partition and combine the partials.

    ``workers`` = 0 runs in this process; ``workers`` ≥ 1 starts a dask ``LocalCluster`` of that
    many single-threaded worker processes; ``scheduler`` (``tcp://host:8786``) uses a running
    cluster instead. ``progress(done, total)`` is called as partitions finish. The resume file is
    removed at the end unless ``keep_resume`` (the caller removes it once the results are written)."""
    t0 = time.perf_counter()
    key = f"{job.params()}|{the_plan.digest}"
    store = None
    if resume is not None:
        if restart:
            Path(resume).unlink(missing_ok=True)
        store = Resume(resume, key)
    done = store.done() if store else {}
    info = RunInfo(partitions=len(the_plan), resumed=len(done), plan_seconds=the_plan.seconds)
    todo = [i for i in range(len(the_plan)) if i not in done]
    tick = progress or (lambda d, t: None)
    tick(len(done), len(the_plan))
    try:
        if todo and (workers or scheduler):
            info.mode = _run_dask(job, layer, the_plan, todo, done, store, tick, workers, scheduler, memory_limit)
        else:
            for i in todo:
                done[i] = _run_one(job, layer, the_plan.parts[i])
                if store:
                    store.save(i, done[i])
                tick(len(done), len(the_plan))
        partials = [done[i] for i in range(len(the_plan))]
        info.parcels = int(sum(p["parcels"] for p in partials))
        info.repaired = int(sum(p.get("repaired", 0) for p in partials))
        for p in partials:
            for code, k in p.get("unknown", {}).items():
                info.unknown[code] = info.unknown.get(code, 0) + int(k)
        tables = job.combine(partials)
    finally:
        if store:
            # a run that failed before finishing anything leaves no resume file behind
            store.close(remove=not done)
    if store and not keep_resume:
        Path(resume).unlink(missing_ok=True)
    info.seconds = time.perf_counter() - t0
    return tables, info


def _run_dask(job, layer, the_plan, todo, done, store, tick, workers, scheduler, memory_limit) -> str:
    import dask
    import dask.dataframe as dd
    import dask_geopandas  # noqa: F401 - registers the geopandas backend for the frame below
    from dask.distributed import Client, LocalCluster, as_completed

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise InputError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from exc
        cluster = None
        mode = f"dask cluster {scheduler} ({len(client.scheduler_info()['workers'])} worker(s))"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=True,
                                   dashboard_address=None, memory_limit=memory_limit or "auto")
        client = Client(cluster)
        mode = f"dask LocalCluster, {workers} worker(s)"
    try:
        # the partitions as a dask-geopandas frame: each partition is read by fid in its worker
        frame = dd.from_map(read_part, [layer] * len(todo), [the_plan.parts[i] for i in todo],
                            meta=_meta(layer), enforce_metadata=False)
        job_d = dask.delayed(job, pure=True)
        tasks = [dask.delayed(_job_run)(job_d, p) for p in frame.to_delayed()]
        futures = client.compute(tasks)
        where = {f.key: i for f, i in zip(futures, todo)}
        for fut in as_completed(futures):
            i = where[fut.key]
            done[i] = fut.result()
            if store:
                store.save(i, done[i])
            tick(len(done), len(the_plan))
            fut.release()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return mode


def _job_run(job, part):
    out = job.run(part)
    out["repaired"] = int(part.attrs.get("repaired", 0))
    out["unknown"] = dict(part.attrs.get("unknown", {}))
    return out


# --------------------------------------------------------------------------- slope grades
def write_grades(dem, layer: Layer, path, *, resolution: float | None = None, layers=None,
                 margin: float = 500.0) -> Path:
    """The 坡度分级 (codes 1–5, 0 = no data) over the layer's extent as a tiled GeoTIFF in EPSG:4544,
    computed once so that every partition reads the same cells. Returns :class:`Grades`."""
    import rasterio
    from pyproj import CRS
    from pyproj import Transformer

    from . import raster, terrain

    if not layer.bounds:
        raise InputError("the layer does not report its extent", layer.label)
    tr = Transformer.from_crs(CRS.from_wkt(layer.crs_wkt), settings.METRIC_CRS, always_xy=True)
    minx, miny, maxx, maxy = tr.transform_bounds(*layer.bounds)
    area = gpd.GeoSeries([shapely.box(minx - margin, miny - margin, maxx + margin, maxy + margin)],
                         crs=settings.METRIC_CRS)
    grid = raster.read_dem(dem, area=area, layers=layers, resolution=resolution, allow_partial=True)
    grades = terrain.slope_grades(terrain.slope(grid)).data
    notes = [n for n in grid.notes if ("elevations for" in n and "100.0%" not in n) or "void" in n.lower()]
    codes = np.where(np.isfinite(grades) & grid.inside, grades, 0).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.open(path, "w", driver="GTiff", width=codes.shape[1], height=codes.shape[0], count=1,
                       dtype="uint8", nodata=0, crs=settings.METRIC_CRS, transform=grid.transform, tiled=True,
                       blockxsize=512, blockysize=512, compress="deflate") as ds:
        ds.write(codes, 1)
    return Grades(path, notes)


@dataclass
class Grades:
    """The slope-grade raster written for a run, and what reading the DEM had to say."""
    path: Path
    notes: list

    def __fspath__(self):
        return str(self.path)

    def __str__(self):
        return str(self.path)
