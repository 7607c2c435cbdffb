"""Typed recipe: one dataclass per stage, loaded from YAML with dotted overrides.

Every field has a default that runs the toy world on a CPU; `validate()` methods reject bad
values before any compute and name the offending key (see `configio` for the parsing rules).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

from .configio import ConfigError, apply_overrides, dump_yaml, from_dict, load_yaml_with_lines, to_dict
from .study_config import (EXPERIMENT_METRICS, GPU_PEAK_TFLOPS, BudgetConfig, ComparisonConfig, ExperimentConfig,
                           FindingConfig, ReadinessProbeConfig)
from .rl_config import RL_PROMPT_SETS, RLConfig, RLVariantConfig, VerlLaunchConfig, rl_run_name  # noqa: F401  (re-exported)

# ----------------------------------------------------------------------------- run / world


@dataclass
class RunConfig:
    name: str = "toy_demo"
    root: str = "runs"  # run directory = <root>/<name>
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda

    def validate(self) -> None:
        if not self.name or "/" in self.name:
            raise ValueError(f"name: must be a non-empty directory name, got {self.name!r}")


@dataclass
class ToyWorldConfig:
    """Sizes of the generated toy universe (see `octothinker.toyworld`)."""

    seed: int = 0
    general_docs: int = 4000
    math_web_docs: int = 4000
    qa_docs: int = 4000
    instruct_docs: int = 1000
    benchmark_size: int = 200  # problems per toy benchmark
    rl_prompts: int = 2000
    benchmark_frac: float = 0.1  # share of canonical problem keys reserved for the benchmarks
    rl_frac: float = 0.1  # share reserved for RL prompts; the rest is the training split
    restate_steps: bool = False  # v1 only: CoT repeats each step's sentence before its equation (v2 always does)
    version: int = 2  # 2: wide answers, mixed solution styles, deep benchmarks (docs/toyworld.md); 1: the old world

    def validate(self) -> None:
        for name in ("general_docs", "math_web_docs", "qa_docs", "instruct_docs", "benchmark_size", "rl_prompts"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        for name in ("benchmark_frac", "rl_frac"):
            if not 0 < getattr(self, name) < 0.5:
                raise ValueError(f"{name}: must be in (0, 0.5), got {getattr(self, name)}")
        if self.version not in (1, 2):
            raise ValueError(f"version: must be 1 or 2, got {self.version}")


# ----------------------------------------------------------------------------- data


@dataclass
class SourceConfig:
    """One training source: a toy corpus, a registered real corpus, or a local file.

    kind=toy: `corpus` names a toy corpus (general, math_web_hq, math_web_lq, qa_short, qa_long, instruct; qa_direct and qa_long_chat in v2).
    kind=registry: `corpus` names a real corpus of `octothinker.data.sources` (hub id known); `path`
    optionally points at a local JSONL/Parquet copy instead of the hub.
    kind=local: `path` is a JSONL/Parquet file (or directory of them), `template` says how to format it.
    """

    kind: Literal["toy", "registry", "local"] = "toy"
    corpus: str = ""
    path: Optional[str] = None
    template: Optional[str] = None  # web | qa | chat (default: the registry's / toy corpus's own)
    max_docs: Optional[int] = None
    fields: dict[str, str] = field(default_factory=dict)  # template role -> record field, e.g. {solution: generated_solution}

    def validate(self) -> None:
        if self.kind in ("toy", "registry") and not self.corpus:
            raise ValueError(f"corpus: required when kind={self.kind}")
        if self.kind == "local" and not self.path:
            raise ValueError("path: required when kind=local")
        if self.template is not None and self.template not in ("web", "qa", "chat"):
            raise ValueError(f"template: must be web, qa or chat, got {self.template!r}")
        if self.max_docs is not None and self.max_docs <= 0:
            raise ValueError(f"max_docs: must be > 0, got {self.max_docs}")


@dataclass
class MixtureConfig:
    """A weighted mixture of sources under a token budget."""

    weights: dict[str, float] = field(default_factory=dict)
    tokens: int = 1_000_000

    def validate(self) -> None:
        if not self.weights:
            raise ValueError("weights: a mixture needs at least one source")
        for name, w in self.weights.items():
            if w < 0:
                raise ValueError(f"weights.{name}: must be >= 0, got {w}")
        if sum(self.weights.values()) <= 0:
            raise ValueError("weights: all weights are zero")
        if self.tokens <= 0:
            raise ValueError(f"tokens: must be > 0, got {self.tokens}")


@dataclass
class TokenizerConfig:
    kind: Literal["toy_bpe", "hf"] = "toy_bpe"
    path: Optional[str] = None  # hf: hub id or local directory
    vocab_size: int = 384  # toy_bpe only
    sample_docs: int = 2000  # toy_bpe only: documents per source the tokenizer is trained on
    join_space_digit: bool = False  # toy_bpe only: " 7" is one token, so copying a number keys on the word before it

    def validate(self) -> None:
        if self.kind == "hf" and not self.path:
            raise ValueError("path: required when kind=hf (hub id or local tokenizer directory)")
        if self.vocab_size < 64:
            raise ValueError(f"vocab_size: must be >= 64, got {self.vocab_size}")
        if self.sample_docs <= 0:
            raise ValueError(f"sample_docs: must be > 0, got {self.sample_docs}")


DECONTAM_MIN_WORDS = 6  # = data.decontam.MIN_WORDS (tested): kept here so loading a recipe imports no data code


@dataclass
class DecontamConfig:
    ngram: int = 13
    drop: bool = False  # drop contaminated training documents
    benchmark_dir: Optional[str] = None  # real benchmarks checked too when given

    def validate(self) -> None:
        if self.ngram < DECONTAM_MIN_WORDS:
            raise ValueError(f"ngram: must be >= {DECONTAM_MIN_WORDS}, got {self.ngram} (the index finds n-grams by their "
                             f"first {DECONTAM_MIN_WORDS} words, so a shorter one could never match)")


@dataclass
class DataConfig:
    seq_len: int = 256
    shard_rows: int = 4096  # sequences per shard file
    heldout_docs: int = 32  # documents per source kept out for per-source validation loss
    on_bad_record: Literal["error", "skip"] = "error"
    encode_batch: int = 512  # documents tokenized per encode_batch call (bounds memory)
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    mixtures: dict[str, MixtureConfig] = field(default_factory=dict)
    decontamination: DecontamConfig = field(default_factory=DecontamConfig)

    def validate(self) -> None:
        if self.seq_len < 8:
            raise ValueError(f"seq_len: must be >= 8, got {self.seq_len}")
        if self.shard_rows <= 0:
            raise ValueError(f"shard_rows: must be > 0, got {self.shard_rows}")
        if self.encode_batch <= 0:
            raise ValueError(f"encode_batch: must be > 0, got {self.encode_batch}")
        if self.heldout_docs < 0:
            raise ValueError(f"heldout_docs: must be >= 0, got {self.heldout_docs}")
        for mname, mix in self.mixtures.items():
            for sname in mix.weights:
                if sname not in self.sources:
                    raise ValueError(
                        f"mixtures.{mname}.weights.{sname}: unknown source; declared sources: "
                        f"{', '.join(sorted(self.sources)) or '(none)'}"
                    )


# ----------------------------------------------------------------------------- model / training


def _path_like(name: str) -> bool:
    """A model name read as a location, not a recipe name: an existing directory, or a path / hub id (a '/')."""
    return "/" in name or "\\" in name or Path(name).is_dir()


@dataclass
class ModelConfig:
    """Either a tiny Llama built from these sizes (init=tiny) or a pretrained HF checkpoint."""

    init: Literal["tiny", "pretrained"] = "tiny"
    path: Optional[str] = None  # pretrained: hub id or local directory
    hidden_size: int = 128
    intermediate_size: int = 384
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 4
    max_position_embeddings: int = 1024
    tie_embeddings: bool = True
    attn_implementation: str = "sdpa"

    def validate(self) -> None:
        if self.init == "pretrained" and not self.path:
            raise ValueError("path: required when init=pretrained")
        for name in ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
                     "max_position_embeddings"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.hidden_size % self.num_heads:
            raise ValueError(f"num_heads: {self.num_heads} must divide hidden_size {self.hidden_size}")
        if self.num_heads % self.num_kv_heads:
            raise ValueError(f"num_kv_heads: {self.num_kv_heads} must divide num_heads {self.num_heads}")


@dataclass
class StageConfig:
    """One training stage on one mixture (base pretraining, stable, a decay branch, an ablation)."""

    mixture: str = ""
    tokens: Optional[int] = None  # default: the mixture's budget
    lr: float = 1e-3
    min_lr: float = 0.0
    warmup_steps: int = 0
    schedule: Literal["constant", "cosine", "linear", "1-sqrt", "warmup_cosine"] = "constant"
    init_from: Optional[str] = None  # stage name, or a checkpoint directory
    init_step: Optional[int] = None  # which checkpoint step of init_from (default: last)

    def validate(self) -> None:
        if not self.mixture:
            raise ValueError("mixture: required")
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")
        if self.min_lr < 0 or self.min_lr > self.lr:
            raise ValueError(f"min_lr: must be in [0, lr], got {self.min_lr}")
        if self.warmup_steps < 0:
            raise ValueError(f"warmup_steps: must be >= 0, got {self.warmup_steps}")
        if self.tokens is not None and self.tokens <= 0:
            raise ValueError(f"tokens: must be > 0, got {self.tokens}")


@dataclass
class MidtrainConfig:
    micro_batch_size: int = 16
    grad_accum: int = 1
    weight_decay: float = 0.1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    grad_clip: float = 1.0
    precision: Literal["auto", "bf16", "fp32"] = "auto"  # auto: bf16 autocast on GPU, fp32 on CPU (CPU bf16 can be 20x slower)
    checkpoint_every_tokens: int = 500_000
    eval_every_steps: int = 50
    activation_checkpointing: bool = False
    doc_attention_mask: bool = False  # block attention across packed documents (slower on CPU)
    global_batch_tokens: Optional[int] = None  # when set, grad_accum = this / (micro * seq_len * world)
    heldout_rows: int = 32  # rows per source for the held-out loss
    stages: dict[str, StageConfig] = field(default_factory=dict)  # in run order

    def validate(self) -> None:
        if self.micro_batch_size <= 0:
            raise ValueError(f"micro_batch_size: must be > 0, got {self.micro_batch_size}")
        if self.grad_accum <= 0:
            raise ValueError(f"grad_accum: must be > 0, got {self.grad_accum}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ValueError(f"betas: must be two numbers in [0, 1), got {self.betas}")
        if self.global_batch_tokens is not None and self.global_batch_tokens <= 0:
            raise ValueError(f"global_batch_tokens: must be > 0, got {self.global_batch_tokens}")
        if self.checkpoint_every_tokens <= 0:
            raise ValueError(f"checkpoint_every_tokens: must be > 0, got {self.checkpoint_every_tokens}")
        names = list(self.stages)
        for i, (name, st) in enumerate(self.stages.items()):
            if st.init_from and st.init_from in self.stages and names.index(st.init_from) >= i:
                raise ValueError(f"stages.{name}.init_from: stage {st.init_from!r} must come earlier")
            if st.init_from and st.init_from not in self.stages and not _path_like(st.init_from):
                # anything but a stage name is read as a checkpoint directory (train.plan): a typo fails here,
                # not after the stages before it have trained
                raise ValueError(f"stages.{name}.init_from: {st.init_from!r} is neither an earlier stage "
                                 f"({', '.join(names[:i]) or 'none'}) nor an existing directory")


# ----------------------------------------------------------------------------- eval / rl / report


@dataclass
class EvalConfig:
    benchmarks: list[str] = field(default_factory=lambda: ["toy_gsm", "toy_math", "toy_olympiad"])
    benchmark_dir: Optional[str] = None  # local copies of the real benchmarks
    models: list[str] = field(default_factory=list)  # stage names / RL runs / directories
    protocol: Literal["fewshot", "rl_template"] = "fewshot"
    template: str = "simple"
    limit: Optional[int] = None
    max_new_tokens: int = 1024
    temperature: float = 0.0
    top_p: float = 1.0
    n_samples: int = 1
    batch_size: int = 32
    backend: Literal["hf", "vllm", "auto"] = "auto"
    shots: Optional[int] = None  # few-shot exemplars; None = the paper's count per benchmark
    seed: int = 0  # sampling seed
    rl_models_protocol: Literal["rl_template", "same"] = "rl_template"  # how `rl-<run>` models are evaluated
    # `rl-<run>` models only (unset: the settings above): their benchmarks, samples, temperature and length
    rl_benchmarks: list[str] = field(default_factory=list)
    rl_n_samples: Optional[int] = None
    rl_temperature: Optional[float] = None
    rl_max_new_tokens: Optional[int] = None

    def validate(self) -> None:
        if self.limit is not None and self.limit <= 0:
            raise ValueError(f"limit: must be > 0, got {self.limit}")
        if self.n_samples <= 0:
            raise ValueError(f"n_samples: must be > 0, got {self.n_samples}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p: must be in (0, 1], got {self.top_p}")
        if self.temperature < 0:
            raise ValueError(f"temperature: must be >= 0, got {self.temperature}")
        for name in ("rl_n_samples", "rl_max_new_tokens"):
            if getattr(self, name) is not None and getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.rl_temperature is not None and self.rl_temperature < 0:
            raise ValueError(f"rl_temperature: must be >= 0, got {self.rl_temperature}")
        for name in ("max_new_tokens", "batch_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")

    def for_model(self, label: str) -> "EvalConfig":
        """The settings model `label` is evaluated with: an `rl-<run>` model takes the `rl_*` values that are set,
        any other model the plain ones; the result carries no `rl_*` values (so each stage hashes what it uses)."""
        import dataclasses

        plain = dataclasses.replace(self, rl_benchmarks=[], rl_n_samples=None, rl_temperature=None, rl_max_new_tokens=None)
        if not label.startswith("rl-"):
            return plain
        changes = {"benchmarks": list(self.rl_benchmarks) or None, "n_samples": self.rl_n_samples,
                   "temperature": self.rl_temperature, "max_new_tokens": self.rl_max_new_tokens}
        return dataclasses.replace(plain, **{k: v for k, v in changes.items() if v is not None})


TRACKING_SINKS = ("wandb", "trackio", "tensorboard")


@dataclass
class TrackingConfig:
    """Optional experiment-tracker sinks; metrics.jsonl is always written whatever this says."""

    sinks: list[str] = field(default_factory=list)  # any of wandb, trackio, tensorboard
    project: str = "octothinker"
    dir: Optional[str] = None  # tensorboard/wandb local dir (default: <stage dir>/tracking)

    def validate(self) -> None:
        for s in self.sinks:
            if s not in TRACKING_SINKS:
                raise ValueError(f"sinks: unknown sink {s!r}; choose from {', '.join(TRACKING_SINKS)}")
        if not self.project:
            raise ValueError("project: must be non-empty")


@dataclass
class ReportConfig:
    title: str = "OctoThinker run"
    tracking: TrackingConfig = field(default_factory=TrackingConfig)


@dataclass
class Recipe:
    run: RunConfig = field(default_factory=RunConfig)
    toyworld: ToyWorldConfig = field(default_factory=ToyWorldConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    midtrain: MidtrainConfig = field(default_factory=MidtrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    rl: RLConfig = field(default_factory=RLConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    experiment: ExperimentConfig = field(default_factory=ExperimentConfig)
    budget: BudgetConfig = field(default_factory=BudgetConfig)
    source: Optional[str] = None  # the recipe file it came from (set by the loader)

    def validate(self) -> None:
        for name, st in self.midtrain.stages.items():
            if st.mixture not in self.data.mixtures:
                raise ValueError(
                    f"midtrain.stages.{name}.mixture: unknown mixture {st.mixture!r}; declared: "
                    f"{', '.join(sorted(self.data.mixtures)) or '(none)'}"
                )
        self._check_toy_benchmarks()
        self._check_model_names()
        rl_runs = set(self.rl.runs())
        models = set(self.midtrain.stages) | {f"rl-{n}" for n in rl_runs} | {"base"}
        for fname, finding in self.experiment.findings.items():
            for name in finding.curves:
                if name not in rl_runs:
                    raise ValueError(f"experiment.findings.{fname}.curves: {name!r} is not an RL run of this recipe "
                                     f"({', '.join(sorted(rl_runs)) or 'none'})")
            for i, c in enumerate(finding.comparisons):
                known = models if c.metric == "fewshot_accuracy" else rl_runs
                for arm in (c.a, c.b):
                    if arm not in known:
                        raise ValueError(f"experiment.findings.{fname}.comparisons[{i}]: {arm!r} is not a "
                                         f"{'model' if c.metric == 'fewshot_accuracy' else 'RL run'} of this recipe "
                                         f"({', '.join(sorted(known)) or 'none'})")

    def _check_toy_benchmarks(self) -> None:
        """Benchmark names the eval loader does not know (e.g. gsm8kk), and a toy benchmark of another world
        version (e.g. toy_depth4 with toyworld.version: 1), fail here, before any stage runs, not when the eval
        or RL stage first draws them."""
        from .eval.benchmarks import BenchmarkError, canonical  # no torch: the registry and its mappers
        from .toyworld.world import BENCHMARKS, benchmark_names

        here = set(benchmark_names(self.toyworld))
        named = [("eval.benchmarks", self.eval.benchmarks), ("eval.rl_benchmarks", self.eval.rl_benchmarks),
                 ("rl.validate_benchmarks", self.rl.validate_benchmarks)]
        for where, names in named:
            for i, b in enumerate(names or []):
                try:
                    key = canonical(b)
                except BenchmarkError as exc:
                    raise ValueError(f"{where}[{i}]: {exc}") from None
                if key in BENCHMARKS and key not in here:
                    raise ValueError(f"{where}: {b!r} is not a benchmark of toy world v{self.toyworld.version} "
                                     f"(it has {', '.join(sorted(here))}); set toyworld.version: 2")

    def _check_model_names(self) -> None:
        """Model names that cannot resolve (a misspelled stage, an `rl-<run>` of no run) fail here, not once the
        stages before them have trained. Accepted, as the RL and eval stages resolve them: a mid-training stage of
        the recipe (or one already under the run's midtrain/), `base` (RL: the recipe's model; eval: when it is
        pretrained), `rl-<run>` of an RL run (eval only), an existing directory, or a path / hub id (with '/')."""
        stages = list(self.midtrain.stages)
        done = self.run_dir / "midtrain"

        def stage(name: str) -> bool:
            return name in self.midtrain.stages or (done / name).is_dir()

        rl_known = ", ".join(dict.fromkeys([*stages, "base"]))
        sources = [(f"rl.init_from[{i}]", src) for i, src in enumerate(self.rl.init_from)]
        sources += [(f"rl.variants.{v}.init_from", var.init_from) for v, var in self.rl.variants.items()]
        for where, src in sources:
            if not (stage(src) or src == "base" or _path_like(src)):
                raise ValueError(f"{where}: {src!r} is neither a mid-training stage ({rl_known}) nor an existing "
                                 "directory or hub id")
        runs = list(self.rl.runs())
        base_ok = self.model.init == "pretrained"
        for i, m in enumerate(self.eval.models):
            if stage(m) or (m == "base" and base_ok) or _path_like(m):
                continue
            if m.startswith("rl-") and (m[3:] in runs or (self.run_dir / "rl" / m[3:]).is_dir()):
                continue
            known = [*stages, *(["base"] if base_ok else []), *(f"rl-{r}" for r in runs)]
            hint = " (base is a model only with model.init: pretrained, or as a stage)" if m == "base" else ""
            raise ValueError(f"eval.models[{i}]: {m!r} is not a model of this recipe ({', '.join(known) or 'none'}) "
                             f"nor an existing directory{hint}")

    @property
    def run_dir(self) -> Path:
        return Path(self.run.root) / self.run.name

    def section_hash(self, *sections: str) -> str:
        """Stable hash of the named sections' resolved values (stage caching keys)."""
        payload = {s: to_dict(getattr(self, s)) for s in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]

    def to_yaml(self) -> str:
        return dump_yaml(self)


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Parse a recipe file strictly; `overrides` are `a.b=value` strings applied first."""
    path = Path(path)
    texts: dict = {}  # source text of values YAML reads as numbers, for str fields (`run.name=010` is "010")
    data, lines = load_yaml_with_lines(path, texts)
    data.pop("source", None)
    apply_overrides(data, overrides or [], texts)
    recipe = from_dict(Recipe, data, source=str(path), lines=lines, texts=texts)
    recipe.source = str(path)
    return recipe


def recipe_from_dict(data: dict, overrides: list[str] | None = None, source: str = "<dict>") -> Recipe:
    texts: dict = {}
    data = apply_overrides(json.loads(json.dumps(data)), overrides or [], texts)
    return from_dict(Recipe, data, source=source, texts=texts)


__all__ = [
    "EXPERIMENT_METRICS",
    "GPU_PEAK_TFLOPS",
    "BudgetConfig",
    "ComparisonConfig",
    "ConfigError",
    "DataConfig",
    "DecontamConfig",
    "EvalConfig",
    "ExperimentConfig",
    "FindingConfig",
    "MidtrainConfig",
    "MixtureConfig",
    "ModelConfig",
    "RLConfig",
    "ReadinessProbeConfig",
    "Recipe",
    "ReportConfig",
    "RunConfig",
    "SourceConfig",
    "StageConfig",
    "TokenizerConfig",
    "ToyWorldConfig",
    "TrackingConfig",
    "load_recipe",
    "recipe_from_dict",
]
