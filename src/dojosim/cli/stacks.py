"""`dojosim stacks`: the training-software presets a job can name with --stack."""

from dojosim.cli.app import CsvFlag, JsonFlag, app, emit, tables_console


@app.command("stacks")
def stacks_command(as_json: JsonFlag = False, as_csv: CsvFlag = False) -> None:
    """List the training-stack presets: fused kernels and overlaps, each figure with its source."""
    tables = tables_console(as_json, as_csv)
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
                "fp8_recipe": stack.fp8_recipe.value,
                "cuda_graphs": stack.cuda_graphs,
                "training_state": stack.training_state.value,
                "sources": stack.sources,
            }
        )
    if as_json:
        emit(rows)
    else:
        from dojosim.report.stack_view import print_stacks

        print_stacks(tables, rows)
