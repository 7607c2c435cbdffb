"""RL step time on the toy world: ours vs TRL's GRPOTrainer configured the same way, plus sampler vs generate.

Same tiny Llama, tokenizer, prompts, group size, max completion length, loss (token mean, DAPO),
no KL, one update per rollout batch, shared grader as the reward. Prints per-step times, our
step split (generation / reward / update) and the ratio ours / TRL (goal <= 0.5). Our steps run
once before and once after TRL's (same seed, same work) and are averaged, so a machine whose speed
drifts during the run biases neither side.

    python bench/rl_step.py --steps 5
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from octothinker.config import ModelConfig, RLConfig, ToyWorldConfig
from octothinker.data.tokenizer import train_toy_tokenizer
from octothinker.model.build import build_model, count_parameters
from octothinker.rl.rollout import sample
from octothinker.rl.templates import render
from octothinker.rl.trainer import RLTrainer
from octothinker.toyworld import rl_prompts


def setup(args):
    recs = rl_prompts(ToyWorldConfig(rl_prompts=400))
    tok = train_toy_tokenizer([r["question"] + " \\boxed{" + str(r["answer"]) + "}" for r in recs], 384)
    mcfg = ModelConfig(hidden_size=args.hidden, intermediate_size=3 * args.hidden, num_layers=args.layers, num_heads=4, num_kv_heads=4)
    return recs, tok, mcfg


def bench_ours(args, recs, tok, mcfg) -> tuple[list[float], dict]:
    cfg = RLConfig(template="plain", steps=args.steps + 1, prompts_per_step=args.prompts, group_size=args.group,
                   mini_batch_size=args.prompts * args.group, lr=1e-5, temperature=1.0, max_response_tokens=args.max_tokens,
                   validate_every=0, save_every=0, rollout_samples=0, answer_kind="gsm")
    model = build_model(mcfg, tok, seed=0)
    tr = RLTrainer(cfg, model, tok, recs, tempfile.mkdtemp(prefix="rlbench_"), seed=0)
    rows = [tr.train_step(s) for s in range(args.steps + 1)][1:]  # first step warms up
    split = {k: statistics.mean(r[k] for r in rows) for k in ("time_gen", "time_reward", "time_reward_wait", "time_old_logp", "time_update")}
    split["gen_tokens"] = statistics.mean(r["response_len_mean"] * args.prompts * args.group for r in rows)
    return [r["time_step"] for r in rows], split


def bench_trl(args, recs, tok, mcfg) -> list[float]:
    from datasets import Dataset
    from transformers import TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from octothinker.grading import grade_many

    def reward(prompts, completions, answer, **_):
        return [1.0 if v.correct else 0.0 for v in grade_many(completions, answer, "gsm", 5.0)]

    times: list[float] = []

    class Timer(TrainerCallback):
        def on_step_begin(self, a, s, c, **k):
            self.t = time.perf_counter()

        def on_step_end(self, a, s, c, **k):
            times.append(time.perf_counter() - self.t)

    data = Dataset.from_list([{"prompt": render("plain", r["question"]), "answer": str(r["answer"])} for r in recs])
    out = tempfile.mkdtemp(prefix="trlbench_")
    gcfg = GRPOConfig(
        output_dir=out, per_device_train_batch_size=args.prompts * args.group, num_generations=args.group,
        gradient_accumulation_steps=1, max_completion_length=args.max_tokens, num_iterations=1, beta=0.0,
        loss_type="dapo", learning_rate=1e-5, temperature=1.0, top_p=1.0, max_steps=args.steps + 1,
        logging_steps=1, report_to=[], save_strategy="no", use_cpu=True, bf16=False, seed=0,
        dataloader_num_workers=0, disable_tqdm=True,
    )
    model = build_model(mcfg, tok, seed=0)
    model.generation_config.pad_token_id = tok.pad_token_id
    trainer = GRPOTrainer(model=model, reward_funcs=reward, args=gcfg, train_dataset=data, processing_class=tok,
                          callbacks=[Timer()])
    trainer.train()
    return times[1:]


def bench_sampler(args, recs, tok, mcfg) -> tuple[float, float]:
    """New tokens/s: our KV-cache sampler vs `model.generate` on the same batch and lengths."""
    model = build_model(mcfg, tok, seed=0).eval()
    prompts = [render("plain", r["question"]) for r in recs[: args.prompts]]
    g = torch.Generator().manual_seed(0)
    t = time.perf_counter()
    ro = sample(model, tok, prompts, args.group, args.max_tokens, 1.0, 1.0, None, g)
    ours = sum(len(r) for r in ro.response_ids) / (time.perf_counter() - t)
    tok.padding_side = "left"
    enc = tok(prompts, return_tensors="pt", padding=True)
    t = time.perf_counter()
    with torch.no_grad():
        out = model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, max_new_tokens=args.max_tokens,
                             num_return_sequences=args.group, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id)
    new = out[:, enc["input_ids"].shape[1]:]
    n_new = int(((new != tok.pad_token_id).cumsum(1) > 0).sum())
    return ours, n_new / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--skip-trl", action="store_true")
    args = ap.parse_args()
    torch.manual_seed(0)
    recs, tok, mcfg = setup(args)
    print(f"model: {count_parameters(build_model(mcfg, tok)):,} params; {args.prompts} prompts x {args.group} rollouts, "
          f"max {args.max_tokens} new tokens, {args.steps} timed steps; torch threads {torch.get_num_threads()}")
    s_ours, s_gen = bench_sampler(args, recs, tok, mcfg)
    print(f"sampler: ours {s_ours:,.0f} new tok/s, model.generate {s_gen:,.0f} new tok/s, ratio {s_ours / s_gen:.2f}x")
    ours, split = bench_ours(args, recs, tok, mcfg)
    if args.skip_trl:
        print_ours(ours, split)
        return
    try:
        trl = bench_trl(args, recs, tok, mcfg)
    except Exception as exc:  # report why TRL could not run rather than a ratio
        print_ours(ours, split)
        print(f"TRL: could not run: {type(exc).__name__}: {exc}")
        return
    ours_after, split_after = bench_ours(args, recs, tok, mcfg)
    ours = ours + ours_after
    split = {k: (split[k] + split_after[k]) / 2 for k in split}
    mo, mt = statistics.mean(ours), statistics.mean(trl)
    print_ours(ours, split)
    print(f"TRL GRPOTrainer: step {mt:.3f}s (steps {', '.join(f'{x:.2f}' for x in trl)})")
    print(f"ratio ours / TRL = {mo / mt:.2f} (goal <= 0.5)")


def print_ours(ours: list[float], split: dict) -> None:
    print(f"ours: step {statistics.mean(ours):.3f}s (steps {', '.join(f'{x:.2f}' for x in ours)}); split gen {split['time_gen']:.3f}s, "
          f"reward (on its thread) {split['time_reward']:.3f}s, waited {split['time_reward_wait']:.3f}s, "
          f"old-logp {split['time_old_logp']:.3f}s, update {split['time_update']:.3f}s; ~{split['gen_tokens']:.0f} tokens/step")


if __name__ == "__main__":
    main()
