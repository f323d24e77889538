"""A step as a Gantt chart: one row per pipeline stage, forwards and backwards, then what the step waits for."""

from dojosim.perf.schedule import StepTimeline
from dojosim.report.units import si

COLOURS = {"F": "#3b6ea8", "B": "#e08a2c", "dp": "#999999", "opt": "#6a9a3b"}


def timeline_svg(timeline: StepTimeline, title: str) -> str:
    width, row, left, top = 900, 26, 70, 40
    height = top + row * timeline.stages + 50
    scale = (width - left - 20) / max(timeline.end_s, 1e-12)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="11"><text x="{left}" y="16" font-size="13">{title}</text>'
    ]
    for stage in range(timeline.stages):
        parts.append(f'<text x="4" y="{top + stage * row + 16}">stage {stage}</text>')
    for slot in timeline.slots:
        x, w = left + slot.start_s * scale, max(0.5, (slot.end_s - slot.start_s) * scale)
        y = top + slot.stage * row
        label = f"{'forward' if slot.kind == 'F' else 'backward'} of micro-batch {slot.micro_batch}"
        parts.append(
            f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 6}" fill="{COLOURS[slot.kind]}" '
            f'stroke="white" stroke-width="0.5"><title>{label}: {si(slot.start_s, "s")} to {si(slot.end_s, "s")}'
            "</title></rect>"
        )
    last = max((s.end_s for s in timeline.slots), default=0.0)
    for name, start, seconds in (
        ("dp", last, timeline.dp_tail_s),
        ("opt", last + timeline.dp_tail_s, timeline.optimizer_s),
    ):
        if seconds > 0:
            what = "exposed data-parallel communication" if name == "dp" else "optimizer step"
            parts.append(
                f'<rect x="{left + start * scale:.1f}" y="{top}" width="{max(0.5, seconds * scale):.1f}" '
                f'height="{row * timeline.stages - 6}" fill="{COLOURS[name]}"><title>{what}: {si(seconds, "s")}'
                "</title></rect>"
            )
    axis = top + row * timeline.stages + 14
    parts.append(f'<text x="{left}" y="{axis}">0</text>')
    parts.append(f'<text x="{width - 90}" y="{axis}">{si(timeline.end_s, "s")}</text>')
    legend = "blue: forward, orange: backward, grey: exposed data-parallel communication, green: optimizer"
    parts.append(f'<text x="{left}" y="{axis + 18}">{legend}</text>')
    parts.append("</svg>")
    return "\n".join(parts)
