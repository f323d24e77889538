"""`dojosim stacks`: the training-software presets a job can name with --stack."""

from rich.console import Console

from dojosim.cli.app import JsonFlag, app, emit


@app.command("stacks")
def stacks_command(as_json: JsonFlag = False) -> None:
    """List the training-stack presets: fused kernels and overlaps, each figure with its source."""
    from dojosim.stack import DEFAULT_STACK, list_stacks, load_stack

    rows = []
    for name in list_stacks():
        stack = load_stack(name)
        rows.append(
            {
                "name": name,
                "default": name == DEFAULT_STACK,
                "summary": stack.summary,
                "attention": stack.attention.value,
                "pointwise": stack.pointwise.value,
                "optimizer": stack.optimizer.value,
                "overlap_grad_reduce": stack.overlap_grad_reduce,
                "overlap_param_gather": stack.overlap_param_gather,
                "tp_overlap": stack.tp_overlap.value,
                "reshard_after_forward": stack.reshard_after_forward.value,
                "sources": stack.sources,
            }
        )
    if as_json:
        emit(rows)
    else:
        from dojosim.report.stack_view import print_stacks

        print_stacks(Console(), rows)
