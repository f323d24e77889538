"""What-if hardware sweeps: the best plan at every point of a grid of figure overrides.

`--vary tile.offtile_bytes_per_s=9e12,18e12,36e12 --vary d1.sram_bytes_per_core=1.25e6,2.5e6` is six
hardware points; each gets a full plan search. Finished points are kept in points.jsonl, so an interrupted
sweep resumes where it stopped.
"""

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from dojosim.errors import InputError
from dojosim.hardware import load_system
from dojosim.perf.search import OBJECTIVES, PLAN_FIELDS, SearchSpec, run_search


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


def run_sweep(
    spec: SearchSpec,
    varies: list[tuple[str, list[str]]],
    out_dir: Path,
    objective: str = "time",
    resume: bool = False,
    workers: int | None = None,
    backend: str = "process",
    ray_address: str | None = None,
    progress: Callable[[dict[str, str]], None] | None = None,
) -> list[dict[str, Any]]:
    if objective not in OBJECTIVES:
        raise InputError(f"--objective: must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    points = points_of(varies)
    for point in points:  # every override must be valid before any search starts
        load_system(spec.system, [*spec.overrides, *(f"{k}={v}" for k, v in point.items())])
    out_dir.mkdir(parents=True, exist_ok=True)
    log = out_dir / "points.jsonl"
    done: dict[str, dict[str, Any]] = {}
    if resume and log.exists():
        for line in log.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                done[json.dumps(row["point"], sort_keys=True)] = row
    elif log.exists():
        log.unlink()
    key = OBJECTIVES[objective]
    with log.open("a") as sink:
        for i, point in enumerate(points):
            point_key = json.dumps(point, sort_keys=True)
            if point_key in done:
                continue
            point_spec = replace(spec, overrides=(*spec.overrides, *(f"{k}={v}" for k, v in point.items())))
            row: dict[str, Any] = {"point": point}
            try:
                result = run_search(
                    point_spec, out_dir / f"point-{i:03d}", workers=workers, backend=backend, ray_address=ray_address
                )
                best = min(result["rows"], key=lambda r: r[key])
                row.update(
                    {
                        k: best[k]
                        for k in (
                            *PLAN_FIELDS,
                            "dp",
                            "step_time_s",
                            "mfu",
                            "cost_usd",
                            "energy_j",
                            "memory_bytes",
                            "bottleneck",
                        )
                    }
                )
                row.update(costed=result["costed"], pruned_on_memory=result["pruned_on_memory"])
            except InputError as exc:
                row["error"] = str(exc)
            sink.write(json.dumps(row) + "\n")
            sink.flush()
            done[point_key] = row
            if progress:
                progress(point)
    return [done[json.dumps(p, sort_keys=True)] for p in points]


def sweep_svg(rows: list[dict[str, Any]], metric: str = "step_time_s", unit: str = "s") -> str:
    """A self-contained bar chart of the best plan's metric at each hardware point."""
    width, height, left, bottom = 760, 320, 70, 90
    values = [r.get(metric) for r in rows]
    top = max((v for v in values if v), default=1.0)
    bar = (width - left - 20) / max(1, len(rows))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><text x="{left}" y="16" font-size="13">best {metric} per hardware point</text>',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" stroke="#333"/>',
    ]
    for i, (row, value) in enumerate(zip(rows, values, strict=True)):
        x = left + i * bar + bar * 0.15
        label = ", ".join(f"{k.split('.')[-1]}={v}" for k, v in row["point"].items())
        if value:
            h = (height - bottom - 30) * value / top
            parts.append(
                f'<rect x="{x:.1f}" y="{height - bottom - h:.1f}" width="{bar * 0.7:.1f}" height="{h:.1f}" '
                f'fill="#3b6ea8"><title>{label}: {value:.4g} {unit}</title></rect>'
            )
            parts.append(f'<text x="{x:.1f}" y="{height - bottom - h - 4:.1f}">{value:.3g}</text>')
        parts.append(
            f'<text transform="translate({x + bar * 0.35:.1f},{height - bottom + 12}) rotate(30)">{label}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
