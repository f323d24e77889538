"""The llama(...)/moe(...) grammar's shapes of today's LMs: head_dim, qk_norm, shared experts, expert FFN width,
dense-first layers and MLA ranks, checked against the Hugging Face models of the same configs and by hand."""

import pytest

from dojosim.errors import InputError
from dojosim.workload.builders import step_spec
from dojosim.workload.capture import capture
from dojosim.workload.graph import Graph, Phase
from dojosim.workload.spec import parse_model

QWEN3_30B_A3B = (
    "moe(layers=48,hidden=2048,heads=32,kv_heads=4,head_dim=128,qk_norm=1,experts=128,top_k=8,expert_ffn=768,"
    "ffn=6144,vocab=151936,rope_theta=1000000)"
)
DEEPSEEK_V3 = (
    "moe(layers=61,hidden=7168,heads=128,ffn=18432,vocab=129280,experts=256,top_k=8,expert_ffn=2048,"
    "shared_experts=1,dense_layers=3,q_lora_rank=1536,kv_lora_rank=512,qk_rope_head_dim=64,qk_nope_head_dim=128,"
    "v_head_dim=128)"
)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "graphs"))


def _graph(model: str, batch: int = 1, seq: int | None = 256, full: bool = False) -> Graph:
    return capture(step_spec(model, batch, seq), full=full)


def _block_params(g: Graph) -> int:
    """Parameters of all repeated blocks (embedding, final norm and head left out)."""
    return sum(n for role, n in g.param_counts.items() if role.startswith(f"{g.block_path}.*"))


@pytest.mark.parametrize("spec, config", [(QWEN3_30B_A3B, "hf:qwen3-30b-a3b"), (DEEPSEEK_V3, "hf:deepseek-v3")])
def test_a_spec_written_as_a_config_has_its_parameters(spec, config):
    ours, theirs = _graph(spec), _graph(config)
    assert ours.params > 1e10  # the real sizes (30.5 B, 671 B), not a toy
    assert ours.params == pytest.approx(theirs.params, rel=0.01)
    assert _block_params(ours) == pytest.approx(_block_params(theirs), rel=0.01)
    # Routed experts are told apart from shared ones and from the dense-first MLPs: the active counts agree too.
    assert ours.active_params() == pytest.approx(theirs.active_params(), rel=0.01)


def test_head_dim_sets_the_attention_width_and_its_flops_by_hand():
    b, s, hidden, heads, kv_heads, head_dim = 2, 16, 64, 4, 2, 32  # heads * head_dim = 128 != hidden
    g = _graph(f"llama(layers=1,hidden={hidden},heads={heads},kv_heads={kv_heads},head_dim={head_dim},ffn=96,"
               "vocab=100)", b, s)
    fwd = [op for op in g.ops if op.phase == Phase.FWD]

    def flops(module: str) -> float:
        return sum(op.flops for op in fwd if op.module == module)

    tokens = b * s
    assert flops("layers.0.q_proj") == 2 * tokens * hidden * heads * head_dim
    assert flops("layers.0.k_proj") == flops("layers.0.v_proj") == 2 * tokens * hidden * kv_heads * head_dim
    assert flops("layers.0.o_proj") == 2 * tokens * heads * head_dim * hidden
    attention = [op for op in fwd if op.kind == "attention"]
    assert len(attention) == 1
    assert attention[0].flops == 2 * 2 * b * heads * s * s * head_dim  # QK^T and PV over every query head
    assert g.param_counts["layers.*.q_proj.weight"] == hidden * heads * head_dim


def test_qk_norm_is_one_rmsnorm_per_head_on_q_and_k():
    base = "llama(layers=2,hidden=64,heads=4,kv_heads=2,head_dim=32,ffn=96,vocab=100"
    plain, normed = _graph(base + ")", 1, 16), _graph(base + ",qk_norm=1)", 1, 16)
    assert normed.params - plain.params == 2 * 2 * 32  # two blocks, a weight of head_dim on q and on k
    for name in ("q_norm", "k_norm"):
        ops = [op for op in normed.ops if op.module == f"layers.0.{name}" and op.phase == Phase.FWD]
        assert [op.name for op in ops] == ["dojosim.rms_norm"]
        assert ops[0].in_shapes[0][-1] == 32  # over each head's width, not the hidden size


def test_dense_first_layers_and_shared_experts():
    spec = ("moe(layers=8,hidden=64,heads=4,ffn=256,vocab=100,experts=4,top_k=2,expert_ffn=32,shared_experts=2,"
            "dense_layers=2)")
    g = _graph(spec, 2, 16)
    h = 64
    dense_mlp, routed, shared = 3 * h * 256, 4 * 3 * h * 32, 3 * h * 2 * 32
    mlp = {role: n for role, n in g.param_counts.items() if ".mlp." in role}
    assert sum(mlp.values()) == 2 * dense_mlp + 6 * (routed + shared + 4 * h)  # 4 * h: each MoE block's router
    assert g.active_params() == g.params - 6 * routed // 2  # half the routed experts idle per token (top 2 of 4)


def test_dense_first_layers_grow_from_the_first_moe_block():
    spec = "moe(layers=9,hidden=64,heads=4,ffn=256,vocab=100,experts=4,top_k=2,expert_ffn=32,dense_layers=2)"
    step = step_spec(spec, 2, 16)
    assert step.template_block == 3
    grown, full = capture(step), capture(step, full=True)
    assert grown.meta["captured_blocks"] == 5 and full.meta["captured_blocks"] == 9
    assert grown.ops == full.ops
    for field in ("params", "param_bytes", "activation_bytes", "optimizer_state_bytes"):
        assert getattr(grown, field) == getattr(full, field), field


def test_latent_attention_has_deepseeks_projections_and_flops():
    b, s, h, heads = 1, 16, 64, 4
    ranks = dict(q_lora_rank=24, kv_lora_rank=16, qk_rope_head_dim=8, qk_nope_head_dim=16, v_head_dim=12)
    spec = f"llama(layers=1,hidden={h},heads={heads},ffn=96,vocab=100," + ",".join(f"{k}={v}" for k, v in
                                                                               ranks.items()) + ")"
    g = _graph(spec, b, s)
    qk = ranks["qk_rope_head_dim"] + ranks["qk_nope_head_dim"]
    attn = "layers.*.latent_attention"
    assert g.param_counts[f"{attn}.q_a_proj.weight"] == h * 24
    assert g.param_counts[f"{attn}.q_b_proj.weight"] == 24 * heads * qk
    assert g.param_counts[f"{attn}.kv_a_proj.weight"] == h * (16 + 8)  # the latent and the shared rotary key
    assert g.param_counts[f"{attn}.kv_b_proj.weight"] == 16 * heads * (16 + 12)
    assert g.param_counts[f"{attn}.o_proj.weight"] == heads * 12 * h
    (sdpa,) = [op for op in g.ops if op.phase == Phase.FWD and op.kind == "attention"]
    (sdpa_bwd,) = [op for op in g.ops if op.phase == Phase.BWD and op.kind == "attention"]
    # One fused kernel, never the (s, s) scores materialised; by hand, QK^T over the query-key width (24) and PV
    # over the value width (12): the zeros the CPU kernel pads the values with are not counted.
    assert sdpa.flops == 2 * b * heads * s * s * qk + 2 * b * heads * s * s * ranks["v_head_dim"]
    assert sdpa_bwd.flops == 2 * sdpa.flops
    assert not [op for op in g.ops if op.name == "aten.bmm"]  # the math path's QK^T and PV


@pytest.mark.parametrize(
    "spec, words",
    [
        ("gpt(layers=2,hidden=64,heads=4,vocab=100,head_dim=16)", ["unknown key 'head_dim'", "allowed:"]),
        ("llama(layers=2,hidden=64,heads=4,ffn=96,vocab=100,shared_experts=1)", ["unknown key 'shared_experts'"]),
        ("llama(layers=2,hidden=64,heads=4,ffn=96,vocab=100,qk_norm=2)", ["qk_norm", "0 or 1"]),
        ("llama(layers=2,hidden=64,heads=4,ffn=96,vocab=100,head_dim=-8)", ["head_dim", "> 0"]),
        ("llama(layers=2,hidden=64,heads=4,ffn=96,vocab=100,head_dim=15)", ["head_dim=15", "even"]),
        ("llama(layers=2,hidden=64,heads=4,ffn=96,vocab=100,kv_lora_rank=16)", ["MLA", "qk_rope_head_dim"]),
        ("llama(layers=2,hidden=64,heads=4,ffn=96,vocab=100,kv_lora_rank=16,qk_rope_head_dim=8,qk_nope_head_dim=8,"
         "v_head_dim=8,head_dim=16)", ["head_dim", "cannot be set with latent attention"]),
        ("moe(layers=2,hidden=64,heads=4,ffn=96,vocab=100,dense_layers=2)", ["dense_layers=2", "< layers=2"]),
        ("moe(layers=2,hidden=64,heads=4,ffn=96,vocab=100,expert_ffn=1.5)", ["expert_ffn", "whole number"]),
    ],
)
def test_bad_keys_get_one_line_naming_the_key(spec, words):
    with pytest.raises(InputError) as err:
        parse_model(spec)
    message = str(err.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_head_dim_frees_hidden_from_splitting_over_heads():
    assert parse_model("llama(layers=2,hidden=60,heads=4,head_dim=16,ffn=96,vocab=100)").params["head_dim"] == 16
    with pytest.raises(InputError, match="not divisible by heads"):
        parse_model("llama(layers=2,hidden=60,heads=8,ffn=96,vocab=100)")
