"""Typed configs of the study-level recipe sections: `experiment` (seeds, findings, the readiness probe) and
`budget` (the assumptions `run --dry-run` prices compute with). Parsed by `config.load_recipe` like the rest."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional


# Peak dense bf16 tensor throughput per accelerator, TFLOP/s (vendor datasheets; no sparsity)
GPU_PEAK_TFLOPS = {"A100": 312.0, "H100": 989.0, "H100-PCIe": 756.0, "H200": 989.0, "B200": 2250.0,
                   "MI300X": 1307.0, "L40S": 362.0}


@dataclass
class BudgetConfig:
    """Assumptions of the compute budget that `run --dry-run` prints (`octothinker.budget`); they change no stage."""

    gpu: str = "H100"  # a key of GPU_PEAK_TFLOPS, or any name with peak_tflops set
    peak_tflops: Optional[float] = None  # peak dense bf16 TFLOP/s per GPU (default: the table's value for `gpu`)
    gpus: int = 1  # GPUs mid-training is spread over (torchrun world: memory per GPU, steps, wall time); RL uses
    # rl.verl's count under engine verl, else 1 GPU; evaluation 1 GPU (each runs in one process)
    train_mfu: float = 0.4  # model FLOPs utilisation of training (mid-training, the RL update)
    generation_mfu: float = 0.1  # utilisation of decoding (RL rollouts and validation, evaluation): memory-bound

    def validate(self) -> None:
        if self.peak_tflops is None and self.gpu not in GPU_PEAK_TFLOPS:
            raise ValueError(f"gpu: unknown GPU {self.gpu!r}; known: {', '.join(GPU_PEAK_TFLOPS)} (or set peak_tflops)")
        if self.peak_tflops is not None and self.peak_tflops <= 0:
            raise ValueError(f"peak_tflops: must be > 0, got {self.peak_tflops}")
        if self.gpus <= 0:
            raise ValueError(f"gpus: must be > 0, got {self.gpus}")
        for name in ("train_mfu", "generation_mfu"):
            if not 0 < getattr(self, name) <= 1:
                raise ValueError(f"{name}: must be in (0, 1], got {getattr(self, name)}")

    @property
    def peak_flops(self) -> float:
        """Peak FLOP/s of one GPU."""
        return 1e12 * (self.peak_tflops if self.peak_tflops is not None else GPU_PEAK_TFLOPS[self.gpu])


EXPERIMENT_METRICS = ("rl_accuracy", "rl_gain", "rl_sampled_accuracy", "rl_sampled_gain", "rl_length", "rl_truncation",
                      "rl_peak_drop", "fewshot_accuracy")


@dataclass
class ComparisonConfig:
    """One measured contrast of a finding: metric(a) - metric(b) per seed, claimed `expect` than zero."""

    a: str = ""  # an RL run name (rl_* metrics) or a model/stage name (fewshot_accuracy)
    b: str = ""
    metric: Literal[EXPERIMENT_METRICS] = "rl_accuracy"  # type: ignore[valid-type]  (the tuple above, one list)
    expect: Literal["greater", "less"] = "greater"  # the paper's claim: metric(a) is greater / less than metric(b)
    benchmark: str = "avg"  # a benchmark name, or avg over the validated/evaluated benchmarks
    label: str = ""

    def validate(self) -> None:
        if not self.a or not self.b:
            raise ValueError("a/b: a comparison needs both arms named")


@dataclass
class FindingConfig:
    """A claim of the paper and the comparisons that test it in the toy world."""

    title: str = ""
    claim: str = ""
    comparisons: list[ComparisonConfig] = field(default_factory=list)
    curves: list[str] = field(default_factory=list)  # RL runs whose curves are plotted together


@dataclass
class ReadinessProbeConfig:
    """`experiment.probe`: `octothinker probe` on the initial model of every RL run (controls excepted) before RL,
    as pipeline stages `probe:<run>`; the findings then rank-correlate each measure with the realised RL gain."""

    enabled: bool = False
    prompts: int = 64  # the first prompts of the run's RL stream
    samples: int = 16  # samples per prompt at the RL temperature (the k of pass@k)

    def validate(self) -> None:
        if self.prompts < 1:
            raise ValueError(f"prompts: must be >= 1, got {self.prompts}")
        if self.samples < 1:
            raise ValueError(f"samples: must be >= 1, got {self.samples}")


@dataclass
class ExperimentConfig:
    """`octothinker experiment`: the recipe run once per seed, then each finding measured across seeds."""

    seeds: list[int] = field(default_factory=lambda: [0])
    findings: dict[str, FindingConfig] = field(default_factory=dict)
    probe: ReadinessProbeConfig = field(default_factory=ReadinessProbeConfig)

    def validate(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds: need distinct seeds, got {self.seeds}")
