"""Low-precision recipes as data: what the casts of one linear layer move and launch, per recipe
(`data/low_precision.toml`, each recipe with its source)."""

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from dojosim.errors import InputError, allowed

RECIPES_PACKAGE = "dojosim.stack.data"
FIGURES = (
    "input_fwd",
    "input_bwd",
    "weight_fwd",
    "weight_bwd",
    "grad_output_bwd",
    "kernels_fwd",
    "kernels_bwd",
)
# The recipe an fp4 run uses: the block-scaled 4-bit formats cast alike (MXFP4, NVFP4).
FP4_RECIPE = "fp4-block"


@dataclass(frozen=True)
class CastCosts:
    """Bytes moved by the casts of one linear layer per bf16 byte of the operand cast, in the pass that casts
    it, and the cast kernels launched per linear in each pass."""

    name: str
    input_fwd: float
    input_bwd: float
    weight_fwd: float
    weight_bwd: float
    grad_output_bwd: float
    kernels_fwd: float
    kernels_bwd: float
    split_accumulation_bwd: bool = False  # backward's GEMMs promote partial sums to FP32 (no fast accumulation)
    source: str = ""


@lru_cache(maxsize=1)
def _table() -> dict[str, CastCosts]:
    text = resources.files(RECIPES_PACKAGE).joinpath("low_precision.toml").read_text()
    table = {}
    for name, raw in tomllib.loads(text).items():
        missing = [k for k in (*FIGURES, "source") if k not in raw]
        if missing:
            raise InputError(f"low_precision.toml [{name}]: missing {', '.join(missing)}")
        split = raw.get("split_accumulation_bwd", False)
        if not isinstance(split, bool):
            raise InputError(f"low_precision.toml [{name}]: split_accumulation_bwd must be true or false")
        figures = (float(raw[k]) for k in FIGURES)
        table[name] = CastCosts(name, *figures, split_accumulation_bwd=split, source=str(raw["source"]))
    return table


def cast_costs(recipe: str) -> CastCosts:
    table = _table()
    if recipe not in table:
        raise InputError(f"low-precision recipe '{recipe}' is not one of {allowed(table)}")
    return table[recipe]
