"""RL update time with and without skipping the backward pass of zero-advantage rollouts, on a mid-trained model.

Two trainers start from the same model under the demo's RL settings (32 prompts x 8, one update per
step); one computes every rollout (the baseline), the other skips the backward of rollouts whose
advantage is exactly 0 (zero-variance groups; their entropy is still logged). Their steps alternate,
so a drift in machine speed biases neither. Prints per-step update times, the zero-variance share, the
ratio skip / baseline, and how far the two policies' parameters end apart (float rounding only).

    python bench/rl_update_skip.py --model runs/toy_demo/midtrain/short/final --steps 6
"""
from __future__ import annotations

import argparse
import statistics
import tempfile

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="runs/toy_demo/midtrain/short/final", help="a mid-trained model directory")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0, help="toy world and run seed")
    args = ap.parse_args()
    torch.set_num_threads(1)

    from transformers import AutoModelForCausalLM

    from octothinker.config import RLConfig, ToyWorldConfig
    from octothinker.data.tokenizer import load_tokenizer
    from octothinker.rl.trainer import RLTrainer
    from octothinker.toyworld import rl_prompts

    tok = load_tokenizer(args.model)
    prompts = rl_prompts(ToyWorldConfig(seed=args.seed))
    cfg = RLConfig(template="plain", steps=args.steps, prompts_per_step=32, group_size=8, mini_batch_size=256, lr=2e-4,
                   max_response_tokens=64, validate_every=0, save_every=0, rollout_samples=0, answer_kind="gsm")
    trainers = {}
    for name in ("baseline", "skip"):
        model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
        trainers[name] = RLTrainer(cfg, model, tok, prompts, tempfile.mkdtemp(prefix=f"skip_{name}_"), seed=args.seed)
    trainers["baseline"]._split_idle = lambda mini, adv: (mini.tolist(), [])
    times = {"baseline": [], "skip": []}
    for step in range(args.steps):
        for name in (("baseline", "skip") if step % 2 == 0 else ("skip", "baseline")):
            row = trainers[name].train_step(step)
            times[name].append(row["time_update"])
            if name == "skip":
                print(f"step {step + 1}: zero-variance share {row['zero_var_share']:.2f}, reward {row['reward_mean']:.3f}, "
                      f"entropy {row['entropy']:.3f}", flush=True)
    for name, ts in times.items():
        print(f"{name:8s} update s/step: " + " ".join(f"{t:.2f}" for t in ts) + f"  mean {statistics.mean(ts):.2f}")
    ratio = statistics.mean(times["skip"]) / statistics.mean(times["baseline"])
    a, b = (dict(trainers[n].model.named_parameters()) for n in ("baseline", "skip"))
    drift = max(float((a[k] - b[k]).detach().abs().max()) for k in a)
    print(f"ratio skip / baseline (update time): {ratio:.2f}; max |param difference| after {args.steps} steps: {drift:.2e}")


if __name__ == "__main__":
    main()
