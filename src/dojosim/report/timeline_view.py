"""A step as a Gantt chart: one row per pipeline stage, forwards and backwards, then what the step waits for."""

from typing import Any

from dojosim.perf.schedule import StepTimeline
from dojosim.report import plots

COLOURS = {"F": "#3b6ea8", "B": "#e08a2c", "dp": "#999999", "opt": "#6a9a3b"}
WHAT = {
    "F": "forward of a micro-batch",
    "B": "backward of a micro-batch",
    "dp": "exposed data-parallel communication",
    "opt": "optimizer step",
}


def timeline_svg(timeline: StepTimeline, title: str) -> str:
    """Time in seconds across, stages down; the exposed data-parallel tail and the optimizer span all stages.
    Each stage's forwards (backwards) are one group with id `slots-F-stage<i>` (`slots-B-...`), one bar each."""
    last = max((s.end_s for s in timeline.slots), default=0.0)
    tails = [("dp", last, timeline.dp_tail_s), ("opt", last + timeline.dp_tail_s, timeline.optimizer_s)]

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for kind in ("F", "B"):
            labelled = False
            for stage in range(timeline.stages):
                mine = [s for s in timeline.slots if s.kind == kind and s.stage == stage]
                spans = [(s.start_s, s.end_s - s.start_s) for s in mine]
                if spans:
                    ax.broken_barh(spans, (stage - 0.4, 0.8), facecolors=COLOURS[kind], edgecolor="white",
                                   linewidth=0.4, label=None if labelled else WHAT[kind],
                                   gid=f"slots-{kind}-stage{stage}")  # fmt: skip
                    labelled = True
        for name, start, seconds in tails:
            if seconds > 0:
                ax.broken_barh([(start, seconds)], (-0.4, timeline.stages - 0.2), facecolors=COLOURS[name],
                               label=WHAT[name], gid=f"tail-{name}")  # fmt: skip
        ax.set_xlim(0, max(timeline.end_s, 1e-12))
        ax.set_ylim(timeline.stages - 0.5, -0.5)
        ax.set_yticks(range(timeline.stages), [f"stage {i}" for i in range(timeline.stages)])
        ax.set_xlabel("seconds from the start of the step")
        ax.set_title(title, loc="left")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=4)

    return plots.svg_of(draw, title, (9.0, 1.6 + 0.28 * timeline.stages))
