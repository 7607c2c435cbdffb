"""Compute budget per pipeline stage: tokens, optimizer steps, memory per GPU, FLOPs and GPU-hours (pure arithmetic).

FLOP counts (Llama layout, dense matmuls, causal attention), with N the parameters that take part in a
matmul (all but the input-embedding lookup; a tied embedding counts once, as the output head), L the
layers and d = heads x head_dim:
  forward over `tokens` tokens of sequences of length s:  tokens x (2N + 2Lds)  (each token attends to s/2
  earlier tokens on average; QK^T and AV cost 2 x 2Ld per attended token);
  training (forward + backward) is 3 forwards: 6N + 6Lds per token (PaLM's 6N + 12LHQT, T halved: causal);
  decoding a response of length R costs a forward per generated token at context R: 2N + 2LdR per token.
Prompts (prefill, and their share of the RL update) are not counted. Generated tokens are planned at the
length cap (an upper bound); measured ones come from the run's files.
GPU-hours = FLOPs / (peak FLOP/s x utilisation) / 3600, training and decoding each at its own utilisation.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Optional, Sequence

from .config import GPU_PEAK_TFLOPS, BudgetConfig, EvalConfig, Recipe, RLConfig

GiB = 1024**3
# Problems per benchmark: the paper's evaluation sizes (research/paper.md 4.1; GPQA-diamond 198)
BENCHMARK_SIZES = {"gsm8k": 1319, "math": 5000, "math500": 500, "olympiad_bench": 675, "amc23": 40, "sat": 32,
                   "mathqa": 1000, "mmlu_stem": 3018, "ocw": 272, "svamp": 1000, "asdiv": 2215, "mawps": 2065,
                   "tabmwp": 1000, "gpqa": 198}


@dataclass(frozen=True)
class Shape:
    """The sizes of a Llama-layout decoder that its FLOPs and memory depend on."""

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    tied: bool

    @classmethod
    def from_hf(cls, cfg: dict) -> "Shape":
        """From a transformers config dict (config.json, or `model.shapes.KNOWN_SHAPES`)."""
        heads = int(cfg["num_attention_heads"])
        return cls(int(cfg["hidden_size"]), int(cfg["intermediate_size"]), int(cfg["num_hidden_layers"]), heads,
                   int(cfg.get("num_key_value_heads") or heads), int(cfg.get("head_dim") or cfg["hidden_size"] // heads),
                   int(cfg["vocab_size"]), bool(cfg.get("tie_word_embeddings", False)))

    @property
    def attn_width(self) -> int:
        """d = heads x head_dim: the width of the attention scores' dot products."""
        return self.heads * self.head_dim

    @property
    def params(self) -> int:
        """All parameters (embeddings, attention, MLP, RMSNorms; an untied output head)."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        layer = 2 * h * self.attn_width + 2 * h * kv + 3 * h * self.intermediate + 2 * h
        return self.vocab * h * (1 if self.tied else 2) + self.layers * layer + h

    @property
    def matmul_params(self) -> int:
        """Parameters in a matmul: all but the input-embedding lookup (a tied embedding is the output head)."""
        return self.params - (0 if self.tied else self.vocab * self.hidden)

    def hf_namespace(self) -> SimpleNamespace:
        """The attributes `train.plan.memory_estimate` reads from a transformers config."""
        return SimpleNamespace(hidden_size=self.hidden, intermediate_size=self.intermediate, num_hidden_layers=self.layers,
                               vocab_size=self.vocab, tie_word_embeddings=self.tied)


def forward_flops(shape: Shape, tokens: float, seq: float) -> float:
    """FLOPs of one forward pass over `tokens` tokens in causal sequences of length `seq`."""
    return tokens * (2 * shape.matmul_params + 2 * shape.layers * shape.attn_width * seq)


def train_flops(shape: Shape, tokens: float, seq: float) -> float:
    """Forward + backward: three forwards."""
    return 3 * forward_flops(shape, tokens, seq)


def gpu_hours(flops: float, peak_flops: float, utilisation: float) -> float:
    """Hours one GPU of `peak_flops` FLOP/s needs for `flops` at `utilisation` of its peak."""
    return flops / (peak_flops * utilisation) / 3600


def kv_bytes_per_token(shape: Shape) -> int:
    """bf16 keys and values of every layer for one token."""
    return 2 * shape.layers * shape.kv_heads * shape.head_dim * 2


def inference_memory_gib(shape: Shape, sequences: int, length: int) -> float:
    """bf16 weights plus the KV cache of `sequences` sequences of `length` tokens."""
    return (2 * shape.params + sequences * length * kv_bytes_per_token(shape)) / GiB


def pretrained_shape(path: str) -> Optional[Shape]:
    """A pretrained model's shape from its local config.json or the built-in table; None when neither has it."""
    from .model.shapes import KNOWN_SHAPES

    if (Path(path) / "config.json").is_file():
        return Shape.from_hf(json.loads((Path(path) / "config.json").read_text(encoding="utf-8")))
    for name, shape in KNOWN_SHAPES.items():
        if path == name or path.startswith(name + "-"):  # e.g. -Instruct shares the shape
            return Shape.from_hf(shape)
    return None


def shape_of(recipe: Recipe) -> Shape:
    """The recipe's model shape without weights or network: a tiny Llama, a local config.json or the shape table."""
    from .model.shapes import KNOWN_SHAPES

    m = recipe.model
    if m.init == "tiny":
        vocab = recipe.tokenizer.vocab_size
        manifests = sorted(Path(recipe.run_dir, "data").glob("*/manifest.json"))
        if manifests:
            vocab = int(json.loads(manifests[0].read_text(encoding="utf-8")).get("vocab_size", vocab))
        return Shape(m.hidden_size, m.intermediate_size, m.num_layers, m.num_heads, m.num_kv_heads,
                     m.hidden_size // m.num_heads, vocab, m.tie_embeddings)
    shape = pretrained_shape(str(m.path))
    if shape is None:
        raise ValueError(f"model.path: {m.path!r} is neither a local directory with config.json nor in the shape table "
                         f"({', '.join(KNOWN_SHAPES)}); the budget needs the model's sizes")
    return shape


def shape_of_config(cfg: dict, vocab: Optional[int] = None) -> Optional[Shape]:
    """`shape_of` for a resolved recipe as a dict (run.json's `config`); None when it does not say."""
    m = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    try:
        if m.get("init") == "pretrained":
            return pretrained_shape(str(m["path"]))
        heads = int(m["num_heads"])
        vocab = vocab or int((cfg.get("tokenizer") or {})["vocab_size"])
        return Shape(int(m["hidden_size"]), int(m["intermediate_size"]), int(m["num_layers"]), heads,
                     int(m["num_kv_heads"]), int(m["hidden_size"]) // heads, vocab, bool(m.get("tie_embeddings", True)))
    except (KeyError, TypeError, ValueError):
        return None


def gpu_peak(name: str) -> Optional[float]:
    """Peak FLOP/s of a device named like torch names it ("NVIDIA H100 80GB HBM3"), or None when unknown."""
    text = name.lower()
    for key in sorted(GPU_PEAK_TFLOPS, key=len, reverse=True):
        if key.lower().replace("-", " ") in text:
            return GPU_PEAK_TFLOPS[key] * 1e12
    return None


# ----------------------------------------------------------------------------- planned rows


@dataclass
class Row:
    """One stage of the budget table; FLOPs split into training (at the training MFU) and decoding."""

    stage: str
    train_tokens: float = 0.0
    gen_tokens: float = 0.0
    steps: Optional[int] = None
    gpus: Optional[int] = None
    mem_gib: Optional[float] = None
    train_flops: float = 0.0
    gen_flops: float = 0.0
    gpu_hours: float = 0.0
    note: str = ""

    @property
    def flops(self) -> float:
        """Training plus decoding FLOPs."""
        return self.train_flops + self.gen_flops

    @property
    def wall_hours(self) -> Optional[float]:
        """GPU-hours spread over the stage's GPUs."""
        return self.gpu_hours / self.gpus if self.gpus else None


def step_lengths(cfg: RLConfig) -> list[int]:
    """Max response length of every RL step (the last `length_schedule` entry at or before it, else the default)."""
    out = []
    for step in range(cfg.steps):
        value = cfg.max_response_tokens
        for start in sorted(cfg.length_schedule or {}, key=int):
            if step >= int(start):
                value = int(cfg.length_schedule[start])
        out.append(value)
    return out


def validation_points(cfg: RLConfig) -> int:
    """Validations of an RL run: step 0, every `validate_every` steps and the last step."""
    if not cfg.validate_every:
        return 0
    return 1 + cfg.steps // cfg.validate_every + (1 if cfg.steps % cfg.validate_every else 0)


def benchmark_problems(name: str, limit: Optional[int], toy_size: int) -> int:
    """Problems of one benchmark an evaluation reads (the first `limit` when set)."""
    size = BENCHMARK_SIZES.get(name, toy_size)
    return min(size, limit) if limit else size


def _memorisation_problems(cfg: RLConfig, recipe: Recipe) -> int:
    """The memorisation pair's problems per validation (rl_seen + rl_fresh), 0 when the prompt stream cannot hold
    it (the condition the trainer applies, `rl.validation.memorisation_fits`)."""
    from .rl.validation import memorisation_problems  # torch-free

    return memorisation_problems(cfg, recipe.toyworld)


def _shares(budget: BudgetConfig, train_flops_: float, gen_flops_: float) -> float:
    """GPU-hours of training FLOPs at the training MFU plus decoding FLOPs at the decoding utilisation."""
    return (gpu_hours(train_flops_, budget.peak_flops, budget.train_mfu)
            + gpu_hours(gen_flops_, budget.peak_flops, budget.generation_mfu))


def midtrain_rows(recipe: Recipe, shape: Shape) -> dict[str, Row]:
    """Mid-training stages: the trainer's own step plan on `budget.gpus` ranks, FSDP2 memory per GPU."""
    from .train.plan import memory_estimate, resolve_plans

    world = recipe.budget.gpus
    out = {}
    for p in resolve_plans(recipe, world=world):
        tokens = p.total_steps * p.tokens_per_step
        mem = memory_estimate(shape.hf_namespace(), shape.params, p.micro_batch, p.seq_len, world,
                              recipe.midtrain.activation_checkpointing)["total"]
        flops = train_flops(shape, tokens, p.seq_len)
        out[p.name] = Row(f"midtrain:{p.name}", tokens, 0.0, p.total_steps, world, mem, flops, 0.0,
                          _shares(recipe.budget, flops, 0.0), f"seq {p.seq_len}")
    return out


def rl_row(recipe: Recipe, name: str, cfg: RLConfig, shape: Shape) -> Row:
    """Rollouts at the scheduled caps, validation decoding, and the GRPO update over the rollouts."""
    from .train.plan import memory_estimate

    rows = cfg.prompts_per_step * cfg.group_size
    lengths = step_lengths(cfg)
    rollout_tokens = float(rows * sum(lengths))
    rollout_flops = sum(forward_flops(shape, rows * n, n) for n in lengths)
    val_len = cfg.validate_max_tokens or max([cfg.max_response_tokens, *map(int, (cfg.length_schedule or {}).values())])
    benches = cfg.validate_benchmarks or recipe.eval.benchmarks
    problems = sum(benchmark_problems(b, cfg.validate_limit or None, recipe.toyworld.benchmark_size) for b in benches)
    problems += _memorisation_problems(cfg, recipe)
    val_tokens = float(validation_points(cfg) * problems * (1 + cfg.validate_samples) * val_len)
    updates = cfg.ppo_epochs * math.ceil(rows / cfg.mini_batch_size)
    forwards = 3 * cfg.ppo_epochs + (1 if updates > 1 else 0) + (1 if cfg.kl_coef > 0 else 0)  # + old and ref log-probs
    update_flops = forwards * rollout_flops
    gen = rollout_flops + forward_flops(shape, val_tokens, val_len)
    world = cfg.verl.nnodes * cfg.verl.gpus_per_node if cfg.engine == "verl" else 1
    micro = cfg.micro_batch_size or cfg.mini_batch_size
    mem = memory_estimate(shape.hf_namespace(), shape.params, micro, max(lengths), world, True)["total"]
    return Row(f"rl:{name}", rollout_tokens * cfg.ppo_epochs, rollout_tokens + val_tokens, cfg.steps * updates, world, mem,
               update_flops, gen, _shares(recipe.budget, update_flops, gen),
               f"{rows} rollouts/step, <= {max(lengths)} tokens; engine {cfg.engine}")


def eval_row(recipe: Recipe, model: str, shape: Shape) -> Row:
    """Every benchmark's problems x samples at `max_new_tokens`, one process on one GPU."""
    ev: EvalConfig = recipe.eval.for_model(Path(model).name if "/" in model else model)
    problems = sum(benchmark_problems(b, ev.limit, recipe.toyworld.benchmark_size) for b in ev.benchmarks)
    tokens = float(problems * ev.n_samples * ev.max_new_tokens)
    flops = forward_flops(shape, tokens, ev.max_new_tokens)
    mem = inference_memory_gib(shape, ev.batch_size, ev.max_new_tokens)
    return Row(f"eval:{model}", 0.0, tokens, None, 1, mem, 0.0, flops, _shares(recipe.budget, 0.0, flops),
               f"{len(ev.benchmarks)} benchmarks, {problems} problems x {ev.n_samples}")


def plan_budget(recipe: Recipe, stages: Sequence) -> list[Row]:
    """One row per planned stage (`pipeline.Stage` objects: their kind, name and id), in plan order."""
    shape = shape_of(recipe)
    mids = midtrain_rows(recipe, shape) if any(s.kind == "midtrain" for s in stages) else {}
    runs = recipe.rl.runs()
    out = []
    for s in stages:
        if s.kind == "midtrain":
            out.append(mids[s.name])
        elif s.kind == "rl" and s.name in runs:
            out.append(rl_row(recipe, s.name, runs[s.name][1], shape))
        elif s.kind == "eval":
            out.append(eval_row(recipe, s.name, shape))
        elif s.kind == "data":
            tokens = recipe.data.mixtures[s.name].tokens if s.name in recipe.data.mixtures else 0
            out.append(Row(s.id, note=f"packs {si(tokens)} tokens (CPU)"))
        else:
            out.append(Row(s.id))
    return out


def total(rows: Sequence[Row]) -> Row:
    """The sums of a table (wall hours: the stages one after another, on their own GPU counts)."""
    wall = sum(r.wall_hours or 0.0 for r in rows)
    out = Row("total", sum(r.train_tokens for r in rows), sum(r.gen_tokens for r in rows),
              None, None, None, sum(r.train_flops for r in rows),
              sum(r.gen_flops for r in rows), sum(r.gpu_hours for r in rows))
    out.note = f"{hours(wall)} h wall if run one after another"
    return out


# ----------------------------------------------------------------------------- formatting


def si(x: Optional[float]) -> str:
    """A count with a K/M/B/T suffix: 1234 -> "1.23K", 2e11 -> "200B"."""
    if x is None:
        return "-"
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(x) >= div:
            return f"{x / div:.3g}{suffix}"
    return f"{x:.3g}" if x else "0"


def hours(x: Optional[float]) -> str:
    """Hours: thousands separated, three significant digits below 100."""
    if x is None:
        return "-"
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def memory(gib: Optional[float]) -> str:
    """GiB with one decimal; MiB below 1 GiB."""
    if gib is None:
        return "-"
    return f"{gib:.1f} GiB" if gib >= 1 else f"{gib * 1024:.0f} MiB"


def assumptions_line(recipe: Recipe) -> str:
    """The budget's stated assumptions: GPU and its peak, utilisations, mid-training GPUs."""
    b = recipe.budget
    return (f"compute budget on {b.gpu} ({b.peak_flops / 1e12:g} TFLOP/s peak dense bf16 per GPU); training at "
            f"{b.train_mfu:.0%} MFU, decoding at {b.generation_mfu:.0%}; mid-training on {b.gpus} GPU(s)")


def format_budget(recipe: Recipe, rows: Sequence[Row], shape: Optional[Shape] = None) -> str:
    """The budget table as text: a header of assumptions, one line per stage, the totals, the FLOP formulas."""
    shape = shape or shape_of(recipe)
    head = ["stage", "train tok", "gen tok", "opt steps", "GPUs", "mem/GPU", "FLOPs", "GPU-h", "wall h", ""]
    lines = []
    for r in [*rows, total(rows)]:
        lines.append([r.stage, si(r.train_tokens) if r.train_tokens else "-", si(r.gen_tokens) if r.gen_tokens else "-",
                      f"{r.steps:,}" if r.steps else "-", str(r.gpus) if r.gpus else "-",
                      memory(r.mem_gib), f"{r.flops:.2e}" if r.flops else "-",
                      hours(r.gpu_hours) if r.flops else "-", hours(r.wall_hours) if r.flops and r.gpus else "-", r.note])
    widths = [max(len(row[i]) for row in [head, *lines]) for i in range(len(head))]
    fmt = lambda row: "  " + "  ".join(c.ljust(w) if i in (0, 9) else c.rjust(w)  # noqa: E731
                                       for i, (c, w) in enumerate(zip(row, widths))).rstrip()
    return "\n".join([
        assumptions_line(recipe) + ":", fmt(head), *map(fmt, lines),
        f"  model: {si(shape.params)} parameters, N = {si(shape.matmul_params)} in matmuls, "
        f"L = {shape.layers}, d = {shape.attn_width}; FLOPs: training 6N + 6Lds per token (s: sequence length), decoding",
        "  2N + 2LdR per token (R: the length cap); generated tokens at the cap (an upper bound); prompts not counted;",
        "  memory: FSDP2 states + activations (mid-training, RL update), bf16 weights + KV cache of eval.batch_size (eval)",
    ])


def budget_text(recipe: Recipe, stages: Sequence) -> tuple[str, Optional[list[Row]]]:
    """(the formatted table, its rows) for a plan; (the reason, None) when the model's sizes are unknown."""
    try:
        shape = shape_of(recipe)
        rows = plan_budget(recipe, stages)
    except (ValueError, KeyError, OSError) as exc:
        return f"compute budget: not available: {exc}", None
    return format_budget(recipe, rows, shape), rows


def stage_seconds(recipe: Recipe, stages: Sequence, rows: Optional[Sequence[Row]]) -> dict[str, float]:
    """Seconds per stage id: a pretrained model's GPU stages from the budget (wall hours on their GPUs), since
    this machine's CPU rates do not stand for them; every other stage its own `estimate_s`."""
    gpu = {r.stage: 3600 * (r.wall_hours or 0.0) for r in rows or () if r.flops} if recipe.model.init == "pretrained" else {}
    return {s.id: gpu.get(s.id, s.estimate_s) for s in stages}
