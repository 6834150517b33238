"""三调 land-use codes (DLBM): names and groups from the table ``layers/rules/dlbm.csv``.

The table holds the 二级类 of GB/T 21010-2017《土地利用现状分类》 and the codes the
第三次全国国土调查 工作分类 adds (TD/T 1055-2019 附录A 表A.2); see ``layers/rules/README.md``.
"Cropland" (耕地) is DLBM 0101 水田, 0102 水浇地 and 0103 旱地.
"""
from __future__ import annotations

import functools

import pandas as pd

from . import settings
from .errors import InputError

TABLE = settings.BUNDLED_LAYERS / "rules" / "dlbm.csv"
CROPLAND_GROUP = "耕地"
#: The field names a DLTB layer uses for the code and the name of its class.
CODE_FIELDS = ("DLBM", "dlbm", "地类编码")
NAME_FIELDS = ("DLMC", "dlmc", "地类名称")


@functools.lru_cache(maxsize=1)
def table() -> pd.DataFrame:
    """The code table, indexed by code."""
    try:
        df = pd.read_csv(TABLE, dtype=str, encoding="utf-8")
    except (OSError, pd.errors.ParserError) as exc:
        raise InputError(f"cannot read the land-use code table: {exc}", TABLE) from exc
    return df.set_index("code", drop=False)


def cropland_codes() -> tuple[str, ...]:
    """DLBM codes of cropland (耕地): 0101, 0102, 0103."""
    t = table()
    return tuple(t.index[t["group"] == CROPLAND_GROUP])


def normalise(codes) -> pd.Series:
    """Codes as the table writes them: trimmed, upper case, a numeric 101 padded to 0101 (and
    8H2 to 08H2: any code the table knows once its leading zero is put back).

    Missing values stay missing.
    """
    s = pd.Series(codes, copy=False)
    out = s.astype("string").str.strip().str.upper()
    out = out.str.replace(r"\.0$", "", regex=True)          # 101.0 from a numeric column
    digits = out.str.fullmatch(r"\d{3}", na=False)
    out = out.where(~digits, "0" + out)
    # a code that lost its leading zero (8H2 for 08H2, 201K for 0201K) when it is one
    known = table().index
    short = ~out.isin(known) & ("0" + out).isin(known)
    out = out.where(~short, "0" + out)
    return out.where(s.notna() & (out != ""), None)


def code_field(df: pd.DataFrame) -> str | None:
    """The DLBM field of a layer, if it has one."""
    return next((c for c in df.columns if str(c) in CODE_FIELDS or str(c).upper() == "DLBM"), None)


def describe(codes) -> pd.DataFrame:
    """For each code: ``dlbm`` (normalised), ``dlbm_name``, ``dlbm_group`` and ``is_cropland``;
    codes not in the table get empty names (see :func:`unknown_codes`)."""
    norm = normalise(codes)
    t = table()
    names = norm.map(t["name"])
    groups = norm.map(t["group"])
    return pd.DataFrame({"dlbm": norm, "dlbm_name": names, "dlbm_group": groups,
                         "is_cropland": groups.eq(CROPLAND_GROUP).fillna(False).astype(bool)},
                        index=pd.Series(codes, copy=False).index)


def unknown_codes(codes) -> list[str]:
    """Distinct codes that are not in the table, in sorted order."""
    norm = normalise(codes).dropna()
    return sorted(set(norm) - set(table().index))

