"""Site pre-check (选址预审): one project's boundary against every rule that applies.

:func:`check_site` takes the parcels of a project (用地红线, any format :func:`spatial.read`
accepts) and reports, per parcel and in total:

* area in 亩, 公顷 and m² (EPSG:4544) and the townships it lies in, with shares;
* the overlap with each of the 三区三线 and the verdict of the site rules table
  (``layers/rules/site_rules.csv``: project type × check → 冲突 / 需论证 / 符合, with the
  rule's wording and source) — the rules are data, editable like the 三区三线 rules;
* slope grades in 亩 when a DEM is given, with the ≥ 25° rule of the project type;
* drinking-water source protection zones when given (level and area);
* reservoirs, parks and 532/211 zones it touches or lies near;
* access over the road network: minutes and road kilometres to the nearest expressway
  entrance and to the district seat, and the nearest township seat;
* the layers used with their data status, and the line :data:`DISCLAIMER`.

The result is a :class:`SiteReport`; :mod:`spatial.site_report` writes it as a self-contained
Chinese HTML page, an Excel workbook or a GeoPackage.
"""
from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .errors import InputError
from .overlay import CONTROL_LINES, pair_measures, tile

DISCLAIMER = "预审参考，不代表审批结论"
RULES_FILE = settings.BUNDLED_LAYERS / "rules" / "site_rules.csv"
RULE_COLUMNS = ("type", "check", "relation", "severity", "verdict", "rule", "source")

#: project kinds (``--type``) and what they mean
PROJECT_TYPES = {
    "construction": "建设项目",
    "agriculture-grain": "农业（粮食生产）",
    "agriculture-orchard": "农业（园地：刺梨、茶、果）",
    "forestry": "林业（造林、苗木）",
    "road": "道路（线性工程）",
    "water": "水利（水库、渠道）",
}
CHECKS = {**CONTROL_LINES, "slope_25": "坡度≥25°", "protection_1": "饮用水水源一级保护区",
          "protection_2": "饮用水水源二级保护区"}
SEVERITY_ZH = {"conflict": "冲突", "review": "需论证", "ok": "符合", "info": "提示"}
SEVERITY_ORDER = {"conflict": 0, "review": 1, "ok": 2, "info": 3}
#: what "near" means for reservoirs, parks and zones, metres
NEAR_M = 1000.0
#: overlaps smaller than this (m²) are slivers of digitising, not findings
MIN_PIECE_M2 = 0.01
NEARBY_LAYERS = {"reservoirs": "水库", "parks": "产业园区", "agri_zones": "532 产业布局区",
                 "livestock": "211 养殖布局区"}
NAME_FIELDS = ("name", "名称", "XMMC", "xmmc", "项目名称", "地块名称", "DKMC", "dkmc", "Name")
#: the district seat: AMap's centre point of 七星关区 (adcode 520502), GCJ-02 → CGCS2000;
#: approximate, as the bundled township seats are
DISTRICT_SEAT_GCJ02 = (105.30474, 27.298458)
DISTRICT_SEAT_SOURCE = ("Vonng/adcode data/adcode/520502.csv (CC BY 4.0): AMap centre point of 七星关区, "
                        "GCJ-02 converted to CGCS2000; approximate, not the surveyed 区政府 position")


# --------------------------------------------------------------------------- rules
def load_rules(path: str | Path | None = None) -> pd.DataFrame:
    """The site rules table; every row names its source."""
    p = Path(path) if path else RULES_FILE
    try:
        rules = pd.read_csv(p, dtype=str, encoding="utf-8-sig").fillna("")
    except FileNotFoundError as exc:
        raise InputError("no such rules file", p) from exc
    except UnicodeDecodeError:
        rules = pd.read_csv(p, dtype=str, encoding="gb18030").fillna("")
    missing = [c for c in RULE_COLUMNS if c not in rules.columns]
    if missing:
        raise InputError(f"site rules lack column(s) {', '.join(missing)}; they need {', '.join(RULE_COLUMNS)}", p)
    for col, allowed in (("type", PROJECT_TYPES), ("check", CHECKS), ("relation", ("overlaps", "outside")),
                         ("severity", ("conflict", "review", "ok"))):
        bad = sorted(set(rules[col]) - set(allowed))
        if bad:
            raise InputError(f"unknown {col} value(s) {', '.join(bad)} in the site rules; use {', '.join(allowed)}", p)
    unsourced = rules.index[rules["source"].str.strip() == ""]
    if len(unsourced):
        raise InputError(f"site rule(s) on line(s) {', '.join(str(i + 2) for i in unsourced)} name no source", p)
    return rules


def check_type(project_type: str) -> str:
    t = str(project_type).strip().lower()
    if t not in PROJECT_TYPES:
        raise InputError(f"unknown project type {project_type!r}; use one of "
                         + ", ".join(f"{k} ({v})" for k, v in PROJECT_TYPES.items()))
    return t


# --------------------------------------------------------------------------- the report
@dataclass
class SiteReport:
    """Everything :func:`check_site` found; tables are pandas frames with Chinese headers."""

    project: str
    project_type: str
    date: str
    version: str
    parcels: gpd.GeoDataFrame           # EPSG:4490: parcel, area_m2, area_mu, area_ha
    townships: pd.DataFrame
    lines: pd.DataFrame
    slope: pd.DataFrame | None
    protection: pd.DataFrame | None
    nearby: pd.DataFrame
    access: pd.DataFrame
    findings: pd.DataFrame
    sources: pd.DataFrame
    pieces: gpd.GeoDataFrame            # EPSG:4490: overlap pieces with lines/zones/slopes
    notes: list = field(default_factory=list)
    source_file: str = ""
    context: dict = field(default_factory=dict)   # geometries for the map (EPSG:4544)

    @property
    def total_mu(self) -> float:
        return float(self.parcels["area_mu"].sum())

    def worst(self) -> str:
        """The overall verdict: conflict, review or ok (notes do not count)."""
        found = set(self.findings["severity"]) if len(self.findings) else set()
        return next((s for s in ("conflict", "review") if s in found), "ok")

    def tables(self) -> dict[str, pd.DataFrame]:
        """The tables in report order, keyed by their sheet/layer name."""
        parcels = pd.DataFrame(self.parcels.drop(columns="geometry")).rename(columns=PARCEL_HEADERS)
        out = {"findings": self.findings, "parcels": parcels,
               "townships": self.townships, "lines": self.lines}
        if self.slope is not None:
            out["slope"] = self.slope
        if self.protection is not None:
            out["protection"] = self.protection
        out.update({"nearby": self.nearby, "access": self.access, "data_sources": self.sources})
        return out


PARCEL_HEADERS = {"parcel": "地块", "area_m2": "面积(平方米)", "area_mu": "面积(亩)", "area_ha": "面积(公顷)",
                  "in_district_share": "区内比例"}
TABLE_TITLES = {"findings": "预审结论", "parcels": "地块面积", "townships": "所在乡镇", "lines": "三区三线",
                "slope": "坡度分级", "protection": "水源保护区", "nearby": "周边要素", "access": "交通可达",
                "data_sources": "数据来源"}


# --------------------------------------------------------------------------- input checks
def parcels_from(gdf: gpd.GeoDataFrame, source: str | None = None) -> gpd.GeoDataFrame:
    """The project's parcels: polygons, each with a name; lines, points and empty layers refused."""
    source = source or gdf.attrs.get("source")
    if len(gdf) == 0 or gdf.geometry.isna().all() or gdf.geometry.is_empty.all():
        raise InputError("the file holds no parcel (no features with a geometry)", source)
    kinds = set(gdf.geom_type.dropna())
    polys = gdf[gdf.geom_type.isin(["Polygon", "MultiPolygon"])]
    if len(polys) == 0:
        hint = ("a 界址点 table becomes a polygon with --geometry polygon; a closed CAD line is read as a "
                "polygon from the DXF's 'polygons'" if kinds & {"Point", "MultiPoint", "LineString",
                                                                "MultiLineString"} else None)
        raise InputError(f"the project boundary must be polygons, the file holds {', '.join(sorted(kinds))}",
                         source, hint=hint)
    no_geom = gdf.geometry.isna() | gdf.geometry.is_empty
    dropped = int((~no_geom & ~gdf.geom_type.isin(["Polygon", "MultiPolygon"])).sum())
    empty = int(no_geom.sum())
    polys = polys[~polys.geometry.is_empty].copy()
    names = None
    for f in NAME_FIELDS:
        if f in polys.columns and polys[f].notna().any():
            names = polys[f].astype(str).where(polys[f].notna(), "")
            break
    labels = [f"地块{i + 1}" for i in range(len(polys))]
    if names is not None:
        labels = [str(n).strip() or labels[i] for i, n in enumerate(names)]
    # the same name twice gets a number, so every parcel row is told apart
    seen: dict[str, int] = {}
    unique = []
    for lab in labels:
        seen[lab] = seen.get(lab, 0) + 1
        unique.append(lab if seen[lab] == 1 else f"{lab}（{seen[lab]}）")
    out = gpd.GeoDataFrame({"parcel": unique}, geometry=polys.geometry.to_crs(settings.STORAGE_CRS).values,
                           crs=settings.STORAGE_CRS)
    flat = shapely.area(shapely.make_valid(out.to_crs(settings.METRIC_CRS).geometry.values)) < 0.01
    if flat.all():
        raise InputError("the parcels have no area (their rings enclose nothing)", source)
    if flat.any():
        raise InputError(f"parcel(s) {', '.join(np.asarray(unique)[flat][:5])} have no area (their rings enclose "
                         f"nothing)", source)
    out.attrs["dropped"] = dropped
    out.attrs["empty"] = empty
    out.attrs["source"] = source
    return out


# --------------------------------------------------------------------------- helpers
def _metric_union(gdf: gpd.GeoDataFrame) -> shapely.Geometry:
    g = gdf.to_crs(settings.METRIC_CRS).geometry.values
    g = shapely.make_valid(g)
    return shapely.union_all(g)


def _polygonal(geom) -> shapely.Geometry:
    """Only the polygon parts of a geometry (an intersection may hold slivers of lines)."""
    if geom is None or geom.is_empty:
        return shapely.Polygon()
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [p for p in shapely.get_parts(geom) if p.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.union_all(parts) if parts else shapely.Polygon()


def _zones(gdf: gpd.GeoDataFrame) -> gpd.GeoSeries:
    return gpd.GeoSeries(tile(_metric_union(gdf)), crs=settings.METRIC_CRS)


def _inside_area(parcels_m: gpd.GeoSeries, zones: gpd.GeoSeries):
    """m² of each parcel inside the zones, and the pieces (one polygon per parcel)."""
    n = len(parcels_m)
    if len(zones) == 0:
        return np.zeros(n), [shapely.Polygon()] * n
    pm = pair_measures(parcels_m, zones)
    area = np.bincount(pm["feature"].astype(int), weights=pm["area_m2"], minlength=n) if len(pm) else np.zeros(n)
    pieces = [shapely.Polygon()] * n
    if len(pm):
        for f, grp in pm.groupby("feature"):
            pieces[int(f)] = _polygonal(shapely.union_all(grp["geometry"].values))
    return area, pieces


def _rule(rules: pd.DataFrame, project_type: str, check: str):
    r = rules[(rules["type"] == project_type) & (rules["check"] == check)]
    return None if len(r) == 0 else r.iloc[0]


def _verdict(rule, share: float, relation_default: str = "overlaps"):
    """(severity, verdict, rule text, source) of one parcel × check."""
    if rule is None:
        return "ok", "无适用限制", "", ""
    fires = share > 0 if rule["relation"] == "overlaps" else share < 1 - 1e-6
    if not fires:
        return "ok", "不涉及", rule["rule"], rule["source"]
    return rule["severity"], rule["verdict"], rule["rule"], rule["source"]


def district_seat() -> gpd.GeoDataFrame:
    from .chinacoords import gcj02_to_wgs84

    lon, lat = gcj02_to_wgs84(np.array([DISTRICT_SEAT_GCJ02[0]]), np.array([DISTRICT_SEAT_GCJ02[1]]))
    return gpd.GeoDataFrame({"name": ["七星关区（区政府驻地，近似）"]},
                            geometry=gpd.points_from_xy(lon, lat), crs=settings.STORAGE_CRS)


# --------------------------------------------------------------------------- prepared layers
class SiteContext:
    """The layers a site check reads, loaded, made valid and tiled once: a batch of projects
    (``qxg check site --each``) shares one context, so each project costs only its own parcels."""

    def __init__(self, cat):
        self.cat = cat
        self._frames: dict[str, gpd.GeoDataFrame] = {}
        self._cache: dict[tuple, object] = {}
        self.network = None
        self.network_error: InputError | None = None
        self._network_tried = False

    def exists(self, layer_id: str) -> bool:
        return layer_id in self.cat.ids() and self.cat.get(layer_id).exists

    def load(self, layer_id: str) -> gpd.GeoDataFrame:
        if layer_id not in self._frames:
            self._frames[layer_id] = self.cat.load(layer_id)
        return self._frames[layer_id]

    def _memo(self, key, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def union(self, layer_id: str):
        return self._memo(("union", layer_id), lambda: _metric_union(self.load(layer_id)))

    def zones(self, layer_id: str) -> gpd.GeoSeries:
        return self._memo(("zones", layer_id), lambda: gpd.GeoSeries(tile(self.union(layer_id)),
                                                                     crs=settings.METRIC_CRS))

    def metric(self, layer_id: str) -> np.ndarray:
        return self._memo(("metric", layer_id), lambda: np.asarray(shapely.make_valid(
            self.load(layer_id).to_crs(settings.METRIC_CRS).geometry.values)))

    def tree(self, layer_id: str) -> shapely.STRtree:
        return self._memo(("tree", layer_id), lambda: shapely.STRtree(self.metric(layer_id)))

    def road_network(self):
        """The current road network from the catalog's roads (None when they are missing)."""
        if not self._network_tried:
            from . import network as netmod

            self._network_tried = True
            ids = ("roads", "expressways", "interchanges")
            if all(self.exists(i) for i in ids):
                try:
                    self.network = netmod.from_layers(self.load("roads"), self.load("expressways"),
                                                      self.load("interchanges"), scenario="current")
                except InputError as exc:
                    self.network_error = exc
        return self.network

    def sources(self, ids) -> pd.DataFrame:
        from .cli import _data_sources   # one definition of the data-status table

        key = ("sources", tuple(ids))
        return self._memo(key, lambda: _data_sources(self.cat, list(ids)))


# --------------------------------------------------------------------------- the check
_REASONS_ZH = {"Self-intersection": "边界自相交", "Ring Self-intersection": "环自相交",
               "Too few points": "顶点过少", "Hole lies outside shell": "内环在外环之外",
               "Nested shells": "外环嵌套", "Interior is disconnected": "内部不连通",
               "Duplicate Rings": "重复的环", "Nested holes": "内环嵌套"}


def _repair_zh(problem: str) -> str:
    """The loader's repair note in the report's words: the reason, where (lon/lat), the areas."""
    m = re.match(r"invalid geometry \((?P<why>[^\[\)]+)(\[(?P<x>[-\d.eE+]+) (?P<y>[-\d.eE+]+)\])?\) repaired with "
                 r"make_valid(; area (?P<a>[\d.eE+-]+) → (?P<b>[\d.eE+-]+) ha)?", problem)
    if not m:
        return problem
    text = f"几何无效（{_REASONS_ZH.get(m['why'].strip(), m['why'].strip())}"
    if m["x"]:
        text += f"，约在东经 {float(m['x']):.5f}°、北纬 {float(m['y']):.5f}°"
    text += "），已按 make_valid 修复"
    if m["a"]:
        text += f"；面积 {float(m['a']):.4g} → {float(m['b']):.4g} 公顷"
    return text


def _feature_zh(label: str) -> str:
    """'feature 3 (name=撒拉溪镇)' → '要素 3（name=撒拉溪镇）'."""
    m = re.match(r"(?:feature|row) (\S+)(?: \((.*)\))?$", label)
    if not m:
        return label
    return f"要素 {m[1]}" + (f"（{m[2]}）" if m[2] else "")


def check_site(parcels, *, name: str | None = None, project_type: str = "construction", layers=None,
               dem=None, protection=None, near_m: float = NEAR_M, rules=None, network=None,
               catalog=None, read_options: dict | None = None, context: SiteContext | None = None) -> SiteReport:
    """Pre-check a project's parcels against the 三区三线, slope, water protection and access.

    Parameters
    ----------
    parcels : path or GeoDataFrame
        The 用地红线: one or several polygons (a path is read with :func:`spatial.read`,
        ``read_options`` passed on, e.g. ``{"layer": "红线", "crs": 4544}``).
    name : str, optional
        The project's name (default: the file's name).
    project_type : str
        One of :data:`PROJECT_TYPES`; decides which rules apply.
    layers : folder or catalog.toml, optional
        The county's layers (default: the bundled ones).
    dem : path(s), optional
        A DEM for the slope grades.
    protection : path or GeoDataFrame, optional
        Drinking-water source protection zones with a ``level`` field (一级/二级); default the
        catalog's ``water_protection`` layer when present.
    near_m : float
        How far to look for reservoirs, parks and 532/211 zones, metres.
    network : Network, optional
        The road network to time access on (default: built from the catalog's roads).
    context : SiteContext, optional
        Layers already prepared (for many projects in a row); default: prepared here.
    """
    from . import __version__
    from . import catalog as catmod
    from . import load

    project_type = check_type(project_type)
    if not (isinstance(near_m, (int, float)) and np.isfinite(near_m) and near_m >= 0):
        raise InputError(f"the distance for nearby features must be a non-negative number of metres, got {near_m!r}")
    rules = load_rules(rules) if rules is None or isinstance(rules, (str, Path)) else rules
    ctx = context or SiteContext(catalog or catmod.catalog(layers))
    cat = ctx.cat
    if isinstance(parcels, (str, Path)):
        gdf = load.read_named(parcels, **(read_options or {}))
        source = gdf.attrs.get("source", str(parcels))
        default_name = Path(str(parcels)).stem
    else:
        gdf, source, default_name = parcels, parcels.attrs.get("source", ""), "项目"
    notes = [n for n in gdf.attrs.get("notes", [])]
    p = parcels_from(gdf, source)
    project = (name or "").strip() or default_name
    pm = p.to_crs(settings.METRIC_CRS)
    geoms = gpd.GeoSeries(shapely.make_valid(pm.geometry.values), crs=settings.METRIC_CRS)
    geoms = gpd.GeoSeries([_polygonal(g) for g in geoms.values], crs=settings.METRIC_CRS)
    area = geoms.area.to_numpy()
    findings: list[dict] = []
    used = []

    def finding(severity, parcel, topic, text, rule="", src=""):
        findings.append({"severity": severity, "结论": SEVERITY_ZH[severity], "地块": parcel, "事项": topic,
                         "说明": text, "依据": rule, "来源": src})

    for n_ in notes:
        if n_.level == "repaired":
            finding("info", _feature_zh(n_.feature or ""), "几何修复", f"{_repair_zh(n_.problem)}（已自动修复，请核对红线）")
    if p.attrs.get("dropped"):
        finding("info", "", "非面要素", f"{p.attrs['dropped']} 个非面要素（点/线）未参与预审")
    if p.attrs.get("empty"):
        finding("info", "", "空几何", f"{p.attrs['empty']} 个要素没有几何，未参与预审")

    # outside the district
    outline = ctx.union("boundary")
    used.append("boundary")
    inside_d = shapely.area(shapely.intersection(geoms.values, outline))
    share_d = np.where(area > 0, inside_d / np.where(area > 0, area, 1), 0)
    if (share_d < 1e-6).all():
        raise InputError("the parcels lie outside 七星关区 (none of them meets the district boundary)", source,
                         hint="check the coordinate system (--crs) and the web offset (--coords gcj02)")
    parcels_tab = gpd.GeoDataFrame({"parcel": p["parcel"].to_numpy(), "area_m2": np.round(area, 2),
                                    "area_mu": np.round(area / settings.M2_PER_MU, 3),
                                    "area_ha": np.round(area / settings.M2_PER_HA, 4),
                                    "in_district_share": np.round(share_d, 4)},
                                   geometry=geoms.to_crs(settings.STORAGE_CRS).values, crs=settings.STORAGE_CRS)
    for i in np.flatnonzero(share_d < 1 - 1e-4):
        what = "位于区界外" if share_d[i] < 1e-6 else f"{(1 - share_d[i]) * 100:.1f}% 位于区界外"
        finding("review", parcels_tab.at[i, "parcel"], "区界", f"地块{what}，区外部分未按本区图层检查")
    outside = share_d < 1e-6
    # parcels that overlap each other: their areas add up to more than the land they cover
    if len(geoms) > 1:
        tree = shapely.STRtree(geoms.values)
        a_i, b_i = tree.query(geoms.values, predicate="intersects")
        keep = a_i < b_i
        for a_, b_ in zip(a_i[keep], b_i[keep]):
            ov = shapely.area(shapely.intersection(geoms.values[a_], geoms.values[b_]))
            if ov > MIN_PIECE_M2:
                finding("info", f"{parcels_tab.at[a_, 'parcel']} / {parcels_tab.at[b_, 'parcel']}", "地块重叠",
                        f"两地块重叠 {ov / settings.M2_PER_MU:,.2f} 亩；合计面积按各地块相加，重叠部分计两次")

    pieces: list[dict] = []

    # townships
    towns_id = "township_areas" if ctx.exists("township_areas") else None
    town_rows = []
    if towns_id:
        used.append(towns_id)
        towns = ctx.load(towns_id)
        tg = ctx.metric(towns_id)
        tree = ctx.tree(towns_id)
        fi, ti = tree.query(geoms.values, predicate="intersects")
        inter = shapely.area(shapely.intersection(geoms.values[fi], tg[ti])) if len(fi) else np.array([])
        tnames = towns["name"].astype(str).to_numpy()
        for f, t, a in sorted(zip(fi, ti, inter), key=lambda x: (x[0], -x[2])):
            if a <= 0.01:
                continue
            town_rows.append({"地块": parcels_tab.at[f, "parcel"], "乡镇": tnames[t],
                              "面积(亩)": round(a / settings.M2_PER_MU, 3),
                              "占地块比例": round(a / area[f], 4) if area[f] else 0.0})
    townships = pd.DataFrame(town_rows, columns=["地块", "乡镇", "面积(亩)", "占地块比例"])

    # the three control lines
    line_rows = []
    ctx_lines = {}
    for line_id, line_zh in CONTROL_LINES.items():
        if not ctx.exists(line_id):
            finding("info", "", line_zh, f"未提供{line_zh}图层，未检查")
            continue
        used.append(line_id)
        zones = ctx.zones(line_id)
        ctx_lines[line_id] = ctx.union(line_id)
        inside, pcs = _inside_area(geoms, zones)
        rule = _rule(rules, project_type, line_id)
        for i in range(len(p)):
            share = inside[i] / area[i] if area[i] else 0.0
            sev, verdict, text, src = _verdict(rule, share)
            parcel = parcels_tab.at[i, "parcel"]
            if outside[i]:
                line_rows.append({"地块": parcel, "管控线": line_zh, "重叠面积(亩)": np.nan, "重叠面积(公顷)": np.nan,
                                  "占地块比例": np.nan, "判定": "未检查", "说明": "地块位于区界外，本区图层不覆盖",
                                  "依据": "", "来源": "", "severity": "info"})
                continue
            line_rows.append({"地块": parcel, "管控线": line_zh, "重叠面积(亩)": round(inside[i] / settings.M2_PER_MU, 3),
                              "重叠面积(公顷)": round(inside[i] / settings.M2_PER_HA, 4),
                              "占地块比例": round(min(share, 1.0), 4), "判定": SEVERITY_ZH[sev], "说明": verdict,
                              "依据": text, "来源": src, "severity": sev})
            is_outside_rule = rule is not None and rule["relation"] == "outside"
            if sev != "ok" or (rule is not None and share > 0 and not is_outside_rule):
                if is_outside_rule:
                    out_mu = max(area[i] - inside[i], 0.0) / settings.M2_PER_MU
                    where = f"{out_mu:,.2f} 亩（{max(1 - share, 0.0) * 100:.1f}%）位于{line_zh}外"
                else:
                    where = f"重叠 {inside[i] / settings.M2_PER_MU:,.2f} 亩（{share * 100:.1f}%）"
                finding(sev, parcel, line_zh, f"{verdict}：{where}", text, src)
            if is_outside_rule:
                # the piece the rule is about is the part outside the line
                rest = _polygonal(shapely.difference(geoms.values[i], ctx.union(line_id)))
                if sev != "ok" and not rest.is_empty:
                    pieces.append({"parcel": parcel, "kind": "三区三线", "item": f"{line_zh}外",
                                   "area_mu": round(rest.area / settings.M2_PER_MU, 3), "verdict": SEVERITY_ZH[sev],
                                   "geometry": rest})
                if inside[i] > 0:
                    pieces.append({"parcel": parcel, "kind": "三区三线", "item": line_zh,
                                   "area_mu": round(inside[i] / settings.M2_PER_MU, 3), "verdict": "符合",
                                   "geometry": pcs[i]})
            elif inside[i] > 0:
                pieces.append({"parcel": parcel, "kind": "三区三线", "item": line_zh,
                               "area_mu": round(inside[i] / settings.M2_PER_MU, 3), "verdict": SEVERITY_ZH[sev],
                               "geometry": pcs[i]})
    lines = pd.DataFrame(line_rows, columns=["地块", "管控线", "重叠面积(亩)", "重叠面积(公顷)", "占地块比例", "判定",
                                             "说明", "依据", "来源", "severity"])

    # slope
    slope_tab = None
    if dem is not None:
        slope_tab = _slope(dem, layers, cat, parcels_tab, geoms, area, rules, project_type, finding, pieces)

    # water-source protection zones
    prot_tab = None
    zones_p = None
    if protection is not None:
        zones_p = protection if isinstance(protection, gpd.GeoDataFrame) else \
            ctx._memo(("protection", str(protection)), lambda: cat.layer_or_file(protection))
    elif ctx.exists("water_protection"):
        zones_p = ctx.load("water_protection")
        used.append("water_protection")
    else:
        finding("info", "", "水源保护区", "未提供饮用水水源保护区图层（--protection），未检查")
    ctx_protection = {}
    if zones_p is not None:
        prot_tab = _protection(zones_p, parcels_tab, geoms, area, rules, project_type, finding, pieces,
                               ctx_protection, ctx)

    # reservoirs, parks, zones nearby
    nearby = _nearby(ctx, parcels_tab, geoms, near_m, used)

    # access over the roads
    access_tab = _access(ctx, parcels_tab, geoms, network, used, finding)
    if outside.any() and len(access_tab):
        m = access_tab["地块"].isin(set(parcels_tab.loc[outside, "parcel"]))
        access_tab.loc[m, ["行车时间(分钟)", "道路里程(公里)", "接入距离(米)", "直线距离(公里)"]] = np.nan
        access_tab.loc[m, "名称"] = "区外，未计算"

    sources = ctx.sources(tuple(dict.fromkeys(used))).rename(
        columns={"layer": "图层", "name": "名称", "data_status": "数据状态", "origin": "来源类别", "source": "来源"})
    weak = [r for r in sources.itertuples() if any(k in r.数据状态 for k in ("approximate", "illustrative"))]
    if weak:
        finding("info", "", "数据状态", "所用图层含近似或示意数据（" + "、".join(r.图层 for r in weak) +
                "），结果只演示方法；用县级数据（--layers）得到实际结果")

    fd = pd.DataFrame(findings, columns=["severity", "结论", "地块", "事项", "说明", "依据", "来源"])
    if len(fd):
        fd["_o"] = fd["severity"].map(SEVERITY_ORDER)
        fd = fd.sort_values(["_o"], kind="stable").drop(columns="_o").reset_index(drop=True)
    piece_gdf = gpd.GeoDataFrame(pieces, columns=["parcel", "kind", "item", "area_mu", "verdict", "geometry"],
                                 geometry="geometry", crs=settings.METRIC_CRS) if pieces else \
        gpd.GeoDataFrame({c: [] for c in ("parcel", "kind", "item", "area_mu", "verdict")}, geometry=[],
                         crs=settings.METRIC_CRS)
    if len(piece_gdf):
        piece_gdf = piece_gdf[~piece_gdf.geometry.is_empty].reset_index(drop=True)
        piece_gdf["geometry"] = shapely.make_valid(piece_gdf.geometry.values)
    context = {"parcels": geoms.values, "lines": ctx_lines, "outline": outline, "protection": ctx_protection}
    return SiteReport(project=project, project_type=project_type, date=_dt.date.today().isoformat(),
                      version=__version__, parcels=parcels_tab, townships=townships, lines=lines,
                      slope=slope_tab, protection=prot_tab, nearby=nearby, access=access_tab, findings=fd,
                      sources=sources, pieces=piece_gdf.to_crs(settings.STORAGE_CRS), notes=notes,
                      source_file=str(source or ""), context=context)


def _slope(dem, layers, cat, parcels_tab, geoms, area, rules, project_type, finding, pieces):
    from . import raster, terrain

    around = gpd.GeoDataFrame(geometry=[shapely.union_all(geoms.values).buffer(200.0)], crs=settings.METRIC_CRS)
    grid = raster.read_dem(dem if isinstance(dem, (list, tuple)) else [dem], area=around.to_crs(settings.STORAGE_CRS),
                           layers=layers, allow_partial=True)
    grades = terrain.slope_grades(terrain.slope(grid))
    labels = terrain.grade_labels()
    zones = gpd.GeoDataFrame({"name": parcels_tab["parcel"].to_numpy()}, geometry=geoms.values,
                             crs=settings.METRIC_CRS)
    tab = terrain.class_areas(grades, zones, labels, key="地块")
    tab = tab.rename(columns={"area_mu": "有坡度数据面积(亩)"})
    rule = _rule(rules, project_type, "slope_25")
    steep_label = f"{labels[5]} (亩)"
    steep_polys = terrain.class_polygons(grades, {5: labels[5]}, min_cells=1) if (tab[steep_label] > 0).any() else None
    for i, parcel in enumerate(parcels_tab["parcel"]):
        steep = float(tab.at[i, steep_label])
        share = steep * settings.M2_PER_MU / area[i] if area[i] else 0.0
        sev, verdict, text, src = _verdict(rule, share if steep > 0.001 else 0.0)
        if rule is not None and steep > 0.001:
            finding(sev, parcel, "坡度", f"{verdict}：{steep:,.2f} 亩（{share * 100:.1f}%）", text, src)
        elif rule is None and steep > 0.001:
            finding("info", parcel, "坡度", f"含 25° 以上陡坡 {steep:,.2f} 亩（本项目类型无坡度限制）")
        if steep_polys is not None and steep > 0.001:
            sp = steep_polys[steep_polys["grade"] == 5].to_crs(settings.METRIC_CRS)
            g = _polygonal(shapely.intersection(geoms.values[i], shapely.union_all(sp.geometry.values)))
            if not g.is_empty:
                pieces.append({"parcel": parcel, "kind": "坡度", "item": "≥25°", "area_mu": round(steep, 3),
                               "verdict": SEVERITY_ZH[sev], "geometry": g})
    tab.insert(1, "判定≥25°", [""] * len(tab))
    for i in range(len(parcels_tab)):
        steep = float(tab.at[i, steep_label])
        sev = _verdict(rule, 1.0 if steep > 0.001 else 0.0)[0] if rule is not None else "ok"
        tab.at[i, "判定≥25°"] = SEVERITY_ZH[sev]
    note = "; ".join(grid.notes) if getattr(grid, "notes", None) else ""
    tab.attrs["note"] = note
    return tab


def _level(value) -> int | None:
    s = str(value).strip()
    if s in ("1", "一级", "一级保护区", "一级区") or s.startswith("一级"):
        return 1
    if s in ("2", "二级", "二级保护区", "二级区") or s.startswith("二级"):
        return 2
    if s.startswith("准保护") or s == "3":
        return 3
    return None


def protection_levels(zones_p: gpd.GeoDataFrame) -> pd.Series:
    """The level (1, 2 or 3 for 准保护区) of each protection zone, from its level field."""
    source = zones_p.attrs.get("source")
    field_ = next((f for f in ("level", "级别", "保护级别", "JB", "BHJB") if f in zones_p.columns), None)
    if field_ is None:
        raise InputError("the protection zones need a level field (level/级别: 一级 or 二级)", source)
    levels = zones_p[field_].map(_level)
    unknown = zones_p.loc[levels.isna(), field_].astype(str).unique()
    if len(unknown):
        raise InputError(f"protection level(s) {', '.join(unknown[:5])} not understood; use 一级/二级 (or 1/2)", source)
    polys = zones_p.geom_type.isin(["Polygon", "MultiPolygon"])
    if not polys.any():
        raise InputError("the protection zones hold no polygons", source)
    return levels


def check_shared(ctx: SiteContext, *, protection=None, dem=None, layers=None) -> None:
    """Check the options a batch shares (protection zones, DEM) once, before any project."""
    from pyproj import CRS

    from . import raster

    if protection is not None and not isinstance(protection, gpd.GeoDataFrame):
        zones = ctx._memo(("protection", str(protection)), lambda: ctx.cat.layer_or_file(protection))
        protection_levels(zones)
    if dem is not None:
        for p in raster.dem_paths(dem, layers):
            raster._inspect(p, CRS.from_user_input(settings.METRIC_CRS))


def _protection(zones_p, parcels_tab, geoms, area, rules, project_type, finding, pieces, ctx, site_ctx):
    levels = protection_levels(zones_p)
    names = zones_p["name"].astype(str) if "name" in zones_p.columns else pd.Series([""] * len(zones_p))
    rows = []
    higher = shapely.Polygon()         # a 二级 polygon drawn around its 一级 counts only the ring
    for lv, check in ((1, "protection_1"), (2, "protection_2"), (3, None)):
        sel = zones_p[levels.to_numpy() == lv]
        if len(sel) == 0:
            continue

        def make(sel=sel, higher=higher):
            own = shapely.difference(_metric_union(sel), higher)
            return gpd.GeoSeries(tile(own), crs=settings.METRIC_CRS)

        zones = site_ctx._memo(("protection zones", id(zones_p), lv), make)
        higher = shapely.union(higher, _metric_union(sel))
        inside, pcs = _inside_area(geoms, zones)
        label = {1: "一级保护区", 2: "二级保护区", 3: "准保护区"}[lv]
        ctx[label] = shapely.union_all(zones.values)
        rule = _rule(rules, project_type, check) if check else None
        sel_names = names[levels.to_numpy() == lv].to_numpy()
        sel_geoms = np.asarray(shapely.make_valid(sel.to_crs(settings.METRIC_CRS).geometry.values))
        for i, parcel in enumerate(parcels_tab["parcel"]):
            share = inside[i] / area[i] if area[i] else 0.0
            sev, verdict, text, src = _verdict(rule, share)
            if inside[i] <= 0:
                continue
            # the sources whose zone this parcel really enters
            hit = shapely.area(shapely.intersection(sel_geoms, geoms.values[i])) > MIN_PIECE_M2
            src_names = "、".join(sorted(set(sel_names[hit]) - {""}))
            rows.append({"地块": parcel, "级别": label, "水源": src_names, "面积(亩)": round(inside[i] / settings.M2_PER_MU, 3),
                         "占地块比例": round(share, 4), "判定": SEVERITY_ZH[sev] if rule is not None else "提示",
                         "依据": text, "来源": src})
            if rule is not None:
                finding(sev, parcel, "水源保护区", f"{verdict}：{inside[i] / settings.M2_PER_MU:,.2f} 亩（{share * 100:.1f}%）",
                        text, src)
            else:
                finding("info", parcel, "水源保护区", f"位于{label} {inside[i] / settings.M2_PER_MU:,.2f} 亩")
            pieces.append({"parcel": parcel, "kind": "水源保护区", "item": label,
                           "area_mu": round(inside[i] / settings.M2_PER_MU, 3),
                           "verdict": SEVERITY_ZH[sev], "geometry": pcs[i]})
    return pd.DataFrame(rows, columns=["地块", "级别", "水源", "面积(亩)", "占地块比例", "判定", "依据", "来源"])


def _nearby(ctx, parcels_tab, geoms, near_m, used):
    rows = []
    for layer_id, layer_zh in NEARBY_LAYERS.items():
        if not ctx.exists(layer_id):
            continue
        used.append(layer_id)
        g = ctx.load(layer_id)
        gm = ctx.metric(layer_id)
        names = g["name"].astype(str).to_numpy() if "name" in g.columns else np.arange(len(g)).astype(str)
        status = g["data_status"].astype(str).to_numpy() if "data_status" in g.columns else np.array([""] * len(g))
        tree = ctx.tree(layer_id)
        fi, zi = tree.query(geoms.values, predicate="dwithin", distance=near_m)
        for f, z in sorted(zip(fi, zi)):
            d = float(shapely.distance(geoms.values[f], gm[z]))
            if d <= 0:
                if shapely.contains(gm[z], geoms.values[f]):
                    rel = "位于其中"
                elif shapely.contains(geoms.values[f], gm[z]):
                    rel = "包含"
                else:
                    rel = "相交"
            else:
                rel = f"相距 {d:,.0f} 米"
            rows.append({"地块": parcels_tab.at[f, "parcel"], "类别": layer_zh, "名称": names[z], "关系": rel,
                         "距离(米)": round(d, 1), "数据状态": status[z]})
    out = pd.DataFrame(rows, columns=["地块", "类别", "名称", "关系", "距离(米)", "数据状态"])
    order = {p: k for k, p in enumerate(parcels_tab["parcel"])}
    out["_p"] = out["地块"].map(order)
    return out.sort_values(["_p", "距离(米)", "类别", "名称"], kind="stable").drop(columns="_p").reset_index(drop=True)


def _access(ctx, parcels_tab, geoms, network, used, finding):
    from . import access as acc

    cols = ["地块", "目的地", "名称", "行车时间(分钟)", "道路里程(公里)", "接入距离(米)", "直线距离(公里)"]
    try:
        if network is None:
            network = ctx.road_network()
            if ctx.network_error is not None:
                raise ctx.network_error
            if network is None:
                finding("info", "", "交通可达", "缺少道路图层，未计算可达性")
                return pd.DataFrame(columns=cols)
            used.extend(("roads", "expressways", "interchanges"))
        origins = gpd.GeoDataFrame({"name": parcels_tab["parcel"].to_numpy()},
                                   geometry=[g.representative_point() for g in geoms.values], crs=settings.METRIC_CRS)
        # a parcel far from every mapped road still gets an answer: the access leg is reported
        limit = 1e9
        ent = acc.fastest_routes(origins, "entrances", network, max_access_m=limit, what="parcels")
        seat = district_seat()
        to_seat = acc.fastest_routes(origins, seat, network, max_access_m=limit, what="parcels")
        rows = []
        for i, parcel in enumerate(parcels_tab["parcel"]):
            for label, res, target_xy in (("最近高速出入口", ent, None), ("区政府驻地（近似）", to_seat, seat)):
                r = res.iloc[i]
                rows.append({"地块": parcel, "目的地": label, "名称": r["target"] or "不可达",
                             "行车时间(分钟)": r["minutes"], "道路里程(公里)": round(r["road_m"] / 1000, 2)
                             if pd.notna(r["road_m"]) else np.nan, "接入距离(米)": r["access_m"],
                             "直线距离(公里)": np.nan})
        if ctx.exists("townships"):
            seats = ctx.load("townships")
            used.append("townships")
            tree = ctx.tree("townships")
            pts = origins.geometry.values
            near, dist = tree.query_nearest(pts, return_distance=True, all_matches=False)
            order = np.argsort(near[0])
            for i, (j, d) in enumerate(zip(near[1][order], dist[order])):
                rows.append({"地块": parcels_tab.at[i, "parcel"], "目的地": "最近乡镇驻地",
                             "名称": str(seats["name"].iloc[j]), "行车时间(分钟)": np.nan, "道路里程(公里)": np.nan,
                             "接入距离(米)": np.nan, "直线距离(公里)": round(d / 1000, 2)})
        out = pd.DataFrame(rows, columns=cols)
        far = ent["access_m"] > settings.MAX_ACCESS_M
        for i in np.flatnonzero(far.to_numpy()):
            finding("info", parcels_tab.at[i, "parcel"], "交通可达",
                    f"地块距最近的已知道路 {ent['access_m'].iloc[i] / 1000:.1f} 公里，行车时间含直线接入段")
        return out.sort_values(["地块"], kind="stable", key=lambda s: s.map(
            {p: k for k, p in enumerate(parcels_tab["parcel"])})).reset_index(drop=True)
    except InputError as exc:
        finding("info", "", "交通可达", f"未计算可达性：{exc.line}")
        return pd.DataFrame(columns=cols)
