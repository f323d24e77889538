"""What the machine is: sourced figures, composed into a hierarchy, with totals derived from parts.

Importing this package must stay light (no torch): pure-hardware use is fast.
"""

from dojosim.hardware.figure import Figure
from dojosim.hardware.load import list_presets, load_system
from dojosim.hardware.model import Cost, CostPart, Device, Level, MemoryPool, PublishedCheck, System
from dojosim.hardware.sizing import SizedLevel, SizedSystem, size_system
from dojosim.hardware.totals import Totals, derive_totals

__all__ = [
    "Cost",
    "CostPart",
    "Device",
    "Figure",
    "Level",
    "MemoryPool",
    "PublishedCheck",
    "SizedLevel",
    "SizedSystem",
    "System",
    "Totals",
    "derive_totals",
    "list_presets",
    "load_system",
    "size_system",
]
