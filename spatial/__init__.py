"""七星关区 spatial-planning toolkit.

Load the district's layers (:func:`load_layer`, :func:`list_layers`) or any county file
(:func:`read`), always returned as GeoDataFrames in CGCS2000 (EPSG:4490); measure in metres
and 亩 with :mod:`spatial.metric`.
"""
from .catalog import list_layers, load_layer
from .errors import InputError, InputWarning, Note
from .load import read
from .metric import area_m2, area_mu, area_table, buffer_m, length_m

__all__ = ["InputError", "InputWarning", "Note", "area_m2", "area_mu", "area_table",
           "buffer_m", "length_m", "list_layers", "load_layer", "read"]
__version__ = "0.1.0"
