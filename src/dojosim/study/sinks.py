"""Writing a search down: JSON lines as results finish (Ctrl-C or a crash loses nothing and `--resume`
carries on), and the finished set as Parquet for analysis."""

import json
from pathlib import Path
from typing import Any

from dojosim.errors import InputError
from dojosim.study.search import PlanResult, SearchSpec

QUESTION_FILE = "question.json"


def check_question(folder: Path, question: dict[str, Any], resume: bool, done_file: str) -> None:
    """Record what a study in `folder` answers; on resume, refuse results written for another question (the
    rows would be mixed in silently). A folder written before this record existed resumes as it always did."""
    path = folder / QUESTION_FILE
    if resume and path.exists():
        before = json.loads(path.read_text())
        differ = [f"{k}: {before.get(k)!r} there, {v!r} now" for k, v in question.items() if before.get(k) != v]
        if differ:
            raise InputError(
                f"--resume: {folder / done_file} holds results of another question ({'; '.join(differ)}); "
                "drop --resume to start again, or choose another --out"
            )
    path.write_text(json.dumps(question, indent=1) + "\n")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """The finished records; a last line cut short (an interrupt in mid-write) is not one."""
    if not path.exists():
        return []
    text = path.read_text()
    lines = text.splitlines() if text.endswith("\n") else text.splitlines()[:-1]
    return [json.loads(line) for line in lines if line.strip()]


class FolderSink:
    """plans.jsonl and plans.parquet in a folder; with `resume`, the rows already in plans.jsonl count as done."""

    def __init__(self, folder: Path, resume: bool = False):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.jsonl = self.folder / "plans.jsonl"
        self.parquet = self.folder / "plans.parquet"
        self.resume = resume
        if not resume:
            self.jsonl.unlink(missing_ok=True)
        self._file = None

    def done(self, spec: SearchSpec) -> list[PlanResult]:
        check_question(self.folder, spec.question(), self.resume, self.jsonl.name)
        return [PlanResult.from_row(spec, row) for row in read_jsonl(self.jsonl)]

    def write(self, results: list[PlanResult]) -> None:
        if self._file is None:
            self._file = self.jsonl.open("a")
        for r in results:
            self._file.write(json.dumps(r.to_row()) + "\n")
        self._file.flush()

    def stop(self) -> None:
        """Close plans.jsonl, so that every line written is on disk (after Ctrl-C, before counting them)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self, results: list[PlanResult]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.stop()
        tmp = self.parquet.with_name(self.parquet.name + ".part")
        pq.write_table(pa.Table.from_pylist([r.to_row() for r in results]), tmp)
        tmp.replace(self.parquet)
