"""Interactive Leaflet maps that work offline: overview, expressway access, agriculture, 三区三线.

Maps are folium maps with the CDN assets removed: Leaflet's CSS and JavaScript are inlined
from the PyPI package ``django-js-lib-leaflet`` (Leaflet 1.9.4, its images as data URIs), and
the toolkit's own small controls (legend, notices, KPI panel, search, measure, fullscreen;
``assets/qxgmap.js``) replace plugins that exist only on CDNs. With the default basemap
(``none``) a map references no http(s) script or stylesheet. Attribute values reach the page
only as JSON data (``|tojson`` escapes ``<``, ``>`` and ``&``) and are put into tooltips and
popups as text, never as HTML.
"""
from __future__ import annotations

import base64
import html
import re
import warnings
from importlib import resources
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
import shapely.affinity
from branca.element import Element, MacroElement, Template

from . import chinacoords, metric, settings
from .catalog import Catalog
from .errors import InputError, InputWarning
from .export import atomic_path

BASEMAPS = ("none", "osm", "tianditu-vec", "tianditu-img", "amap")
ASSETS = Path(__file__).parent / "assets"
STATUS_ZH = {"real": "真实", "approximate": "近似", "illustrative": "示意"}

# ----------------------------------------------------------------------------- styles
MINUTE_BREAKS = [(15, "#1a9850", "≤ 15 分钟"), (30, "#91cf60", "15–30 分钟"), (45, "#fee08b", "30–45 分钟"),
                 (60, "#fc8d59", "45–60 分钟"), (float("inf"), "#d73027", "> 60 分钟")]
UNREACHABLE_COLOR = "#777777"
ROAD_STYLES = {"高速公路": ("#1a9850", 4.0), "一级公路": ("#d94801", 3.2), "二级公路": ("#f16913", 2.6),
               "三级公路": ("#fd8d3c", 2.0), "四级公路": ("#fdae6b", 1.6), "等外公路": ("#9e9e9e", 1.2),
               "匝道": ("#41ab5d", 2.0)}
#: Half-width of the corridor drawn around reached roads in isochrone maps (metres).
ISOCHRONE_BUFFER_M = 500.0
CONTROL_STYLES = {"eco_redline": ("#d7301f", 0.35, "生态保护红线"),
                  "basic_farmland": ("#e6a700", 0.40, "永久基本农田"),
                  "urban_boundary": ("#6a51a3", 0.12, "城镇开发边界")}


def minutes_color(minutes) -> str:
    """Colour of a travel time in minutes (grey when unreachable or missing)."""
    if minutes is None or (isinstance(minutes, float) and np.isnan(minutes)):
        return UNREACHABLE_COLOR
    for upper, color, _ in MINUTE_BREAKS:
        if minutes <= upper:
            return color
    return MINUTE_BREAKS[-1][1]


def road_style(grade: str, approximate: bool = False, planned: bool = False) -> dict:
    """Leaflet path style of a road by grade; dashed when approximate or planned."""
    color, weight = ROAD_STYLES.get(str(grade), ("#9e9e9e", 1.2))
    style = {"color": color, "weight": weight, "opacity": 0.9}
    if planned:
        style["dashArray"] = "8 6"
    elif approximate:
        style["dashArray"] = "2 5"
    return style


def point_style(color: str, radius: float = 6, hollow: bool = False) -> dict:
    return {"radius": radius, "color": "#ffffff" if not hollow else color, "weight": 1.5 if not hollow else 2.5,
            "fillColor": color, "fillOpacity": 0.0 if hollow else 0.95}


# ----------------------------------------------------------------------------- assets
def _leaflet_dir() -> Path:
    try:
        return Path(str(resources.files("js_lib_leaflet") / "static" / "js_lib_leaflet"))
    except ModuleNotFoundError as exc:
        raise InputError("the package django-js-lib-leaflet is missing; reinstall the toolkit "
                         "(pip install -e .)") from exc


def leaflet_assets() -> tuple[str, str]:
    """Leaflet's CSS (images inlined as data URIs) and JavaScript, from the installed package."""
    d = _leaflet_dir()
    css = (d / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match):
        img = d / match.group(1)
        return f"url(data:image/png;base64,{base64.b64encode(img.read_bytes()).decode()})"

    css = re.sub(r"url\((images/[\w\-.]+\.png)\)", data_uri, css)
    js = (d / "leaflet.js").read_text(encoding="utf-8")
    js = re.sub(r"//# sourceMappingURL=\S+", "", js)
    return css, js


def _inline(tag: str, text: str) -> str:
    # keep "</script>" or "</style>" inside the text from closing the element
    safe = text.replace("</", "<\\/")
    return f"<{tag}>{safe}</{tag}>"


# ----------------------------------------------------------------------------- elements
class DataLayer(folium.map.Layer):
    """A GeoJSON layer drawn by ``qxg.layer``: safe tooltips/popups, canvas, circle markers."""

    _template = Template("""
{% macro script(this, kwargs) %}
var {{ this.get_name() }} = qxg.layer({{ this._parent.get_name() }}, {{ this.data|tojson }}, {{ this.options|tojson }});
{% endmacro %}
""")

    def __init__(self, data: dict, name: str, *, style=None, tooltip=None, popup=None,
                 search: str | None = None, show: bool = True, interactive: bool = True):
        super().__init__(name=name, overlay=True, control=True, show=show)
        self._name = "QxgLayer"
        self.data = data
        self.options = {"name": name, "style": style or {}, "tooltip": tooltip or [],
                        "popup": popup or [], "search": search, "show": show, "interactive": interactive}


class Call(MacroElement):
    """``qxg.<function>(map, *args)`` with the arguments passed as JSON."""

    _template = Template("""
{% macro script(this, kwargs) %}
qxg.{{ this.function }}({{ this._parent.get_name() }}{% for a in this.args %}, {{ a|tojson }}{% endfor %});
{% endmacro %}
""")

    def __init__(self, function: str, *args):
        super().__init__()
        self._name = "QxgCall"
        self.function = function
        self.args = list(args)


# ----------------------------------------------------------------------------- data → GeoJSON
def _jsonable(value):
    if value is None:
        return None
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if np.isnan(value) else round(float(value), 3)
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (pd.Timestamp,)):
        return value.isoformat()
    return value if isinstance(value, (int, str)) else str(value)


def _rounded(geoms: np.ndarray, grid: float) -> np.ndarray:
    """Coordinates on a grid of ``grid`` degrees, geometries kept valid. GEOS's snap rounding
    fails on a few valid inputs (e.g. a staircase edge touching a hole): those are rounded
    vertex by vertex and repaired instead."""
    try:
        return shapely.set_precision(geoms, grid)
    except shapely.errors.GEOSException:
        out = []
        for g in geoms:
            try:
                out.append(shapely.set_precision(g, grid))
            except shapely.errors.GEOSException:
                r = shapely.transform(g, lambda xy: np.round(xy / grid) * grid)
                out.append(r if shapely.is_valid(r) else shapely.make_valid(r))
        return np.asarray(out, dtype=object)


def display_geojson(gdf: gpd.GeoDataFrame, fields, *, style_fn=None, simplify_m: float = 0.0,
                    basemap: str = "none", decimals: int = 5) -> dict:
    """A FeatureCollection for the map: simplified, rounded, shifted for AMap when needed.

    ``style_fn(row) -> dict`` gives each feature its own style (``_style`` property).
    ``decimals`` of a degree: 5 is about 1 m, plenty for display.
    """
    g = gdf.to_crs(settings.STORAGE_CRS)
    geoms = g.geometry.values
    if simplify_m > 0:
        geoms = gpd.GeoSeries(geoms, crs=settings.STORAGE_CRS).to_crs(settings.METRIC_CRS) \
            .simplify(simplify_m, preserve_topology=True).to_crs(settings.STORAGE_CRS).values
    if basemap == "amap":
        geoms = chinacoords.transform_geometries(geoms, "wgs84", "gcj02")
    geoms = _rounded(np.asarray(geoms, dtype=object), 10.0 ** -decimals)
    features = []
    for i, geom in enumerate(geoms):
        if geom is None or geom.is_empty:
            continue
        row = g.iloc[i]
        props = {f: _shown(f, _jsonable(row[f])) for f in fields if f in g.columns}
        if style_fn is not None:
            props["_style"] = style_fn(row)
        features.append({"type": "Feature", "properties": props, "geometry": shapely.geometry.mapping(geom)})
    return {"type": "FeatureCollection", "features": features}


#: Codes stored in English in the layers, shown in Chinese in popups and tooltips.
DISPLAY_VALUES = {
    "data_status": {"real": "权威数据", "approximate": "近似", "illustrative": "示意", "mixed": "混合"},
    "phase": {"existing": "现状", "planned": "规划", "reinforcement": "除险加固"},
    "setting": {"urban": "城市（步行）", "rural": "乡村（车行）"},
    "severity": {"conflict": "冲突", "review": "需论证"},
    "area_basis": {"zone": "产业布局区域范围（非种植面积）"},
    "layer": {"parks": "产业园区", "roads": "道路", "expressways": "高速公路", "interchanges": "高速出入口",
              "reservoirs": "水库", "health_facilities": "医疗卫生设施", "eco_redline": "生态保护红线",
              "basic_farmland": "永久基本农田", "urban_boundary": "城镇开发边界"},
    "line": {"eco_redline": "生态保护红线", "basic_farmland": "永久基本农田", "urban_boundary": "城镇开发边界"},
}


def _shown(field: str, value):
    if field == "share" and isinstance(value, (int, float)):
        return f"{value * 100:.1f} %"
    return DISPLAY_VALUES.get(field, {}).get(value, value) if isinstance(value, str) else value


def shift_for_basemap(lon, lat, basemap: str):
    """Coordinates as the basemap draws them: GCJ-02 for AMap, unchanged otherwise."""
    if basemap == "amap":
        return chinacoords.wgs84_to_gcj02(lon, lat)
    return np.asarray(lon, float), np.asarray(lat, float)


# ----------------------------------------------------------------------------- maps
class MapBuilder:
    """Builds one themed map, tracking the data status of what it draws."""

    def __init__(self, title: str, subtitle: str, bounds, basemap: str = "none",
                 tianditu_key: str | None = None):
        if basemap not in BASEMAPS:
            raise InputError(f"unknown basemap {basemap!r}; use one of {', '.join(BASEMAPS)}")
        if basemap.startswith("tianditu") and not tianditu_key:
            raise InputError("天地图 basemaps need a key: --tianditu-key KEY or the TIANDITU_KEY variable")
        self.basemap = basemap
        minx, miny, maxx, maxy = bounds
        lon, lat = shift_for_basemap([minx, maxx], [miny, maxy], basemap)
        m = folium.Map(location=[float(np.mean(lat)), float(np.mean(lon))], zoom_start=10, tiles=None,
                       control_scale=False, prefer_canvas=True)
        m.default_js = []
        m.default_css = []
        css, js = leaflet_assets()
        root = m.get_root()
        root.title = title
        root.header.add_child(Element(_inline("style", css)), name="leaflet_css")
        root.header.add_child(Element(_inline("style", (ASSETS / "qxgmap.css").read_text("utf-8"))), name="qxg_css")
        root.header.add_child(Element(_inline("script", js)), name="leaflet_js")
        root.header.add_child(Element(_inline("script", (ASSETS / "qxgmap.js").read_text("utf-8"))), name="qxg_js")
        root.header.add_child(Element(f"<title>{html.escape(title)}</title>"), name="title")
        self._add_basemap(m, basemap, tianditu_key)
        m.fit_bounds([[float(lat[0]), float(lon[0])], [float(lat[1]), float(lon[1])]])
        self.map = m
        self.title, self.subtitle = title, subtitle
        self.statuses: dict[str, set] = {}
        self.legend: list[dict] = []

    @staticmethod
    def _add_basemap(m, basemap, key):
        if basemap == "osm":
            folium.TileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", name="OpenStreetMap",
                             attr="© OpenStreetMap contributors", max_zoom=19).add_to(m)
        elif basemap.startswith("tianditu"):
            kind, note = ("vec", "cva") if basemap == "tianditu-vec" else ("img", "cia")
            url = ("https://t{s}.tianditu.gov.cn/%s_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                   "&LAYER=%s&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                   "&TILECOL={x}&tk=" + key)
            sub = "01234567"
            folium.TileLayer(url % (kind, kind), name="天地图" + ("矢量" if kind == "vec" else "影像"),
                             attr="© 天地图", subdomains=sub, max_zoom=18).add_to(m)
            folium.TileLayer(url % (note, note), name="天地图注记", attr="© 天地图", subdomains=sub,
                             overlay=True, max_zoom=18).add_to(m)
        elif basemap == "amap":
            folium.TileLayer("https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8"
                             "&x={x}&y={y}&z={z}", name="高德地图", attr="© 高德地图 (GCJ-02)",
                             subdomains="1234", max_zoom=18).add_to(m)

    def add(self, gdf: gpd.GeoDataFrame, name: str, *, fields=(), labels=None, style=None, style_fn=None,
            tooltip=None, search: str | None = None, show: bool = True, simplify_m: float = 0.0,
            status_of=None, legend: dict | None = None, interactive: bool = True):
        """Draw a layer; ``fields``/``labels`` feed the popup, ``tooltip`` the hover label.
        ``interactive=False`` for context layers, so clicks reach what lies beneath."""
        if gdf is None or len(gdf) == 0:
            return None
        labels = labels or {}
        fields = [f for f in fields if f in gdf.columns]
        extra = [f for f in ("data_status",) if f in gdf.columns and f not in fields]
        data = display_geojson(gdf, list(fields) + extra, style_fn=style_fn, simplify_m=simplify_m,
                               basemap=self.basemap)
        popup = [(f, labels.get(f, f)) for f in fields] + [("data_status", "数据状态")] * bool(extra)
        tip = [(f, labels.get(f, f)) for f in (tooltip or fields[:1]) if f in gdf.columns]
        layer = DataLayer(data, name, style=style, tooltip=tip, popup=popup, search=search, show=show,
                          interactive=interactive)
        layer.add_to(self.map)
        statuses = set(gdf["data_status"].astype(str)) if "data_status" in gdf.columns else set()
        if status_of:
            statuses |= {status_of}
        self.statuses[name] = statuses
        if legend:
            self.legend.append(legend)
        return layer

    def finish(self, kpi: dict | None = None, extra_notes=()):
        m = self.map
        Call("title", self.title, self.subtitle).add_to(m)
        Call("search").add_to(m)
        Call("fullscreen").add_to(m)
        Call("measure").add_to(m)
        Call("scale").add_to(m)
        notes = list(extra_notes)
        for status, what in (("illustrative", "示意数据，不是真实位置或界线"),
                             ("approximate", "近似数据，位置或走向为估计")):
            names = [n for n, s in self.statuses.items() if status in s]
            if names:
                notes.append(f"{'、'.join(names)}：含{what}（{STATUS_ZH[status]}）")
        if self.basemap == "amap":
            notes.append("高德底图为GCJ-02坐标，图上要素已相应偏移显示；导出数据仍为CGCS2000")
        if notes:
            Call("notice", notes).add_to(m)
        if kpi:
            Call("kpi", kpi).add_to(m)
        if self.legend:
            Call("legend", self.legend).add_to(m)
        folium.LayerControl(collapsed=False, position="topright").add_to(m)
        return m


def save_map(m: folium.Map, path: Path, basemap: str = "none") -> Path:
    """Write the map atomically; with no basemap, check it references nothing online."""
    page = m.get_root().render()
    if basemap == "none":
        external = re.findall(r"<(?:script|link)[^>]+(?:src|href)=[\"']?https?://[^\"' >]+", page)
        if external:
            raise RuntimeError(f"offline map would load {external[0]}")
    path = Path(path)
    with atomic_path(path, overwrite=True) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


# ----------------------------------------------------------------------------- themes
def _load_some(cat: Catalog, ids) -> dict:
    out = {}
    for layer_id in ids:
        entry = cat.get(layer_id)
        if entry.exists:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InputWarning)
                out[layer_id] = cat.load(layer_id)
    return out


def _bounds(layers: dict):
    if "boundary" in layers:
        return layers["boundary"].total_bounds
    boxes = np.array([g.total_bounds for g in layers.values() if len(g)])
    if len(boxes) == 0:
        return np.array(settings.DISTRICT_BBOX)
    return np.array([boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()])


def _planned(row) -> bool:
    return str(row.get("phase", "")).lower() == "planned"


def _derived_status(L: dict, ids) -> str | None:
    """Status to flag on a layer computed from others: the weakest of its inputs."""
    seen = set()
    for i in ids:
        if i in L and "data_status" in L[i].columns:
            seen |= set(L[i]["data_status"].astype(str))
    return "illustrative" if "illustrative" in seen else "approximate" if "approximate" in seen else None


def _add_context(b: MapBuilder, L: dict, show_roads: bool = True, areas_clickable: bool = False,
                 under_entrances=None):
    # the outline and the township cells are background: clicks go through to what lies on them
    if "boundary" in L:
        b.add(L["boundary"], "区界", fields=["name"], labels={"name": "名称"}, simplify_m=20, interactive=False,
              style={"color": "#333333", "weight": 2.5, "fill": False, "dashArray": "10 4 2 4"},
              legend={"title": "行政区", "items": [{"kind": "line", "color": "#333333", "label": "区界", "dash": True}]})
    if "township_areas" in L:
        b.add(L["township_areas"], "乡镇范围", fields=["name", "area_km2", "data_status"],
              labels={"name": "名称", "area_km2": "面积(km²)"}, simplify_m=20, interactive=areas_clickable,
              style={"color": "#888888", "weight": 0.8, "fillColor": "#f2f0e6", "fillOpacity": 0.25})
    if show_roads and "roads" in L:
        grade_col = "grade" if "grade" in L["roads"].columns else None
        b.add(L["roads"], "国省干线及县乡道", fields=["name", "grade", "data_status"],
              labels={"name": "名称", "grade": "公路等级"}, simplify_m=10,
              style_fn=lambda r: road_style(r.get(grade_col, ""), str(r.get("data_status")) != "real", _planned(r)),
              legend={"title": "公路", "items": [{"kind": "line", "color": ROAD_STYLES[g][0], "label": g}
                                                 for g in ("一级公路", "二级公路", "三级公路", "四级公路", "等外公路")
                                                 if not grade_col or g in set(L["roads"][grade_col].astype(str))
                                                 or not set(L["roads"][grade_col].astype(str)) & set(ROAD_STYLES)]
                      + ([{"kind": "line", "color": "#777777", "dash": True, "label": "点线：近似走向（直线示意）"}]
                         if "data_status" in L["roads"].columns and (L["roads"]["data_status"] != "real").any() else [])})
    if show_roads and "expressways" in L:
        b.add(L["expressways"], "高速公路", fields=["name", "phase"], labels={"name": "名称", "phase": "阶段"},
              simplify_m=10, style_fn=lambda r: road_style("高速公路", False, _planned(r)),
              legend={"title": "高速公路", "items": [
                  {"kind": "line", "color": ROAD_STYLES["高速公路"][0], "label": "现状高速"},
                  {"kind": "line", "color": ROAD_STYLES["高速公路"][0], "label": "规划高速", "dash": True}]})
    if under_entrances is not None:
        under_entrances(b)
    if show_roads and "interchanges" in L:
        # a ring around whatever sits on the entrance (seats often do), dashed when planned
        b.add(L["interchanges"], "高速出入口", fields=["name", "phase", "expressway", "data_status"],
              labels={"name": "名称", "phase": "阶段", "expressway": "所在高速"}, search="name",
              style_fn=lambda r: {"radius": 10, "color": "#00441b", "weight": 3, "fillOpacity": 0.0,
                                  **({"dashArray": "3 3"} if _planned(r) else {})},
              legend={"title": "高速出入口", "items": [
                  {"color": "#ffffff", "outline": "#00441b", "label": "现状出入口（环）"},
                  {"color": "#ffffff", "outline": "#00441b", "label": "规划出入口（虚线环）"}]})


def add_user_layers(b: "MapBuilder", extra: dict | None) -> None:
    """The planner's own files (``qxg map --add``) on top, every field in the popup as text."""
    colours = ("#e6550d", "#31a354", "#756bb1", "#636363", "#3182bd")
    for i, (name, gdf) in enumerate((extra or {}).items()):
        colour = colours[i % len(colours)]
        fields = [c for c in gdf.columns if c != gdf.geometry.name and not str(c).startswith("_")][:12]
        area = {"color": colour, "fillColor": colour, "fillOpacity": 0.25, "weight": 2}
        b.add(gdf, name, fields=fields, tooltip=fields[:1],
              style_fn=lambda r, c=colour, a=area: point_style(c, 6) if r.geometry is not None
              and r.geometry.geom_type in ("Point", "MultiPoint") else a,
              legend={"title": "添加的图层", "items": [{"color": colour, "label": name}]})


def overview_map(cat: Catalog, basemap="none", tianditu_key=None, extra: dict | None = None):
    L = _load_some(cat, ["boundary", "township_areas", "roads", "expressways", "interchanges",
                         "reservoirs", "parks", "townships"])
    if not L and not extra:
        return None
    b = MapBuilder("七星关区 总览", "行政区、交通、园区与水库", _bounds(L), basemap, tianditu_key)
    def seats(b):
        if "townships" in L:
            b.add(L["townships"], "乡镇驻地", fields=["name", "type", "code", "data_status"], search="name",
                  labels={"name": "名称", "type": "类型", "code": "代码"}, style=point_style("#08306b", 4),
                  legend={"title": "乡镇", "items": [{"kind": "dot", "color": "#08306b", "label": "乡镇（街道）驻地"}]})

    # seats first, so entrances, parks and reservoirs placed at a seat stay visible and clickable
    _add_context(b, L, areas_clickable=True, under_entrances=seats)
    if "parks" in L:
        b.add(L["parks"], "产业园区", fields=["name", "industries", "township", "data_status"], search="name",
              labels={"name": "名称", "industries": "主导产业", "township": "所在乡镇"},
              style={"color": "#7a0177", "fillColor": "#c51b8a", "fillOpacity": 0.5, "weight": 2},
              legend={"title": "一区十二园", "items": [{"color": "#c51b8a", "label": "产业园区（示意范围）"}]})
    if "reservoirs" in L:
        b.add(L["reservoirs"], "水库", fields=["name", "phase", "township", "capacity_10k_m3", "status", "data_status"],
              search="name", labels={"name": "名称", "phase": "阶段", "township": "所在乡镇",
                                     "capacity_10k_m3": "总库容(万m³)", "status": "状态"},
              style_fn=lambda r: point_style("#2171b5", 7, hollow=_planned(r)),
              legend={"title": "水库", "items": [{"kind": "dot", "color": "#2171b5", "label": "现状水库"},
                                                {"kind": "dot", "color": "#ffffff", "outline": "#2171b5",
                                                 "label": "规划水库（空心）"}]})
    add_user_layers(b, extra)
    return b.finish()


def access_map(cat: Catalog, basemap="none", tianditu_key=None, minutes: float = 30.0):
    from .access import highway_access, isochrones
    L = _load_some(cat, ["boundary", "townships", "roads", "expressways", "interchanges"])
    if not all(k in L for k in ("townships", "roads", "expressways", "interchanges")):
        return None
    rows, kpi, changes, nets = highway_access(L["townships"], L["roads"], L["expressways"], L["interchanges"],
                                              minutes=minutes)
    b = MapBuilder("乡镇到高速出入口的行车时间", f"现状与规划，阈值 {minutes:g} 分钟", _bounds(L), basemap, tianditu_key)
    ent = nets["current"].entrances.to_crs(settings.STORAGE_CRS)
    bands = isochrones(ent, nets["current"], bands=(10, 20, 30, 45, 60), buffer_m=ISOCHRONE_BUFFER_M) \
        if len(ent) else None
    band_colors = ["#006837", "#31a354", "#78c679", "#c2e699", "#ffffcc"]
    if bands is not None:
        bands = bands.assign(_color=band_colors[: len(bands)])
        b.add(bands, "等时圈（现状出入口）", status_of=_derived_status(L, ("roads", "expressways", "interchanges")),
              fields=["label", "area_km2"], labels={"label": "行车时间", "area_km2": "面积(km²)"},
              style_fn=lambda r: {"color": r["_color"], "weight": 0.5, "fillColor": r["_color"], "fillOpacity": 0.45},
              legend={"title": "到现状出入口", "items": [{"color": c, "label": lbl} for c, lbl in
                                                       zip(band_colors, bands["label"])]})
    _add_context(b, L)
    # both scenarios list the townships in the same order: align by position (names may repeat)
    cur = rows[rows["scenario"] == "current"].reset_index(drop=True)
    plan = rows[rows["scenario"] == "planned"].reset_index(drop=True)
    seats = cur.assign(minutes_planned=plan["minutes"].to_numpy(), entrance_planned=plan["entrance"].to_numpy(),
                       within_planned=plan["within"].to_numpy())
    seats = gpd.GeoDataFrame(seats, geometry="geometry", crs=settings.STORAGE_CRS)
    if "data_status" in L["townships"].columns:
        seats["data_status"] = L["townships"]["data_status"].to_numpy()
    b.add(seats, "乡镇驻地（按现状行车时间着色）", search="name",
          fields=["name", "type", "minutes", "entrance", "within", "minutes_planned", "entrance_planned",
                  "within_planned", "access_m"],
          labels={"name": "名称", "type": "类型", "minutes": "现状行车时间(分钟)", "entrance": "现状最近出入口",
                  "within": f"现状{minutes:g}分钟内", "minutes_planned": "规划行车时间(分钟)",
                  "entrance_planned": "规划最近出入口", "within_planned": f"规划{minutes:g}分钟内",
                  "access_m": "驻地到道路(米)"},
          tooltip=["name", "minutes", "entrance"],
          style_fn=lambda r: point_style(minutes_color(r["minutes"]), 7),
          legend={"title": "乡镇驻地：现状行车时间", "items": [{"kind": "dot", "color": c, "label": lbl}
                                                     for _, c, lbl in MINUTE_BREAKS]
                  + [{"kind": "dot", "color": UNREACHABLE_COLOR, "label": "不可达"}]})
    k = kpi.set_index("scenario")
    spec = {"title": f"乡镇{minutes:g}分钟上高速比例", "rows": [
        {"label": {"current": "现状", "planned": "规划"}[s], "value": f"{k.at[s, 'share'] * 100:.1f} %",
         "ok": bool(k.at[s, "meets_target"]), "note": f"({int(k.at[s, 'within'])}/{int(k.at[s, 'townships'])})"}
        for s in k.index], "footer": f"目标 ≥ {k['target'].iloc[0] * 100:.0f} %（十四五规划，2025年）"}
    if len(changes):
        spec["footer"] += "；规划后变化：" + "、".join(changes["name"].astype(str))
    return b.finish(kpi=spec)


def agriculture_map(cat: Catalog, basemap="none", tianditu_key=None):
    L = _load_some(cat, ["boundary", "township_areas", "agri_zones", "livestock"])
    if "agri_zones" not in L and "livestock" not in L:
        return None
    b = MapBuilder("532/211 农业产业布局", "刺梨、茶叶、蔬菜；牛羊、生猪、家禽", _bounds(L), basemap, tianditu_key)
    _add_context(b, L, show_roads=False)
    crop_colors = {"刺梨": "#e7298a", "茶叶": "#1b9e77", "蔬菜": "#66a61e"}
    animal_colors = {"牛": "#8c510a", "羊": "#bf812d", "生猪": "#c51b7d", "家禽": "#2166ac"}
    if "agri_zones" in L:
        crop = "crop" if "crop" in L["agri_zones"].columns else "name"
        b.add(L["agri_zones"], "532 种植", fields=["name", "crop", "belt", "township", "plan_target",
                                                  "target_unit", "area_basis", "data_status"], search="name",
              labels={"name": "名称", "crop": "作物", "belt": "产业带", "township": "乡镇",
                      "plan_target": "全区规划目标", "target_unit": "单位", "area_basis": "面积口径"},
              style_fn=lambda r: {"color": crop_colors.get(str(r.get(crop)), "#7570b3"), "weight": 1,
                                  "fillColor": crop_colors.get(str(r.get(crop)), "#7570b3"), "fillOpacity": 0.4},
              legend={"title": "532 种植", "items": [{"color": c, "label": k} for k, c in crop_colors.items()]})
    baqu = _load_some(cat, ["baqu"]).get("baqu")
    if baqu is not None:
        b.add(baqu, "坝区", fields=["name", "use", "township", "data_status"], search="name",
              labels={"name": "名称", "use": "用途", "township": "乡镇"},
              style=point_style("#4d9221", 7),
              legend={"title": "坝区", "items": [{"color": "#4d9221", "label": "坝区（蔬菜基地）"}]})
    if "livestock" in L:
        live = L["livestock"]
        animal = live["animal"].astype(str) if "animal" in live.columns else live["name"].astype(str)
        # several animals often share a township: one marker each, side by side at its centre
        pts = metric.to_metric(live).geometry.representative_point()
        order = animal.groupby(pts.to_wkb().values).cumcount().to_numpy()
        shifted = gpd.GeoSeries([shapely.affinity.translate(p, xoff=1800.0 * k) for p, k in zip(pts, order)],
                                crs=settings.METRIC_CRS, index=live.index)
        markers = gpd.GeoDataFrame(live.drop(columns=live.geometry.name), geometry=shifted).to_crs(settings.STORAGE_CRS)
        b.add(markers, "211 养殖", fields=["name", "animal", "township", "plan_target", "target_unit",
                                          "capacity", "data_status"], search="name",
              labels={"name": "名称", "animal": "畜种", "township": "乡镇", "plan_target": "全区规划目标",
                      "target_unit": "单位", "capacity": "规模"},
              style_fn=lambda r: point_style(animal_colors.get(str(r.get("animal")), "#8c510a"), 8),
              legend={"title": "211 养殖（乡镇中心）", "items": [{"color": c, "label": k}
                                                              for k, c in animal_colors.items()]})
    return b.finish()


def sanqu_map(cat: Catalog, basemap="none", tianditu_key=None):
    L = _load_some(cat, ["boundary", "eco_redline", "basic_farmland", "urban_boundary"])
    if not any(k in L for k in CONTROL_STYLES):
        return None
    b = MapBuilder("三区三线", "生态保护红线、永久基本农田、城镇开发边界", _bounds(L), basemap, tianditu_key)
    _add_context(b, L, show_roads=False)
    items = []
    for layer_id, (color, opacity, label) in CONTROL_STYLES.items():
        if layer_id in L:
            b.add(L[layer_id], label, fields=["name"], labels={"name": "名称"}, simplify_m=10,
                  style={"color": color, "weight": 1.2, "fillColor": color, "fillOpacity": opacity})
            items.append({"color": color, "label": label})
    from .overlay import CONTROL_LINES, check
    checked = _load_some(cat, ["parks", "roads", "expressways", "interchanges", "reservoirs"])
    if "parks" in checked:
        b.add(checked["parks"], "产业园区", fields=["name", "township", "data_status"],
              labels={"name": "名称", "township": "所在乡镇"}, search="name",
              style={"color": "#222222", "weight": 1.5, "fillOpacity": 0.0},
              legend={"title": "被检查图层", "items": [{"color": "#ffffff", "outline": "#222222", "label": "产业园区（示意范围）"}]})
    lines = {k: L[k] for k in CONTROL_LINES if k in L}
    if checked and lines:
        _, conflicts = check(checked, lines)
        if len(conflicts):
            # review parts first (orange outline), conflicts on top (red fill): where both hit
            # the same shape, both stay visible and the conflict's popup opens
            conflicts = conflicts.iloc[np.argsort(conflicts["severity"].eq("conflict").to_numpy(), kind="stable")]
            b.add(conflicts, "冲突部分", search="name",
                  status_of=_derived_status({**L, **checked}, list(L) + list(checked)),
                  fields=["name", "layer", "line", "area_mu", "length_m", "share", "verdict", "severity"],
                  labels={"name": "名称", "layer": "图层", "line": "管控线", "area_mu": "面积(亩)",
                          "length_m": "长度(米)", "share": "比例", "verdict": "判定", "severity": "级别"},
                  tooltip=["name", "verdict"],
                  style_fn=lambda r: ({**point_style("#ff0000", 7), "color": "#000000", "weight": 2,
                                       "fillColor": "#ff0000", "fillOpacity": 0.75, "dashArray": "4 3"}
                                      if r["severity"] == "conflict" else
                                      {**point_style("#ff9900", 9, hollow=True), "color": "#ff9900", "weight": 4,
                                       "fillOpacity": 0.0}),
                  legend={"title": "检查结果", "items": [{"color": "#ff0000", "outline": "#000000", "label": "冲突（填充）"},
                                                         {"color": "#ffffff", "outline": "#ff9900",
                                                          "label": "需论证（橙色边框）"}]})
    b.legend.append({"title": "三线", "items": items})
    return b.finish()


def coverage_map(cat: Catalog, basemap="none", tianditu_key=None, urban_minutes: float = 15.0,
                 rural_minutes: float = 30.0):
    from .coverage import coverage_stats, health_circles
    from .network import from_layers
    L = _load_some(cat, ["boundary", "township_areas", "health_facilities", "roads", "expressways",
                         "interchanges", "urban_boundary"])
    if not all(k in L for k in ("health_facilities", "roads")):
        return None
    net = from_layers(L["roads"], L.get("expressways"), L.get("interchanges"))
    circles = health_circles(L["health_facilities"], net, urban_boundary=L.get("urban_boundary"),
                             urban_minutes=urban_minutes, rural_minutes=rural_minutes)
    b = MapBuilder("健康服务圈覆盖", f"城市{urban_minutes:g}分钟（步行）与乡村{rural_minutes:g}分钟（车行）",
                   _bounds(L), basemap, tianditu_key)
    colors = {"urban": "#3182bd", "rural": "#74c476"}
    derived = _derived_status(L, ("roads", "expressways", "interchanges", "health_facilities"))
    b.add(circles, "服务范围", status_of=derived, fields=["name", "setting", "mode", "minutes"],
          labels={"name": "名称", "setting": "城乡", "mode": "方式", "minutes": "分钟"},
          style_fn=lambda r: {"color": colors[r["setting"]], "weight": 1, "fillColor": colors[r["setting"]],
                              "fillOpacity": 0.3},
          legend={"title": "健康服务圈", "items": [{"color": colors["urban"], "label": f"城市{urban_minutes:g}分钟（步行）"},
                                                   {"color": colors["rural"], "label": f"乡村{rural_minutes:g}分钟（车行）"}]})
    spec = None
    if "township_areas" in L:
        table, gaps = coverage_stats(circles, L["township_areas"])
        b.add(gaps, "未覆盖区域", status_of=derived, fields=["township", "area_km2"], labels={"township": "乡镇", "area_km2": "面积(km²)"},
              style={"color": "#a50f15", "weight": 0.8, "fillColor": "#fb6a4a", "fillOpacity": 0.35},
              legend={"title": "缺口", "items": [{"color": "#fb6a4a", "label": "未覆盖区域"}]})
        share = table["covered_km2"].sum() / max(table["area_km2"].sum(), 1e-9)
        spec = {"title": "健康服务圈覆盖（面积）", "rows": [
            {"label": "覆盖面积比例", "value": f"{share * 100:.1f} %", "ok": None}],
            "footer": "规划目标：2025年基本建成城市15分钟、乡村30分钟健康服务圈"}
    _add_context(b, L)
    b.add(L["health_facilities"], "医疗卫生设施", fields=["name", "setting"], labels={"name": "名称", "setting": "城乡"},
          search="name", style=point_style("#cb181d", 6),
          legend={"title": "设施", "items": [{"kind": "dot", "color": "#cb181d", "label": "医疗卫生设施"}]})
    return b.finish(kpi=spec)


THEMES = {"overview": ("总览", overview_map, "区界、乡镇、公路、高速与出入口、园区、水库"),
          "access": ("上高速时间", access_map, "乡镇驻地到最近高速出入口的行车时间、等时圈、KPI"),
          "coverage": ("健康服务圈", coverage_map, "城市15分钟、乡村30分钟健康服务圈、未覆盖区域"),
          "agriculture": ("532/211 农业", agriculture_map, "刺梨、茶叶、蔬菜与畜牧产业布局"),
          "sanqu": ("三区三线", sanqu_map, "生态保护红线、永久基本农田、城镇开发边界"),
          "terrain": ("地形与坡度", None, "地形晕渲、坡度分级、坝区候选、25°以上耕地（需要 DEM）"),
          "surface": ("栅格可达性", None, "到最近医疗卫生设施的时间（道路按路网、路外步行，每格计算）与服务范围")}


def write_maps(themes=None, out_dir="maps", *, layers=None, basemap="none", tianditu_key=None, dem=None,
               cropland=None, extra: dict | None = None):
    """Write the themed maps and an ``index.html`` linking them.

    ``extra`` (name → GeoDataFrame) draws the planner's own layers on the overview map.

    ``dem`` (a :class:`spatial.raster.Grid`) draws the terrain theme and puts its hillshade
    under every other map. Returns ``(written, skipped)``: paths, and ``{theme: reason}``
    for maps not drawn.
    """
    themes = list(themes or THEMES)
    unknown = [t for t in themes if t not in THEMES]
    if unknown:
        raise InputError(f"unknown map theme(s) {', '.join(unknown)}; themes: {', '.join(THEMES)}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError("is a file; --out must name a folder for the maps", out)
    out.mkdir(parents=True, exist_ok=True)
    cat = Catalog(layers)
    written, skipped = [], {}
    shade = None
    if dem is not None:
        from . import maps_terrain, terrain
        shade = terrain.hillshade(dem)
    for theme in themes:
        title, fn, _ = THEMES[theme]
        if theme == "terrain":
            if dem is None:
                skipped[theme] = "需要 DEM：qxg map terrain --dem 文件或文件夹（或设置 QXG_DEM）"
                continue
            m = maps_terrain.terrain_map(cat, dem, basemap=basemap, tianditu_key=tianditu_key, cropland=cropland)
        elif theme == "surface":
            from .maps_surface import surface_map
            m = surface_map(cat, basemap=basemap, tianditu_key=tianditu_key, dem=dem)
            if m is not None and shade is not None:
                maps_terrain.add_hillshade(m, dem, shade=shade)
        else:
            kwargs = {"extra": extra} if theme == "overview" and extra else {}
            m = fn(cat, basemap=basemap, tianditu_key=tianditu_key, **kwargs)
            if m is not None and shade is not None:
                maps_terrain.add_hillshade(m, dem, shade=shade)
        if m is None:
            skipped[theme] = "所需图层尚未提供"
            continue
        written.append(save_map(m, out / f"{theme}.html", basemap))
    index = out / "index.html"
    # the index lists every map in the folder, also those written by earlier runs
    present = [out / f"{t}.html" for t in THEMES if (out / f"{t}.html").exists()]
    with atomic_path(index, overwrite=True) as tmp:
        tmp.write_text(_index_page(present, {k: v for k, v in skipped.items()
                                             if not (out / f"{k}.html").exists()}), encoding="utf-8")
    return written + [index], skipped


def _index_page(written, skipped) -> str:
    items = []
    for path in written:
        title, _, desc = THEMES[path.stem]
        items.append(f'<li><a href="{html.escape(path.name)}">{html.escape(title)}</a> — {html.escape(desc)}</li>')
    for theme, reason in skipped.items():
        name = THEMES[theme][0] if theme in THEMES else theme
        items.append(f"<li>{html.escape(name)}：{html.escape(reason)}</li>")
    return ("<!DOCTYPE html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>七星关区 规划地图</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:48em}li{margin:.4em 0}</style></head>"
            "<body><h1>七星关区 规划地图</h1><ul>" + "".join(items) + "</ul>"
            "<p>地图可离线打开；底图默认关闭。近似或示意数据在图上注明。</p></body></html>")
