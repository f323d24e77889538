"""What-if hardware sweeps: the best plan at every point of a grid of figure overrides.

`--vary tile.offtile_bytes_per_s=9e12,18e12,36e12 --vary d1.sram_bytes_per_core=1.25e6,2.5e6` is six
hardware points; each gets a full plan search. Finished points are kept in points.jsonl, so an interrupted
sweep resumes where it stopped.
"""

import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dojosim.errors import InputError
from dojosim.hardware import load_system
from dojosim.study.search import OBJECTIVES, PlanResult, SearchSpec, search
from dojosim.study.sinks import FolderSink, check_question, read_jsonl


def parse_vary(texts: list[str]) -> list[tuple[str, list[str]]]:
    out = []
    for text in texts:
        path, eq, values = text.partition("=")
        items = [v.strip() for v in values.split(",") if v.strip()]
        if not eq or not path.strip() or not items:
            raise InputError(
                f"--vary '{text}': expected PART.FIELD=V1,V2,..., e.g. tile.offtile_bytes_per_s=9e12,18e12"
            )
        out.append((path.strip(), items))
    return out


def points_of(varies: list[tuple[str, list[str]]]) -> list[dict[str, str]]:
    names = [name for name, _ in varies]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(vals for _, vals in varies))]


@dataclass(frozen=True)
class SweepPoint:
    """One hardware point: its overrides and the best plan found there (or why there is none)."""

    point: dict[str, str]
    spec: SearchSpec  # the search at this point (the sweep's spec with the point's overrides)
    best: PlanResult | None = None
    costed: int = 0
    pruned_on_memory: int = 0
    error: str = ""

    def to_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"point": self.point}
        if self.best is None:
            return {**row, "error": self.error}
        return {**row, **self.best.to_row(), "costed": self.costed, "pruned_on_memory": self.pruned_on_memory}

    @classmethod
    def from_row(cls, spec: SearchSpec, row: dict[str, Any]) -> "SweepPoint":
        if "error" in row:
            return cls(row["point"], spec, error=row["error"])
        best = PlanResult.from_row(spec, row)
        return cls(row["point"], spec, best, row["costed"], row["pruned_on_memory"])


def _key(point: dict[str, str]) -> str:
    return json.dumps(point, sort_keys=True)


def _at(spec: SearchSpec, point: dict[str, str]) -> SearchSpec:
    return replace(spec, overrides=(*spec.overrides, *(f"{k}={v}" for k, v in point.items())))


def _search_point(spec: SearchSpec, point: dict[str, str], folder: Path, objective: str, **backend: Any) -> SweepPoint:
    try:
        found = search(spec, FolderSink(folder), **backend)
    except InputError as exc:
        return SweepPoint(point, spec, error=str(exc))
    return SweepPoint(point, spec, found.best(objective)[0], len(found.results), found.pruned_on_memory)


def run_sweep(
    spec: SearchSpec,
    varies: list[tuple[str, list[str]]],
    out_dir: Path,
    objective: str = "time",
    resume: bool = False,
    progress: Callable[[dict[str, str]], None] | None = None,
    **backend: Any,
) -> list[SweepPoint]:
    """The best plan by `objective` at every point; `backend` takes search's workers, backend, ray_address."""
    if objective not in OBJECTIVES:
        raise InputError(f"--objective: must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    points = points_of(varies)
    for point in points:  # every override must be valid before any search starts
        load_system(spec.system, _at(spec, point).overrides)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "points.jsonl"
    check_question(
        out_dir,
        {**spec.question(), "vary": [[part, values] for part, values in varies], "objective": objective},
        resume,
        log.name,
    )
    done = {}
    if resume:
        done = {_key(row["point"]): SweepPoint.from_row(_at(spec, row["point"]), row) for row in read_jsonl(log)}
    else:
        log.unlink(missing_ok=True)
    with log.open("a") as sink:
        for i, point in enumerate(points):
            if _key(point) in done:
                continue
            result = _search_point(_at(spec, point), point, out_dir / f"point-{i:03d}", objective, **backend)
            sink.write(json.dumps(result.to_row()) + "\n")
            sink.flush()
            done[_key(point)] = result
            if progress:
                progress(point)
    return [done[_key(p)] for p in points]
