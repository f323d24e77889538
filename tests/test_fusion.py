"""Kernel modes (perf/fusion.py) against hand counts: fused chains keep FLOPs, drop the intermediate's write and
read-back, and run as fewer kernels."""

import pytest

from dojosim.errors import InputError
from dojosim.perf.fusion import fused_graph
from dojosim.stack import KernelMode, load_stack, with_kernel_mode
from dojosim.workload.graph import Graph, Op, OpKind, Phase

BF16 = 2  # bytes per element


def _op(name, kind, module, ins, outs, read, written, flops=0.0, phase=Phase.FWD):
    return Op(name, kind, phase, flops, read, written, ins, outs, "bf16", module, True)


def _graph(ops):
    return Graph("hand", {}, ops, 0, 0, 0, 0, "adamw", 2, 1)


def _totals(graph):
    ops = [op for op in graph.ops if op.kind != OpKind.VIEW]
    return sum(op.flops for op in ops), sum(op.bytes_read + op.bytes_written for op in ops), len(ops)


def conv_bn_relu():
    """x (2,4,8,8) -> 1x1 conv to 8 channels -> batch-norm (with its scalar step counter) -> ReLU."""
    x, y, w, c = (2, 4, 8, 8), (2, 8, 8, 8), (8, 4, 1, 1), (8,)
    return _graph([
        _op("aten.convolution", OpKind.CONV, "net.conv", (x, w), (y,), (512 + 32) * BF16, 1024 * BF16, 8192.0),
        _op("aten.add_", OpKind.NORM, "net.bn", ((),), ((),), 8.0, 8.0),
        _op("aten.native_batch_norm", OpKind.NORM, "net.bn", (y, c, c), (y,), (1024 + 16) * BF16, 1024 * BF16, 5120.0),
        _op("aten.relu", OpKind.ELEMENTWISE, "net", (y,), (y,), 1024 * BF16, 1024 * BF16, 1024.0),
    ])  # fmt: skip


def transformer_block():
    """norm -> fc1 -> GELU -> fc2 -> residual add -> softmax, tokens (4, 16), MLP width 64."""
    t, h = (4, 16), (4, 64)
    return _graph([
        _op("aten.native_layer_norm", OpKind.NORM, "blk.norm", (t, (16,)), (t,), 160.0, 128.0, 320.0),
        _op("aten.mm", OpKind.MATMUL, "blk.fc1", (t, (16, 64)), (h,), 2176.0, 512.0, 8192.0),
        _op("aten.gelu", OpKind.ELEMENTWISE, "blk.act", (h,), (h,), 512.0, 512.0, 2048.0),
        _op("aten.mm", OpKind.MATMUL, "blk.fc2", (h, (64, 16)), (t,), 2560.0, 128.0, 8192.0),
        _op("aten.add", OpKind.ELEMENTWISE, "blk", (t, t), (t,), 256.0, 128.0, 64.0),
        _op("aten._softmax", OpKind.SOFTMAX, "blk.probs", (t,), (t,), 128.0, 128.0, 320.0),
    ])  # fmt: skip


def test_conv_bn_relu_by_hand():
    eager_flops, eager_bytes, eager_ops = _totals(conv_bn_relu())
    # conv 1088 + 2048, step counter 16, BN 2080 + 2048, ReLU 2048 + 2048
    assert (eager_flops, eager_bytes, eager_ops) == (14336.0, 11376.0, 4)
    for mode in (KernelMode.FRAMEWORK, KernelMode.COMPILED):
        # One kernel reads x, the weights and BN's scale/shift (1120 B) and writes the activation (2048 B).
        assert _totals(fused_graph(conv_bn_relu(), mode)) == (14336.0, 16.0 + 1120.0 + 2048.0, 2)


def test_transformer_block_by_hand():
    graph = transformer_block()
    # norm 288, fc1 2688, GELU 1024, fc2 2688, add 384, softmax 256
    assert _totals(graph) == (19136.0, 7328.0, 6)
    # fc1+GELU drops h's write and read-back (1024 B), fc2+add drops one (4,16) round trip (256 B);
    # softmax stays its own kernel.
    assert _totals(fused_graph(graph, KernelMode.FRAMEWORK)) == (19136.0, 7328.0 - 1024.0 - 256.0, 4)
    # torch.compile also folds the softmax into the fc2 chain (another 256 B).
    assert _totals(fused_graph(graph, KernelMode.COMPILED)) == (19136.0, 7328.0 - 1024.0 - 512.0, 3)
    assert fused_graph(graph, KernelMode.EAGER) is graph


def block_boundary_backward():
    """Backward across two residual blocks, y = (2,8,8,8): the next block's conv1 gradient (input and weight
    gradients), the shortcut's gradient added to it, then this block's output ReLU and batch-norm gradients."""
    y, w, c = (2, 8, 8, 8), (8, 8, 1, 1), (8,)
    bwd = Phase.BWD
    return _graph([
        _op("aten.convolution_backward", OpKind.CONV, "net.block2.conv1", (y, y, w), (y, w),
            (1024 + 1024 + 64) * BF16, (1024 + 64) * BF16, 32768.0, bwd),
        _op("aten.add", OpKind.ELEMENTWISE, "net.block2", (y, y), (y,), 2048 * BF16, 1024 * BF16, 1024.0, bwd),
        _op("aten.threshold_backward", OpKind.ELEMENTWISE, "net.block1", (y, y), (y,), 2048 * BF16, 1024 * BF16,
            1024.0, bwd),
        _op("aten.native_batch_norm_backward", OpKind.NORM, "net.block1.bn3", (y, y, c), (y, c),
            (2048 + 8) * BF16, (1024 + 8) * BF16, 5120.0, bwd),
    ])  # fmt: skip


def test_the_gradient_crosses_a_block_boundary_as_one_kernel_by_hand():
    graph = block_boundary_backward()
    # conv 4224 + 2176, add 4096 + 2048, ReLU 4096 + 2048, BN 4112 + 2064
    assert _totals(graph) == (39936.0, 24864.0, 4)
    # cuDNN's dgrad + dReLU + dBN (and its BN-add-activation backward) run the chain as one kernel: each of the
    # three (2,8,8,8) intermediates is neither written nor read back (3 x 4096 B); the weight gradient stays.
    fused = fused_graph(graph, KernelMode.FRAMEWORK)
    assert _totals(fused) == (39936.0, 24864.0 - 3 * 4096.0, 1)
    assert fused.ops[0].bytes_written == (1024 + 64 + 8) * BF16


def test_chain_stops_at_another_module_pass_or_shape():
    t = (4, 16)
    graph = _graph([
        _op("aten.mm", OpKind.MATMUL, "a.fc", (t, (16, 16)), (t,), 640.0, 128.0, 2048.0),
        _op("aten.gelu", OpKind.ELEMENTWISE, "b.c.act", (t,), (t,), 128.0, 128.0),  # an unrelated module
        _op("aten.relu", OpKind.ELEMENTWISE, "b.c.act", ((4, 8),), ((4, 8),), 64.0, 64.0),  # another shape
        _op("aten.relu", OpKind.ELEMENTWISE, "b.c.act", ((4, 8),), ((4, 8),), 64.0, 64.0, phase=Phase.BWD),
    ])  # fmt: skip
    assert fused_graph(graph, KernelMode.COMPILED).ops == graph.ops


def test_kernel_mode_from_stack_and_option():
    stack = load_stack("megatron-core-2024")
    assert stack.kernels is KernelMode.EAGER  # kept eager-equivalent (see the preset's source)
    assert with_kernel_mode(stack, "framework").kernels is KernelMode.FRAMEWORK
    assert with_kernel_mode(stack, None) is stack
    with pytest.raises(InputError, match="--kernels: 'fused' is not one of compiled, eager, framework"):
        with_kernel_mode(stack, "fused")


def test_small_fsd_video_framework_halves_most_traffic():
    """A small fsd-video through the engine: same FLOPs, far fewer bytes and kernels under `framework`."""
    from dojosim.job import Job
    from dojosim.parallel.plan import ParallelPlan
    from dojosim.perf.jobs import engine_for

    model = "fsd-video(cameras=1,frames=2,height=64,width=96,bev=16,channels=32)"
    plan = ParallelPlan(devices=1, global_batch=1)
    stack = load_stack()
    eager = engine_for(Job.of(model, "dgx-h100", plan, stack=stack)).profile
    framework = engine_for(Job.of(model, "dgx-h100", plan, stack=with_kernel_mode(stack, "framework"))).profile

    def moved(profile):
        return sum(c.bytes * c.count for c in profile.classes)

    def kernels(profile):
        return sum(c.count for c in profile.classes)

    assert framework.model_flops == pytest.approx(eager.model_flops, rel=1e-12)
    assert moved(framework) < 0.7 * moved(eager)
    assert kernels(framework) < 0.7 * kernels(eager)
