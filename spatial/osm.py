"""OpenStreetMap roads: which ways a car may use, how each is timed, reading a file offline,
and the download step (kept apart so everything else works without the internet).

The rules, as the README's OpenStreetMap section states them:

- **Kept**: ways whose ``highway`` is one of :data:`DRIVABLE` and that are not ``area=yes``.
- **Access**: the most specific of ``motorcar`` > ``motor_vehicle`` > ``vehicle`` > ``access``
  that the way carries decides (so ``access=no`` + ``motorcar=yes`` is open). A value may list
  several (``private;delivery``): open when any part is open, else *local* when any part is
  ``destination``/``customers``, else closed when every part is closed (:data:`CLOSED`);
  values not known here count as open. Closed ways are left out.
- **Local** ways may start or end a trip but never carry through traffic: access ``destination``
  or ``customers``, ``highway=track`` (机耕道, farm and forest tracks), and service roads with
  ``service=parking_aisle|parking|driveway|drive-through``. ``service=emergency_access`` is
  closed.
- **Direction**: ``oneway=yes|true|1`` along the way, ``-1|reverse`` against it, ``no`` both
  ways; without the tag ``junction=roundabout|circular`` and ``highway=motorway`` are one-way
  (as the OSM wiki defines); ``oneway=reversible|alternating`` ways change direction by the
  hour and are left out.
- **Speed**: each piece keeps its own way's class and speed: the speeds table's speed for the
  class (JTG B01 defaults, see :mod:`spatial.speeds`), capped by the way's ``maxspeed`` when it
  has a number (``km/h``, or ``mph`` converted; several values: the lowest) unless
  ``use_maxspeed=False`` (``--ignore-maxspeed``).
- **Clipped extracts**: a way that lists nodes absent from the file (every bbox or polygon cut
  has them) is cut at those nodes; the parts with two or more nodes stay, and the count is
  reported.
"""
from __future__ import annotations

import math
import re
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import settings
from .errors import InputError
from .export import atomic_path

#: OpenStreetMap highway values a car can use (footways, paths, cycleways, steps, proposed
#: and construction ways are left out).
DRIVABLE = frozenset({"motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
                      "secondary", "secondary_link", "tertiary", "tertiary_link", "unclassified",
                      "residential", "living_street", "road", "service", "track"})
#: Access keys for a car, most specific first.
ACCESS_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
OPEN = frozenset({"yes", "permissive", "designated", "official", "motorcar", "motor_vehicle", "vehicle",
                  "discouraged", "unknown"})
LOCAL_ACCESS = frozenset({"destination", "customers"})
CLOSED = frozenset({"no", "private", "agricultural", "forestry", "delivery", "emergency", "psv", "bus",
                    "military", "permit", "use_sidepath", "hgv", "taxi"})
LOCAL_SERVICE = frozenset({"parking_aisle", "parking", "driveway", "drive-through"})
CLOSED_SERVICE = frozenset({"emergency_access"})
ONEWAY_ALONG = frozenset({"yes", "true", "1"})
ONEWAY_AGAINST = frozenset({"-1", "reverse"})
ONEWAY_BOTH = frozenset({"no", "false", "0"})
ONEWAY_CHANGING = frozenset({"reversible", "alternating"})
MPH = 1.609344


def access_state(tags) -> str:
    """``open``, ``local`` or ``closed`` for a car, by the rules in the module text."""
    for key in ACCESS_KEYS:
        value = tags.get(key)
        if value is None:
            continue
        parts = {p.strip().lower() for p in str(value).split(";") if p.strip()}
        if not parts:
            continue
        if parts & OPEN:
            return "open"
        if parts & LOCAL_ACCESS:
            return "local"
        if parts <= CLOSED:
            return "closed"
        return "open"                   # values not known here (e.g. a typo) do not close a road
    return "open"


def way_state(tags) -> str:
    """``open``, ``local``, ``closed`` (not for cars) or ``skip`` (not a drivable road)."""
    hw = tags.get("highway")
    if hw not in DRIVABLE or tags.get("area") == "yes":
        return "skip"
    if str(tags.get("oneway", "")).lower() in ONEWAY_CHANGING:
        return "closed"
    service = tags.get("service")
    if service in CLOSED_SERVICE:
        return "closed"
    state = access_state(tags)
    if state == "closed":
        return "closed"
    if state == "local" or hw == "track" or (hw == "service" and service in LOCAL_SERVICE):
        return "local"
    return "open"


def oneway(tags) -> int:
    """+1 along the way only, -1 against it only, 0 both ways."""
    value = str(tags.get("oneway", "")).strip().lower()
    if value in ONEWAY_ALONG:
        return 1
    if value in ONEWAY_AGAINST:
        return -1
    if value in ONEWAY_BOTH:
        return 0
    if tags.get("junction") in ("roundabout", "circular") or tags.get("highway") == "motorway":
        return 1
    return 0


_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph)?\s*$")


def parse_maxspeed(value) -> float:
    """km/h of an OSM ``maxspeed`` value; NaN when it holds no number (``none``, ``RU:urban``,
    ``walk``, ``signals``). Several values (``60;40``): the lowest."""
    if value is None:
        return math.nan
    speeds = []
    for part in str(value).split(";"):
        m = _NUMBER.match(part.lower())
        if m:
            kmh = float(m.group(1)) * (MPH if m.group(2) == "mph" else 1.0)
            if kmh > 0:
                speeds.append(kmh)
    return min(speeds) if speeds else math.nan


@dataclass
class OsmRoads:
    """The drivable ways of an OSM file, cut into runs of nodes the file holds.

    ``run_*`` arrays have one entry per node occurrence, runs in file order; ``ways`` has one
    row per run (a way cut at missing nodes gives several runs).
    """

    source: str
    node_id: np.ndarray          # int64, per occurrence
    lon: np.ndarray
    lat: np.ndarray
    run: np.ndarray              # run index per occurrence (non-decreasing)
    way_id: np.ndarray           # per run
    highway: np.ndarray          # per run (object)
    name: np.ndarray
    ref: np.ndarray
    oneway: np.ndarray           # per run: +1, -1, 0
    local: np.ndarray            # per run: bool
    maxspeed: np.ndarray         # per run: km/h or NaN
    junction_names: dict = field(default_factory=dict)   # motorway_junction node id → name
    counts: dict = field(default_factory=dict)
    examples: dict = field(default_factory=dict)


def _new_counts() -> dict:
    return {"highway_ways": 0, "kept_ways": 0, "closed_ways": 0, "local_ways": 0, "cut_ways": 0,
            "missing_nodes": 0, "lost_ways": 0, "maxspeed_ways": 0}


def read_roads(path, highways=DRIVABLE) -> OsmRoads:
    """Read the drivable highway ways of an ``.osm``/``.osm.pbf``/``.osm.bz2`` file, offline.

    One pass with pyosmium: node locations are kept in its index (C++), only ways and nodes
    carrying a ``highway`` tag reach Python. Ways are kept or dropped by :func:`way_state`;
    ``highways`` narrows the classes kept.
    """
    import osmium

    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path)
    kind = "OpenStreetMap PBF" if path.name.lower().endswith(".pbf") else "OpenStreetMap XML"
    ids, lons, lats, runs = [], [], [], []
    way_ids, hws, names, refs, ones, locs, maxs = [], [], [], [], [], [], []
    junctions: dict = {}
    counts = _new_counts()
    examples: dict = {}
    n_run = 0
    try:
        fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY) \
            .with_locations().with_filter(osmium.filter.KeyFilter("highway"))
        for obj in fp:
            if obj.is_node():
                if obj.tags.get("highway") == "motorway_junction":
                    label = obj.tags.get("name") or obj.tags.get("ref")
                    if label:
                        junctions[obj.id] = str(label)
                continue
            if not obj.is_way():
                continue
            tags = obj.tags
            state = way_state(tags)
            if state == "skip" or tags.get("highway") not in highways:
                continue
            counts["highway_ways"] += 1
            if state == "closed":
                counts["closed_ways"] += 1
                continue
            refs_, xs, ys, ok = [], [], [], []
            for n in obj.nodes:
                loc = n.location
                valid = loc.valid()
                refs_.append(n.ref)
                ok.append(valid)
                xs.append(loc.lon if valid else math.nan)
                ys.append(loc.lat if valid else math.nan)
            ok = np.asarray(ok, bool)
            missing = int((~ok).sum())
            if missing:
                counts["cut_ways"] += 1
                counts["missing_nodes"] += missing
                examples.setdefault("cut_way", obj.id)
            ms = parse_maxspeed(tags.get("maxspeed"))
            # runs of consecutive nodes the file holds
            edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
            kept_any = False
            for s, e in zip(edges[::2], edges[1::2]):
                if e - s < 2:
                    continue
                kept_any = True
                ids.append(np.asarray(refs_[s:e], np.int64))
                lons.append(np.asarray(xs[s:e]))
                lats.append(np.asarray(ys[s:e]))
                runs.append(np.full(e - s, n_run, np.int64))
                n_run += 1
                way_ids.append(obj.id)
                hws.append(tags.get("highway"))
                names.append(tags.get("name", "") or "")
                refs.append(tags.get("ref", "") or "")
                ones.append(oneway(tags))
                locs.append(state == "local")
                maxs.append(ms)
            if not kept_any:
                counts["lost_ways"] += 1
                continue
            counts["kept_ways"] += 1
            counts["local_ways"] += state == "local"
            counts["maxspeed_ways"] += not math.isnan(ms)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - osmium reports format errors as RuntimeError and others
        raise InputError(f"cannot read as {kind}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}",
                         path) from exc
    if not n_run:
        raise InputError("no drivable highway ways in this file", path,
                         hint="an extract of roads (highway=*) is needed; see README, OpenStreetMap")
    cat = np.concatenate
    return OsmRoads(str(path), cat(ids), cat(lons), cat(lats), cat(runs), np.asarray(way_ids, np.int64),
                    np.asarray(hws, object), np.asarray(names, object), np.asarray(refs, object),
                    np.asarray(ones, np.int8), np.asarray(locs, bool), np.asarray(maxs, float),
                    junctions, counts, examples)


def roads_from_graph(graph, source: str = "graph") -> OsmRoads:
    """The same runs from an OSMnx graph (e.g. a GraphML file), one run per edge.

    An unsimplified graph (``simplify=False``, as ``qxg network fetch`` used to write) keeps
    every way's own tags. A simplified one merges ways into one edge and lists their values;
    they are then taken in sorted order, so the result does not depend on the run, and the
    slowest class and the lowest ``maxspeed`` are used for the merged edge.
    """
    from .speeds import SpeedTable

    table = SpeedTable()

    def pick(v, slowest=False):
        if isinstance(v, (list, tuple, set)):
            vals = sorted(map(str, v))
            if slowest:
                known = [x for x in vals if x in table.aliases]
                if known:
                    return min(known, key=lambda x: (table.kmh([table.aliases[x]])[0], x))
            return vals[0]
        return v

    nodes = dict(graph.nodes(data=True))
    ids, lons, lats, runs = [], [], [], []
    way_ids, hws, names, refs, ones, locs, maxs = [], [], [], [], [], [], []
    counts = _new_counts()
    seen = {}
    next_inner = 1
    edges = sorted(graph.edges(keys=True, data=True), key=lambda e: (int(e[0]), int(e[1]), int(e[2])))
    for u, v, k, d in edges:
        tags = {key: pick(d.get(key), slowest=(key == "highway")) for key in
                ("highway", "service", "access", "motorcar", "motor_vehicle", "vehicle", "junction", "area",
                 "name", "ref")}
        tags = {key: str(val) for key, val in tags.items() if val is not None and val == val}
        ms = d.get("maxspeed")
        ms = min((parse_maxspeed(x) for x in ms), default=math.nan) if isinstance(ms, list) else parse_maxspeed(ms)
        state = way_state(tags)
        if state in ("skip", "closed"):
            counts["closed_ways"] += state == "closed"
            continue
        geom = d.get("geometry")
        if geom is not None:
            coords = np.asarray(geom.coords)
        else:
            coords = np.array([[nodes[u]["x"], nodes[u]["y"]], [nodes[v]["x"], nodes[v]["y"]]])
        key = (min(u, v), max(u, v), round(float(d.get("length", 0.0)), 2))
        if key in seen:
            # the reverse twin of a two-way edge: one run for both directions
            ones[seen[key]] = 0
            continue
        seen[key] = len(way_ids)
        # interior points get ids of their own (negative, so they never meet an OSM node id)
        inner = -(np.arange(len(coords) - 2) + next_inner)
        next_inner += len(coords) - 2
        ids.append(np.r_[np.int64(u), inner.astype(np.int64), np.int64(v)])
        lons.append(coords[:, 0])
        lats.append(coords[:, 1])
        runs.append(np.full(len(coords), len(way_ids), np.int64))
        osmid = pick(d.get("osmid", -1))
        way_ids.append(int(osmid) if str(osmid).lstrip("-").isdigit() else -1)
        hws.append(tags.get("highway"))
        names.append(tags.get("name", ""))
        refs.append(tags.get("ref", ""))
        ones.append(1)                  # one direction until its twin is seen
        locs.append(state == "local")
        maxs.append(ms)
    if not way_ids:
        raise InputError("no drivable roads in this graph", source)
    counts["kept_ways"] = len(way_ids)
    junctions = {n: str(d.get("name") or d.get("ref")) for n, d in nodes.items()
                 if d.get("highway") == "motorway_junction" and (d.get("name") or d.get("ref"))}
    cat = np.concatenate
    return OsmRoads(source, cat(ids), cat(lons).astype(float), cat(lats).astype(float), cat(runs),
                    np.asarray(way_ids, np.int64), np.asarray(hws, object), np.asarray(names, object),
                    np.asarray(refs, object), np.asarray(ones, np.int8), np.asarray(locs, bool),
                    np.asarray(maxs, float), junctions, counts, {})


# --------------------------------------------------------------------------- the download step
def overpass_query(south: float, west: float, north: float, east: float, timeout_s: int = 600) -> str:
    """Overpass QL for every highway way in a lon/lat box, with its nodes (OSM XML out)."""
    classes = "|".join(sorted(DRIVABLE))
    return (f"[out:xml][timeout:{timeout_s}];"
            f"(way[\"highway\"~\"^({classes})$\"]({south:.6f},{west:.6f},{north:.6f},{east:.6f});>;);"
            f"out body;")


def fetch_drive_network(boundary, out: Path, buffer_km: float = 2.0, url: str | None = None,
                        progress=None) -> Path:
    """Download the roads around ``boundary`` from the Overpass API and save them as OSM XML.

    The file is an ordinary ``.osm`` extract: ``qxg network info --osm FILE`` and every command
    with ``--osm`` read it offline with the same rules as any other extract. ``url`` (default
    ``settings.OVERPASS_URL``, or ``$QXG_OVERPASS_URL``) chooses the server; nothing is written
    when the download fails.
    """
    url = url or settings.overpass_url()
    area = boundary.to_crs(settings.METRIC_CRS).buffer(buffer_km * 1000).to_crs("EPSG:4326")
    west, south, east, north = area.total_bounds
    data = urllib.parse.urlencode({"data": overpass_query(south, west, north, east)}).encode()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    request = urllib.request.Request(url, data=data, headers={"User-Agent": "qxg-spatial"})
    try:
        with urllib.request.urlopen(request, timeout=900) as resp, atomic_path(out, overwrite=True) as tmp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            done = 0
            with open(tmp, "wb") as fh:
                while True:
                    chunk = resp.read(1 << 16)
                    if not chunk:
                        break
                    fh.write(chunk)
                    done += len(chunk)
                    if progress is not None:
                        progress(done, total)
            head = Path(tmp).read_bytes()[:400]
            if b"<osm" not in head:
                raise InputError(f"the server at {url} did not answer with OSM XML "
                                 f"(starts {head[:80]!r})")
            read_roads(tmp)             # a file that cannot be read replaces nothing
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - network errors come in many classes
        raise InputError(f"download from OpenStreetMap ({url}) failed: {str(exc).splitlines()[0]}",
                         hint="check the internet connection or set QXG_OVERPASS_URL to a mirror; "
                              "or use a local extract with --osm") from exc
    return out
