"""Capture: real PyTorch steps under fake tensors, checked against published counts and formulas."""

import math

import pytest

from dojosim.errors import InputError
from dojosim.workload.builders import step_spec
from dojosim.workload.cache import get_graph
from dojosim.workload.capture import StepSpec, capture
from dojosim.workload.graph import Graph, OpKind, Phase
from dojosim.workload.spec import ModelSpec, parse_model


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "cache"))


def graph(model: str, batch: int = 1, seq: int | None = None, **kw) -> Graph:
    return capture(step_spec(model, batch, seq), **kw)


@pytest.mark.parametrize(
    "model, published, tolerance_pct",
    [
        ("llama2-7b", 6.74e9, 1.0),
        ("llama3-70b", 70.6e9, 1.0),
        ("gpt3-175b", 174.6e9, 1.0),
        ("resnet50", 25.6e6, 1.0),
        ("videomae-b", 86e6, 1.0),  # VideoMAE ViT-B with a 400-way Kinetics head: 86.5 M
        ("mixtral-8x7b", 46.7e9, 1.0),
        ("timesformer", 121.4e6, 1.0),
    ],
)
def test_parameter_counts_match_published(model, published, tolerance_pct):
    g = graph(model, seq=128 if parse_model(model).has_sequence else None)
    assert abs(g.params / published - 1) * 100 <= tolerance_pct, g.params


def _matmul_flops(g: Graph, phases=("fwd", "bwd")) -> float:
    return sum(op.flops for op in g.ops if op.phase in phases and op.kind in ("matmul", "attention"))


def test_gpt3_training_flops_match_megatrons_formula():
    b, s, layers, h, vocab = 2, 2048, 96, 12288, 50257
    g = graph("gpt3-175b", b, s)
    # Narayanan et al. (2021), without recompute: 72 B s l h^2 (1 + s/(6h) + V/(12 h l))
    megatron = 72 * b * s * layers * h**2 * (1 + s / (6 * h) + vocab / (12 * h * layers))
    assert _matmul_flops(g) == pytest.approx(megatron, rel=0.03)


@pytest.mark.parametrize("model", ["llama2-7b", "llama3-70b"])
def test_llama_training_flops_are_6n_per_token_plus_attention(model):
    b, s = 1, 4096
    g = graph(model, b, s)
    p = parse_model(model).params
    embedding = p["vocab"] * p["hidden"]  # a lookup, not a matmul
    attention = 12 * b * s**2 * p["hidden"] * p["layers"]  # QK^T and PV, forward and backward
    expected = 6 * (g.params - embedding) * b * s + attention
    assert _matmul_flops(g) == pytest.approx(expected, rel=0.03)


def test_forward_flops_of_resnet50_and_videomae_match_published_gmacs():
    # Published vision counts are multiply-accumulates: ResNet-50 4.09 G (torchvision), VideoMAE ViT-B
    # 180 G per 16x224x224 clip (Tong et al. 2022, Table 6).
    resnet = graph("resnet50", 1).flops_by_phase()["fwd"] / 2
    videomae = graph("videomae-b", 1).flops_by_phase()["fwd"] / 2
    assert resnet == pytest.approx(4.09e9, rel=0.05)
    assert videomae == pytest.approx(180e9, rel=0.05)


def test_phases_and_kinds_are_recorded():
    g = graph("llama(layers=2,hidden=256,heads=8,kv_heads=2,ffn=512,vocab=1000)", 2, 64)
    flops = g.flops_by_phase()
    assert flops["bwd"] == pytest.approx(2 * flops["fwd"], rel=0.05)
    assert 0 < flops["opt"] < 0.1 * flops["fwd"]
    kinds = {op.kind for op in g.ops}
    assert {"matmul", "attention", "norm", "embedding", "elementwise", "optimizer", "view"} <= kinds
    assert {op.phase for op in g.ops if op.kind == "optimizer"} == {"opt"}
    qproj = [op for op in g.ops if op.module == "layers.1.q_proj" and op.kind == "matmul"]
    assert [op.phase for op in qproj] == ["fwd", "bwd", "bwd"]  # forward; grad input and grad weight
    assert qproj[0].in_shapes == ((128, 256), (256, 256)) and qproj[0].dtype == "bfloat16"
    assert all(op.module.startswith(("layers.", "embed", "norm", "lm_head", "")) for op in g.ops)
    assert any(op.saved for op in g.ops if op.phase == "fwd")
    assert not any(op.saved for op in g.ops if op.phase != "fwd")
    # AdamW keeps two moments per parameter, in the parameters' dtype here
    assert g.optimizer_state_bytes == 2 * g.param_bytes
    assert g.activation_bytes > 0


def test_sgd_optimizer_option():
    g = graph("resnet50", 1, optimizer="sgd")
    assert g.optimizer == "sgd" and g.optimizer_state_bytes == g.param_bytes  # one momentum buffer


@pytest.mark.parametrize(
    "model, batch, seq",
    [
        ("llama(layers=6,hidden=256,heads=8,kv_heads=2,ffn=512,vocab=1000)", 2, 64),
        ("moe(layers=5,hidden=128,heads=4,kv_heads=2,ffn=256,vocab=500,experts=4,top_k=2)", 2, 32),
        ("gpt(layers=5,hidden=128,heads=4,vocab=500,positions=64)", 2, 64),
        ("videomae(layers=5,hidden=64,heads=2,ffn=128,frames=4,image=32)", 1, None),
    ],
)
def test_repeated_blocks_give_exactly_the_full_capture(model, batch, seq):
    spec = step_spec(model, batch, seq)
    grown, full = capture(spec), capture(spec, full=True)
    assert grown.meta["captured_blocks"] == 3 and full.meta["captured_blocks"] == spec.layers
    assert grown.ops == full.ops  # same ops, same order, same modules, shapes, FLOPs and bytes
    for field in ("params", "param_bytes", "activation_bytes", "optimizer_state_bytes"):
        assert getattr(grown, field) == getattr(full, field), field


def test_graph_round_trips_exactly(tmp_path):
    g = graph("gpt(layers=2,hidden=64,heads=2,vocab=100,positions=32)", 2, 32)
    path = tmp_path / "g.json.gz"
    g.save(path)
    assert Graph.load(path) == g
    assert not list(tmp_path.glob("*.part"))


def test_second_capture_comes_from_the_cache(monkeypatch):
    import dojosim.workload.capture as capture_module

    model = "llama(layers=2,hidden=64,heads=2,ffn=128,vocab=100)"
    first = get_graph(model, 1, 32)

    def fail(*_a, **_k):
        raise AssertionError("captured again instead of reading the cache")

    monkeypatch.setattr(capture_module, "capture", fail)
    assert get_graph(model, 1, 32) == first
    with pytest.raises(AssertionError):
        get_graph(model, 1, 64)  # a different input spec is a different key


def test_cache_key_depends_on_what_determines_the_graph():
    from dojosim.workload.cache import cache_key

    base = cache_key("llama2-7b", 1, 4096, "adamw", "bf16", False)
    assert base == cache_key(
        "llama(layers=32,hidden=4096,heads=32,kv_heads=32,ffn=11008,vocab=32000)", 1, 4096, "adamw", "bf16", False
    )
    assert base != cache_key("llama2-7b", 2, 4096, "adamw", "bf16", False)
    assert base != cache_key("llama2-7b", 1, 4096, "sgd", "bf16", False)


@pytest.mark.parametrize(
    "model, batch, seq, expected",
    [
        ("lama3-70b", 1, None, "did you mean 'llama3-70b'"),
        ("llama(layers=2,hidden=64,heads=2,ffn=128,vocab=100,experts=2)", 1, None, "unknown key 'experts' for llama"),
        ("llama(layers=2,hidden=64)", 1, None, "llama needs heads, ffn, vocab"),
        ("llama(layers=2,hidden=100,heads=3,ffn=8,vocab=10)", 1, None, "hidden=100 is not divisible by heads=3"),
        ("llama(layers=2,hidden=64,heads=4,kv_heads=3,ffn=8,vocab=10)", 1, None, "not divisible by kv_heads=3"),
        ("gpt(layers=two,hidden=64,heads=2,vocab=10)", 1, None, "layers=two is not a number"),
        ("llama2-7b", 0, None, "--batch: must be a whole number >= 1"),
        ("resnet50", 1, 128, "--seq: model 'resnet50' has no token sequence"),
        ("gpt(layers=2,hidden=64,heads=2,vocab=10,positions=512)", 1, 1024, "--seq 1024: gpt(.*) has 512 learned"),
        ("fsd-video(height=1000)", 1, None, "height=1000 must be a multiple of 32"),
        ("moe(layers=1,hidden=64,heads=2,ffn=64,vocab=10,experts=3,top_k=2)", 1, 4, "must split evenly over 3"),
    ],
)
def test_bad_workload_input(model, batch, seq, expected):
    with pytest.raises(InputError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        step_spec(model, batch, seq)


def test_a_model_that_breaks_under_fake_tensors_gets_one_clear_error():
    import torch

    class ReadsValues(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(4, 4)

        def forward(self, x):
            if x.sum().item() > 0:  # data-dependent control flow: fake tensors have no values
                return self.w(x)
            return x

    spec = StepSpec(
        "reads-values", lambda _l: ReadsValues(), lambda: torch.randn(2, 4), lambda m, b: m(b).sum(), 2, 1, {}
    )
    with pytest.raises(InputError, match="model 'reads-values' could not be captured under fake tensors"):
        capture(spec)


def test_unfused_attention_does_the_same_matmul_work_but_keeps_the_scores():
    fused = graph("gpt(layers=2,hidden=128,heads=4,vocab=500,positions=256)", 2, 256)
    unfused = graph("gpt(layers=2,hidden=128,heads=4,vocab=500,positions=256,unfused_attention=1)", 2, 256)
    assert _matmul_flops(unfused) == pytest.approx(_matmul_flops(fused), rel=0.01)
    assert not any(op.kind == "attention" for op in unfused.ops)
    scores = 2 * 4 * 256 * 256 * 2  # batch x heads x s x s, bf16, per layer
    assert unfused.activation_bytes > fused.activation_bytes + 2 * scores


def test_unfused_attention_passes_over_the_scores_as_megatron_did():
    # One fused scale-mask-softmax kernel and one dropout kernel each way; a CPU-style graph (mask fill, scale,
    # bernoulli, divide, multiply) would charge a pre-2023 Megatron run for passes its GPU never made.
    g = graph("gpt(layers=2,hidden=128,heads=4,vocab=500,positions=256,unfused_attention=1)", 2, 256)
    score_elems = 2 * 4 * 256 * 256  # batch x heads x s x s
    over_scores = [
        op.name.removeprefix("aten.")
        for op in g.ops
        if op.kind != "view" and any(math.prod(shape) == score_elems for shape in op.out_shapes)
    ]
    # Per layer: forward the score matmul, softmax, dropout; backward the probabilities' gradient matmul and
    # the two conjugates.
    per_layer = ["bmm", "_masked_softmax", "native_dropout", "bmm", "native_dropout_backward", "_softmax_backward_data"]
    assert sorted(over_scores) == sorted(per_layer * 2)


def test_unfused_attention_computes_the_same_causal_attention():
    import torch

    from dojosim.workload.models.transformer import GPT

    torch.manual_seed(0)
    unfused = GPT(2, 32, 4, 50, positions=16, fused_attention=False).eval()
    fused = GPT(2, 32, 4, 50, positions=16, fused_attention=True).eval()
    fused.load_state_dict(unfused.state_dict())
    tokens = torch.randint(0, 50, (2, 16))
    with torch.no_grad():
        assert torch.allclose(unfused(tokens), fused(tokens), atol=1e-4)


def test_rms_norm_is_one_fused_op_each_way_as_gpus_run_it():
    # Two norms per Llama block plus the final one: each one op forward and one backward, reading the input
    # and weight and writing the output and the per-row statistic, not a CPU chain of ~6 passes.
    g = graph("llama(layers=2,hidden=128,heads=4,kv_heads=2,ffn=256,vocab=500)", 2, 64)
    # (Backward also sums the residual's gradient with the norm's: an add that autograd places at the norm.)
    norms = [op for op in g.ops if op.kind == "norm" and op.name != "aten.add"]
    names = sorted(op.name for op in norms)
    assert names == sorted(["dojosim.rms_norm"] * 5 + ["dojosim.rms_norm_backward"] * 5)
    fwd = next(op for op in norms if op.phase == "fwd")
    x_bytes = 2 * 64 * 128 * 2  # bf16 activations
    assert fwd.bytes_read == pytest.approx(x_bytes + 128 * 2)
    assert fwd.bytes_written == pytest.approx(x_bytes + 2 * 64 * 4)  # output + fp32 rstd


def test_fused_rms_norm_matches_torch_rms_norm_forward_and_backward():
    import torch

    from dojosim.workload.models.transformer import FusedRMSNorm

    torch.manual_seed(0)
    fused, ref = FusedRMSNorm(16), torch.nn.RMSNorm(16, eps=1e-6)
    with torch.no_grad():
        fused.weight.uniform_()
        ref.weight.copy_(fused.weight)
    x = torch.randn(2, 5, 16, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    grad = torch.randn(2, 5, 16)
    fused(x).backward(grad)
    ref(x_ref).backward(grad)
    assert torch.allclose(fused(x), ref(x_ref), atol=1e-5)
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-5)
    assert torch.allclose(fused.weight.grad, ref.weight.grad, atol=1e-5)


def test_rope_is_one_fused_op_each_way_and_eager_kernels_are_kept_on_request():
    spec = "llama(layers=2,hidden=128,heads=4,kv_heads=2,ffn=256,vocab=500{})"
    fused, eager = graph(spec.format(""), 2, 64), graph(spec.format(",unfused_kernels=1"), 2, 64)
    names = [op.name for op in fused.ops]
    assert names.count("dojosim.rope") == 2 * 2 and names.count("dojosim.rope_backward") == 2 * 2  # q, k per layer
    assert not any(name.startswith("dojosim.") for name in (op.name for op in eager.ops))

    def pointwise_bytes(g: Graph) -> float:
        return sum(op.bytes_read + op.bytes_written for op in g.ops if op.kind in ("elementwise", "norm", "copy"))

    # Same matmul work; the eager graph moves the norm and rotation tensors several more times.
    assert _matmul_flops(eager) == pytest.approx(_matmul_flops(fused), rel=1e-6)
    assert pointwise_bytes(eager) > 1.5 * pointwise_bytes(fused)


def test_fused_rope_matches_apply_rope_forward_and_backward():
    import torch

    from dojosim.workload.models.transformer import apply_rope, rope_tables

    torch.manual_seed(0)
    cos, sin = (t.double() for t in rope_tables(5, 8, 10000.0, torch.device("cpu")))
    x = torch.randn(2, 3, 5, 8, dtype=torch.double, requires_grad=True)
    x_ref = x.detach().clone().requires_grad_()
    grad = torch.randn(2, 3, 5, 8, dtype=torch.double)
    out, ref = torch.ops.dojosim.rope(x, cos, sin), apply_rope(x_ref, cos, sin)
    out.backward(grad)
    ref.backward(grad)
    assert torch.allclose(out, ref) and torch.allclose(x.grad, x_ref.grad)


def test_with_switch_turns_on_a_family_switch_and_leaves_other_families_alone():
    eager = parse_model("llama2-7b").with_switch("unfused_kernels")
    assert eager.params["unfused_kernels"] == 1
    assert eager.params["layers"] == 32  # the zoo name's architecture, spelled out
    assert eager.name == eager.text and parse_model(eager.text) == eager
    assert eager.with_switch("unfused_kernels") is eager
    gpt = parse_model("gpt(layers=2,hidden=128,heads=4,vocab=500)")
    assert gpt.with_switch("unfused_kernels") is gpt  # GPT has no such switch
    assert gpt.with_switch("unfused_attention").params["unfused_attention"] == 1


def test_model_spec_is_parsed_once_and_hashed_by_its_canonical_text():
    named = parse_model("llama2-7b")
    spelled = parse_model("llama(layers=32,hidden=4096,heads=32,kv_heads=32,ffn=11008,vocab=32000)")
    assert named == spelled and hash(named) == hash(spelled) and len({named, spelled}) == 1
    assert named.name == "llama2-7b" and named.text == spelled.text  # the name takes no part in equality
    assert parse_model(named) is named
    # Equal by value: an explicit rope_theta=10000 is the default 10000.0 (the canonical texts differ).
    assert parse_model(spelled.text.replace("rope_theta=10000.0", "rope_theta=10000")) == named
    assert named.has_sequence and named.default_seq == 4096
    assert not parse_model("resnet50").has_sequence and parse_model("resnet50").default_seq is None
    assert isinstance(named, ModelSpec) and named != parse_model("llama2-13b")


def test_a_spec_or_its_name_gives_the_same_graph_and_key():
    from dojosim.workload.cache import cache_key

    model = "llama(layers=2,hidden=64,heads=2,ffn=128,vocab=100)"
    spec = parse_model(model)
    assert cache_key(spec, 1, 32, "adamw", "bf16", False) == cache_key(model, 1, 32, "adamw", "bf16", False)
    g = get_graph(spec, 1, 32)
    assert g.model == model and get_graph(model, 1, 32) == g


def test_kinds_and_phases_are_enums_that_survive_a_round_trip(tmp_path):
    g = graph("gpt(layers=1,hidden=64,heads=2,vocab=100,positions=32)", 1, 32)
    assert all(type(op.kind) is OpKind and type(op.phase) is Phase for op in g.ops)
    assert any(op.kind == "matmul" for op in g.ops)  # a StrEnum equals its value
    path = tmp_path / "g.json.gz"
    g.save(path)
    loaded = Graph.load(path)
    assert all(type(op.kind) is OpKind and type(op.phase) is Phase for op in loaded.ops)


def test_specs_graphs_and_op_kinds_import_without_torch():
    import subprocess
    import sys

    modules = "dojosim.workload, dojosim.workload.op_kinds, dojosim.workload.graph, dojosim.workload.zoo, "
    modules += "dojosim.workload.spec, dojosim.workload.cache, dojosim.workload.blocks"
    code = f"import sys, {modules}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_op_kinds_classify_by_name():
    from dojosim.workload.op_kinds import kind_of, vector_unit

    assert kind_of("mm") is OpKind.MATMUL and kind_of("_scaled_dot_product_flash_attention") is OpKind.ATTENTION
    assert kind_of("view") is OpKind.VIEW and kind_of("_softmax") is OpKind.SOFTMAX
    assert kind_of("_c10d_functional") is OpKind.COLLECTIVE and kind_of("add") is OpKind.ELEMENTWISE
    assert vector_unit("aten.gelu") == "transcendental" and vector_unit("bernoulli_") == "random"
    assert vector_unit("aten.add") == ""
