"""bench/gpu_check.py's correctness checks: left-padded batches against each row alone (HF forward and the RL
scorer, with gradients) and the lean decoder against the HF forward; each returns a report Row (PASS/FAIL)."""
from __future__ import annotations

import math

import torch

from gpu_check_report import Row, _dtype_name, fmt, judge, rel_err

NOISE_FACTOR = 3.0  # a bf16 check's limit: at least 3x the bf16 forward's own error against fp32, measured in the run
TOL = {  # floors of max |got - want| / std(want), per dtype of the compared forwards
    "bfloat16": {"leftpad_logits": 0.05, "leftpad_logps": 0.05, "fast_decode": 0.05, "ac_loss": 1e-3},
    "float32": {"leftpad_logits": 1e-4, "leftpad_logps": 1e-4, "fast_decode": 1e-4, "ac_loss": 1e-5},
}


def _autocast(device: torch.device, dtype: torch.dtype | None):
    """Autocast to `dtype`; None or fp32 turns autocast off, also inside an enclosing autocast region."""
    if dtype is None or dtype == torch.float32:
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=dtype)


def _grads_finite(model) -> bool:
    return all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)


def noise_limit(tol: float, noise: float) -> float:
    """The check's limit: `tol`, or NOISE_FACTOR x the low-precision forward's own error against fp32 when larger."""
    return max(tol, NOISE_FACTOR * noise) if math.isfinite(noise) else math.nan


def _noise_text(dtype, noise: float, limit: float) -> str:
    if dtype in (None, torch.float32):
        return "fp32, limit = tol"
    return f"{_dtype_name(dtype)} forward's own error vs fp32 {fmt(noise)}, limit max(tol, {NOISE_FACTOR:g} x that)"


def check_left_padding(model, rows: list[list[int]], pad_id: int, tol: float, dtype: torch.dtype | None = None,
                       mask=None, section: str = "correctness") -> Row:
    """Left-padded batch logits (with a backward, as the RL prompt pass) vs each row alone; FAIL also if a pads-unmasked control passes."""
    from octothinker.model.sampling import left_pad_positions, pad_rows

    device = next(model.parameters()).device
    ids, attn = pad_rows(rows, pad_id, left=True)
    if mask is not None:
        attn = torch.as_tensor(mask, dtype=torch.long).clone()
    ids, attn = ids.to(device), attn.to(device)
    width = ids.shape[1]
    model.zero_grad(set_to_none=True)
    with _autocast(device, dtype):
        logits = model(input_ids=ids, attention_mask=attn, position_ids=left_pad_positions(attn), use_cache=False).logits
        batched = [logits[i, width - len(r):].float() for i, r in enumerate(rows)]
        sum(b.logsumexp(-1).mean() for b in batched).backward()
    finite = _grads_finite(model)
    model.zero_grad(set_to_none=True)
    with torch.no_grad():
        exact = [model(input_ids=torch.tensor([r], device=device), use_cache=False).logits[0].float() for r in rows]
        with _autocast(device, dtype):
            alone = [model(input_ids=torch.tensor([r], device=device), use_cache=False).logits[0].float() for r in rows]
            ones = torch.ones_like(attn)
            ctl_logits = model(input_ids=ids, attention_mask=ones, position_ids=left_pad_positions(ones), use_cache=False).logits
            control = [ctl_logits[i, width - len(r):].float() for i, r in enumerate(rows)]
    limit = noise_limit(tol, rel_err(alone, exact))
    err, ctl = rel_err(batched, alone), rel_err(control, alone)
    sensitive = math.isfinite(ctl) and ctl > limit
    detail = (f"{len(rows)} rows, lengths {[len(r) for r in rows]}, fp32 weights; {_noise_text(dtype, rel_err(alone, exact), limit)}; "
              f"grads {'finite' if finite else 'NOT finite'}; control (pads unmasked) {fmt(ctl)}"
              f"{'' if sensitive else ' <= limit: check cannot see a wrong mask'}")
    return judge(section, "left-pad logits vs row alone (HF fwd+bwd)", err, limit, detail, ok=finite and sensitive)


def check_scorer_left_padding(model, prompts: list[list[int]], responses: list[list[int]], pad_id: int, tol: float,
                              dtype: torch.dtype | None = None, section: str = "correctness") -> Row:
    """The RL scorer's (`policy_batch.token_logps`) log-probs of left-padded prompts, with a backward, vs each rollout alone."""
    from octothinker.rl.policy_batch import build_batch, token_logps

    device = next(model.parameters()).device
    batch = build_batch(prompts, responses, pad_id)
    model.zero_grad(set_to_none=True)
    with _autocast(device, dtype):
        logp, _, mask = token_logps(model, batch, torch.arange(len(prompts)), False, device)
        (logp * mask).sum().backward()
    finite = _grads_finite(model)
    model.zero_grad(set_to_none=True)
    got, want, exact = [], [], []
    with torch.no_grad():
        for j, (p, r) in enumerate(zip(prompts, responses)):
            one = build_batch([p], [r], pad_id)
            exact.append(token_logps(model, one, torch.tensor([0]), False, device)[0][0][: len(r)])
            with _autocast(device, dtype):
                want.append(token_logps(model, one, torch.tensor([0]), False, device)[0][0][: len(r)])
            got.append(logp[j, : len(r)].detach())
    noise = rel_err(want, exact)
    limit = noise_limit(tol, noise)
    detail = (f"{len(prompts)} rollouts, prompt lengths {[len(p) for p in prompts]}, fp32 weights; {_noise_text(dtype, noise, limit)}; "
              f"grads {'finite' if finite else 'NOT finite'}")
    return judge(section, "left-pad RL scorer log-probs vs alone", rel_err(got, want), limit, detail, ok=finite)


def check_fast_decode(model, rows: list[list[int]], steps: int, pad_id: int, tol: float, dtype: torch.dtype | None = None,
                      section: str = "correctness") -> Row:
    """Lean-decoder logits vs the HF forward on each whole sequence at every step (rows dropped half-way); `dtype`: autocast."""
    import copy

    from octothinker.model import fast_decode
    from octothinker.model.sampling import pad_rows

    weights = next(model.parameters()).dtype
    name = "lean decoder logits vs HF forward" + (" (autocast)" if dtype not in (None, torch.float32) else "")
    if not fast_decode.supports(model):
        return Row(section, name, "FAIL", None, "", None, tol, f"{type(model).__name__}: not supported by fast_decode")
    device = next(model.parameters()).device
    fp32 = model if weights == torch.float32 else copy.deepcopy(model).float()
    ids, mask = (t.to(device) for t in pad_rows(rows, pad_id, left=True))
    seqs = [list(r) for r in rows]
    got, want, exact = [], [], []

    def last_logits(m, autocast):
        with _autocast(device, dtype if autocast else None):
            return torch.stack([m(input_ids=torch.tensor([s], device=device), use_cache=False).logits[0, -1].float() for s in seqs])

    with torch.inference_mode(), _autocast(device, dtype):
        dec = fast_decode.FastDecoder(model, len(rows), ids.shape[1] + steps)
        logits = dec.prefill(ids, mask)
        for step in range(steps):
            ref = last_logits(model, True)
            exact.append(last_logits(fp32, False))
            got.append(logits.float())
            want.append(ref)
            nxt = ref.argmax(-1)
            for s, t in zip(seqs, nxt.tolist()):
                s.append(t)
            if step == steps // 2 and len(seqs) > 1:
                keep = list(range(len(seqs) - 1, -1, -2))  # drop every other row and reverse the order
                dec.select(torch.tensor(keep, device=device))
                seqs, nxt = [seqs[k] for k in keep], nxt[keep]
            if step < steps - 1:
                logits = dec.step(nxt)
    low = dtype if dtype not in (None, torch.float32) else weights
    noise = rel_err(want, exact)
    limit = noise_limit(tol, noise)
    detail = (f"{len(rows)} rows, lengths {[len(r) for r in rows]}, {steps} steps, {_dtype_name(weights)} weights"
              f"{'' if low is weights else ' under ' + _dtype_name(dtype) + ' autocast'}; {_noise_text(low, noise, limit)}")
    return judge(section, name, rel_err(got, want), limit, detail)
