"""A step as a Gantt chart: per pipeline stage a row of forwards and backwards and, under it, the transfers the
stage's links carry (sends between stages, gradient buckets, weight gathers), then the update."""

from typing import Any

from dojosim.perf.timeline import COMPUTE, GRADIENTS, OPTIMIZER, SENDS, WEIGHTS, Timeline
from dojosim.report import plots

COLOURS = {
    "F": "#3b6ea8",
    "B": "#e08a2c",
    SENDS: "#8c6bb1",
    GRADIENTS: "#999999",
    WEIGHTS: "#4fa3a5",
    OPTIMIZER: "#6a9a3b",
}
WHAT = {
    "F": "forward of a micro-batch",
    "B": "backward of a micro-batch",
    SENDS: "send to the next stage",
    GRADIENTS: "gradient reduction (a bucket)",
    WEIGHTS: "weight all-gather",
    OPTIMIZER: "optimizer step",
}
TRANSFERS = (SENDS, GRADIENTS, WEIGHTS)


def timeline_svg(timeline: Timeline, title: str) -> str:
    """Time in seconds across, stages down. Each stage's forwards (backwards) are one group with id
    `slots-F-stage<i>` (`slots-B-...`), one bar each; its transfers of a kind one group `xfer-<kind>-stage<i>`
    on a thin row below it; what spans all stages (the update, a weight gather after it) `tail-<kind>`."""
    stages = timeline.stages
    labelled: set[str] = set()

    def label(kind: str) -> str | None:
        if kind in labelled:
            return None
        labelled.add(kind)
        return WHAT[kind]

    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        for stage in range(stages):
            for kind in ("F", "B"):
                spans = [(s.start_s, s.seconds) for s in timeline.of(kind, stage) if s.lane == COMPUTE]
                if spans:
                    ax.broken_barh(spans, (stage - 0.4, 0.55), facecolors=COLOURS[kind], edgecolor="white",
                                   linewidth=0.4, label=label(kind), gid=f"slots-{kind}-stage{stage}")  # fmt: skip
            for kind in TRANSFERS:
                spans = [(s.start_s, s.seconds) for s in timeline.of(kind, stage)]
                if spans:
                    ax.broken_barh(spans, (stage + 0.18, 0.2), facecolors=COLOURS[kind], edgecolor="white",
                                   linewidth=0.3, label=label(kind), gid=f"xfer-{kind}-stage{stage}")  # fmt: skip
        for s in timeline.spans:
            if s.stage < 0 and s.seconds > 0:
                ax.broken_barh([(s.start_s, s.seconds)], (-0.4, stages - 0.2), facecolors=COLOURS[s.kind],
                               label=label(s.kind), gid=f"tail-{s.kind}")  # fmt: skip
        ax.set_xlim(0, max(timeline.step_s, 1e-12))
        ax.set_ylim(stages - 0.5, -0.5)
        ax.set_yticks(range(stages), [f"stage {i}" for i in range(stages)])
        ax.set_xlabel("seconds from the start of the step")
        ax.set_title(title, loc="left")
        ax.grid(axis="y", visible=False)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncols=3)

    return plots.svg_of(draw, title, (9.0, 1.8 + 0.36 * stages))
