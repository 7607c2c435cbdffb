"""The pipeline's time estimates: what each stage's time scales with (its work), the rates that turn work into
seconds (the last run's stage times, a short probe on this machine, or fixed rates), and their refinement as a
run's stages finish. `pipeline.plan` attaches them to its stages; the scheduler turns them into ETAs."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .config import Recipe
    from .pipeline import Stage


def _train_tokens_per_s(recipe: Recipe) -> float:
    """Fixed CPU throughput, the fallback of the ETAs (measured once on a 2-core machine: ~7k tok/s at ~1M params)."""
    m = recipe.model
    params = 12 * m.num_layers * m.hidden_size**2
    return max(300.0, 7_000.0 * (1_000_000 / max(params + 200_000, 1)) ** 0.8)


# ---------------------------------------------------------------------- time estimates
#
# A stage's `work` counts what its time scales with: tokens packed (data), tokens trained (forward +
# backward + optimizer), batched decode forwards and the row-tokens they produce (RL rollouts, eval),
# plus fixed seconds. `Rates` turn work into seconds. They come, per stage kind, from the first of:
#   1. the last run's stage times in pipeline.json (seconds per unit of work of the finished stages),
#   2. a short probe on this machine (`probe_rates`: a few training steps and decode steps of the
#      recipe's tiny model, ~1-2 s, once per process),
#   3. fixed throughputs measured once on a 2-core CPU (pretrained models, or no torch).

PROBED_KINDS = ("midtrain", "probe", "rl", "eval")
FIXED_BASIS = "fixed rates of a 2-core CPU"
LAST_RUN_BASIS = "the last run's stage times"


@dataclass
class Rates:
    train_tps: float  # tokens/s of training (forward + backward + AdamW step)
    decode_call_s: float = 0.0  # seconds per batched one-token decode forward (the part that does not grow with rows)
    # seconds per row-token of decoding budget (rows x max length, whatever the responses' real length): the toy
    # demo's RL stages ran at 8k-38k such tokens/s on one 2-core CPU, ~14k for the RL run from the short branch
    decode_token_s: float = 1 / 12000
    data_tps: float = 400_000.0  # tokens/s of data building (tokenize, pack)
    probe_s: float | None = None  # wall time of the probe that measured these (None: fixed rates)


def default_rates(recipe: Recipe) -> Rates:
    return Rates(train_tps=_train_tokens_per_s(recipe))


def work_seconds(work: dict, rates: Rates) -> float:
    """Seconds for `work` ({fixed_s, data_tokens, train_tokens, decode_calls, decode_tokens}) at `rates`."""
    return (float(work.get("fixed_s", 0.0)) + float(work.get("data_tokens", 0.0)) / rates.data_tps
            + float(work.get("train_tokens", 0.0)) / rates.train_tps + float(work.get("decode_calls", 0.0)) * rates.decode_call_s
            + float(work.get("decode_tokens", 0.0)) * rates.decode_token_s)


def calibrate(stages: list[Stage], state: dict, base: Rates, probe: Callable[[], Rates | None],
              cores: int | None = None) -> None:
    """Set every stage's `estimate_s` (seconds on all of this machine's threads) and `basis`.

    A kind with finished stages in `state` (the last run's pipeline.json) is scaled by them:
    sum(wall_s) / sum(work at `base`) over those stages (their recorded `work`, else the current
    plan's work of the same stage id); a stage that ran on fewer threads than `cores` (side by side)
    counts its wall divided by `thread_slowdown`. Other probed kinds use `probe()`'s rates (called at
    most once, only when needed; None = no probe possible); the rest use `base`.
    """
    from .scheduler import cpu_budget, thread_slowdown

    cores = cores or cpu_budget()
    works = {s.id: s.work for s in stages}
    spent: dict[str, list[float]] = {}
    for sid, rec in state.items():
        if not isinstance(rec, dict) or rec.get("status") != "done" or not rec.get("wall_s"):
            continue
        work = rec.get("work") or works.get(sid)
        est = work_seconds(work, base) if work else 0.0
        if est > 0:
            acc = spent.setdefault(sid.split(":")[0], [0.0, 0.0])
            acc[0] += float(rec["wall_s"]) / thread_slowdown(int(rec.get("threads") or cores), cores)
            acc[1] += est
    measured = None
    if any(s.kind in PROBED_KINDS and s.kind not in spent for s in stages):
        measured = probe()
    for s in stages:
        if s.kind in spent:
            wall, est = spent[s.kind]
            s.estimate_s, s.basis = work_seconds(s.work, base) * wall / est, LAST_RUN_BASIS
        elif measured is not None and s.kind in PROBED_KINDS:
            s.estimate_s, s.basis = work_seconds(s.work, measured), f"a {measured.probe_s or 0:.1f} s probe on this machine"
        else:
            s.estimate_s, s.basis = work_seconds(s.work, base), FIXED_BASIS


LENGTH_BOUND_KINDS = ("rl", "eval", "probe")  # their time follows response lengths the work model cannot know


def recalibrate(stages: list[Stage], state: dict, base: Rates, cores: int | None = None) -> None:
    """Re-estimate `stages` of every kind that has finished stages in `state` now (this run's as they finish,
    with the last run's), so a run's ETA corrects itself as data and mid-training stages finish. RL, eval and
    probe stages keep their estimate: one RL run's responses fill 8% of their budget and another's 75% (the toy
    demo), so one stage's time says little about the next one's."""
    import copy

    fresh = [copy.copy(s) for s in stages]
    calibrate(fresh, state, base, lambda: None, cores)
    for s, f in zip(stages, fresh):
        if f.basis == LAST_RUN_BASIS and s.kind not in LENGTH_BOUND_KINDS:
            s.estimate_s, s.basis = f.estimate_s, f.basis


def estimate_note(stages: list[Stage]) -> str:
    """How the plan's estimates were made, e.g. "midtrain, rl, eval from a 1.4 s probe on this machine; ..."."""
    kinds: dict[str, list[str]] = {}
    for s in stages:
        group = kinds.setdefault(s.basis or FIXED_BASIS, [])
        if s.kind not in group:
            group.append(s.kind)
    order = sorted(kinds, key=lambda b: (b == FIXED_BASIS, b != LAST_RUN_BASIS))
    return "; ".join(f"{', '.join(kinds[b])} from {b}" for b in order)


_PROBES: dict = {}


def probe_rates(recipe: Recipe, budget_s: float = 1.5) -> Rates | None:
    """This machine's throughputs for the recipe's tiny model, measured in ~`budget_s` seconds (cached per process).

    Times training steps (forward, backward, AdamW; the recipe's micro batch, sequence length and
    precision) and one-token decode steps at two batch sizes (the lean decoder where it applies),
    on the device the run would use. None where a probe would not stand for the run: pretrained
    models, models over 50M parameters, no torch, or OCTOTHINKER_ETA_PROBE=0.
    """
    import os

    if os.environ.get("OCTOTHINKER_ETA_PROBE", "1") in ("0", "") or recipe.model.init != "tiny":
        return None
    try:
        import torch
    except ImportError:
        return None
    device = recipe.run.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    vocab = recipe.tokenizer.vocab_size if recipe.tokenizer.kind == "toy_bpe" else 32_000
    mc = recipe.midtrain
    key = (repr(recipe.model), vocab, mc.micro_batch_size, recipe.data.seq_len, mc.precision, device, budget_s)
    if key not in _PROBES:
        try:
            _PROBES[key] = _measure(recipe, vocab, device, budget_s)
        except (RuntimeError, ValueError, OSError):  # no such device, out of memory: fall back to fixed rates
            _PROBES[key] = None
    return _PROBES[key]


def _measure(recipe: Recipe, vocab: int, device: str, budget_s: float) -> Rates | None:
    import contextlib

    import torch
    from transformers import LlamaForCausalLM

    from .model import fast_decode
    from .model.build import tiny_llama_config

    t_start = time.perf_counter()
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = LlamaForCausalLM(tiny_llama_config(recipe.model, vocab)).to(device)
    if sum(p.numel() for p in model.parameters()) > 50_000_000:
        return None
    mb, seq = recipe.midtrain.micro_batch_size, recipe.data.seq_len
    batch = torch.randint(0, vocab, (mb, seq), generator=torch.Generator().manual_seed(0)).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    bf16 = recipe.midtrain.precision == "bf16"

    def train_step(rows: int):
        ids = batch[:rows]
        ctx = torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        with ctx:
            loss = model(input_ids=ids, labels=ids, use_cache=False).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    def timed(fn, share: float, least: int = 2, warm: bool = True) -> float:
        """Median seconds of a call of fn (after a warm-up call) over `least` calls or `share` of the budget;
        the median, not the mean, so a moment of preemption on a busy machine does not decide the estimate."""
        if warm:
            fn()
        times, t0 = [], time.perf_counter()
        while len(times) < least or (time.perf_counter() - t0 < share * budget_s and len(times) < 50):
            t = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t)
        return sorted(times)[len(times) // 2]

    model.train()
    one_row = timed(lambda: train_step(1), 0.15, least=1)
    if mb > 1 and one_row * mb < 0.4 * budget_s:  # a whole micro batch fits the budget: time that (batching is cheaper)
        train_tps = mb * seq / timed(lambda: train_step(mb), 0.2, least=2)  # warmed: a new shape's first call is slow
    else:
        train_tps = seq / one_row
    if not fast_decode.supports(model):  # (a tiny Llama always is) the decode rates stay the fixed ones
        return Rates(train_tps=train_tps, probe_s=time.perf_counter() - t_start)
    model.eval()
    small, large, prompt = 4, 64, 16
    per_step = {}
    with torch.inference_mode():
        for rows in (small, large):
            dec = fast_decode.FastDecoder(model, rows, prompt + 64)  # room for the warm-up and at most 50 timed steps
            p_ids = torch.randint(2, vocab, (rows, prompt), generator=torch.Generator().manual_seed(1)).to(device)
            dec.prefill(p_ids, torch.ones_like(p_ids))

            def step(dec=dec, tok=p_ids[:, -1]):
                dec.step(tok)

            per_step[rows] = timed(step, 0.2, least=4)
    token_s = max((per_step[large] - per_step[small]) / (large - small), 1e-9)
    call_s = max(per_step[small] - token_s * small, 0.0)
    del model, opt
    return Rates(train_tps=train_tps, decode_call_s=call_s, decode_token_s=token_s, probe_s=time.perf_counter() - t_start)


def _rl_work(cfg, step0: bool = True) -> dict:
    """Rollout decoding (one batch of prompts x group rows per step, up to the scheduled length), the update,
    and the validation points (step 0 unless another run of its group computes it, every `validate_every`, the end)."""
    rows = cfg.prompts_per_step * cfg.group_size
    lengths = [cfg.max_response_tokens] * cfg.steps
    for start, value in sorted((int(k), int(v)) for k, v in (cfg.length_schedule or {}).items()):
        lengths[start:] = [value] * max(cfg.steps - start, 0)
    steps_decoded = sum(lengths)
    work = {"decode_calls": steps_decoded, "decode_tokens": rows * steps_decoded,
            "train_tokens": rows * steps_decoded * max(cfg.ppo_epochs, 1)}
    if cfg.validate_every:
        points = int(step0) + sum(1 for done in range(1, cfg.steps + 1) if done % cfg.validate_every == 0 or done == cfg.steps)
        for k, v in _validation_work(cfg).items():
            work[k] += points * v
    return work


def _readiness_work(cfg, probe) -> dict:
    """The probe's decoding: `samples` responses plus one greedy answer per prompt, up to RL's step-0 budget."""
    from .probe.runner import rl_budget

    budget = rl_budget(cfg)
    return {"fixed_s": 3, "decode_calls": 2 * budget, "decode_tokens": probe.prompts * (probe.samples + 1) * budget}


def _validation_work(cfg) -> dict:
    """The step-0 validation: greedy plus `validate_samples` responses per problem, up to the validation budget."""
    from .rl.validation import memorisation_problems, validation_budget

    n_sets = max(len(cfg.validate_benchmarks), 1)
    problems = n_sets * (cfg.validate_limit or 200) + memorisation_problems(cfg)
    budget = validation_budget(cfg)
    return {"decode_calls": 2 * n_sets * budget, "decode_tokens": problems * (1 + cfg.validate_samples) * budget}


def _eval_work(ev) -> dict:
    """Decoding every benchmark's problems (up to `limit`, 200 if unset) to max_new_tokens, batch by batch."""
    problems = ev.limit or 200
    batches = -(-problems // max(ev.batch_size, 1))
    n = len(ev.benchmarks)
    return {"fixed_s": 2, "decode_calls": n * batches * ev.max_new_tokens,  # 2 s: loading the model and the prompts
            "decode_tokens": n * problems * ev.n_samples * ev.max_new_tokens}
