"""A user's own model: `--model python:MODULE:FUNCTION` names a factory, captured like any other model.

The protocol (as examples/my_net.py shows it): `FUNCTION(batch: int, seq: int | None)` returns `(module, inputs)`, an
`nn.Module` and its example inputs for one step of `batch` samples: a dict of keyword arguments or a tuple of
positional ones. dojosim calls it under fake tensors, so tensors it creates allocate nothing. The step's loss is
the output's `loss` where it has one (a transformers output, a dict), else the mean square of its first tensor.
Imports torch and the user's module.
"""

import importlib
from typing import Any

import torch

from dojosim.errors import InputError
from dojosim.workload.capture import StepSpec
from dojosim.workload.spec import ModelSpec


def _factory(spec: ModelSpec) -> Any:
    assert spec.origin is not None
    module_name, _, function = spec.origin.ref.rpartition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # the user's code: say what broke, once
        raise InputError(f"model '{spec.name}': importing {module_name} failed: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, function, None)
    if not callable(factory):
        raise InputError(f"model '{spec.name}': {module_name} has no function '{function}'")
    return factory


def _first_tensor(out: Any) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict):
        values = list(out.values())
    elif isinstance(out, (tuple, list)):
        values = list(out)
    else:
        values = [getattr(out, "loss", None), getattr(out, "logits", None)]
    return next((t for t in map(_first_tensor, values) if t is not None), None)


def user_loss(out: Any) -> torch.Tensor:
    """The output's own loss where it gives one, else the mean square of its first tensor (one reduction)."""
    loss = out.get("loss") if isinstance(out, dict) else getattr(out, "loss", None)
    if isinstance(loss, torch.Tensor):
        return loss
    first = _first_tensor(out)
    if first is None or not first.is_floating_point():
        raise InputError("python model: its output holds no floating-point tensor to train on")
    return first.float().square().mean()


def user_step(spec: ModelSpec, batch: int, seq: int | None) -> StepSpec:
    factory = _factory(spec)
    made: dict[str, Any] = {}

    def build(_layers: int | None) -> torch.nn.Module:
        result = factory(batch, seq)
        if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], torch.nn.Module)):
            raise InputError(f"model '{spec.name}': the factory must return (nn.Module, inputs)")
        made["inputs"] = result[1]
        return result[0]

    def loss(model: torch.nn.Module, inputs: Any) -> torch.Tensor:
        out = model(**inputs) if isinstance(inputs, dict) else model(*inputs)
        return user_loss(out)

    return StepSpec(
        spec.name,
        build,
        lambda: made["inputs"],
        loss,
        batch,
        seq or 1,
        {"batch": batch, "seq": seq} if seq else {"batch": batch},
    )
