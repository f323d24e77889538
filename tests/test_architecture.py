"""The one-way flow of docs/architecture.md, checked: hardware, stack -> workload -> parallel -> job -> perf -> study /
validation -> report -> cli. An import against the flow (anywhere in a module, lazy imports included) fails
here, and so does torch loaded by importing a part that must work without it."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "dojosim"
BASE = {"__init__", "errors", "units"}  # the package root holds only __version__
# What each part may import besides itself; every part may import the base modules.
ALLOWED = {
    "errors": set(),
    "units": set(),
    "hardware": set(),
    "stack": set(),
    "workload": set(),
    "parallel": {"hardware"},
    "job": {"hardware", "stack", "workload", "parallel"},
    "perf": {"hardware", "stack", "workload", "parallel", "job"},
    "study": {"hardware", "stack", "workload", "parallel", "job", "perf"},
    "validation": {"hardware", "stack", "workload", "parallel", "job", "perf"},
    "report": {"hardware", "stack", "workload", "parallel", "job", "perf", "study", "validation"},
    "cli": {"hardware", "stack", "workload", "parallel", "job", "perf", "study", "validation", "report"},
}
# Parts that must import (and so run) without torch: the engine is used in sweeps on machines without it.
TORCH_FREE = ("hardware", "stack", "parallel", "job", "perf", "study", "report", "workload.graph", "workload.cache")


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else "__init__"


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        out.append((".".join(rel.parts).removesuffix(".__init__"), path))
    return out


def _imports(path: Path, module: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the package
                base = module.split(".")[: -node.level if not path.name == "__init__.py" else None]
                found.add(".".join([*base, node.module or ""]).rstrip("."))
            elif node.module:
                found.add(node.module)
    return {name for name in found if name == "dojosim" or name.startswith("dojosim.")}


def test_every_part_is_in_the_map():
    parts = {_part(m) for m, _ in _modules()} - {"__init__"}
    assert parts == set(ALLOWED), "a new part must be placed in the flow (here and in docs/architecture.md)"


def test_imports_follow_the_flow():
    against = []
    for module, path in _modules():
        part = _part(module)
        if part == "__init__":
            continue
        for target in _imports(path, module):
            to = _part(target)
            if to != part and to not in BASE and to not in ALLOWED[part]:
                against.append(f"{module} imports {target} ({part} -> {to})")
    assert not against, "imports against the flow:\n" + "\n".join(against)


def test_the_checker_sees_an_arrow_against_the_flow(tmp_path):
    """The check itself can fail: a hardware module that imports perf is reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from dojosim.perf.engine import Engine\n    return Engine\n")
    assert _imports(bad, "dojosim.hardware.bad") == {"dojosim.perf.engine"}
    assert "perf" not in ALLOWED["hardware"]


@pytest.mark.parametrize("part", TORCH_FREE)
def test_part_imports_without_torch(part):
    code = f"import sys, dojosim.{part}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False", f"importing dojosim.{part} loads torch"


def test_size_rules():
    """No function over 80 lines and no file over 400 lines under src/, unless its first line says why."""
    too_big = []
    for module, path in _modules():
        text = path.read_text()
        if text.startswith("# size-exception:"):
            continue
        if text.count("\n") > 400:
            too_big.append(f"{module}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 80:
                too_big.append(f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert not too_big, "\n".join(too_big)
