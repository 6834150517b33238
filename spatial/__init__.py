"""七星关区 spatial-planning toolkit.

Load the district's layers (:func:`load_layer`, :func:`list_layers`) or any county file
(:func:`read`), always returned as GeoDataFrames in CGCS2000 (EPSG:4490); measure in metres
and 亩 with :mod:`spatial.metric`; pre-check a project's site with :func:`check_site`.
"""
from .catalog import list_layers, load_layer
from .errors import InputError, InputWarning, Note
from .load import read
from .metric import area_m2, area_mu, area_table, buffer_m, length_m

__all__ = ["InputError", "InputWarning", "Note", "area_m2", "area_mu", "area_table",
           "buffer_m", "check_site", "length_m", "list_layers", "load_layer", "read"]


def __getattr__(name):
    # the site pre-check pulls in the network and overlay code: imported when first used
    if name == "check_site":
        from .site import check_site

        return check_site
    raise AttributeError(f"module 'spatial' has no attribute {name!r}")
__version__ = "0.1.0"
