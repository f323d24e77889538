"""A number with where it came from and how far to trust it."""

from dataclasses import dataclass

# Most to least trusted. 'fitted' marks a knob fitted on half of the public validation rows (the other half
# reports its error: python -m dojosim.validation.fit); 'user' a value the user set for a what-if study.
STATUSES = ("sourced", "sourced-2nd", "estimate", "fitted", "user", "claimed", "projection")
_RANK = {status: rank for rank, status in enumerate(STATUSES)}


@dataclass(frozen=True)
class Figure:
    value: float
    source: str
    status: str

    def scaled(self, factor: float) -> "Figure":
        return Figure(self.value * factor, self.source, self.status)


def least_trusted(*statuses: str) -> str:
    """The confidence of a figure derived from figures of these statuses."""
    return max(statuses, key=_RANK.__getitem__) if statuses else "sourced"


def derived(value: float, how: str, *inputs: Figure | None) -> Figure:
    """A figure computed from others: its status is that of its least trusted input."""
    present = [f for f in inputs if f is not None]
    return Figure(value, f"derived: {how}", least_trusted(*(f.status for f in present)))
