"""Running the CLI in this process, with its streams captured: the fuzz test and the vocabulary tests run hundreds
of commands, and a subprocess each would cost a second of imports."""

import io
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass

from dojosim.cli import run

SMALL_MODEL = "llama(layers=2,hidden=64,heads=4,kv_heads=4,ffn=128,vocab=100)"


@dataclass(frozen=True)
class Ran:
    code: int
    stdout: str
    stderr: str


def dojosim(*args: str) -> Ran:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = run([str(a) for a in args])
    return Ran(code, out.getvalue(), err.getvalue())
