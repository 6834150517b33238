"""The bundled 七星关区 layers: schema, provenance and plausibility against published facts."""
from __future__ import annotations

import pytest
from pyproj import CRS

from spatial import catalog, metric, settings

BUNDLED = catalog.Catalog(user=None)
PRESENT = [e.id for e in BUNDLED.entries.values() if e.exists]
PROVENANCE_FIELDS = ("name", "data_status", "source")


@pytest.fixture(autouse=True)
def no_user_layers(monkeypatch):
    monkeypatch.delenv(settings.LAYERS_ENV, raising=False)


@pytest.fixture(scope="module")
def boundary():
    return BUNDLED.load("boundary")


def test_boundary_area_matches_published_figure(boundary):
    # plan: area ≈ 3,412 km²; the AMap-derived outline converted from GCJ-02 gives 3,406 km²
    area = metric.area_m2(boundary).sum() / 1e6
    assert area == pytest.approx(3412, rel=0.01)


def test_boundary_extent_matches_the_plan(boundary):
    # plan: 104°51′–105°55′E, 27°03′–27°46′N (to the minute: allow 2′)
    minx, miny, maxx, maxy = boundary.total_bounds
    pminx, pminy, pmaxx, pmaxy = settings.DISTRICT_BBOX
    tol = 2 / 60
    assert abs(minx - pminx) < tol and abs(maxx - pmaxx) < tol
    assert abs(miny - pminy) < tol and abs(maxy - pmaxy) < tol
    assert boundary.geometry.iloc[0].is_valid and len(boundary) == 1


@pytest.mark.parametrize("layer_id", PRESENT)
def test_every_bundled_layer_has_provenance_per_feature(layer_id):
    gdf = BUNDLED.load(layer_id)
    assert gdf.crs == CRS.from_epsg(4490)
    for field in PROVENANCE_FIELDS:
        assert field in gdf.columns, field
        assert gdf[field].notna().all() and (gdf[field].astype(str).str.len() > 0).all()
    assert set(gdf["data_status"]) <= set(catalog.DATA_STATUSES)
    entry = BUNDLED.get(layer_id)
    for key in ("source", "date", "method", "accuracy", "data_status"):
        assert entry.provenance.get(key), (layer_id, key)
    if entry.data_status != "mixed":
        assert set(gdf["data_status"]) == {entry.data_status}


@pytest.mark.parametrize("layer_id", [i for i in PRESENT if i != "boundary"])
def test_every_feature_lies_inside_the_district(layer_id, boundary):
    gdf = BUNDLED.load(layer_id)
    district = metric.to_metric(boundary).union_all().buffer(1000)   # 1 km tolerance
    inside = metric.to_metric(gdf).within(district)
    assert inside.all(), list(gdf.loc[~inside.values, "name"])


@pytest.mark.parametrize("fmt", ["shp", "gpkg", "geojson", "csv", "xlsx"])
def test_every_bundled_layer_exports_in_every_format(tmp_path, fmt):
    import pyogrio
    from spatial import export
    for layer_id in PRESENT:
        gdf = BUNDLED.load(layer_id)
        crs = 4490 if fmt == "geojson" else 4544
        out = export.write(gdf, tmp_path / f"{layer_id}.{export.FORMATS[fmt].lstrip('.')}", fmt, crs=crs)
        if fmt == "shp":
            back = pyogrio.read_dataframe(f"/vsizip/{out}/{layer_id}.shp")
        elif fmt in ("gpkg", "geojson"):
            back = pyogrio.read_dataframe(out)
        elif fmt == "csv":
            import pandas as pd
            back = pd.read_csv(out, encoding="utf-8-sig")
            assert list(back["名称"]) == list(gdf["name"])
            continue
        else:
            import openpyxl
            ws = openpyxl.load_workbook(out).active
            assert ws.max_row == len(gdf) + 1
            continue
        assert len(back) == len(gdf) and list(back["name"]) == list(gdf["name"])
