"""The probe's measures from graded samples (pure, no torch): what GRPO would get from a model before any RL.

Input per prompt: k sampled outcomes and one greedy outcome, each `(correct, n_tokens, text, truncated)`.
Pass@j, per-depth accuracies and the lucky-guess rate come from RL validation's `summarize` and the text
rates from RL's `text_metrics`, so the probe's numbers mean what the RL logs mean.
"""
from __future__ import annotations

from typing import Optional, Sequence

from ..eval.metrics import ks_for, pass_at_k
from ..grading.extract import extract_answer
from ..rl.metrics import text_metrics
from ..rl.validation import summarize as validation_summary

Outcome = tuple[bool, int, str, bool]  # (correct, n_tokens, text, truncated)


def group_signal(k: int, c: int, g: int) -> float:
    """Chance that a GRPO group of `g` of the `k` samples (c correct; drawn without replacement) mixes right and wrong."""
    all_wrong = 1.0 - pass_at_k(k, c, g)
    all_right = 1.0 - pass_at_k(k, k - c, g)
    return max(0.0, 1.0 - all_wrong - all_right)


def _mean(xs: Sequence[float]) -> Optional[float]:
    return sum(xs) / len(xs) if xs else None


def _chain_rate(recs: Sequence[dict], sampled: Sequence[Sequence[Outcome]]) -> Optional[float]:
    """Share of samples that write out every gold step (toy prompts, which carry a `key`); None otherwise."""
    if not recs or not all(r.get("key") for r in recs):
        return None
    from ..toyworld.chain import valid_chain

    return _mean([float(valid_chain(s[2], r["key"])) for r, group in zip(recs, sampled) for s in group])


def _by_depth(recs: Sequence[dict], greedy: Sequence[Outcome], counts: Sequence[int], k: int) -> dict:
    """Per number of steps (records with `steps`): prompts, greedy accuracy, pass@1 and the solved share."""
    depths: dict[int, list[int]] = {}
    for i, r in enumerate(recs):
        if "steps" in r:
            depths.setdefault(int(r["steps"]), []).append(i)
    return {str(d): {"prompts": len(idx), "greedy_accuracy": sum(greedy[i][0] for i in idx) / len(idx),
                     "pass@1": sum(counts[i] for i in idx) / (len(idx) * k),
                     "solved_share": sum(counts[i] > 0 for i in idx) / len(idx)}
            for d, idx in sorted(depths.items())}


def summarize_probe(recs: Sequence[dict], sampled: Sequence[Sequence[Outcome]], greedy: Sequence[Outcome],
                    kind: str = "math", group_size: Optional[int] = None,
                    rewards: Optional[Sequence[Sequence[float]]] = None) -> dict:
    """The probe's measures (shares in 0..1) of one model on `recs` from k samples and a greedy answer per prompt.

    `group_size` is the RL run's G (for `grpo_signal_share`, needs G <= k); `rewards` are the RL rewards of the
    samples (format bonus, truncation penalty, chain requirement applied; default: correctness).
    """
    if not recs or len(sampled) != len(recs) or len(greedy) != len(recs):
        raise ValueError(f"summarize_probe: need one sample group and one greedy outcome per prompt "
                         f"({len(recs)} prompts, {len(sampled)} groups, {len(greedy)} greedy)")
    k = len(sampled[0])
    if k < 1 or any(len(g) != k for g in sampled):
        raise ValueError("summarize_probe: every prompt needs the same number (>= 1) of samples")
    base = validation_summary("probe", recs, [g[:3] for g in greedy], [[s[:3] for s in g] for g in sampled])
    base = {key[len("val/probe/"):]: v for key, v in base.items()}
    counts = [sum(bool(s[0]) for s in g) for g in sampled]
    flat = [s for g in sampled for s in g]
    texts, lengths = [s[2] for s in flat], [int(s[1]) for s in flat]
    correct, truncated = [bool(s[0]) for s in flat], [bool(s[3]) for s in flat]
    tm = text_metrics(texts, lengths, correct, truncated)
    rewards = rewards if rewards is not None else [[float(s[0]) for s in g] for g in sampled]
    n = len(recs)
    out: dict = {
        "n_prompts": n,
        "samples_per_prompt": k,
        **{f"pass@{j}": base[f"pass@{j}"] for j in ks_for(k)},
        "solved_share": sum(c > 0 for c in counts) / n,
        "mixed_share": sum(0 < c < k for c in counts) / n,
        "all_correct_share": sum(c == k for c in counts) / n,
        "grpo_signal_share": (sum(group_signal(k, c, group_size) for c in counts) / n
                              if group_size and 2 <= group_size <= k else None),
        "reward_variance_share": sum(len(set(r)) > 1 for r in rewards) / n,
        "format_rate": sum(extract_answer(t, kind) is not None for t in texts) / len(texts),
        "boxed_rate": tm["boxed_rate"],
        "termination_rate": 1.0 - tm["truncation_rate"],
        "truncation_rate": tm["truncation_rate"],
        "repetition_rate": tm["repetition_rate"],
        "reflection_rate": tm["reflection_rate"],
        "response_len_mean": tm["response_len_mean"],
        "response_len_max": tm["response_len_max"],
        "response_len_correct": _mean([n_ for n_, ok in zip(lengths, correct) if ok]),
        "response_len_wrong": _mean([n_ for n_, ok in zip(lengths, correct) if not ok]),
        "chain_rate": _chain_rate(recs, sampled),
        "lucky_rate": base.get("lucky_rate"),
        "greedy_accuracy": base["accuracy"],
        "greedy_response_len": base["response_len"],
        "greedy_truncation_rate": sum(bool(g[3]) for g in greedy) / n,
        "greedy_format_rate": sum(extract_answer(g[2], kind) is not None for g in greedy) / n,
        "by_depth": _by_depth(recs, greedy, counts, k),
    }
    return out


def _pct(x: Optional[float]) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def verdict(m: dict, group_size: Optional[int] = None, max_tokens: Optional[int] = None) -> str:
    """One line on what the numbers say about GRPO's signal from this model; no claim about the gain itself."""
    k = m["samples_per_prompt"]
    if m["solved_share"] == 0:
        return f"no prompt answered correctly in {k} samples: GRPO gets no reward signal from these prompts"
    signal = m["grpo_signal_share"]
    where = f" at group size {group_size}" if signal is not None else f" of {k} samples"
    signal = m["mixed_share"] if signal is None else signal
    note = "GRPO gets signal" if signal >= 0.1 else "little GRPO signal"
    parts = [f"learnable groups {_pct(signal)}{where} ({note})", f"pass@1 {_pct(m['pass@1'])} vs pass@{k} {_pct(m[f'pass@{k}'])}"]
    if m.get("lucky_rate") is not None:
        parts.append(f"lucky {_pct(m['lucky_rate'])}" + (" (most correct answers skip the gold steps)" if m["lucky_rate"] > 0.5 else ""))
    if m.get("chain_rate") is not None:
        parts.append(f"gold chain in {_pct(m['chain_rate'])} of samples" if m["chain_rate"] else "no sample writes the gold chain")
    if m["truncation_rate"] >= 0.2:
        parts.append(f"truncated {_pct(m['truncation_rate'])}" + (f" at {max_tokens} tokens" if max_tokens else ""))
    if m["format_rate"] < 0.5:
        parts.append(f"parsable answers {_pct(m['format_rate'])}")
    return ", ".join(parts)


def _num(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.1f}"


def table_rows(m: dict, group_size: Optional[int] = None, max_tokens: Optional[int] = None) -> list[tuple[str, str]]:
    """(measure, value) rows of the console table, in reading order."""
    k = m["samples_per_prompt"]
    ks = ks_for(k)
    rows = [
        ("pass@" + "/".join(map(str, ks)), " / ".join(f"{100 * m[f'pass@{j}']:.1f}" for j in ks) + " %"),
        (f"prompts solved in {k} samples", _pct(m["solved_share"])),
        (f"groups with 0 < correct < {k}", _pct(m["mixed_share"])),
    ]
    if m["grpo_signal_share"] is not None:
        rows.append((f"GRPO groups of {group_size} with signal (est.)", _pct(m["grpo_signal_share"])))
    rows += [
        ("groups with reward variance", _pct(m["reward_variance_share"])),
        ("greedy accuracy", _pct(m["greedy_accuracy"])),
        ("parsable final answer", _pct(m["format_rate"])),
        ("terminated before " + (f"{max_tokens} tokens" if max_tokens else "the budget"), _pct(m["termination_rate"])),
        ("repeated 4-grams", _pct(m["repetition_rate"])),
    ]
    if m["chain_rate"] is not None:
        rows += [("gold chain written", _pct(m["chain_rate"])), ("lucky (correct, no gold chain)", _pct(m["lucky_rate"]))]
    rows.append(("length mean / correct / wrong", " / ".join(_num(m[f"response_len_{x}"]) for x in ("mean", "correct", "wrong"))))
    for d, v in m["by_depth"].items():
        rows.append((f"depth {d} ({v['prompts']} prompts): pass@1 / solved / greedy",
                     f"{_pct(v['pass@1'])} / {_pct(v['solved_share'])} / {_pct(v['greedy_accuracy'])}"))
    return rows


def format_table(rows: Sequence[tuple[str, str]]) -> str:
    """A two-column Markdown table."""
    w = max(len("measure"), *(len(a) for a, _ in rows))
    v = max(len("value"), *(len(b) for _, b in rows))
    lines = [f"| {'measure'.ljust(w)} | {'value'.ljust(v)} |", f"|{'-' * (w + 2)}|{'-' * (v + 2)}|"]
    lines += [f"| {a.ljust(w)} | {b.ljust(v)} |" for a, b in rows]
    return "\n".join(lines)
