"""Write a :class:`spatial.site.SiteReport`: one self-contained Chinese HTML page (offline, A4
print, an inline SVG map), an Excel workbook (one sheet per table) or a GeoPackage (the parcels
and every overlap piece, with the tables).

Every text from the data (parcel names, layer attributes, the project name) is escaped, so a
parcel named ``<img src=x onerror=alert(1)>`` shows as text. The page makes no request: no
script, font, image or style from elsewhere.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

import numpy as np
import pandas as pd
import shapely

from . import export, settings
from .errors import InputError
from .site import DISCLAIMER, PROJECT_TYPES, SEVERITY_ZH, TABLE_TITLES, SiteReport

SUFFIXES = (".html", ".htm", ".xlsx", ".gpkg")
VERDICT_COLOURS = {"conflict": "#c62828", "review": "#ef6c00", "ok": "#2e7d32", "info": "#546e7a"}
LINE_STYLE = {"eco_redline": ("#43a047", "生态保护红线"), "basic_farmland": ("#fdd835", "永久基本农田"),
              "urban_boundary": ("#8e24aa", "城镇开发边界")}


def check_suffix(path: Path) -> None:
    if Path(path).suffix.lower() not in SUFFIXES:
        raise InputError(f"write the site report as {', '.join(SUFFIXES)}", path)


def write(report: SiteReport, path, *, overwrite: bool = False) -> Path:
    """Write the report; the format follows the suffix (.html, .xlsx or .gpkg)."""
    path = Path(path)
    check_suffix(path)
    suffix = path.suffix.lower()
    if suffix in (".html", ".htm"):
        with export.atomic_path(path, overwrite) as tmp:
            Path(tmp).write_text(to_html(report), encoding="utf-8")
        return path
    tables = {TABLE_TITLES.get(k, k): _plain(v) for k, v in report.tables().items()}
    info = pd.DataFrame({"项目": ["项目名称", "项目类型", "预审日期", "工具版本", "红线文件", "地块数", "总面积(亩)",
                                 "总面积(公顷)", "总面积(平方米)", "预审结论", "说明"],
                         "内容": [report.project, f"{report.project_type}（{PROJECT_TYPES[report.project_type]}）",
                                report.date, f"qxg {report.version}", report.source_file, len(report.parcels),
                                round(report.total_mu, 3), round(report.parcels["area_ha"].sum(), 4),
                                round(report.parcels["area_m2"].sum(), 2), SEVERITY_ZH[report.worst()], DISCLAIMER]})
    if suffix == ".xlsx":
        return export.write({"概况": info, **tables}, path, overwrite=overwrite, headers="raw")
    layers = {"parcels": report.parcels, "pieces": report.pieces, "summary": info}
    layers.update({k: _plain(v) for k, v in report.tables().items() if k != "parcels"})
    return export.write(layers, path, overwrite=overwrite, headers="raw")


def _plain(df: pd.DataFrame) -> pd.DataFrame:
    """A table as written: no geometry, no English severity (its Chinese word is a column)."""
    return pd.DataFrame(df.drop(columns=[c for c in ("geometry", "severity") if c in df.columns]))


# --------------------------------------------------------------------------- HTML
def _e(v) -> str:
    return html.escape("" if v is None else str(v), quote=True)


def _cell(col: str, v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if isinstance(v, (float, np.floating)):
        if "比例" in col:
            return f"{v * 100:.1f}%"
        if "米)" in col and "公里" not in col:
            return f"{v:,.0f}"
        return f"{v:,.2f}"
    if isinstance(v, (bool, np.bool_)):
        return "是" if v else "否"
    return _e(v)


class _Notes:
    """Each distinct rule wording + source once, numbered; tables cite them as [n]."""

    def __init__(self):
        self.items: dict[tuple[str, str], int] = {}

    def cite(self, rule, source) -> str:
        rule, source = ("" if pd.isna(rule) else str(rule)), ("" if pd.isna(source) else str(source))
        if not rule and not source:
            return ""
        key = (rule, source)
        if key not in self.items:
            self.items[key] = len(self.items) + 1
        return f"[{self.items[key]}]"

    def apply(self, df: pd.DataFrame) -> pd.DataFrame:
        if "依据" not in df.columns or "来源" not in df.columns:
            return df
        out = df.drop(columns=["依据", "来源"]).copy()
        out["依据"] = [self.cite(a, b) for a, b in zip(df["依据"], df["来源"])]
        return out

    def html(self) -> str:
        if not self.items:
            return ""
        rows = "".join(f'<li value="{n}"><span>{_e(rule)}</span><br><span class="src">—— {_e(src)}</span></li>'
                       for (rule, src), n in self.items.items())
        return f'<ol class="rules">{rows}</ol>'


def _table(df: pd.DataFrame, *, skip=("severity",), total: dict | None = None, klass: str = "") -> str:
    cols = [c for c in df.columns if c not in skip]
    if len(df) == 0:
        return '<p class="none">无</p>'
    head = "".join(f"<th>{_e(c)}</th>" for c in cols)
    rows = []
    for _, r in df.iterrows():
        sev = r.get("severity", "") if "severity" in df.columns else ""
        cls = f' class="sev-{_e(sev)}"' if sev else ""
        cells = [_cell(c, r[c]) for c in cols]
        # short texts (names, verdicts, numbers) stay on one line; long ones wrap
        rows.append(f"<tr{cls}>" + "".join(f'<td class="nw">{v}</td>' if len(v) <= 10 else f"<td>{v}</td>"
                                           for v in cells) + "</tr>")
    if total:
        rows.append('<tr class="total">' + "".join(f"<td>{_e(total.get(c, ''))}</td>" for c in cols) + "</tr>")
    return f'<table class="{klass}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _svg_map(report: SiteReport, width: int = 680, height: int = 420) -> str:
    """The parcels over the control lines, drawn as inline SVG (no tiles, works offline)."""
    ctx = report.context
    parcels = [g for g in ctx.get("parcels", []) if g is not None and not g.is_empty]
    if not parcels:
        return ""
    minx, miny, maxx, maxy = shapely.union_all(parcels).bounds
    span = max(maxx - minx, maxy - miny, 200.0)
    pad = max(span * 0.6, 500.0)
    minx, miny, maxx, maxy = minx - pad, miny - pad, maxx + pad, maxy + pad
    sx, sy = (maxx - minx) / width, (maxy - miny) / height
    scale = max(sx, sy)
    cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
    minx, maxx = cx - width * scale / 2, cx + width * scale / 2
    miny, maxy = cy - height * scale / 2, cy + height * scale / 2
    frame = shapely.box(minx, miny, maxx, maxy)
    tol = scale * 0.7

    def path(geom) -> str:
        geom = shapely.intersection(geom, frame)
        if geom.is_empty:
            return ""
        geom = geom.simplify(tol)
        out = []
        for poly in shapely.get_parts(geom):
            if poly.geom_type != "Polygon":
                continue
            for ring in [poly.exterior, *poly.interiors]:
                xy = np.asarray(ring.coords)
                px = (xy[:, 0] - minx) / scale
                py = (maxy - xy[:, 1]) / scale
                out.append("M" + " L".join(f"{a:.1f} {b:.1f}" for a, b in zip(px, py)) + " Z")
        return " ".join(out)

    layers = []
    outline = ctx.get("outline")
    if outline is not None:
        d = path(shapely.difference(frame, outline))
        if d:
            layers.append(f'<path d="{d}" fill="#eceff1" stroke="none" fill-rule="evenodd"/>')
        d = path(outline.boundary.buffer(scale * 0.8))
        if d:
            layers.append(f'<path d="{d}" fill="#607d8b" stroke="none" fill-rule="evenodd"/>')
    legend = []
    for line_id, geom in ctx.get("lines", {}).items():
        colour, label = LINE_STYLE[line_id]
        d = path(geom)
        if d:
            layers.append(f'<path d="{d}" fill="{colour}" fill-opacity="0.45" stroke="{colour}" '
                          f'stroke-width="1" fill-rule="evenodd"/>')
            legend.append((colour, label))
    for (label, geom), colour in zip(ctx.get("protection", {}).items(), ("#1565c0", "#42a5f5", "#90caf9")):
        d = path(geom)
        if d:
            layers.append(f'<path d="{d}" fill="{colour}" fill-opacity="0.25" stroke="{colour}" stroke-width="1.2" '
                          f'stroke-dasharray="5 3" fill-rule="evenodd"/>')
            legend.append((colour, f"水源{label}"))
    if len(report.pieces):
        pieces = report.pieces.to_crs(settings.METRIC_CRS)
        for g, kind in zip(pieces.geometry.values, pieces["kind"]):
            if kind == "坡度":
                d = path(g)
                if d:
                    layers.append(f'<path d="{d}" fill="url(#hatch)" stroke="none" fill-rule="evenodd"/>')
                    if ("url(#hatch)", "坡度≥25°") not in legend:
                        legend.append(("url(#hatch)", "坡度≥25°"))
    for g, name in zip(parcels, report.parcels["parcel"]):
        d = path(g)
        if d:
            layers.append(f'<path d="{d}" fill="#e53935" fill-opacity="0.15" stroke="#b71c1c" stroke-width="2.2" '
                          f'fill-rule="evenodd"><title>{_e(name)}</title></path>')
    legend.append(("#e53935", "项目红线"))
    labels = []
    if len(parcels) <= 30:
        placed: list[tuple[float, float, float, float]] = []
        for g, name in zip(parcels, report.parcels["parcel"]):
            p = g.representative_point()
            x, y = (p.x - minx) / scale, (maxy - p.y) / scale
            spot = _label_spot(str(name), x, y, placed, width, height)
            if spot is not None:       # no free place: the parcel keeps its name as a tooltip
                labels.append(f'<text x="{spot[0]:.1f}" y="{spot[1]:.1f}" class="lab">{_e(name)}</text>')
    # scale bar: a round length near a fifth of the width
    target = width * scale / 5
    nice = 10 ** math.floor(math.log10(target))
    for m in (5, 2, 1):
        if m * nice <= target:
            nice *= m
            break
    bar = nice / scale
    bar_label = f"{nice / 1000:g} 公里" if nice >= 1000 else f"{nice:g} 米"
    items = "".join(
        f'<rect x="10" y="{12 + 18 * i}" width="14" height="11" fill="{c}" stroke="#555" stroke-width="0.5"/>'
        f'<text x="30" y="{22 + 18 * i}" class="leg">{_e(t)}</text>' for i, (c, t) in enumerate(legend))
    return (f'<svg class="map" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img" aria-label="项目红线与三区三线">'
            '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="6" stroke="#5d4037" stroke-width="2"/>'
            '</pattern></defs>'
            f'<rect width="{width}" height="{height}" fill="#fafafa"/>' + "".join(layers) + "".join(labels) +
            f'<g transform="translate({width - 150},{height - 28})"><rect x="-6" y="-14" width="150" height="36" '
            f'fill="#fff" fill-opacity="0.85"/><line x1="0" y1="8" x2="{bar:.1f}" y2="8" stroke="#222" '
            f'stroke-width="3"/><text x="0" y="-1" class="leg">{_e(bar_label)}</text></g>'
            f'<g transform="translate({width - 24},30)"><path d="M0 -16 L7 6 L0 1 L-7 6 Z" fill="#222"/>'
            '<text x="0" y="20" text-anchor="middle" class="leg">北</text></g>'
            f'<g><rect x="4" y="4" width="130" height="{14 + 18 * len(legend)}" fill="#fff" fill-opacity="0.85"/>'
            f'{items}</g></svg>')


CSS = """
@page { size: A4; margin: 14mm 12mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
       "WenQuanYi Zen Hei", "SimHei", sans-serif; color: #212121; margin: 0 auto; max-width: 190mm;
       padding: 8mm 4mm; font-size: 10.5pt; line-height: 1.45; }
h1 { font-size: 17pt; margin: 0 0 2mm; }
h2 { font-size: 12.5pt; border-bottom: 2px solid #37474f; padding-bottom: 1mm; margin: 6mm 0 2mm;
     break-after: avoid; page-break-after: avoid; }
.meta { display: grid; grid-template-columns: auto 1fr auto 1fr; gap: 1mm 4mm; font-size: 9.5pt; }
.meta b { color: #455a64; font-weight: normal; }
.verdict { display: inline-block; padding: 1.5mm 5mm; color: #fff; font-size: 14pt; border-radius: 2mm;
           margin: 3mm 0; }
.disclaimer { border: 1px solid #b0bec5; background: #eceff1; padding: 2mm 3mm; margin: 2mm 0; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; margin-bottom: 2mm; }
th, td { border: 1px solid #b0bec5; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.nw { white-space: nowrap; }
tr { break-inside: avoid; page-break-inside: avoid; }
thead { display: table-header-group; }
tr.total td { font-weight: bold; background: #f5f5f5; }
tr.sev-conflict td:first-child { border-left: 4px solid #c62828; color: #c62828; font-weight: bold; }
tr.sev-review td:first-child { border-left: 4px solid #ef6c00; color: #ef6c00; font-weight: bold; }
tr.sev-ok td:first-child { border-left: 4px solid #2e7d32; color: #2e7d32; }
tr.sev-info td:first-child { border-left: 4px solid #90a4ae; }
.map { width: 100%; height: auto; border: 1px solid #b0bec5; }
.map .lab { font-size: 12px; fill: #b71c1c; text-anchor: middle; paint-order: stroke; stroke: #fff;
            stroke-width: 3px; }
.map .leg { font-size: 11px; fill: #263238; }
.mapblock { break-inside: avoid; page-break-inside: avoid; }
.tables { break-before: page; page-break-before: always; }
.none { color: #78909c; }
ol.rules { font-size: 9pt; padding-left: 7mm; } ol.rules li { margin-bottom: 1.2mm; break-inside: avoid; }
ol.rules .src { color: #546e7a; }
.note { color: #546e7a; font-size: 8.5pt; }
footer { margin-top: 6mm; font-size: 8.5pt; color: #546e7a; border-top: 1px solid #b0bec5; padding-top: 2mm; }
@media screen { body { box-shadow: 0 0 4mm #cfd8dc; background: #fff; } html { background: #eceff1; } }
"""


def _label_spot(text: str, x: float, y: float, placed: list, width: float, height: float):
    """Where a 12 px label goes: at the point, or above, below, right or left of it, the first
    place that overlaps no label already placed and stays on the map; None when none does."""
    w = sum(12.0 if ord(ch) > 0x2E7F else 7.0 for ch in text) + 4
    h = 17.0            # 12 px text with its white halo is about 16 px tall
    for dx, dy in ((0, 0), (0, -h), (0, h), (w / 2 + 6, 0), (-w / 2 - 6, 0), (0, -2 * h), (0, 2 * h)):
        cx, cy = x + dx, y + dy
        box = (cx - w / 2, cy - h + 4, cx + w / 2, cy + 4)         # text-anchor middle, baseline at cy
        if box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height:
            continue
        if all(box[2] <= b[0] or b[2] <= box[0] or box[3] <= b[1] or b[3] <= box[1] for b in placed):
            placed.append(box)
            return cx, cy
    return None


def to_html(report: SiteReport) -> str:
    worst = report.worst()
    colour = VERDICT_COLOURS[worst]
    p = report.parcels
    area = (f"{p['area_mu'].sum():,.2f} 亩 = {p['area_ha'].sum():,.4f} 公顷 = {p['area_m2'].sum():,.1f} 平方米")
    meta = [("项目名称", report.project), ("项目类型", f"{PROJECT_TYPES[report.project_type]}（{report.project_type}）"),
            ("预审日期", report.date), ("工具版本", f"qxg {report.version}"),
            ("红线文件", report.source_file or "—"), ("地块", f"{len(p)} 块，合计 {area}")]
    meta_html = "".join(f"<b>{_e(k)}</b><span>{_e(v)}</span>" for k, v in meta)
    counts = report.findings["severity"].value_counts() if len(report.findings) else pd.Series(dtype=int)
    summary = "，".join(f"{SEVERITY_ZH[s]} {int(counts.get(s, 0))} 项" for s in ("conflict", "review"))
    parcels_tab = pd.DataFrame({"地块": p["parcel"], "面积(亩)": p["area_mu"], "面积(公顷)": p["area_ha"],
                                "面积(平方米)": p["area_m2"], "区内比例": p["in_district_share"]})
    total = {"地块": "合计", "面积(亩)": f"{p['area_mu'].sum():,.2f}", "面积(公顷)": f"{p['area_ha'].sum():,.4f}",
             "面积(平方米)": f"{p['area_m2'].sum():,.2f}", "区内比例": ""}
    notes = _Notes()
    sections = [("预审结论", _table(notes.apply(report.findings), klass="findings"))]
    sections.append(("地块面积", _table(parcels_tab, total=total)))
    sections.append(("所在乡镇", _table(report.townships) +
                     '<p class="note">乡镇范围为各驻地的泰森多边形（近似），不是法定界线，除非使用县级乡镇界图层。</p>'))
    sections.append(("三区三线", _table(notes.apply(report.lines))))
    if report.slope is not None:
        note = report.slope.attrs.get("note", "")
        sections.append(("坡度分级（亩）", _table(report.slope) +
                         (f'<p class="note">{_e(note)}</p>' if note else "")))
    if report.protection is not None:
        sections.append(("饮用水水源保护区", _table(notes.apply(report.protection))))
    sections.append(("周边要素", _table(report.nearby)))
    sections.append(("交通可达（路网法）", _table(report.access) +
                     '<p class="note">行车时间沿道路网按道路等级车速计算，地块到道路的接入段按直线和接入车速计；'
                     '区政府驻地取高德行政区中心点（近似）。</p>'))
    sections.append(("规则依据", notes.html() or '<p class="none">无</p>'))
    sections.append(("数据来源与状态", _table(report.sources)))
    first, rest = sections[0], sections[1:]
    body = [f"<h2>{_e(first[0])}</h2>{first[1]}"]
    body.append('<div class="tables">' + "".join(f"<h2>{_e(t)}</h2>{h}" for t, h in rest) + "</div>")
    title = f"选址预审报告：{report.project}"
    return f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title><style>{CSS}</style></head>
<body>
<h1>{_e(title)}</h1>
<div class="meta">{meta_html}</div>
<div class="verdict" style="background:{colour}">预审结论：{_e(SEVERITY_ZH[worst])}</div>
<span> {_e(summary)}</span>
<div class="disclaimer"><b>{_e(DISCLAIMER)}。</b>结论按规则表（layers/rules/site_rules.csv）对照所用图层得出；
图层的数据状态见文末，示意或近似图层上的结论只演示方法。</div>
<div class="mapblock"><h2>位置图</h2>{_svg_map(report)}</div>
{''.join(body)}
<footer>{_e(DISCLAIMER)} · 七星关区空间规划工具 qxg {_e(report.version)} · {_e(report.date)}</footer>
</body></html>
"""
