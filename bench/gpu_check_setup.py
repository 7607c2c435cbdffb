"""bench/gpu_check.py's setup: the section list and time caps, the settings (full shapes, or tiny ones with --smoke)
and the models, tokenizers and data the sections build."""
from __future__ import annotations


import gc
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gpu_check_numerics import TOL

SECTIONS = ("device", "correctness", "midtrain", "rollout", "rl_step", "eval", "vllm")
CAPS_S = {"device": 20, "correctness": 50, "midtrain": 110, "rollout": 70, "rl_step": 70, "eval": 45, "vllm": 80}
LLAMA32_1B = "meta-llama/Llama-3.2-1B"
QWEN25_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                  num_key_value_heads=2, vocab_size=151936, max_position_embeddings=32768, tie_word_embeddings=True)
TINY_LM = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
               vocab_size=512, max_position_embeddings=512, tie_word_embeddings=True)
PAD, EOS, UNK = "<|pad|>", "<|endoftext|>", "<unk>"


@dataclass
class Settings:
    """Shapes and sizes of one run: the real ones on a GPU, tiny ones with `--smoke`."""

    device: str
    smoke: bool
    workdir: Path
    peak_tflops: float | None = None
    train_seq: int = 4096
    train_micro: int = 2
    train_warmup: int = 2
    train_steps: int = 5
    rl_prompts: int = 8
    rl_group: int = 8
    rl_max_tokens: int = 128
    roll_prompts: int = 32
    roll_group: int = 8
    roll_max_tokens: int = 256
    eval_prompts: int = 64
    eval_max_tokens: int = 128
    eval_batch: int = 32
    check_lengths: tuple = (40, 9, 23, 1)
    check_steps: int = 8
    caps: dict = field(default_factory=lambda: dict(CAPS_S))

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.device == "cuda" else torch.float32

    @property
    def tol(self) -> dict:
        return TOL[str(self.dtype).removeprefix("torch.")]


def make_settings(device: str, smoke: bool, workdir: Path, peak_tflops: float | None = None) -> Settings:
    """Full shapes, or (smoke) tiny ones that run every section in seconds on a CPU."""
    s = Settings(device=device, smoke=smoke, workdir=Path(workdir), peak_tflops=peak_tflops)
    if smoke:
        s.train_seq, s.train_micro, s.train_warmup, s.train_steps = 64, 2, 1, 2
        s.rl_prompts, s.rl_group, s.rl_max_tokens = 2, 4, 8
        s.roll_prompts, s.roll_group, s.roll_max_tokens = 4, 2, 8
        s.eval_prompts, s.eval_max_tokens, s.eval_batch = 4, 8, 2
        s.check_lengths, s.check_steps = (12, 5, 1), 4
    return s


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M"




# ---------------------------------------------------------------------------------------------- models and data
def word_tokenizer(vocab_size: int, texts: list[str] = ()):
    """A whitespace word-level tokenizer of exactly `vocab_size` ids (the texts' words, then fillers): every sampled id decodes to a word."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = [PAD, EOS, UNK]
    seen = set(words)
    for t in texts:
        for w in t.split():
            if w not in seen and len(words) < vocab_size:
                seen.add(w)
                words.append(w)
    words += [f"w{i}" for i in range(vocab_size - len(words))]
    raw = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token=UNK))
    raw.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=raw, pad_token=PAD, eos_token=EOS, unk_token=UNK,
                                   clean_up_tokenization_spaces=False)


def rl_records(n: int) -> list[dict]:
    from octothinker.config import ToyWorldConfig
    from octothinker.toyworld import rl_prompts

    return rl_prompts(ToyWorldConfig(rl_prompts=max(n, 8)))[:n]


def prompt_texts(n: int, template: str = "plain") -> list[str]:
    from octothinker.rl.templates import render

    return [render(template, r["question"]) for r in rl_records(n)]


def rl_tokenizer(s: Settings):
    from octothinker.rl.templates import render

    vocab = TINY_LM["vocab_size"] if s.smoke else QWEN25_05B["vocab_size"]
    recs = rl_records(max(s.rl_prompts, s.roll_prompts, s.eval_prompts))
    texts = [render(t, r["question"]) for r in recs for t in ("plain", "simple")]
    return word_tokenizer(vocab, texts)


def rl_model(s: Settings, tok, dtype: torch.dtype = torch.float32, seed: int = 0):
    """The ~0.5B Qwen2.5-0.5B-shaped random model (tiny with --smoke), built straight on the device."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    shape = dict(TINY_LM if s.smoke else QWEN25_05B)
    cfg = Qwen2Config(**shape, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.eos_token_id)
    cfg._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    with torch.device(s.device):
        model = Qwen2ForCausalLM(cfg)
    return model.to(dtype)


def train_config(s: Settings):
    """Llama-3.2-1B's shape (random init), or a tiny Llama with --smoke."""
    from transformers import LlamaConfig

    from octothinker.model.shapes import KNOWN_SHAPES

    shape = dict(TINY_LM, head_dim=16) if s.smoke else dict(KNOWN_SHAPES[LLAMA32_1B])
    cfg = LlamaConfig(**shape)
    cfg._attn_implementation = "sdpa"
    return cfg


def ensure_model_dir(s: Settings) -> Path:
    """The RL-shaped random model (bf16 on a GPU) and its tokenizer saved as an HF dir, written once per run."""
    out = s.workdir / "rl_model"
    if (out / "config.json").is_file():
        return out
    tok = rl_tokenizer(s)
    model = rl_model(s, tok, s.dtype)
    tmp = s.workdir / "rl_model.tmp"
    model.save_pretrained(str(tmp))
    tok.save_pretrained(str(tmp))
    tmp.rename(out)
    del model
    _free()
    return out


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def _bench_module(name: str):
    """A sibling bench script as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", Path(__file__).with_name(f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _check_rows(vocab: int, lengths, seed: int = 1) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(3, vocab, (n,), generator=g).tolist() for n in lengths]

