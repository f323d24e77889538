"""Models from where users keep them: Hugging Face configs (`hf:`), a user's own factory (`python:`), and the
refusal of tensor-core work no formula counts."""

import json
from pathlib import Path

import pytest

from dojosim.errors import InputError
from dojosim.workload.cache import get_graph
from dojosim.workload.graph import OpKind
from dojosim.workload.op_kinds import kind_of, needs_formula
from dojosim.workload.spec import parse_model
from tests.cli_run import dojosim

DATA = Path(__file__).parent / "data" / "hf"
ROOT = Path(__file__).parent.parent

# Published sizes (configs/SOURCES.md): (total, active) parameters, in billions.
PUBLISHED = {"qwen3-30b-a3b": (30.5, 3.3), "deepseek-v3": (671.0, 37.0), "mixtral-8x7b": (46.7, 12.9)}

# Small configs of the architectures the issue names, a few layers each: (model_type, extra keys).
_LM = {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 4,
       "vocab_size": 128, "max_position_embeddings": 256}
TINY = {
    "llama": {**_LM, "num_key_value_heads": 2},
    "qwen2": {**_LM, "num_key_value_heads": 2},
    "qwen3": {**_LM, "num_key_value_heads": 2, "head_dim": 32},
    "qwen3_moe": {**_LM, "num_key_value_heads": 2, "head_dim": 32, "num_experts": 8, "num_experts_per_tok": 2,
                  "moe_intermediate_size": 32},
    "mixtral": {**_LM, "num_key_value_heads": 2, "num_local_experts": 4, "num_experts_per_tok": 2},
    "deepseek_v2": {**_LM, "num_key_value_heads": 4, "first_k_dense_replace": 1, "n_routed_experts": 8,
                    "n_shared_experts": 1, "num_experts_per_tok": 2, "moe_intermediate_size": 32, "kv_lora_rank": 16,
                    "q_lora_rank": 24, "qk_nope_head_dim": 16, "qk_rope_head_dim": 8, "v_head_dim": 16},
    "gemma2": {**_LM, "num_key_value_heads": 2, "head_dim": 16},
    "gemma3_text": {**_LM, "num_key_value_heads": 2, "head_dim": 16},
    "gpt_neox": {**_LM},
    "bert": {**_LM},
}


def _write(tmp_path: Path, model_type: str, values: dict) -> str:
    path = tmp_path / f"{model_type}.json"
    path.write_text(json.dumps({"model_type": model_type, **values}))
    return f"hf:{path}"


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("DOJOSIM_CACHE_DIR", str(tmp_path / "graphs"))


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_shipped_moe_configs_have_their_published_parameter_counts(name):
    total, active = PUBLISHED[name]
    graph = get_graph(f"hf:{name}", 1, 256, use_cache=False)
    assert graph.params / 1e9 == pytest.approx(total, rel=0.01)
    # Active counts are published to two figures (3.3, 37, 12.9): within the rounding, and below the total.
    assert graph.active_params() / 1e9 == pytest.approx(active, rel=0.02)
    assert graph.summary()["active_params"] == graph.active_params() < graph.params


def test_hf_llama_matches_the_zoo_llama_of_the_same_shape():
    hf = get_graph("hf:llama-3.1-8b", 1, 512, use_cache=False)
    ours = get_graph("llama3-8b", 1, 512, use_cache=False)
    assert hf.params == ours.params == 8_030_261_248
    assert hf.flops_by_phase()["fwd"] == pytest.approx(ours.flops_by_phase()["fwd"], rel=1e-3)


@pytest.mark.parametrize("model_type", sorted(TINY))
def test_small_configs_of_each_known_architecture_capture(tmp_path, model_type):
    graph = get_graph(_write(tmp_path, model_type, TINY[model_type]), 2, 32, use_cache=False)
    assert graph.layers == 4 and graph.flops_by_kind()["matmul"] > 0
    experts = TINY[model_type].get("num_experts") or TINY[model_type].get("n_routed_experts") or 0
    assert (graph.active_params() < graph.params) == bool(experts or TINY[model_type].get("num_local_experts"))


@pytest.mark.parametrize("model_type,values", [
    ("vit", {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 4,
             "image_size": 32, "patch_size": 8}),
    ("videomae", {"hidden_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_hidden_layers": 4,
                  "image_size": 32, "patch_size": 8, "num_frames": 4, "tubelet_size": 2}),
])
def test_vision_and_video_configs_capture_without_a_sequence(tmp_path, model_type, values):
    spec = parse_model(_write(tmp_path, model_type, values))
    assert not spec.has_sequence
    graph = get_graph(spec, 2, use_cache=False)
    assert graph.flops_by_kind()["matmul"] > 0 and graph.tokens_per_sample == 1


def test_dense_first_layers_grow_to_the_same_graph_as_a_full_capture():
    # DeepSeek's first layer is dense, the rest routed: the template is the first routed block, not block 1.
    model = f"hf:{DATA / 'tiny-deepseek-v3.json'}"
    grown = get_graph(model, 2, 32, use_cache=False)
    full = get_graph(model, 2, 32, use_cache=False, full=True)
    assert grown.meta["captured_blocks"] == 4 < full.meta["captured_blocks"] == 6
    assert grown.params == full.params and grown.param_counts == full.param_counts
    assert grown.flops_by_phase() == pytest.approx(full.flops_by_phase(), rel=1e-9)
    assert len(grown.ops) == len(full.ops)


def test_a_config_is_named_by_its_path_and_its_content(tmp_path):
    path = Path(_write(tmp_path, "llama", TINY["llama"])[3:])
    first = parse_model(f"hf:{path}")
    assert parse_model(first.text) == first  # the canonical text parses back to the same model
    with pytest.raises(InputError, match="no config.json"):
        parse_model(f"hf:{tmp_path}")  # a folder is read through its config.json: none here
    (tmp_path / "config.json").write_text(path.read_text())
    assert parse_model(f"hf:{tmp_path}") != first  # the same values at another path: another model
    path.write_text(json.dumps({"model_type": "llama", **TINY["llama"], "vocab_size": 256}))
    assert parse_model(f"hf:{path}") != first  # an edited config is another model (and another cache entry)


def test_bad_configs_fail_with_one_line_naming_what(tmp_path):
    with pytest.raises(InputError, match="no config.json at 'meta-llama/Llama-3.1-8B'.*nothing is downloaded"):
        parse_model("hf:meta-llama/Llama-3.1-8B")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(InputError, match="not a readable JSON config"):
        parse_model(f"hf:{tmp_path}")
    with pytest.raises(InputError, match="has no architecture 'no_such_arch'"):
        get_graph(_write(tmp_path, "no_such_arch", TINY["llama"]), 1, 16, use_cache=False)


def test_python_factory_captures_from_the_repo_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    ran = dojosim("capture", "--model", "python:examples.my_net:build", "--global-batch", "4", "--json")
    assert ran.code == 0, ran.stderr
    doc = json.loads(ran.stdout)
    # conv 3->32 (3x3, +bias), BN 32, conv 32->64 (3x3, +bias), BN 64, linear 64->10: a hand count.
    assert doc["params"] == (32 * 27 + 32) + 64 + (64 * 32 * 9 + 64) + 128 + (64 * 10 + 10)
    assert doc["flops_by_kind"]["conv"] > 0 and doc["input"] == {"batch": 4}


def test_python_factory_errors_name_the_module_or_function(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert "no module 'examples.nope'" in dojosim("capture", "--model", "python:examples.nope:build").stderr
    assert "has no function 'nope'" in dojosim("capture", "--model", "python:examples.my_net:nope").stderr
    assert "expected python:MODULE:FUNCTION" in dojosim("capture", "--model", "python:oops").stderr


UNCOUNTED = '''
import torch


class IntGemm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(32, 32)

    def forward(self, x, a, b):
        return self.proj(x) + torch._int_mm(a, b).float().mean()


def build(batch, seq=None):
    a = torch.randint(-8, 8, (32, 32), dtype=torch.int8)
    return IntGemm(), (torch.randn(batch, 32), a, a.clone())
'''


def test_tensor_core_work_with_no_formula_is_listed_not_counted_as_zero(tmp_path, monkeypatch):
    assert kind_of("_grouped_mm") == OpKind.MATMUL
    assert needs_formula("_int_mm", OpKind.ELEMENTWISE) and not needs_formula("mul", OpKind.ELEMENTWISE)
    (tmp_path / "uncounted_net.py").write_text(UNCOUNTED)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(InputError, match=r"no FLOP formula for aten\._int_mm"):
        get_graph("python:uncounted_net:build", 16, use_cache=False)
