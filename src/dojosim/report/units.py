"""SI values to human units, at the edges only."""

_PREFIXES = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
_SMALL = [(1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n")]


def si(value: float, unit: str, digits: int = 3) -> str:
    """1.086e18, 'FLOP/s' -> '1.09 EFLOP/s'; 1e-7, 's' -> '100 ns'."""
    if value == 0:
        return f"0 {unit}"
    magnitude = abs(value)
    table = _PREFIXES if magnitude >= 1 else _SMALL
    for scale, prefix in table:
        if magnitude >= scale:
            return f"{value / scale:.{digits}g} {prefix}{unit}"
    scale, prefix = table[-1]
    return f"{value / scale:.{digits}g} {prefix}{unit}"


def count(value: float) -> str:
    return f"{value:,.0f}"


def usd(value: float, sign: str = "$") -> str:
    """Dollars: whole dollars from $100 up, three significant figures below (small sums keep their cents)."""
    return sign + (f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}")
