"""Spreadsheets and CSV tables as layers: coordinate columns, 界址点 tables, township names.

Project lists, facility lists and 界址点 (boundary corner point) tables reach planners as Excel
or CSV. :func:`read_table` finds what locates the rows:

- coordinate columns by name (经度/纬度, 东经/北纬, lon/lat, x/y, X坐标/Y坐标, 横坐标/纵坐标 …) in
  decimal degrees, degrees-minutes-seconds or Gauss-Kruger metres. Chinese surveying writes
  X for the northing and Y for the easting; which column is which is decided from the
  numbers (or stated with ``x_axis``) and said in the notes. Degrees are taken as CGCS2000;
  metres need their CRS stated (the notes suggest the zone);
- a 界址点 table (点号 J1, J2 …, X, Y, optional 圈号 and 地块号) becomes polygons, rings in
  point order;
- a township column (乡镇, 所在乡镇 …) is joined by name to the township seats or areas;
  short names match (撒拉溪 → 撒拉溪镇, 阴底乡 → 阴底彝族苗族白族乡).

The result is in the table's own coordinates; :func:`spatial.read` does the rest (EPSG:4490,
validity). Row numbers in messages are those the planner sees in Excel (header row counted).
"""
from __future__ import annotations

import csv
import difflib
import io
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .errors import InputError

TABLE_SUFFIXES = (".csv", ".xlsx", ".xlsm", ".xls")

_UNIT = r"\s*(?:[（(\[].*?[）)\]])?\s*$"          # "经度(°)", "X坐标（m）"
_PAIRS = [  # (x-like, y-like, kind)
    (r"经度", r"纬度", "lonlat"), (r"东经", r"北纬", "lonlat"),
    (r"lon|lng|long|longitude", r"lat|latitude", "lonlat"),
    (r"x坐标|坐标x|x", r"y坐标|坐标y|y", "xy"), (r"横坐标", r"纵坐标", "xy"),
    (r"e|easting|东坐标", r"n|northing|北坐标", "xy"),
]
_TOWNSHIP_COLUMNS = ("乡镇", "乡镇名称", "所在乡镇", "镇乡", "乡镇（街道）", "乡镇(街道)", "街道", "乡镇街道",
                     "所在乡镇（街道）", "township")
_POINT_NO = ("界址点号", "点号", "点名", "界址点", "序号")
_RING_NO = ("圈号", "环号")
_PARCEL = ("地块号", "地块编号", "宗地号", "地块名称", "地块", "宗地编号", "项目名称")
_JNUM = re.compile(r"^\s*J\s*\d+\s*$", re.IGNORECASE)


# --------------------------------------------------------------------------- reading the grid
def list_sheets(path) -> list[str]:
    """Sheet names of a workbook; for a CSV its file stem."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        import openpyxl
        try:
            wb = openpyxl.load_workbook(path, read_only=True)
        except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds
            raise InputError(f"cannot read as an Excel workbook: {_first_line(exc)}", path) from exc
        try:
            return list(wb.sheetnames)
        finally:
            wb.close()
    if suffix == ".xls":
        book = _xls_book(path)
        return book.sheet_names()
    return [path.stem]


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _xls_book(path):
    try:
        import xlrd
    except ImportError as exc:
        raise InputError("reading .xls needs the xlrd package (pip install xlrd), or save the "
                         "file as .xlsx", path) from exc
    try:
        return xlrd.open_workbook(path)
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read as an Excel 97–2003 workbook: {_first_line(exc)}", path) from exc


def _cells(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    return str(value)


def _grid_csv(path: Path, encoding: str | None, notes: list[str]) -> list[list[str]]:
    raw = path.read_bytes()
    if encoding:
        try:
            text = raw.decode(encoding)
        except (LookupError, UnicodeDecodeError) as exc:
            raise InputError(f"text is not valid {encoding}", path) from exc
    else:
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError as exc:
                raise InputError("text is neither UTF-8 nor GBK/GB18030", path,
                                 hint="give the encoding with encoding=… / --encoding") from exc
            notes.append("text read as GBK/GB18030")
    sample = text[:20000]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    return [row for row in csv.reader(io.StringIO(text), dialect)]


def _grid(path: Path, sheet: str | None, encoding: str | None, notes: list[str]) -> list[list[str]]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _grid_csv(path, encoding, notes)
    names = list_sheets(path)
    name = sheet if sheet is not None else names[0]
    if name not in names:
        raise InputError(f"no sheet named {sheet!r}; it holds: {', '.join(names)}", path)
    if suffix == ".xls":
        ws = _xls_book(path).sheet_by_name(name)
        return [[_cells(v) for v in ws.row_values(r)] for r in range(ws.nrows)]
    import openpyxl
    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        return [[_cells(v) for v in row] for row in wb[name].iter_rows(values_only=True)]
    finally:
        wb.close()


def read_frame(path, sheet: str | None = None, encoding: str | None = None) -> tuple[pd.DataFrame, str, int, list[str]]:
    """(table as text, shown name, spreadsheet row number of its first data row, notes).

    The header is the first row with at least two filled cells (titles above it are
    skipped); blank rows and columns are dropped; every cell is text, so '0101' and
    DMS values survive.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    notes: list[str] = []
    grid = _grid(path, sheet, encoding, notes)
    shown = f"{path}|{sheet}" if sheet else str(path)
    header_at = next((i for i, row in enumerate(grid) if sum(bool(str(c).strip()) for c in row) >= 2), None)
    if header_at is None:
        raise InputError("the table is empty (no row with two filled cells)", shown)
    if header_at:
        notes.append(f"{header_at} row(s) above the header skipped (a title)")
    header = [str(c).strip() for c in grid[header_at]]
    width = len(header)
    body = [(header_at + 2 + i, [str(c).strip() for c in (row + [""] * width)[:width]])
            for i, row in enumerate(grid[header_at + 1:])]
    body = [(n, row) for n, row in body if any(row)]
    keep = [j for j, h in enumerate(header) if h or any(row[j] for _, row in body)]
    names, used = [], set()
    for j in keep:
        name = header[j] or f"column_{j + 1}"
        while name in used:
            name += "_2"
        used.add(name)
        names.append(name)
    df = pd.DataFrame([[row[j] for j in keep] for _, row in body], columns=names, dtype=object)
    df.index = [n for n, _ in body]
    df.attrs["first_row"] = header_at + 2
    return df, shown, header_at + 2, notes


# --------------------------------------------------------------------------- columns
def _norm(name: str) -> str:
    return re.sub(_UNIT, "", str(name)).strip().lower()


def find_location_columns(df: pd.DataFrame) -> dict | None:
    """What locates the rows: ``{"kind": "lonlat"|"xy", "x": col, "y": col}``,
    ``{"kind": "township", "col": col}``, or None."""
    cols = {_norm(c): c for c in df.columns}
    for xs, ys, kind in _PAIRS:
        x = next((cols[k] for k in cols if re.fullmatch(xs, k)), None)
        y = next((cols[k] for k in cols if re.fullmatch(ys, k)), None)
        if x is not None and y is not None:
            return {"kind": kind, "x": x, "y": y}
    town = next((c for c in df.columns if _norm(c) in {t.lower() for t in _TOWNSHIP_COLUMNS}), None)
    if town is not None:
        return {"kind": "township", "col": town}
    return None


def _column(df, names):
    wanted = {n.lower() for n in names}
    return next((c for c in df.columns if _norm(c) in wanted), None)


# --------------------------------------------------------------------------- numbers
_DMS = re.compile(r"""^\s*(?P<h1>[NSEW]|东经|北纬|西经|南纬)?\s*
    (?P<d>\d+(?:\.\d+)?)\s*(?:°|度|:|\s)\s*
    (?:(?P<m>\d+(?:\.\d+)?)\s*(?:′|'|’|分|:|\s)?\s*)?
    (?:(?P<s>\d+(?:\.\d+)?)\s*(?:″|"|”|''|秒)?\s*)?
    (?P<h2>[NSEW])?\s*$""", re.VERBOSE | re.IGNORECASE)


def parse_degrees(text: str) -> float:
    """Decimal degrees of ``105.29``, ``105°17′24.5″``, ``105度17分24.5秒``, ``105:17:24.5``,
    ``105 17 24.5``, ``105°17.408′`` or with hemisphere letters; ValueError otherwise."""
    t = str(text).strip()
    try:
        return float(t)
    except ValueError:
        pass
    m = _DMS.match(t)
    if not m:
        raise ValueError(t)
    d = float(m.group("d"))
    mins = float(m.group("m") or 0)
    secs = float(m.group("s") or 0)
    if mins >= 60 or secs >= 60 or (m.group("s") and "." in (m.group("m") or "")):
        raise ValueError(t)
    value = d + mins / 60 + secs / 3600
    hemi = (m.group("h1") or m.group("h2") or "").upper()
    return -value if hemi in ("S", "W", "西经", "南纬") else value


def _numbers(values: pd.Series, col: str, shown: str, degrees: bool) -> np.ndarray:
    """Floats of a text column (NaN for empty cells); a bad cell raises naming its row."""
    s = values.astype(str).str.strip()
    empty = s.eq("") | s.str.lower().isin(("nan", "none"))
    out = np.array(pd.to_numeric(s.where(~empty), errors="coerce"), dtype=float)
    bad = np.flatnonzero(np.isnan(out) & ~empty.to_numpy())
    if not len(bad):
        return out
    if not degrees:
        pos = bad[0]
        raise InputError(f"row {values.index[pos]}, {col}: {s.iloc[pos]!r} is not a number", shown)
    parts = s.iloc[bad].str.extract(_DMS)
    d = parts["d"].astype(float).to_numpy()
    m = parts["m"].astype(float).fillna(0).to_numpy()
    sec = parts["s"].astype(float).fillna(0).to_numpy()
    decimal_minutes_with_seconds = parts["s"].notna().to_numpy() & parts["m"].fillna("").str.contains(".", regex=False).to_numpy()
    wrong = np.isnan(d) | (m >= 60) | (sec >= 60) | decimal_minutes_with_seconds
    if wrong.any():
        pos = bad[np.flatnonzero(wrong)[0]]
        raise InputError(f"row {values.index[pos]}, {col}: cannot read {s.iloc[pos]!r} as degrees "
                         f"(decimal or degrees-minutes-seconds such as 105°17′24.5″)", shown)
    value = d + m / 60 + sec / 3600
    hemi = parts["h1"].fillna(parts["h2"]).fillna("").str.upper()
    out[bad] = np.where(hemi.isin(["S", "W", "西经", "南纬"]).to_numpy(), -value, value)
    return out


def _looks_like_degrees(text: pd.Series) -> bool:
    return bool(text.astype(str).str.contains(r"[°度′'″\"分秒:]", regex=True).any())


# --------------------------------------------------------------------------- lon/lat
def _lonlat(df, loc, shown, notes):
    x = _numbers(df[loc["x"]], loc["x"], shown, True)
    y = _numbers(df[loc["y"]], loc["y"], shown, True)
    ok = ~(np.isnan(x) | np.isnan(y))
    lon_lo, lon_hi = settings.CHINA_LON
    lat_lo, lat_hi = settings.CHINA_LAT
    in_lon = lambda v: (v >= lon_lo) & (v <= lon_hi)   # noqa: E731
    in_lat = lambda v: (v >= lat_lo) & (v <= lat_hi)   # noqa: E731
    if ok.any() and (in_lat(x[ok]) & in_lon(y[ok])).all() and not (in_lon(x[ok]) & in_lat(y[ok])).all():
        x, y = y, x
        notes.append(f"{loc['x']} holds latitudes and {loc['y']} longitudes; swapped")
    bad = ok & ~(in_lon(x) & in_lat(y))
    if bad.any():
        rows = ", ".join(str(r) for r in df.index[bad][:5])
        raise InputError(f"rows {rows}: coordinates such as ({x[bad][0]:g}, {y[bad][0]:g}) lie outside China "
                         f"(longitude {lon_lo}–{lon_hi}, latitude {lat_lo}–{lat_hi})", shown,
                         hint="metres? name the columns X/Y and state --crs")
    notes.append("degrees taken as CGCS2000 (EPSG:4490); state crs= / --crs 4326 for WGS84, "
                 "or coords= / --coords gcj02 for AMap/奥维 coordinates")
    return x, y, "EPSG:4490"


# --------------------------------------------------------------------------- metres
def _easting_ok(v):
    return (v >= 1e5) & (v <= 9e5)


def _prefixed(v):
    return (v >= 13e6) & (v < 46e6) & _easting_ok(v % 1e6)


def _northing_ok(v):
    return (v >= 2e5) & (v <= 6.1e6)


def _order(x: np.ndarray, y: np.ndarray) -> tuple[str | None, str]:
    """"east" when x holds eastings, "north" when x holds northings, None when undecided."""
    x_east = (_easting_ok(x) | _prefixed(x)).all() and _northing_ok(y).all()
    y_east = (_easting_ok(y) | _prefixed(y)).all() and _northing_ok(x).all()
    if x_east and y_east:
        if _prefixed(x).all() != _prefixed(y).all():
            return ("east" if _prefixed(x).all() else "north"), "the zone prefix"
        # a northing above 900 000 m cannot be an easting
        if (y > 9e5).all() != (x > 9e5).all():
            return ("east" if (y > 9e5).all() else "north"), "the size of the numbers"
        return None, "both orders fit"
    if x_east:
        return "east", "the size of the numbers"
    if y_east:
        return "north", "the size of the numbers"
    return None, "neither order fits"


def _zone_hint(easting: np.ndarray) -> str:
    from pyproj import CRS
    e = easting[~np.isnan(easting)]
    if len(e) and _prefixed(e).all():
        zone = int(np.median(e) // 1e6)
        for code in range(4513, 4534):
            crs = CRS.from_epsg(code)
            if f"zone {zone}" in crs.name:
                return f"the eastings carry zone prefix {zone}: CGCS2000 3-degree GK zone {zone} (EPSG:{code})"
        return f"the eastings carry zone prefix {zone}"
    return ("eastings without a zone prefix: for 七星关区 (104.9–105.8°E) likely CGCS2000 3-degree GK "
            "CM 105°E (EPSG:4544) — a suggestion, not read from the file")


def _metres(df, loc, shown, notes, crs, x_axis):
    x = _numbers(df[loc["x"]], loc["x"], shown, False)
    y = _numbers(df[loc["y"]], loc["y"], shown, False)
    ok = ~(np.isnan(x) | np.isnan(y))
    if not ok.any():
        return x, y, crs
    decided, why = _order(x[ok], y[ok])
    sample = f"{loc['x']} {x[ok][0]:.3f}, {loc['y']} {y[ok][0]:.3f}"
    if x_axis is not None:
        if x_axis not in ("north", "east"):
            raise InputError(f"x_axis must be 'north' or 'east', not {x_axis!r}", shown)
        if decided is not None and decided != x_axis:
            raise InputError(f"x_axis={x_axis!r} contradicts the numbers ({sample}): {loc['x']} holds "
                             f"{'northings' if decided == 'north' else 'eastings'} (from {why})", shown)
        if decided is None and why == "neither order fits":
            raise InputError(f"X/Y values fit neither order ({sample}); are they Gauss-Kruger metres?", shown)
        decided, how = x_axis, "as stated"
    else:
        if decided is None:
            if why == "both orders fit":
                raise InputError(f"X/Y values fit both orders ({sample}); state x_axis='north' (X is the "
                                 f"northing, the surveying convention) or 'east'", shown,
                                 hint="--x-axis north|east on the command line")
            raise InputError(f"X/Y values fit neither order ({sample}): not Gauss-Kruger metres in China "
                             f"(eastings 100 000–900 000, or with a zone prefix; northings up to 6 100 000)",
                             shown)
        other = 'east' if decided == 'north' else 'north'
        how = f"decided from {why}; state x_axis='{other}' (--x-axis {other}) if that is wrong"
    east, north = (y, x) if decided == "north" else (x, y)
    if decided == "north":
        notes.append(f"{loc['x']} holds northings and {loc['y']} eastings (the surveying convention; {how})")
    else:
        notes.append(f"{loc['x']} holds eastings and {loc['y']} northings ({how})")
    if crs is None:
        notes.append(_zone_hint(east))
    return east, north, crs


# --------------------------------------------------------------------------- 界址点 → polygons
def _is_boundary_table(df, path: Path, sheet: str | None) -> bool:
    col = _column(df, _POINT_NO)
    if col is not None and df[col].astype(str).str.match(_JNUM).mean() >= 0.8:
        return True
    return "界址点" in path.name or "界址点" in (sheet or "")


def _rings_to_polygon(rings: list[np.ndarray]):
    polys = sorted((shapely.Polygon(r) for r in rings), key=lambda p: -abs(p.area))
    outer, parts = polys[0], []
    holes = [p for p in polys[1:] if outer.contains(p.representative_point())]
    others = [p for p in polys[1:] if not outer.contains(p.representative_point())]
    parts.append(shapely.Polygon(outer.exterior, [h.exterior for h in holes]))
    parts += others
    return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)


def _boundary_polygons(df, east, north, shown, notes):
    parcel_col = _column(df, _PARCEL)
    ring_col = _column(df, _RING_NO)
    point_col = _column(df, _POINT_NO)
    frame = pd.DataFrame({"parcel": df[parcel_col].to_numpy() if parcel_col else "1",
                          "ring": df[ring_col].to_numpy() if ring_col else "1",
                          "point": df[point_col].to_numpy() if point_col else "",
                          "x": east, "y": north, "row": df.index})
    frame = frame[~(np.isnan(frame["x"]) | np.isnan(frame["y"]))]
    # the parcel number is often written only on its first point
    frame["parcel"] = frame["parcel"].replace("", None).ffill().fillna("1")
    frame["ring"] = frame["ring"].replace("", None).ffill().fillna("1")
    records, geoms = [], []
    for parcel, group in frame.groupby("parcel", sort=False):
        rings = []
        for ring_no, ring in group.groupby("ring", sort=False):
            xy = ring[["x", "y"]].to_numpy()
            names = ring["point"].astype(str).to_numpy()
            if len(xy) > 1 and (np.array_equal(xy[0], xy[-1]) or (names[0] and names[0] == names[-1])):
                xy = xy[:-1]
            if len(np.unique(xy, axis=0)) < 3:
                raise InputError(f"parcel {parcel}, ring {ring_no}: fewer than 3 distinct points "
                                 f"(rows {ring['row'].iloc[0]}–{ring['row'].iloc[-1]})", shown)
            rings.append(np.vstack([xy, xy[:1]]))
        geoms.append(_rings_to_polygon(rings))
        records.append({parcel_col or "parcel": parcel, "points": int(len(group)),
                        "rings": len(rings), "first_row": int(group["row"].iloc[0]),
                        "last_row": int(group["row"].iloc[-1])})
    dropped = [c for c in df.columns if c not in (parcel_col,)]
    notes.append(f"界址点 table: {len(frame)} points became {len(geoms)} polygon(s), rings in point order; "
                 f"per-point columns ({', '.join(map(str, dropped[:6]))}) are not kept")
    return pd.DataFrame(records), geoms


# --------------------------------------------------------------------------- townships
_SUFFIXES = ("街道办事处", "办事处", "街道", "民族乡", "镇", "乡")
#: The peoples named in Guizhou's 民族乡 (彝族苗族白族乡 …), stripped to find the short name.
_ETHNIC = re.compile(r"(?:彝|苗|白|布依|仡佬|回|土家|侗|水|壮|瑶|满|蒙古|穿青)族(?:(?:彝|苗|白|布依|仡佬|回|土家|侗|水|壮|瑶|满|蒙古|穿青)族)*$")


def core_name(name: str) -> str:
    """撒拉溪镇 → 撒拉溪, 阴底彝族苗族白族乡 → 阴底, 市西街道 → 市西."""
    n = re.sub(r"\s+", "", str(name))
    for suffix in _SUFFIXES:
        if n.endswith(suffix) and len(n) > len(suffix):
            n = n[: -len(suffix)]
            break
    n = _ETHNIC.sub("", n) or n
    return n


def _default_places(kind: str) -> gpd.GeoDataFrame:
    from .catalog import catalog
    return catalog().load("townships" if kind == "point" else "township_areas")


def _join_townships(df, col, shown, notes, places, geometry):
    kind = "polygon" if geometry == "polygon" else "point"
    ref = (places or _default_places)(kind)
    names = [str(n) for n in ref["name"]]
    exact = {n: i for i, n in enumerate(names)}
    by_core: dict[str, list[int]] = {}
    for i, n in enumerate(names):
        by_core.setdefault(core_name(n), []).append(i)
    values = df[col].astype(str).str.strip()
    matched, short, problems = [], 0, {}
    for row, value in zip(df.index, values):
        if not value or value.lower() == "nan":
            matched.append(None)
            continue
        if value in exact:
            matched.append(exact[value])
            continue
        hits = by_core.get(core_name(value), [])
        if len(hits) == 1:
            matched.append(hits[0])
            short += 1
            continue
        problems.setdefault(value, {"rows": [], "hits": hits})["rows"].append(row)
        matched.append(None)
    if problems:
        parts = []
        for value, info in list(problems.items())[:6]:
            rows = ", ".join(str(r) for r in info["rows"][:5])
            if info["hits"]:
                parts.append(f"row{'s' if len(info['rows']) > 1 else ''} {rows}: {value} is ambiguous "
                             f"({', '.join(names[i] for i in info['hits'])})")
            else:
                close = difflib.get_close_matches(value, names, n=3, cutoff=0.3) or \
                    [names[i] for c in difflib.get_close_matches(core_name(value), list(by_core), n=2, cutoff=0.3)
                     for i in by_core[c]]
                parts.append(f"row{'s' if len(info['rows']) > 1 else ''} {rows}: {value} matches no township"
                             + (f" (closest: {', '.join(close)})" if close else ""))
        raise InputError("; ".join(parts), shown, hint="correct the names in the table")
    geoms = [None if i is None else ref.geometry.iloc[i] for i in matched]
    out = df.copy()
    out["township_matched"] = [None if i is None else names[i] for i in matched]
    notes.append(f"located by {col}: {sum(i is not None for i in matched)} row(s) joined to the township "
                 f"{'areas' if kind == 'polygon' else 'seats'}" + (f", {short} by short name" if short else ""))
    return out, geoms, ref.crs


# --------------------------------------------------------------------------- public
def _locates(path: Path, sheet: str, encoding) -> bool:
    try:
        return find_location_columns(read_frame(path, sheet, encoding)[0]) is not None
    except InputError:          # an empty sheet, a sheet of notes
        return False


def _choose_sheet(path: Path, layer: str | None, encoding):
    if path.suffix.lower() == ".csv" or layer is not None:
        return layer if path.suffix.lower() != ".csv" else None
    sheets = list_sheets(path)
    if len(sheets) == 1:
        return sheets[0]
    located = [s for s in sheets if _locates(path, s, encoding)]
    if len(located) == 1:
        return located[0]
    if not located:
        return sheets[0]            # the error about missing columns names the first sheet
    raise InputError(f"{len(located)} sheets hold coordinates or townships ({', '.join(located)}); choose one",
                     path, hint="layer=SHEET in Python, --layer SHEET on the command line")


def read_table(path, layer: str | None = None, *, crs=None, geometry: str | None = None,
               x_axis: str | None = None, encoding: str | None = None,
               places=None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """A table as a layer in its own coordinates, and the notes of reading.

    Parameters
    ----------
    path : CSV, XLSX/XLSM or XLS file.
    layer : sheet name (default: the one sheet that locates its rows).
    crs : coordinate system of metre coordinates (degrees are taken as CGCS2000).
    geometry : "point" or "polygon": force points, or polygons (界址点 rings; township areas).
    x_axis : "north" (X holds northings, the surveying convention) or "east".
    encoding : CSV text encoding (default: UTF-8 with or without BOM, else GBK/GB18030).
    places : callable ``places(kind) -> GeoDataFrame`` with a ``name`` column, for the
        township join (default: the catalog's townships / township_areas).

    Returns
    -------
    (GeoDataFrame, notes): every column kept, plus ``row`` (the spreadsheet row) unless the
    table has a column of that name; CRS EPSG:4490 for degrees, ``crs`` or None for metres.
    """
    path = Path(path)
    if geometry not in (None, "point", "polygon"):
        raise InputError(f"geometry must be 'point' or 'polygon', not {geometry!r}", path)
    sheet = _choose_sheet(path, layer, encoding)
    df, shown, _first, notes = read_frame(path, sheet, encoding)
    if df.empty:
        raise InputError("the table has a header but no rows", shown)
    loc = find_location_columns(df)
    if loc is None:
        raise InputError("no coordinate columns (经度/纬度, X/Y …) and no township column (乡镇 …); "
                         f"the table has: {', '.join(map(str, df.columns))}", shown)
    out_crs = None
    if loc["kind"] == "township":
        frame, geoms, out_crs = _join_townships(df, loc["col"], shown, notes, places, geometry)
    else:
        degrees = loc["kind"] == "lonlat" or _looks_like_degrees(df[loc["x"]])
        if not degrees:
            probe = pd.to_numeric(df[loc["x"]], errors="coerce").dropna()
            degrees = bool(len(probe)) and probe.abs().max() <= 180 and \
                pd.to_numeric(df[loc["y"]], errors="coerce").abs().max() <= 180
        if degrees:
            east, north, out_crs = _lonlat(df, loc, shown, notes)
        else:
            east, north, out_crs = _metres(df, loc, shown, notes, crs, x_axis)
        if crs is not None and degrees:
            out_crs = crs
        boundary = geometry == "polygon" or (geometry is None and _is_boundary_table(df, path, sheet))
        if boundary:
            frame, geoms = _boundary_polygons(df, east, north, shown, notes)
        else:
            ok = ~(np.isnan(east) | np.isnan(north))
            geoms = np.full(len(east), None, dtype=object)
            geoms[ok] = shapely.points(east[ok], north[ok])
            frame = df.copy()
            if (~ok).any():
                notes.append(f"rows without coordinates: {', '.join(str(r) for r in df.index[~ok][:10])}"
                             + (" …" if (~ok).sum() > 10 else ""))
    frame = _typed(frame)
    if "row" not in frame.columns and "first_row" not in frame.columns:
        frame.insert(0, "row", frame.index.to_numpy())
    frame = frame.reset_index(drop=True)
    frame.attrs["shown"] = shown
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geoms, crs=out_crs), crs=out_crs), notes


def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """Columns whose every filled cell is a number become numbers; codes with a leading zero
    ('0101') stay text."""
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype != object:
            continue
        text = s.astype(str).str.strip()
        filled = text.ne("") & s.notna()
        if not filled.any():
            out[col] = s.where(filled, None)
            continue
        if text[filled].str.match(r"^0\d").any():
            out[col] = s.where(filled, None)
            continue
        nums = pd.to_numeric(text.where(filled), errors="coerce")
        out[col] = nums if nums[filled].notna().all() else s.where(filled, None)
    return out
