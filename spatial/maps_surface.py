"""The ``surface`` map theme: the travel-time surface to the health facilities as an image
overlay (offline, inside the HTML), with the facilities and their catchments."""
from __future__ import annotations

import folium
import numpy as np
from rasterio.enums import Resampling

from .catalog import Catalog
from .maps_terrain import _png_uri, _to_mercator
from .raster import Grid

PANE_SURFACE = "travel_surface"
#: minute bands and their colours (green near, red far)
BANDS = ((15, "#1a9850"), (30, "#91cf60"), (45, "#fee08b"), (60, "#fc8d59"), (90, "#d73027"), (np.inf, "#7f0000"))
RESOLUTION = 200.0


def bands_rgba(minutes: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    rgba = np.zeros(minutes.shape + (4,), np.uint8)
    lower = -np.inf
    for upper, color in BANDS:
        hit = (minutes > lower) & (minutes <= upper)
        rgba[hit, :3] = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
        rgba[hit, 3] = int(255 * alpha)
        lower = upper
    return rgba


def surface_map(cat: Catalog, basemap="none", tianditu_key=None, dem: Grid | None = None):
    from . import surface
    from .maps import MapBuilder, _add_context, _bounds, _derived_status, _load_some, point_style
    from .network import from_layers

    L = _load_some(cat, ["boundary", "township_areas", "health_facilities", "roads", "expressways", "interchanges"])
    if not all(k in L for k in ("health_facilities", "roads", "boundary")):
        return None
    net = from_layers(L["roads"], L.get("expressways"), L.get("interchanges"))
    layers = str(cat.user) if cat.user is not None else None
    fr = surface.friction(None, resolution=RESOLUTION, layers=layers) if dem is None else \
        surface.friction(None, resolution=max(RESOLUTION, dem.res[0]), dem=dem.sources, layers=layers)
    s = surface.travel_surface(L["health_facilities"], net, fr=fr)
    grid = Grid(data=np.where(np.isfinite(s.minutes), s.minutes, np.nan).astype(np.float32), transform=fr.transform,
                crs=fr.crs, inside=fr.inside, name="minutes")
    img, bounds = _to_mercator(grid, Resampling.nearest)
    b = MapBuilder("栅格可达性", "到最近医疗卫生设施的时间：道路按路网、路外步行（每格计算）", _bounds(L), basemap,
                   tianditu_key)
    folium.map.CustomPane(PANE_SURFACE, z_index=260, pointer_events=False).add_to(b.map)
    folium.raster_layers.ImageOverlay(_png_uri(bands_rgba(img)), bounds=bounds, name="到最近设施的时间",
                                      pane=PANE_SURFACE, interactive=False, show=True).add_to(b.map)
    labels, lower = [], 0
    for upper, color in BANDS:
        labels.append({"color": color, "label": f"{lower:g}–{upper:g} 分钟" if np.isfinite(upper) else f"> {lower:g} 分钟"})
        lower = upper
    b.legend.append({"title": "到最近设施（分钟）", "items": labels})
    derived = _derived_status(L, ("roads", "expressways", "interchanges", "health_facilities"))
    catch = s.catchments()
    b.add(catch, "服务范围（最近设施）", status_of=derived, fields=["target", "area_km2", "mean_minutes", "max_minutes"],
          labels={"target": "设施", "area_km2": "面积(km²)", "mean_minutes": "平均(分钟)", "max_minutes": "最远(分钟)"},
          simplify_m=RESOLUTION / 2,
          style={"color": "#252525", "weight": 1, "fill": False},
          legend={"title": "服务范围", "items": [{"color": "#ffffff", "outline": "#252525", "label": "最近设施的服务范围"}]})
    _add_context(b, L)
    b.add(L["health_facilities"], "医疗卫生设施", fields=["name", "setting"], labels={"name": "名称", "setting": "城乡"},
          search="name", style=point_style("#cb181d", 6),
          legend={"title": "设施", "items": [{"kind": "dot", "color": "#cb181d", "label": "医疗卫生设施"}]})
    reached = fr.inside & np.isfinite(s.minutes)
    cov = s.coverage(None, (15, 30, 60)).iloc[-1]
    spec = {"title": "栅格法覆盖（面积）", "rows": [
        {"label": f"{m} 分钟内", "value": f"{cov[f'area_within_{m}min_pct']:.1f} %", "ok": None} for m in (15, 30, 60)],
        "footer": f"{fr.res:g} 米格网；中位数 {np.median(s.minutes[reached]):.0f} 分钟"}
    notes = [f"{fr.res:g} 米格网（EPSG:4544）；道路按路网时间起算（只沿普通道路，高速与匝道不起算：高速两侧经出入口的道路到达），"
             "路外步行，16 邻域（含马步）搜索"]
    notes.append("坡度：Tobler 步行速度按每步坡度计算（上下坡不同）" if dem is not None else
                 f"无 DEM：路外按平地步行 {surface.TOBLER_FLAT_KMH:.2f} km/h（Tobler 函数 0° 时的速度）；给出 --dem 可按坡度计算")
    return b.finish(kpi=spec, extra_notes=notes)
