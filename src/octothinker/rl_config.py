"""Typed RL settings of a recipe (`rl:`): the GRPO run, its variants and the verl launch; no heavy imports.

Part of the recipe schema (`config.py` re-exports every name); validation names the offending key.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

RL_PROMPT_SETS = ("MATH8K", "GSM8K-train")  # names of `octothinker.rl.prompt_sets.REGISTRY` (kept here: no heavy imports)


def rl_run_name(source: str) -> str:
    """The output name of an RL run started from `source`: a stage name as is, a directory by its last part."""
    return Path(source).name if "/" in source else source


@dataclass
class RLVariantConfig:
    """An extra RL run with its own init model and a few settings changed (e.g. template or length schedule)."""

    init_from: str = ""  # a mid-training stage name or a directory
    template: Optional[Literal["simple", "complex", "plain"]] = None
    steps: Optional[int] = None
    lr: Optional[float] = None
    temperature: Optional[float] = None
    max_response_tokens: Optional[int] = None
    length_schedule: Optional[dict[int, int]] = None  # {} = a fixed maximum length
    truncation: Optional[Literal["none", "penalty", "mask"]] = None
    prompts_path: Optional[str] = None
    prompt_set: Optional[str] = None
    prompts_per_step: Optional[int] = None
    reward_control: Optional[Literal["none", "shuffled"]] = None
    validate_limit: Optional[int] = None
    validate_samples: Optional[int] = None
    validate_rl_prompts: Optional[int] = None

    def validate(self) -> None:
        if not self.init_from:
            raise ValueError("init_from: a variant needs the model it starts from (a stage name or a directory)")


@dataclass
class VerlLaunchConfig:
    """How `rl.engine: verl` launches verl (`python -m verl.trainer.main_ppo`) and where it writes."""

    nnodes: int = 1
    gpus_per_node: int = 8
    launch: Literal["auto", "never"] = "auto"  # auto: run verl when importable, else print the command; never: print only
    overrides: list[str] = field(default_factory=list)  # extra Hydra overrides appended to the command

    def validate(self) -> None:
        for name in ("nnodes", "gpus_per_node"):
            if getattr(self, name) <= 0:
                raise ValueError(f"verl.{name}: must be > 0, got {getattr(self, name)}")


@dataclass
class RLConfig:
    init_from: list[str] = field(default_factory=list)  # models to RL: stage names or directories
    template: Literal["simple", "complex", "plain"] = "simple"
    steps: int = 40
    prompts_per_step: int = 16
    group_size: int = 8
    mini_batch_size: int = 64  # rollouts per PPO mini-batch
    ppo_epochs: int = 1
    lr: float = 1e-5
    temperature: float = 1.0
    top_p: float = 1.0
    kl_coef: float = 0.0
    clip_low: float = 0.2
    clip_high: float = 0.2
    entropy_coef: float = 0.0
    loss_agg: Literal["token_mean", "seq_mean", "dr_grpo"] = "token_mean"
    filter_zero_variance: bool = False
    max_response_tokens: int = 128
    length_schedule: dict[int, int] = field(default_factory=dict)  # {step: max_response_tokens}
    truncation: Literal["none", "penalty", "mask"] = "none"
    format_reward: float = 0.0
    validate_every: int = 10
    save_every: int = 20
    backend: Literal["hf", "vllm", "auto"] = "auto"
    truncation_penalty: float = 1.0  # truncation=penalty: subtracted from a truncated response's reward
    reward_control: Literal["none", "shuffled"] = "none"  # shuffled: a control arm; rewards permuted across the batch
    answer_kind: str = "math"  # grader kind for the reward (math | gsm | mc)
    reward_timeout: float = 5.0  # seconds per response for the grader; a step never waits longer than the batch budget
    grad_clip: float = 1.0
    weight_decay: float = 0.0
    micro_batch_size: int = 0  # rollouts per forward/backward inside a mini-batch (0 = whole mini-batch)
    validate_limit: int = 64  # problems per benchmark at each validation (0 = all)
    validate_max_tokens: int = 0  # one budget for every validation of a run; 0 = the largest scheduled length
    validate_samples: int = 8  # sampled responses per validation problem (avg@k, pass@k); 0 = greedy only
    validate_temperature: float = 1.0  # temperature of the sampled validation responses
    validate_rl_prompts: int = 0  # memorisation check: this many RL prompts trained on early vs never used
    require_valid_chain: bool = False  # toy world: reward only answers whose gold steps are all written out
    reward_on_timeout: Literal["mask", "wrong"] = "mask"  # a response the grader timed out on: out of the loss, or 0
    validate_benchmarks: list[str] = field(default_factory=list)  # default: the eval benchmarks
    rollout_samples: int = 16  # rollouts saved to rollouts/step_<n>.jsonl each step
    precision: Literal["fp32", "bf16"] = "fp32"  # bf16: rollouts and scoring/update forwards under bf16 autocast; fp32 weights and loss math
    on_bad_record: Literal["error", "skip"] = "error"  # a malformed prompt record: stop naming file:line, or skip and count
    prompts_path: Optional[str] = None  # JSONL/Parquet prompt file or dir; with prompt_set: a local copy in the hub's schema
    prompt_set: Optional[str] = None  # a named RL prompt set (MATH8K, GSM8K-train): hub streaming, or prompts_path as its local copy
    decontaminate: bool = True  # drop RL prompts that overlap any benchmark the project knows; recorded in the run's files
    engine: Literal["native", "verl"] = "native"  # verl: export the job, launch it when verl is importable, import its results
    verl: "VerlLaunchConfig" = field(default_factory=lambda: VerlLaunchConfig())
    variants: dict[str, RLVariantConfig] = field(default_factory=dict)  # extra runs: name -> init + changed settings

    def runs(self) -> dict[str, tuple[str, "RLConfig"]]:
        """Every RL run of the recipe: output name -> (init source, effective config without variants)."""
        import dataclasses

        base = dataclasses.replace(self, variants={})
        out = {rl_run_name(src): (src, base) for src in self.init_from}
        for name, v in self.variants.items():
            changes = {f.name: getattr(v, f.name) for f in dataclasses.fields(v)
                       if f.name != "init_from" and getattr(v, f.name) is not None}
            out[name] = (v.init_from, dataclasses.replace(base, **changes))
        return out

    def template_for(self, run_name: str) -> str:
        """The template RL run `run_name` was trained with (the recipe's own for an unknown run)."""
        run = self.runs().get(run_name)
        return run[1].template if run else self.template

    def validate(self) -> None:
        if self.group_size < 2:
            raise ValueError(f"group_size: GRPO needs >= 2 rollouts per prompt, got {self.group_size}")
        for name in ("steps", "prompts_per_step", "mini_batch_size", "ppo_epochs", "max_response_tokens"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be > 0, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr: must be > 0, got {self.lr}")
        if self.kl_coef < 0:
            raise ValueError(f"kl_coef: must be >= 0, got {self.kl_coef}")
        if not 0 <= self.clip_low < 1 or self.clip_high < 0:
            raise ValueError(f"clip_low/clip_high: need 0 <= clip_low < 1 and clip_high >= 0, got {self.clip_low}, {self.clip_high}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p: must be in (0, 1], got {self.top_p}")
        if self.temperature <= 0:
            raise ValueError(f"temperature: RL sampling needs > 0, got {self.temperature}")
        if self.prompt_set is not None and self.prompt_set not in RL_PROMPT_SETS:
            raise ValueError(f"prompt_set: unknown RL prompt set {self.prompt_set!r}; known: {', '.join(RL_PROMPT_SETS)} "
                             "(or leave it unset and point prompts_path at a {question, answer} file)")
        for step, tokens in self.length_schedule.items():
            if int(step) < 0 or int(tokens) <= 0:
                raise ValueError(f"length_schedule.{step}: need step >= 0 and max tokens > 0, got {tokens}")
        if self.micro_batch_size < 0:
            raise ValueError(f"micro_batch_size: must be >= 0, got {self.micro_batch_size}")
        for name in ("validate_samples", "validate_rl_prompts", "validate_max_tokens", "validate_limit"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}: must be >= 0, got {getattr(self, name)}")
        if self.validate_temperature <= 0:
            raise ValueError(f"validate_temperature: must be > 0, got {self.validate_temperature}")
        plain: dict[str, str] = {}  # RL run name -> the init_from entry that makes it
        for i, src in enumerate(self.init_from):
            name = rl_run_name(src)
            if name in plain and plain[name] == src:
                raise ValueError(f"init_from[{i}]: {src!r} is listed twice")
            if name in plain:
                raise ValueError(f"init_from[{i}]: {src!r} and {plain[name]!r} both make RL run {name!r} (a directory's "
                                 "run is named by its last part); keep one, or start the other as an rl.variants entry")
            plain[name] = src
        for name in self.variants:
            if name in plain:
                raise ValueError(f"variants.{name}: clashes with the RL run of init_from entry {name!r}; rename the variant")
            if not name or "/" in name or name.startswith("rl-"):
                raise ValueError(f"variants.{name}: a variant name is a plain directory name (no '/', no 'rl-' prefix)")
        for name, (_, cfg) in self.runs().items():
            if name in self.variants:
                try:
                    cfg.validate()
                except ValueError as exc:
                    raise ValueError(f"variants.{name}.{exc}") from None
