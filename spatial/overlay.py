"""三区三线 compliance checks and 532/211 area accounting.

:func:`check` measures, for every feature of the checked layers, how it meets each control
line — 生态保护红线 (``eco_redline``), 永久基本农田 (``basic_farmland``), 城镇开发边界
(``urban_boundary``): the overlapping area (m², 亩, 公顷) and share for polygons, the length
for lines, containment for points — and applies a rules table (``layers/rules/sanqu_rules.csv``,
editable; rules are data, not code). Features that only touch a line along an edge or at a
point are not conflicts. All measures are computed in EPSG:4544 with shapely's vectorised
operations over STRtree candidate pairs.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from . import settings
from .errors import InputError, InputWarning
from .network import PHASES, phase_values

CONTROL_LINES = {"eco_redline": "生态保护红线", "basic_farmland": "永久基本农田", "urban_boundary": "城镇开发边界"}
RULES_FILE = settings.BUNDLED_LAYERS / "rules" / "sanqu_rules.csv"
RULE_COLUMNS = ("layer", "phase", "line", "relation", "severity", "verdict")
RELATIONS = ("overlaps", "outside")
#: Overlaps smaller than these are edge contact or digitising noise, not conflicts.
MIN_AREA_M2 = 1.0
MIN_LENGTH_M = 1.0

#: 532/211 targets of the plan (第三章 第二节): planting in 万亩, livestock in head/birds.
PLAN_CROP_TARGETS_WANMU = {"刺梨": 50.0, "茶叶": 30.0, "蔬菜": 20.0}
PLAN_LIVESTOCK_TARGETS = {"牛": (20e4, "头"), "羊": (10e4, "只"), "生猪": (100e4, "头"), "家禽": (1000e4, "羽")}


def read_rules_csv(p: Path) -> pd.DataFrame:
    """A rules table as text columns, UTF-8 or GBK (Excel on Chinese Windows saves CSV as GBK)."""
    for enc in ("utf-8-sig", "gb18030"):
        try:
            return pd.read_csv(p, dtype=str, encoding=enc)
        except FileNotFoundError as exc:
            raise InputError("no such rules file", p) from exc
        except pd.errors.EmptyDataError as exc:
            raise InputError("the rules file is empty", p) from exc
        except UnicodeDecodeError:
            continue
    raise InputError("the rules file is neither UTF-8 nor GBK text", p)


def check_rules_table(rules: pd.DataFrame, columns, p) -> None:
    """The columns a rules table needs are there, and every rule names a known control line."""
    missing = [c for c in columns if c not in rules.columns]
    if missing:
        raise InputError(f"rules table lacks column(s) {', '.join(missing)}; it needs {', '.join(columns)}", p)
    bad_line = sorted(set(rules["line"]) - set(CONTROL_LINES))
    if bad_line:
        raise InputError(f"unknown line(s) {', '.join(bad_line)}; lines are {', '.join(CONTROL_LINES)}", p)


def load_rules(path: str | Path | None = None, known_layers=None) -> pd.DataFrame:
    """The rules table: layer, phase (or *), line, relation (overlaps/outside), severity, verdict.

    With ``known_layers``, a rule naming any other layer is an error (a typo would otherwise
    silently check nothing)."""
    p = Path(path) if path else RULES_FILE
    rules = read_rules_csv(p).fillna("*")
    check_rules_table(rules, RULE_COLUMNS, p)
    if known_layers is not None:
        bad_layer = sorted(set(rules["layer"]) - set(known_layers) - {"*"})
        if bad_layer:
            raise InputError(f"rules name unknown layer(s) {', '.join(bad_layer)}; layers are "
                             f"{', '.join(known_layers)}", p)
    bad_phase = sorted({str(v).strip().lower() for v in rules["phase"]} - set(PHASES) - {"*"})
    if bad_phase:
        raise InputError(f"unknown phase(s) {', '.join(bad_phase)} in the rules; use planned, existing, "
                         f"reinforcement or *", p)
    bad_rel = sorted(set(rules["relation"]) - set(RELATIONS))
    if bad_rel:
        raise InputError(f"unknown relation(s) {', '.join(bad_rel)}; use overlaps or outside", p)
    return rules


def where_mask(gdf: pd.DataFrame, where, layer_id: str = "") -> np.ndarray:
    """Which features a rule's ``where`` applies to: ``field=value|value`` (any of the values),
    or ``*``/empty for all. A field the layer lacks matches nothing, and says so."""
    where = "" if where is None or (isinstance(where, float) and np.isnan(where)) else str(where).strip()
    if where in ("", "*"):
        return np.ones(len(gdf), bool)
    if "=" not in where:
        raise InputError(f"rule condition {where!r} for {layer_id}: write it as field=value|value")
    field, values = (x.strip() for x in where.split("=", 1))
    if field not in gdf.columns:
        warnings.warn(f"{layer_id}: the rule condition {where!r} names field {field!r}, which the layer "
                      f"does not have: the rule is not applied", InputWarning, stacklevel=3)
        return np.zeros(len(gdf), bool)
    wanted = {v.strip() for v in values.split("|") if v.strip()}
    return gdf[field].astype(str).str.strip().isin(wanted).to_numpy()


def _metric_valid(gdf: gpd.GeoDataFrame) -> gpd.GeoSeries:
    g = gdf.to_crs(settings.METRIC_CRS).geometry
    bad = ~g.is_valid & g.notna()
    if bad.any():
        g = g.copy()
        g[bad] = shapely.make_valid(g[bad].values)
    return g


def pair_measures(features: gpd.GeoSeries, zones: gpd.GeoSeries) -> pd.DataFrame:
    """Area (polygons), length (lines) and containment (points) of every feature ∩ zone pair.

    Both in the same metric CRS. Returns rows ``feature, zone, area_m2, length_m, contains,
    geometry`` for pairs that really overlap (beyond :data:`MIN_AREA_M2` / :data:`MIN_LENGTH_M`).
    """
    f = np.asarray(features.values, dtype=object)
    z = np.asarray(zones.values, dtype=object)
    shapely.prepare(z)
    tree = shapely.STRtree(z)
    fi, zi = tree.query(f, predicate="intersects")
    if len(fi) == 0:
        return pd.DataFrame({"feature": [], "zone": [], "area_m2": [], "length_m": [], "contains": [],
                             "geometry": []})
    # a feature wholly inside a zone is its own intersection: only edge-crossing pairs are cut
    inside = shapely.contains_properly(z[zi], f[fi])
    inter = f[fi].copy()
    cut = ~inside
    inter[cut] = shapely.intersection(f[fi][cut], z[zi][cut])
    dim = shapely.get_dimensions(f[fi])
    area = np.where(dim == 2, shapely.area(inter), 0.0)
    length = np.where(dim == 1, shapely.length(inter), 0.0)
    contains = (dim == 0) & ~shapely.is_empty(inter)
    keep = (area > MIN_AREA_M2) | (length > MIN_LENGTH_M) | contains
    return pd.DataFrame({"feature": fi[keep], "zone": zi[keep], "area_m2": area[keep],
                         "length_m": length[keep], "contains": contains[keep], "geometry": inter[keep]})


def tile(geom, max_vertices: int = 256, _depth: int = 0) -> np.ndarray:
    """Cut a large, complex polygon into simple pieces by recursive quartering.

    Each quarter is intersected with the part of the polygon in its parent, so the work per
    level is proportional to the vertices and the whole is O(n log n); pieces stop splitting
    below ``max_vertices``. The pieces do not overlap and sum to ``geom``.
    """
    if geom.is_empty:
        return np.array([], dtype=object)
    if shapely.get_num_coordinates(geom) <= max_vertices or _depth >= 16:
        return np.array(shapely.get_parts(geom), dtype=object)
    minx, miny, maxx, maxy = geom.bounds
    mx, my = (minx + maxx) / 2, (miny + maxy) / 2
    quads = shapely.box([minx, mx, minx, mx], [miny, miny, my, my], [mx, maxx, mx, maxx], [my, my, maxy, maxy])
    pieces = shapely.intersection(quads, geom)
    out = [tile(p, max_vertices, _depth + 1) for p in pieces if not p.is_empty]
    out = np.concatenate(out) if out else np.array([], dtype=object)
    return out[(shapely.get_dimensions(out) == 2) & (shapely.area(out) > 0)] if len(out) else out


def _measure(g: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray]:
    dim = shapely.get_dimensions(g.values)
    return dim, np.where(dim == 2, g.area.to_numpy(), np.where(dim == 1, g.length.to_numpy(), 1.0))


def check(layers: dict[str, gpd.GeoDataFrame], lines: dict[str, gpd.GeoDataFrame],
          rules: pd.DataFrame | None = None):
    """Check features against the 三区三线.

    Parameters
    ----------
    layers : dict of layer id → GeoDataFrame
        What to check (parks, roads, reservoirs …), any CRS; ``phase`` is used by rules.
    lines : dict of line id → GeoDataFrame
        The control lines present: ``eco_redline``, ``basic_farmland``, ``urban_boundary``.
    rules : DataFrame, optional
        Default: :func:`load_rules`.

    Returns
    -------
    table : DataFrame
        One row per feature and line: layer, feature_id, name, phase, line, line_zh,
        inside_m2/inside_mu/inside_ha (polygons), inside_m (lines), share (of the feature's
        area or length inside the line; points 0/1), verdict, severity (empty when no rule fires).
    conflicts : GeoDataFrame (EPSG:4490)
        The parts that break a rule: layer, feature_id, name, line, area_mu, area_ha, length_m,
        share, verdict, severity.
    """
    rules = load_rules() if rules is None else rules
    unknown = sorted(set(lines) - set(CONTROL_LINES))
    if unknown:
        raise InputError(f"unknown control line(s) {', '.join(unknown)}; use {', '.join(CONTROL_LINES)}")
    # each line dissolved once (county layers often hold overlapping or duplicated polygons,
    # which would otherwise be counted twice) and cut into simple tiles for fast overlay
    zone_geoms = {lid: gpd.GeoSeries(tile(shapely.union_all(_metric_valid(g).values)), crs=settings.METRIC_CRS)
                  for lid, g in lines.items()}
    rows, parts = [], []
    for layer_id, gdf in layers.items():
        if len(gdf) == 0:
            continue
        geoms = _metric_valid(gdf)
        dim, total = _measure(geoms)
        names = gdf["name"].astype(str).to_numpy() if "name" in gdf.columns else np.array([""] * len(gdf))
        phases = phase_values(gdf)
        ids = gdf["id"].to_numpy() if "id" in gdf.columns else np.arange(len(gdf))
        for line_id, zones in zone_geoms.items():
            pm = pair_measures(geoms, zones)
            inside_area = np.bincount(pm["feature"].astype(int), weights=pm["area_m2"], minlength=len(gdf)) if len(pm) else np.zeros(len(gdf))
            inside_len = np.bincount(pm["feature"].astype(int), weights=pm["length_m"], minlength=len(gdf)) if len(pm) else np.zeros(len(gdf))
            contained = np.zeros(len(gdf), bool)
            if len(pm):
                contained[pm.loc[pm["contains"], "feature"].astype(int).to_numpy()] = True
            inside = np.where(dim == 2, inside_area, np.where(dim == 1, inside_len, contained.astype(float)))
            share = np.clip(np.where(total > 0, inside / np.where(total > 0, total, 1), 0.0), 0, 1)
            table = pd.DataFrame({"layer": layer_id, "feature_id": ids, "name": names, "phase": phases,
                                  "line": line_id, "line_zh": CONTROL_LINES[line_id],
                                  "inside_m2": np.round(inside_area, 2),
                                  "inside_mu": np.round(inside_area / settings.M2_PER_MU, 3),
                                  "inside_ha": np.round(inside_area / settings.M2_PER_HA, 4),
                                  "inside_m": np.round(inside_len, 2), "share": np.round(share, 4),
                                  "verdict": "", "severity": "", "source": ""})
            applicable = rules[((rules["layer"] == layer_id) | (rules["layer"] == "*")) & (rules["line"] == line_id)]
            for rule in applicable.itertuples():
                phase_ok = (rule.phase == "*") | (phases == PHASES.get(str(rule.phase).strip().lower(), rule.phase))
                phase_ok = phase_ok & where_mask(gdf, getattr(rule, "where", "*"), layer_id)
                if rule.relation == "overlaps":
                    fires = phase_ok & (share > 0)
                else:      # outside: any part of the feature lies outside the line
                    fires = phase_ok & (share < 1 - 1e-6)
                idx = np.flatnonzero(fires)
                if len(idx) == 0:
                    continue
                table.loc[idx, "verdict"] = rule.verdict
                table.loc[idx, "severity"] = rule.severity
                table.loc[idx, "source"] = _rule_source(rule)
                if rule.relation == "overlaps":
                    sub = pm[np.isin(pm["feature"], idx)]
                    geom_by_f = sub.groupby("feature")["geometry"].agg(lambda s: shapely.union_all(s.values))
                    for f_i, geom in geom_by_f.items():
                        parts.append(_part(layer_id, ids[f_i], names[f_i], line_id, geom, share[f_i], rule))
                else:
                    union = shapely.union_all(zones.values)
                    for f_i in idx:
                        parts.append(_part(layer_id, ids[f_i], names[f_i], line_id,
                                           shapely.difference(geoms.values[f_i], union), 1 - share[f_i], rule))
            rows.append(table)
    table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=[
        "layer", "feature_id", "name", "phase", "line", "line_zh", "inside_m2", "inside_mu", "inside_ha",
        "inside_m", "share", "verdict", "severity", "source"])
    conflicts = gpd.GeoDataFrame(parts, geometry="geometry", crs=settings.METRIC_CRS) if parts else \
        gpd.GeoDataFrame({c: [] for c in ("layer", "feature_id", "name", "line", "area_mu", "area_ha",
                                          "length_m", "share", "verdict", "severity", "source")},
                         geometry=[], crs=settings.METRIC_CRS)
    return table, conflicts.to_crs(settings.STORAGE_CRS)


def _part(layer_id, fid, name, line_id, geom, share, rule) -> dict:
    area = shapely.area(geom) if shapely.get_dimensions(geom) == 2 else 0.0
    length = shapely.length(geom) if shapely.get_dimensions(geom) == 1 else 0.0
    return {"layer": layer_id, "feature_id": fid, "name": name, "line": line_id,
            "area_mu": round(area / settings.M2_PER_MU, 3), "area_ha": round(area / settings.M2_PER_HA, 4),
            "length_m": round(length, 2), "share": round(float(share), 4), "verdict": rule.verdict,
            "severity": rule.severity, "source": _rule_source(rule), "geometry": geom}


def _rule_source(rule) -> str:
    src = getattr(rule, "source", "")
    return "" if src in (None, "*") or (isinstance(src, float) and np.isnan(src)) else str(src)


# --------------------------------------------------------------------------- 532 / 211
def crop_summary(zones: gpd.GeoDataFrame, *, crop_field: str = "crop", township_field: str | None = "township",
                 townships: gpd.GeoDataFrame | None = None):
    """Planting area by crop and township in 亩 and 万亩, against the plan's 50/30/20 万亩.

    ``zones`` are planting zones or the county's real plots (one polygon per plot) with a
    crop field. The township comes from ``township_field`` or, when absent, from overlaying
    ``townships`` polygons (areas split exactly at township borders).

    Returns ``(by_township, totals)``.
    """
    if crop_field not in zones.columns:
        raise InputError(f"no crop field {crop_field!r}; the layer has: {', '.join(map(str, zones.columns))}",
                         zones.attrs.get("source"))
    geoms = _metric_valid(zones)
    crops = zones[crop_field].fillna("（未注明）").astype(str).to_numpy()
    if township_field and township_field in zones.columns:
        df = pd.DataFrame({"crop": crops, "township": zones[township_field].fillna("（未分乡镇）").astype(str).to_numpy(),
                           "area_m2": geoms.area.to_numpy()})
    elif townships is not None:
        tz = _metric_valid(townships)
        pm = pair_measures(geoms, tz)
        df = pd.DataFrame({"crop": crops[pm["feature"].astype(int)],
                           "township": townships["name"].astype(str).to_numpy()[pm["zone"].astype(int)],
                           "area_m2": pm["area_m2"].to_numpy()})
    else:
        df = pd.DataFrame({"crop": crops, "township": "（未分乡镇）", "area_m2": geoms.area.to_numpy()})
    by = df.groupby(["crop", "township"], as_index=False)["area_m2"].sum()
    by["area_mu"] = (by["area_m2"] / settings.M2_PER_MU).round(1)
    by["area_wanmu"] = (by["area_mu"] / 1e4).round(4)
    totals = by.groupby("crop", as_index=False)["area_mu"].sum()
    totals["area_wanmu"] = (totals["area_mu"] / 1e4).round(3)
    totals["target_wanmu"] = totals["crop"].map(PLAN_CROP_TARGETS_WANMU)
    totals["share_of_target"] = (totals["area_wanmu"] / totals["target_wanmu"]).round(4)
    # zones drawn over whole townships (area_basis = zone) measure where an industry is
    # planned, not what is planted: say so in both tables
    zone_basis = "area_basis" in zones.columns and zones["area_basis"].astype(str).eq("zone").all()
    basis = "zone extent (not planted area)" if zone_basis else "mapped plots"
    if zone_basis:
        totals["share_of_target"] = np.nan        # a zone's extent is not progress towards a planted area
    by["basis"] = basis
    totals["basis"] = basis
    return by.drop(columns="area_m2"), totals


def livestock_summary(parks: pd.DataFrame, *, animal_field: str = "animal", capacity_field: str = "capacity"):
    """Livestock capacity by animal against the plan's 20万头 cattle, 10万只 sheep, 100万头 pigs,
    1000万羽 poultry. Parks without a capacity are counted but not summed."""
    for f in (animal_field, capacity_field):
        if f not in parks.columns:
            raise InputError(f"no field {f!r}; the layer has: {', '.join(map(str, parks.columns))}",
                             parks.attrs.get("source"))
    cap = pd.to_numeric(parks[capacity_field], errors="coerce")
    df = pd.DataFrame({"animal": parks[animal_field].astype(str), "capacity": cap})
    out = df.groupby("animal", as_index=False).agg(parks=("capacity", "size"),
                                                    with_capacity=("capacity", "count"),
                                                    capacity=("capacity", "sum"))
    out["target"] = out["animal"].map({k: v[0] for k, v in PLAN_LIVESTOCK_TARGETS.items()})
    out["unit"] = out["animal"].map({k: v[1] for k, v in PLAN_LIVESTOCK_TARGETS.items()})
    out["share_of_target"] = (out["capacity"] / out["target"]).round(4)
    return out
