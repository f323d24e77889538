"""The model zoo and capture requests: named models, the `models` table, and a request checked without torch.

Specs themselves (families, parsing) live in `dojosim.workload.spec`; the zoo's names are defined there
because parsing resolves them, and are re-exported here.
"""

from dojosim.errors import InputError
from dojosim.workload.spec import ALIASES, FAMILIES, NAMED, ModelSpec, parse_model

__all__ = ["ALIASES", "NAMED", "check_request", "zoo_rows"]


def zoo_rows() -> list[dict[str, str]]:
    rows = []
    for name, text in NAMED.items():
        family = parse_model(name).family
        rows.append({"name": name, "spec": text, "family": family, "summary": FAMILIES[family].summary})
    return rows


def check_request(model: str | ModelSpec, batch: int, seq: int | None = None) -> tuple[ModelSpec, int | None]:
    """Validate a capture request without importing torch; returns the spec and the effective sequence."""
    spec = parse_model(model)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise InputError(f"--batch: must be a whole number >= 1, got {batch!r}")
    if seq is not None and not spec.has_sequence:
        raise InputError(f"--seq: model '{spec.name}' has no token sequence ({spec.family}); leave --seq out")
    if seq is not None and (isinstance(seq, bool) or seq < 1):
        raise InputError(f"--seq: must be a whole number >= 1, got {seq!r}")
    return spec, seq or spec.default_seq
