"""OpenStreetMap: the download step, kept apart so everything else works offline.

``fetch_drive_network`` needs the internet (OSMnx asks the Overpass API); the cached GraphML
file, or any local ``.osm`` file, is then read offline by ``qxg network info --osm FILE`` and
:func:`spatial.network.from_osm_graph`.
"""
from __future__ import annotations

from pathlib import Path

from . import settings
from .errors import InputError
from .export import atomic_path


def fetch_drive_network(boundary, out: Path, buffer_km: float = 2.0) -> Path:
    """Download the drivable network around ``boundary`` and save it as GraphML at ``out``."""
    import osmnx as ox

    area = boundary.to_crs(settings.METRIC_CRS).buffer(buffer_km * 1000).to_crs("EPSG:4326").union_all()
    from .network import osm_node_names

    try:
        with osm_node_names():
            graph = ox.graph_from_polygon(area, network_type="drive", simplify=True, retain_all=True)
    except Exception as exc:  # noqa: BLE001 - network errors come in many classes
        raise InputError(f"download from OpenStreetMap failed: {str(exc).splitlines()[0]}",
                         hint="check the internet connection, or use a local .osm file with --osm") from exc
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out, overwrite=True) as tmp:
        ox.save_graphml(graph, tmp)
    return out
