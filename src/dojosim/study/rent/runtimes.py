"""How long a job's step takes at the allocation it gets: the best plan found by the plan search (the same engine
as `dojosim simulate`), one search per (model, batch, sequence, system, devices) shape.

A search costs 0.1-5 s, so the simulation never searches: the table of every shape the drawn jobs can need is
computed first (with progress), kept on disk under the cache folder (`~/.cache/dojosim/rent`, or
`$DOJOSIM_CACHE_DIR/rent`) keyed by the shape and the system's figures, and the event loop only looks it up.
"""

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from dojosim.errors import InputError
from dojosim.hardware import load_system
from dojosim.perf.jobs import engine_for
from dojosim.study.search import SearchSpec, search

# A checkpoint holds what restarts training: bf16 weights (2 B), fp32 master weights (4 B) and AdamW's two fp32
# moments (8 B) per parameter, as mixed-precision training with Adam keeps them.
CHECKPOINT_BYTES_PER_PARAM = 14
TABLE_VERSION = 2  # bump when what a row means changes (2: plans may split feature maps and pipeline modules)


@dataclass(frozen=True)
class Shape:
    model: str  # canonical spec text
    global_batch: int
    seq: int | None
    system: str
    devices: int  # the allocation


@dataclass(frozen=True)
class Runtime:
    """The best plan at one shape, as the simulation needs it."""

    sample_time_s: float  # the best plan's step time over its global batch
    facility_w_per_device: float  # the step's energy over its time, per allocated device (PUE included)
    checkpoint_bytes: float
    devices_used: int  # the plan's devices: the whole allocation, or less where no plan fits the whole
    plan: str


def _cache_folder() -> Path:
    root = os.environ.get("DOJOSIM_CACHE_DIR")
    return Path(root) / "rent" if root else Path.home() / ".cache" / "dojosim" / "rent"


def _key(shape: Shape) -> str:
    system = repr(load_system(shape.system))  # the system's every figure: an edited preset is a new key
    text = json.dumps([TABLE_VERSION, asdict(shape), system], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _plan_text(plan: object) -> str:
    p = plan
    bands = f" bands{p.spatial}" if getattr(p, "spatial", 1) > 1 else ""
    return f"gb{p.global_batch} tp{p.tp} pp{p.pp} cp{p.cp}{bands} dp{p.dp} mb{p.micro_batch} zero{p.zero} {p.recompute}"  # type: ignore[attr-defined]


def _odd_part(n: int) -> int:
    while n % 2 == 0:
        n //= 2
    return n


def _attempts(shape: Shape) -> list[tuple[int, int]]:
    """(devices, global batch) to try, best first: the whole allocation, then half, then a quarter (the rest
    idles); each at the tenant's batch and at the batch rounded to a multiple of the allocation's odd factor
    (a Dojo cabinet's 300 D1 = 4 x 75: data parallelism over 75 needs a batch that 75 divides)."""
    tries = []
    for devices in (shape.devices, shape.devices // 2, shape.devices // 4):
        odd = _odd_part(devices) if devices else 1
        rounded = max(odd, round(shape.global_batch / odd) * odd)
        tries += [(devices, batch) for batch in dict.fromkeys((shape.global_batch, rounded)) if devices >= 1]
    return tries


def search_runtime(shape: Shape) -> Runtime | None:
    """The fastest plan at the allocation (see `_attempts` for what is tried where none fits); None when nothing
    runs the job."""
    for devices, batch in _attempts(shape):
        spec = SearchSpec(shape.model, shape.system, devices, batch, shape.seq)
        try:
            best = search(spec, workers=1).best("time")[0]
        except InputError:
            continue
        params = engine_for(spec.probe()).profile.params
        watts = best.energy_j / best.step_time_s / shape.devices
        return Runtime(
            best.step_time_s / batch, watts, params * CHECKPOINT_BYTES_PER_PARAM, devices, _plan_text(best.plan)
        )
    return None


class RuntimeTable:
    """Runtimes by shape: looked up in memory, then on disk, then searched (and written to disk)."""

    def __init__(self, rows: dict[Shape, Runtime | None] | None = None, disk: bool = True):
        self.rows: dict[Shape, Runtime | None] = dict(rows or {})
        self.disk = disk

    def get(self, shape: Shape) -> Runtime | None:
        if shape not in self.rows:
            self.rows[shape] = self._load_or_search(shape)
        return self.rows[shape]

    def _load_or_search(self, shape: Shape) -> Runtime | None:
        path = _cache_folder() / f"{_key(shape)}.json"
        if self.disk and path.exists():
            row = json.loads(path.read_text())
            return Runtime(**row) if row else None
        runtime = search_runtime(shape)
        if self.disk:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(runtime) if runtime else None))
        return runtime

    def fill(self, shapes: Iterable[Shape], progress: Callable[[int, int], None] | None = None) -> None:
        """Compute every shape not yet known, reporting (done, total) after each."""
        todo = sorted({s for s in shapes if s not in self.rows}, key=lambda s: (s.system, s.model, s.devices))
        for i, shape in enumerate(todo, 1):
            self.get(shape)
            if progress:
                progress(i, len(todo))
