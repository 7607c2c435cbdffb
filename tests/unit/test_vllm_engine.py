"""The shared vLLM engine and its eval/RL adapters, against a fake `vllm` module (no vLLM, no GPU)."""
import importlib.machinery
import sys
import types
from types import SimpleNamespace

import pytest
import torch

from octothinker.eval import backends
from octothinker.eval.backends import Sampling, make_backend
from octothinker.eval.generation import Completion
from octothinker.model.vllm_engine import VLLMEngine
from octothinker.rl.rollout import Rollouts, VLLMBackend as RLBackend


def _out(prompt_ids, *comps):
    return SimpleNamespace(prompt_token_ids=prompt_ids,
                           outputs=[SimpleNamespace(text=t, token_ids=ids, finish_reason=r) for t, ids, r in comps])


@pytest.fixture
def fake_vllm(monkeypatch):
    """A `vllm` module whose LLM records its settings and calls and returns `calls["outputs"]`."""
    calls = {"init": [], "generate": [], "loaded": [], "rpc": 0, "reset": 0, "outputs": []}

    class SamplingParams:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    class FakeModel:
        def load_weights(self, weights):
            calls["loaded"].append([name for name, _ in weights])

    class LLM:
        def __init__(self, **kwargs):
            calls["init"].append(kwargs)
            runner = SimpleNamespace(model_runner=SimpleNamespace(model=FakeModel()))
            self.worker = runner
            self.llm_engine = SimpleNamespace(model_executor=SimpleNamespace(driver_worker=runner))

        def generate(self, prompts, params, use_tqdm=True):
            calls["generate"].append((prompts, params.kwargs, use_tqdm))
            return calls["outputs"]

        def collective_rpc(self, fn):
            calls["rpc"] += 1
            return [fn(self.worker)]

        def reset_prefix_cache(self):
            calls["reset"] += 1

    mod = types.ModuleType("vllm")
    mod.__spec__ = importlib.machinery.ModuleSpec("vllm", None)
    mod.LLM, mod.SamplingParams = LLM, SamplingParams
    monkeypatch.setitem(sys.modules, "vllm", mod)
    return calls


def test_eval_backend_returns_completions(fake_vllm, monkeypatch):
    monkeypatch.setattr(backends, "cuda_available", lambda: True)
    backend = make_backend("vllm", "/m/dir", seed=4)
    assert backend.name == "vllm"
    init = fake_vllm["init"][0]
    assert (init["model"], init["seed"], init["enable_prefix_caching"]) == ("/m/dir", 4, True)
    fake_vllm["outputs"] = [_out([1, 2], ("7.\n\nQ: next", [5, 6, 7], "stop"), ("8 and", [5, 9], "length")),
                            _out([3], ("ok", [4], "stop"), ("", [], "stop"))]
    s = Sampling(max_new_tokens=3, temperature=0.7, top_p=0.9, n=2, seed=11, stop=("\n\nQ:",))
    got = backend.generate(["a", "b"], s)
    assert got == [[Completion("7.", 3, False), Completion("8 and", 2, True)],
                   [Completion("ok", 1, False), Completion("", 0, False)]]
    prompts, kwargs, use_tqdm = fake_vllm["generate"][0]
    assert prompts == ["a", "b"] and use_tqdm is False
    assert kwargs == {"n": 2, "max_tokens": 3, "temperature": 0.7, "top_p": 0.9, "stop": ["\n\nQ:"], "seed": 11,
                      "include_stop_str_in_output": False, "skip_special_tokens": True}


def test_rl_backend_returns_rollouts(fake_vllm):
    backend = RLBackend("/policy/0")
    init = fake_vllm["init"][0]
    assert (init["gpu_memory_utilization"], init["dtype"], init["enable_prefix_caching"]) == (0.4, "bfloat16", True)
    fake_vllm["outputs"] = [_out((1, 2), ("x", (5, 6), "stop"), ("yz", (7, 8, 9), "length")),
                            _out((3,), ("w", (4,), "stop"), ("", (2,), "stop"))]
    ro = backend.sample(None, ["p", "q"], 2, 3, 0.0, 0.5, None, None)
    assert ro == Rollouts([[1, 2], [1, 2], [3], [3]], [[5, 6], [7, 8, 9], [4], [2]], ["x", "yz", "w", ""],
                          [False, True, False, False])
    _, kwargs, _ = fake_vllm["generate"][0]
    got = (kwargs["n"], kwargs["max_tokens"], kwargs["temperature"], kwargs["top_p"], kwargs["stop"])
    assert got == (2, 3, 0.0, 1.0, [])
    assert "seed" not in kwargs


def test_sync_weights_loads_every_parameter(fake_vllm):
    policy = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.LayerNorm(3))
    names = list(policy.state_dict())
    backend = RLBackend("/policy/0")
    backend.sync_weights(policy)
    assert fake_vllm["loaded"] == [names] and len(names) == 4 and fake_vllm["reset"] == 1
    engine = VLLMEngine("/policy/0")
    del engine.llm.llm_engine.model_executor.driver_worker  # engines without an in-process worker: through RPC
    engine.sync_weights(policy)
    assert fake_vllm["rpc"] == 1 and fake_vllm["loaded"][-1] == names and fake_vllm["reset"] == 2


def test_missing_vllm_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)
    with pytest.raises(RuntimeError, match=r"`vllm` package and a CUDA GPU.*/some/model"):
        VLLMEngine("/some/model")
    with pytest.raises(RuntimeError, match="`vllm` package"):
        RLBackend("/some/model")
