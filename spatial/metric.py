"""Lengths, areas and buffers in metres, computed in CGCS2000 / 3-degree GK CM 105E.

Never buffer or measure in degrees: every function here projects to
:data:`spatial.settings.METRIC_CRS` (EPSG:4544) first. Areas are reported to planners in
亩 (1 亩 = 10000/15 m²), 公顷 (hectares) and km².
"""
from __future__ import annotations

import geopandas as gpd
import pandas as pd

from . import settings


def to_metric(gdf: gpd.GeoDataFrame | gpd.GeoSeries, zoned: bool = False):
    """Project to EPSG:4544 (or the zone-prefixed EPSG:4523 when ``zoned``)."""
    if gdf.crs is None:
        raise ValueError("layer has no coordinate system; read it with spatial.read first")
    return gdf.to_crs(settings.METRIC_CRS_ZONED if zoned else settings.METRIC_CRS)


def _geoseries(obj) -> gpd.GeoSeries:
    return obj.geometry if isinstance(obj, gpd.GeoDataFrame) else obj


def length_m(gdf) -> pd.Series:
    """Length of each feature in metres."""
    return to_metric(_geoseries(gdf)).length


def area_m2(gdf) -> pd.Series:
    """Area of each feature in square metres."""
    return to_metric(_geoseries(gdf)).area


def m2_to_mu(m2):
    """Square metres → 亩."""
    return m2 / settings.M2_PER_MU


def m2_to_ha(m2):
    """Square metres → 公顷 (hectares)."""
    return m2 / settings.M2_PER_HA


def m2_to_km2(m2):
    """Square metres → km²."""
    return m2 / settings.M2_PER_KM2


def area_mu(gdf) -> pd.Series:
    """Area of each feature in 亩."""
    return m2_to_mu(area_m2(gdf))


def area_table(gdf) -> pd.DataFrame:
    """Areas of each feature as columns ``area_m2``, ``area_mu``, ``area_ha``, ``area_km2``."""
    m2 = area_m2(gdf)
    return pd.DataFrame({"area_m2": m2, "area_mu": m2_to_mu(m2), "area_ha": m2_to_ha(m2),
                         "area_km2": m2_to_km2(m2)}, index=m2.index)


def buffer_m(gdf, distance_m: float, resolution: int = 16, **kwargs):
    """Buffer by ``distance_m`` metres in EPSG:4544; returned in the input's CRS.

    ``resolution`` is the number of segments per quarter circle (shapely's ``quad_segs``).
    """
    metric = to_metric(_geoseries(gdf))
    buffered = metric.buffer(distance_m, quad_segs=resolution, **kwargs)
    out = buffered.to_crs(_geoseries(gdf).crs)
    if isinstance(gdf, gpd.GeoDataFrame):
        result = gdf.copy()
        result[gdf.geometry.name] = out
        return result
    return out
