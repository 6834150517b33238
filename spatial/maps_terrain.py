"""The terrain map and the hillshade under other maps: rasters as PNG overlays inside the HTML.

Leaflet stretches an image overlay linearly in Web Mercator, so every raster is first warped
to EPSG:3857 (bilinear for the hillshade, nearest for classes) on a grid at most
:data:`MAX_PIXELS` wide, then written as a PNG data URI: the map needs no tile server and
stays well under 5 MB.
"""
from __future__ import annotations

import base64

import folium
import numpy as np
from rasterio.enums import Resampling
from rasterio.io import MemoryFile
from rasterio.warp import calculate_default_transform, reproject, transform_bounds

from . import terrain
from .catalog import Catalog
from .raster import Grid

MAX_PIXELS = 1400
GRADE_COLORS = {1: "#1a9850", 2: "#a6d96a", 3: "#fee08b", 4: "#fc8d59", 5: "#d73027"}
PANE_HILLSHADE = "hillshade"
PANE_GRADES = "slope_grades"


def _to_mercator(grid: Grid, resampling) -> tuple[np.ndarray, list]:
    """The grid's values inside its area warped to EPSG:3857 (at most MAX_PIXELS wide), and the
    image's lat/lon bounds."""
    values = grid.clipped()
    rows, cols = values.shape
    left, bottom, right, top = grid.bounds
    t, w, h = calculate_default_transform(grid.crs, "EPSG:3857", cols, rows, left, bottom, right, top)
    scale = max(1.0, max(w, h) / MAX_PIXELS)
    w, h = int(round(w / scale)), int(round(h / scale))
    t = t * t.scale(scale, scale)
    out = np.full((h, w), np.nan, dtype=np.float32)
    reproject(values.astype(np.float32), out, src_transform=grid.transform, src_crs=grid.crs,
              src_nodata=np.nan, dst_transform=t, dst_crs="EPSG:3857", dst_nodata=np.nan,
              resampling=resampling)
    x0, y0 = t * (0, 0)
    x1, y1 = t * (w, h)
    lon0, lat0, lon1, lat1 = transform_bounds("EPSG:3857", "EPSG:4326", x0, y1, x1, y0)
    return out, [[lat0, lon0], [lat1, lon1]]


def _png_uri(rgba: np.ndarray) -> str:
    """An RGBA array as a PNG data URI (encoded by GDAL's PNG driver)."""
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    h, w, _ = rgba.shape
    with warnings.catch_warnings(), MemoryFile() as mem:
        warnings.simplefilter("ignore", NotGeoreferencedWarning)
        with mem.open(driver="PNG", width=w, height=h, count=4, dtype="uint8", ZLEVEL=9) as ds:
            ds.write(np.moveaxis(rgba, -1, 0))
        data = mem.read()
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def hillshade_rgba(shade: np.ndarray, alpha: float = 0.55) -> np.ndarray:
    """Grey relief with transparency where there is no data."""
    ok = ~np.isnan(shade)
    v = np.clip(np.nan_to_num(shade, nan=0.0), 0, 255).astype(np.uint8)
    rgba = np.zeros(shade.shape + (4,), np.uint8)
    rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = v
    rgba[..., 3] = np.where(ok, int(255 * alpha), 0)
    return rgba


def classes_rgba(codes: np.ndarray, colors: dict[int, str], alpha: float = 0.55) -> np.ndarray:
    rgba = np.zeros(codes.shape + (4,), np.uint8)
    for code, color in colors.items():
        hit = codes == code
        rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
        rgba[hit, :3] = rgb
        rgba[hit, 3] = int(255 * alpha)
    return rgba


def add_hillshade(m: folium.Map, dem: Grid, *, opacity: float = 0.55, shade: Grid | None = None) -> None:
    """Put the DEM's hillshade under everything else on ``m`` (its own pane below the overlays)."""
    shade = shade or terrain.hillshade(dem)
    img, bounds = _to_mercator(shade, Resampling.bilinear)
    folium.map.CustomPane(PANE_HILLSHADE, z_index=250, pointer_events=False).add_to(m)
    folium.raster_layers.ImageOverlay(_png_uri(hillshade_rgba(img, 1.0)), bounds=bounds, opacity=opacity,
                                      name="地形晕渲", pane=PANE_HILLSHADE, interactive=False).add_to(m)
    # a finished map already holds its layer control, which must come after every layer it lists
    for key in [k for k, v in m._children.items() if isinstance(v, folium.LayerControl)]:
        m._children.move_to_end(key)


def terrain_map(cat: Catalog, dem: Grid, basemap="none", tianditu_key=None, cropland=None):
    """Hillshade, 坡度分级, 坝区 candidates and cropland over 25° on one offline map."""
    from .maps import MapBuilder, _add_context, _derived_status, _load_some

    L = _load_some(cat, ["boundary", "township_areas", "baqu", "basic_farmland"])
    sl = terrain.slope(dem)
    grades = terrain.slope_grades(sl)
    b = MapBuilder("地形与坡度", "地形晕渲、坡度分级、坝区候选、25°以上耕地", _bounds_of(dem), basemap, tianditu_key)
    add_hillshade(b.map, dem)
    codes, gb = _to_mercator(grades, Resampling.nearest)
    folium.map.CustomPane(PANE_GRADES, z_index=260, pointer_events=False).add_to(b.map)
    folium.raster_layers.ImageOverlay(_png_uri(classes_rgba(codes, GRADE_COLORS)), bounds=gb, name="坡度分级",
                                      pane=PANE_GRADES, interactive=False, show=True).add_to(b.map)
    b.legend.append({"title": "坡度分级", "items": [{"color": GRADE_COLORS[c], "label": lab}
                                                   for c, lab in terrain.grade_labels().items()]})
    _add_context(b, L, show_roads=False)
    towns = L.get("township_areas", L.get("boundary"))
    cand = terrain.baqu_candidates(dem, sl, towns, L.get("baqu"))
    if len(cand):
        b.add(cand, "坝区候选", fields=["baqu_id", "area_mu", "elev_mean", "slope_mean", "township", "named_baqu"],
              labels={"baqu_id": "编号", "area_mu": "面积(亩)", "elev_mean": "平均海拔(米)",
                      "slope_mean": "平均坡度(°)", "township": "所在乡镇", "named_baqu": "规划坝区"},
              search="baqu_id", simplify_m=15,
              style={"color": "#08519c", "weight": 2, "fillColor": "#6baed6", "fillOpacity": 0.35},
              legend={"title": "坝区", "items": [{"color": "#6baed6", "outline": "#08519c",
                                                   "label": f"坝区候选（≤{terrain.BAQU_MAX_SLOPE:g}°，≥{terrain.BAQU_MIN_MU:g}亩）"}]})
    crop = cropland if cropland is not None else L.get("basic_farmland")
    steep = []
    if crop is not None and len(crop):
        crop, _ = terrain.cropland_layer(crop)
        steep = terrain.cropland_rules(sl, crop, towns)["steep"]
        if len(steep):
            b.add(steep, "25°以上耕地", fields=["area_mu", "rule"], labels={"area_mu": "面积(亩)", "rule": "规则"},
                  status_of=_derived_status({"cropland": crop}, ["cropland"]), simplify_m=5,
                  style={"color": "#67000d", "weight": 1.5, "fillColor": "#a50f15", "fillOpacity": 0.7},
                  legend={"title": "坡度规则", "items": [{"color": "#a50f15", "outline": "#67000d",
                                                         "label": "耕地 >25°（退耕还林还草候选）"}]})
    if "baqu" in L:
        b.add(L["baqu"], "规划坝区", fields=["name", "use", "township", "data_status"],
              labels={"name": "名称", "use": "用途", "township": "乡镇"}, search="name",
              style={"radius": 7, "color": "#000000", "weight": 2, "fillColor": "#ffff00", "fillOpacity": 0.9},
              legend={"title": "规划", "items": [{"color": "#ffff00", "outline": "#000000", "label": "规划坝区（近似位置）"}]})
    extra = []
    if crop is None or not len(crop):
        extra.append("没有耕地图层：未绘制25°以上耕地（--cropland）")
    elif not len(steep):
        extra.append("耕地中没有坡度 >25° 的部分")
    files = ", ".join(p.rsplit("/", 1)[-1] for p in dem.sources[:3]) + (" …" if len(dem.sources) > 3 else "")
    notes = [f"DEM：{files}（{dem.res[0]:g} 米格网，EPSG:4544）；坡度按 Horn 法计算",
             f"坝区坡度上限 {terrain.BAQU_MAX_SLOPE:g}° 为本工具的假设（贵州省 500 亩以上坝区未公布坡度标准）"]
    return b.finish(extra_notes=notes + extra)


def _bounds_of(grid: Grid):
    left, bottom, right, top = grid.bounds
    return transform_bounds(grid.crs, "EPSG:4490", left, bottom, right, top)
