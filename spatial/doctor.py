"""``qxg doctor``: what this machine has of what the toolkit needs, each line ok or missing with
the fix. Drivers are checked by writing and reading back a small file, not only by name.
"""
from __future__ import annotations

import os
import platform
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

OK, MISSING, OPTIONAL = "ok", "missing", "optional"

#: file names of fonts that show Chinese (Linux, Windows, macOS)
CJK_FONT_PATTERNS = ("wqy", "notosanscjk", "notoserifcjk", "sourcehan", "droidsansfallback", "msyh",
                     "simsun", "simhei", "simkai", "simfang", "dengxian", "pingfang", "hiragino",
                     "stheiti", "arphic", "uming", "ukai", "noto sans cjk", "notosanssc")

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome",
                 "msedge")
WINDOWS_BROWSERS = (r"Google\Chrome\Application\chrome.exe", r"Microsoft\Edge\Application\msedge.exe",
                    r"Chromium\Application\chrome.exe")


@dataclass
class Check:
    group: str
    name: str
    status: str          # ok | missing | optional (missing but not needed by the main job)
    detail: str
    fix: str = ""
    needed: bool = True

    @property
    def failed(self) -> bool:
        return self.needed and self.status == MISSING


def vector_drivers() -> dict[str, str]:
    """GDAL vector drivers of pyogrio, name → "r"/"rw" (a seam for tests)."""
    import pyogrio

    return dict(pyogrio.list_drivers())


def raster_drivers() -> dict[str, str]:
    """GDAL raster drivers of rasterio, name → description (a seam for tests)."""
    import rasterio

    with rasterio.Env() as env:
        return dict(env.drivers())


def versions() -> list[Check]:
    from importlib import metadata

    rows = [Check("versions", "qxg", OK, _version("qxg-spatial")),
            Check("versions", "Python", OK, f"{platform.python_version()} ({sys.executable})"),
            Check("versions", "system", OK, f"{platform.system()} {platform.release()} {platform.machine()}")]
    try:
        import pyogrio
        import pyproj
        import rasterio
        import shapely

        rows += [Check("versions", "GDAL (vector, pyogrio)", OK,
                       f"{pyogrio.__gdal_version_string__} (pyogrio {pyogrio.__version__})"),
                 Check("versions", "GDAL (raster, rasterio)", OK,
                       f"{rasterio.__gdal_version__} (rasterio {rasterio.__version__})"),
                 Check("versions", "PROJ", OK, f"{pyproj.proj_version_str} (pyproj {pyproj.__version__})"),
                 Check("versions", "GEOS", OK, f"{shapely.geos_version_string} (shapely {shapely.__version__})")]
    except ImportError as exc:
        rows.append(Check("versions", "geospatial libraries", MISSING, str(exc),
                          "reinstall the toolkit: pip install -e ."))
    for pkg in ("geopandas", "pandas", "folium", "openpyxl", "xlrd", "osmnx", "networkx"):
        try:
            rows.append(Check("versions", pkg, OK, metadata.version(pkg)))
        except metadata.PackageNotFoundError:
            rows.append(Check("versions", pkg, MISSING, "not installed", f"pip install {pkg}"))
    return rows


def _version(dist: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed (running from a source folder)"


def _sample():
    import geopandas as gpd
    from shapely.geometry import Polygon

    poly = Polygon([(105.2, 27.2), (105.3, 27.2), (105.3, 27.3), (105.2, 27.2)])
    return gpd.GeoDataFrame({"名称": ["七星关区"], "面积": [1.5]}, geometry=[poly], crs="EPSG:4490")


#: (driver, suffix, what the toolkit uses it for)
WRITE_DRIVERS = (("GPKG", ".gpkg", "GeoPackage exports and results"),
                 ("ESRI Shapefile", ".shp", "shapefile exports"),
                 ("OpenFileGDB", ".gdb", "File Geodatabase exports (--format gdb) and reading .gdb"))
READ_DRIVERS = (("DXF", "CAD drawings (.dxf)"),
                ("MapInfo File", "MapInfo .tab/.mif"),
                ("GeoJSON", "GeoJSON layers (the bundled ones)"))


def drivers(tmp: Path) -> list[Check]:
    """Each driver the toolkit needs, written and read back where it writes."""
    import pyogrio

    rows = []
    have = vector_drivers()
    sample = _sample()
    for name, suffix, use in WRITE_DRIVERS:
        mode = have.get(name, "")
        if "w" not in mode:
            rows.append(Check("drivers", name, MISSING, f"GDAL has {'read only' if mode else 'no'} {name} "
                              f"driver; needed for {use}",
                              "install pyogrio wheels from PyPI (they bundle GDAL with it), "
                              "or conda install -c conda-forge libgdal-core"))
            continue
        path = tmp / f"check{suffix}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pyogrio.write_dataframe(sample, path, driver=name, layer="check",
                                        **({"encoding": "UTF-8"} if name == "ESRI Shapefile" else {}))
                back = pyogrio.read_dataframe(path, layer="check" if name != "ESRI Shapefile" else None)
            good = list(back["名称"]) == ["七星关区"] and back.crs is not None and back.crs.to_epsg() == 4490
            rows.append(Check("drivers", name, OK if good else MISSING,
                              f"write + read back ok ({use})" if good else
                              f"wrote a file but read back {list(back['名称'])} / {back.crs}",
                              "" if good else "GDAL's PROJ database or encoding support is broken: reinstall pyogrio"))
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            rows.append(Check("drivers", name, MISSING, f"writing failed: {str(exc).splitlines()[0]}",
                              "reinstall pyogrio (pip install --force-reinstall pyogrio)"))
    for name, use in READ_DRIVERS:
        ok = "r" in have.get(name, "")
        rows.append(Check("drivers", name, OK if ok else MISSING, f"read ({use})" if ok else f"absent ({use})",
                          "" if ok else "install pyogrio wheels from PyPI, or conda-forge libgdal-core"))
    rows.append(Check("drivers", "KML/KMZ", OK, "read and written by the toolkit itself (no GDAL driver needed)"))
    tables_ok = _importable("openpyxl") and _importable("xlrd")
    rows.append(Check("drivers", "XLSX/XLS", OK if tables_ok else MISSING,
                      "tables read with openpyxl (.xlsx) and xlrd (.xls)", "" if tables_ok else "pip install openpyxl xlrd"))
    rows.append(_gtiff(tmp))
    return rows


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def _gtiff(tmp: Path) -> Check:
    import numpy as np

    if "GTiff" not in raster_drivers():
        return Check("drivers", "GTiff", MISSING, "rasterio has no GTiff driver (DEMs, slope rasters)",
                     "reinstall rasterio: pip install --force-reinstall rasterio")
    try:
        import rasterio
        from rasterio.transform import from_origin

        path = tmp / "check.tif"
        with rasterio.open(path, "w", driver="GTiff", width=2, height=2, count=1, dtype="float32",
                           crs="EPSG:4544", transform=from_origin(500000, 3000000, 30, 30)) as dst:
            dst.write(np.arange(4, dtype="float32").reshape(1, 2, 2))
        with rasterio.open(path) as src:
            good = src.read(1).sum() == 6 and src.crs.to_epsg() == 4544
    except Exception as exc:  # noqa: BLE001
        return Check("drivers", "GTiff", MISSING, f"writing a GeoTIFF failed: {str(exc).splitlines()[0]}",
                     "reinstall rasterio")
    return Check("drivers", "GTiff", OK if good else MISSING,
                 "write + read back ok (DEMs, slope and hillshade rasters)" if good else "read back wrong values",
                 "" if good else "reinstall rasterio")


def proj() -> list[Check]:
    rows = []
    try:
        import pyproj

        data = Path(pyproj.datadir.get_data_dir())
        db = data / "proj.db"
        rows.append(Check("PROJ", "PROJ database", OK if db.exists() else MISSING,
                          str(db) if db.exists() else f"no proj.db in {data}",
                          "" if db.exists() else "reinstall pyproj, or unset PROJ_LIB/PROJ_DATA if they "
                                                 "point to an old PROJ"))
        x, y = pyproj.Transformer.from_crs(4490, 4544, always_xy=True).transform(105.28, 27.30)
        good = abs(x - 527_800) < 2_000 and abs(y - 3_020_700) < 2_000
        rows.append(Check("PROJ", "CGCS2000 → GK CM 105E", OK if good else MISSING,
                          f"105.28E 27.30N → {x:,.0f} m E, {y:,.0f} m N",
                          "" if good else "PROJ gives wrong coordinates: reinstall pyproj"))
    except Exception as exc:  # noqa: BLE001
        rows.append(Check("PROJ", "PROJ database", MISSING, str(exc).splitlines()[0], "reinstall pyproj"))
    for var in ("PROJ_LIB", "PROJ_DATA", "GDAL_DATA"):
        if os.environ.get(var):
            rows.append(Check("PROJ", var, OK, f"set to {os.environ[var]} (an old PROJ/GDAL here can break "
                                               "coordinate systems)", needed=False))
    return rows


def browser() -> list[Check]:
    """Chromium/Chrome/Edge and a Chinese font: only for screenshots of the maps (optional)."""
    found = next((p for p in (shutil.which(n) for n in BROWSER_NAMES) if p), None)
    if found is None and os.name == "nt":
        for root in (os.environ.get("PROGRAMFILES"), os.environ.get("PROGRAMFILES(X86)"),
                     os.environ.get("LOCALAPPDATA")):
            for rel in WINDOWS_BROWSERS:
                if root and Path(root, rel).exists():
                    found = str(Path(root, rel))
                    break
            if found:
                break
    rows = [Check("browser", "Chromium / Chrome / Edge", OK if found else OPTIONAL,
                  found or "none found (only needed for screenshots of the maps and the browser test)",
                  "" if found else "apt-get install chromium (Debian), or install Chrome/Edge", needed=False)]
    font = cjk_font()
    rows.append(Check("browser", "Chinese font", OK if font else OPTIONAL,
                      font or "none found: screenshots would show boxes for Chinese",
                      "" if font else "apt-get install fonts-wqy-zenhei (Debian)", needed=False))
    return rows


def font_dirs() -> list[Path]:
    home = Path.home()
    dirs = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), home / ".fonts",
            home / ".local/share/fonts", Path("/System/Library/Fonts"), Path("/Library/Fonts"),
            home / "Library/Fonts"]
    if os.environ.get("WINDIR"):
        dirs.append(Path(os.environ["WINDIR"]) / "Fonts")
    if os.environ.get("LOCALAPPDATA"):
        dirs.append(Path(os.environ["LOCALAPPDATA"]) / "Microsoft/Windows/Fonts")
    return dirs


def cjk_font() -> str | None:
    """The first font file whose name says it covers Chinese, in the usual font folders."""
    for d in font_dirs():
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            n = p.name.lower().replace("-", "").replace("_", "")
            if p.suffix.lower() in (".ttf", ".ttc", ".otf") and any(k.replace(" ", "") in n for k in CJK_FONT_PATTERNS):
                return str(p)
    return None


def layers(layers_dir: str | None) -> list[Check]:
    """The layers folder in use and whether each layer loads."""
    from . import catalog as catmod
    from . import raster, settings
    from .errors import InputError, InputWarning

    try:
        cat = catmod.catalog(layers_dir)
    except InputError as exc:
        return [Check("layers", "layers folder", MISSING, exc.line, "check --layers / $QXG_LAYERS")]
    where = f"{cat.user} over the bundled layers" if cat.user else f"bundled ({settings.BUNDLED_LAYERS})"
    rows = [Check("layers", "layers in use", OK, where)]
    for entry in cat.entries.values():
        label = f"{entry.id} ({entry.name_zh})"
        if not entry.exists:
            needed = entry.origin == "user"
            rows.append(Check("layers", label, MISSING if needed else OPTIONAL,
                              f"no file{f' {entry.file}' if entry.file else ''}",
                              "supply it in --layers DIR" if not entry.is_raster else
                              "optional: --dem, $QXG_DEM, layers/dem/ or qxg terrain fetch", needed=needed))
            continue
        if entry.is_raster:
            try:
                files = raster.dem_paths(entry.file)
                rows.append(Check("layers", label, OK, f"{len(files)} DEM file(s) in {entry.file}", needed=False))
            except InputError as exc:
                rows.append(Check("layers", label, MISSING, exc.line, needed=False))
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", InputWarning)
                gdf = cat.load(entry.id)
            rows.append(Check("layers", label, OK, f"{len(gdf)} feature{'' if len(gdf) == 1 else 's'} ({entry.origin})"))
        except InputError as exc:
            rows.append(Check("layers", label, MISSING, exc.line, "mend the file, or leave it out of the folder"))
        except Exception as exc:  # noqa: BLE001 - a broken file is a finding, not a crash
            rows.append(Check("layers", label, MISSING, f"{type(exc).__name__}: {exc}",
                              "mend the file, or leave it out of the folder"))
    return rows


def output(folder: Path) -> list[Check]:
    """Whether ``folder`` can be written, and how much room it has."""
    target = folder.resolve()
    probe = target
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    try:
        with tempfile.NamedTemporaryFile(dir=probe, prefix=".qxg-doctor-", suffix=".tmp"):
            pass
        free = shutil.disk_usage(probe).free
        return [Check("output", "output folder", OK, f"{target} is writable ({free / 2**30:.1f} GB free)")]
    except OSError as exc:
        return [Check("output", "output folder", MISSING, f"{target}: cannot write ({exc.strerror or exc})",
                      "run from a folder you can write to, or give --out DIR")]


def console() -> list[Check]:
    enc = getattr(sys.stdout, "encoding", None) or "unknown"
    try:
        "七星关区 ≥ → ×".encode(enc)
        shows = "Chinese and symbols"
        status = OK
    except (UnicodeEncodeError, LookupError):
        try:
            "七星关区".encode(enc)
            shows, status = "Chinese; symbols such as ≥ → × are shown as ASCII", OK
        except (UnicodeEncodeError, LookupError):
            shows, status = "no Chinese (shown as ?)", OPTIONAL
    return [Check("console", "console encoding", status, f"{enc}: {shows}",
                  "" if status == OK else "Windows: run chcp 65001 first, or set PYTHONIOENCODING=utf-8",
                  needed=False)]


def run(layers_dir: str | None = None, out: Path | None = None) -> list[Check]:
    """Every check, in the order they are shown."""
    rows = versions()
    with tempfile.TemporaryDirectory(prefix="qxg-doctor-") as tmp:
        rows += drivers(Path(tmp))
    rows += proj()
    rows += layers(layers_dir)
    rows += output(out or Path.cwd())
    rows += browser()
    rows += console()
    return rows
