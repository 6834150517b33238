"""Road classes and travel speeds.

Every road source (the bundled layers, a county road layer, OpenStreetMap) is mapped to the
six technical grades of Chinese highways — 高速公路, 一级公路, 二级公路, 三级公路, 四级公路,
等外公路 — plus 匝道 (interchange ramps), and each grade to a speed in km/h. Defaults follow
the design speeds of JTG B01-2014 (see ``DEFAULT_SPEEDS``); a planner replaces any of them
with a TOML file::

    terrain_factor = 0.8          # optional: multiply every speed (mountain roads)
    [speeds]                      # TOML needs quotes around Chinese keys
    "二级公路" = 50
    [aliases]                     # map the values of your class field
    "3" = "二级公路"
    "县道" = "三级公路"
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import InputError

EXPRESSWAY = "高速公路"
RAMP = "匝道"
GRADES = (EXPRESSWAY, "一级公路", "二级公路", "三级公路", "四级公路", "等外公路", RAMP)

#: km/h. JTG B01-2014 (公路工程技术标准) lists design speeds per grade — 高速公路 120/100/80,
#: 一级 100/80/60, 二级 80/60, 三级 40/30, 四级 30/20 (as read on the OpenStreetMap wiki page
#: Key:highway:CN, which cites the standard). The defaults take the lowest value of each list,
#: the one mountain roads like 七星关区's are built to. The standard has no 等外公路 (below
#: grade 4) speed: 15 km/h is this toolkit's assumption, as are 40 km/h on ramps. Numeric
#: grade codes differ between county systems (GB/T 919 defines them, its table was not at
#: hand), so they are not guessed: map them with [aliases].
DEFAULT_SPEEDS = {EXPRESSWAY: 80.0, "一级公路": 60.0, "二级公路": 60.0, "三级公路": 30.0,
                  "四级公路": 20.0, "等外公路": 15.0, RAMP: 40.0}

#: Spellings met in county data and OpenStreetMap, mapped to the grades.
DEFAULT_ALIASES = {
    **{g: g for g in GRADES},
    "高速": EXPRESSWAY, "一级": "一级公路", "二级": "二级公路", "三级": "三级公路", "四级": "四级公路",
    "等外": "等外公路", "等外路": "等外公路", "匝道": RAMP, "互通匝道": RAMP,
    # OpenStreetMap highway=*: in China it follows the administrative level (G → trunk, S →
    # primary …), not the technical grade, so this mapping is an approximation
    "service": "等外公路", "track": "等外公路",
    "motorway": EXPRESSWAY, "motorway_link": RAMP, "trunk": "一级公路", "trunk_link": "一级公路",
    "primary": "二级公路", "primary_link": "二级公路", "secondary": "三级公路",
    "secondary_link": "三级公路", "tertiary": "四级公路", "tertiary_link": "四级公路",
    "unclassified": "等外公路", "residential": "等外公路", "living_street": "等外公路",
    "road": "等外公路",
}


@dataclass
class SpeedTable:
    """Speeds per grade (km/h) and the mapping of raw class values to grades."""

    speeds: dict = field(default_factory=lambda: dict(DEFAULT_SPEEDS))
    aliases: dict = field(default_factory=lambda: dict(DEFAULT_ALIASES))
    terrain_factor: float = 1.0

    @classmethod
    def load(cls, path: str | Path | None = None, terrain_factor: float | None = None) -> "SpeedTable":
        """Defaults, overlaid with a TOML file's ``speeds``, ``aliases`` and ``terrain_factor``."""
        table = cls()
        if path is not None:
            p = Path(path)
            try:
                data = tomllib.loads(p.read_text(encoding="utf-8"))
            except FileNotFoundError as exc:
                raise InputError("no such speeds file", p) from exc
            except tomllib.TOMLDecodeError as exc:
                raise InputError(f"not valid TOML: {exc}", p) from exc
            for grade, kmh in data.get("speeds", {}).items():
                if grade not in GRADES:
                    raise InputError(f"unknown grade {grade!r} in [speeds]; grades are {', '.join(GRADES)}", p)
                if isinstance(kmh, bool) or not isinstance(kmh, (int, float)) or not kmh > 0:
                    raise InputError(f"speed of {grade} must be a positive number of km/h, got {kmh!r}", p)
                table.speeds[grade] = float(kmh)
            for raw, grade in data.get("aliases", {}).items():
                if grade not in GRADES:
                    raise InputError(f"alias {raw!r} maps to unknown grade {grade!r}", p)
                table.aliases[str(raw)] = grade
            factor = data.get("terrain_factor", table.terrain_factor)
            if isinstance(factor, bool) or not isinstance(factor, (int, float)):
                raise InputError(f"terrain_factor must be a number, got {factor!r}", p)
            table.terrain_factor = float(factor)
        if terrain_factor is not None:
            table.terrain_factor = float(terrain_factor)
        if not 0 < table.terrain_factor <= 2:
            raise InputError(f"terrain factor must be in (0, 2], got {table.terrain_factor}")
        return table

    def classify(self, values, source: str | None = None, field_name: str = "class") -> np.ndarray:
        """Map raw class values to grades; unknown values raise an error listing them."""
        raw = pd.Series(values, dtype=object)
        # work on the distinct values only: a county layer has few classes and many roads
        codes, uniq = pd.factorize(raw.map(lambda v: v if not isinstance(v, (list, tuple)) else v[0]),
                                   use_na_sentinel=False)
        u_text = pd.Series(uniq, dtype=object).astype(str).str.strip().str.replace(r"\.0$", "", regex=True)
        text = pd.Series(u_text.to_numpy()[codes], index=raw.index, dtype=object)
        grades = pd.Series(u_text.map(self.aliases).to_numpy()[codes], index=raw.index, dtype=object)
        unknown = sorted(set(text[grades.isna()]))
        if unknown:
            shown = ", ".join(repr(u) for u in unknown[:12]) + (" …" if len(unknown) > 12 else "")
            raise InputError(
                f"unknown road class value(s) in field {field_name!r}: {shown}", source,
                hint="map them to 高速公路/一级公路/二级公路/三级公路/四级公路/等外公路 in a speeds "
                     "file: [aliases] \"value\" = \"二级公路\" (and pass --speeds FILE)")
        return grades.to_numpy(dtype=object)

    def kmh(self, grades) -> np.ndarray:
        """Speed of each grade in km/h, after the terrain factor (ramps are not scaled)."""
        g = pd.Series(grades, dtype=object)
        v = g.map(self.speeds).to_numpy(dtype=float)
        bad = ~(v > 0)
        if bad.any():
            raise InputError(f"no positive speed for road grade(s) {', '.join(sorted(set(map(str, g[bad]))))}",
                             hint="give them a speed in the speeds file's [speeds] table")
        return np.where(g.to_numpy() == RAMP, v, v * self.terrain_factor)
