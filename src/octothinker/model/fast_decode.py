"""A lean KV-cache forward for Llama-style decoders (Llama, Qwen2): the same weights and math as the HF
model, with a preallocated cache and a handful of fused ops per layer.

On small models, sampling time is dominated by per-op and per-module overhead (HF builds masks,
cache objects and ~40 module calls per layer per token); this path does ~15 tensor ops per layer.
`supports(model)` says when it applies; everything else falls back to the HF forward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .sampling import left_pad_positions

_TYPES = ("llama", "qwen2")
_LENGTH_DEPENDENT_ROPE = ("dynamic", "longrope")


def supports(model) -> bool:
    """True for a Llama/Qwen2-architecture causal LM with SiLU MLPs and plain full attention."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) not in _TYPES:
        return False
    if getattr(cfg, "hidden_act", "silu") != "silu" or getattr(cfg, "use_sliding_window", False):
        return False
    rope = getattr(cfg, "rope_parameters", None) or getattr(cfg, "rope_scaling", None) or {}
    if (rope.get("rope_type") or rope.get("type") or "default") in _LENGTH_DEPENDENT_ROPE:
        return False  # their frequencies depend on the current length; one table for all positions would be wrong
    inner = getattr(model, "model", None)
    return inner is not None and hasattr(inner, "layers") and hasattr(inner, "rotary_emb") and hasattr(model, "lm_head")


def _cat_bias(*linears):
    biases = [lin.bias for lin in linears]
    if all(b is None for b in biases):
        return None
    return torch.cat([b if b is not None else torch.zeros(lin.out_features, dtype=lin.weight.dtype, device=lin.weight.device)
                      for b, lin in zip(biases, linears)])


FUSE_MAX_PARAMS = 50_000_000  # fusing copies the weights: worth it only where per-op overhead dominates


class _Layer:
    """One decoder layer's weights; on small models q/k/v and gate/up are fused into single matmuls."""

    def __init__(self, layer, fuse: bool):
        att, mlp = layer.self_attn, layer.mlp
        self.ln1, self.eps1 = layer.input_layernorm.weight, layer.input_layernorm.variance_epsilon
        self.ln2, self.eps2 = layer.post_attention_layernorm.weight, layer.post_attention_layernorm.variance_epsilon
        self.qkv = (att.q_proj, att.k_proj, att.v_proj)
        self.gu = (mlp.gate_proj, mlp.up_proj)
        self.fused = fuse
        if fuse:
            self.qkv_w, self.qkv_b = torch.cat([m.weight for m in self.qkv]), _cat_bias(*self.qkv)
            self.gu_w, self.gu_b = torch.cat([m.weight for m in self.gu]), _cat_bias(*self.gu)
        self.o_w, self.o_b = att.o_proj.weight, att.o_proj.bias
        self.down_w, self.down_b = mlp.down_proj.weight, mlp.down_proj.bias
        self.inter = mlp.gate_proj.out_features

    def project_qkv(self, x):
        if self.fused:
            return F.linear(x, self.qkv_w, self.qkv_b)
        return torch.cat([F.linear(x, m.weight, m.bias) for m in self.qkv], dim=-1)

    def project_gate_up(self, x):
        if self.fused:
            return F.linear(x, self.gu_w, self.gu_b)
        return torch.cat([F.linear(x, m.weight, m.bias) for m in self.gu], dim=-1)


def _rms(x, weight, eps):
    """HF's RMSNorm (normalise in float32, cast back, then scale) as one fused op plus the scale."""
    if x.dtype == torch.float32:
        return weight * F.rms_norm(x, (x.shape[-1],), eps=eps)
    return weight * F.rms_norm(x.float(), (x.shape[-1],), eps=eps).to(x.dtype)


def _rope(x, cos, signed_sin):
    """HF's rotary embedding x*cos + rotate_half(x)*sin, with rotate_half's sign folded into `signed_sin`."""
    swapped = x.roll(x.shape[-1] // 2, dims=-1)  # (x2, x1)
    return torch.addcmul(x * cos, swapped, signed_sin)


class _Shared:
    """The prompts' cache kept once per prompt after `FastDecoder.repeat(n)`, and where each row's queries
    sit on a prompts x n grid: row r is sample `sample[r]` of live prompt `prompt[r]`. Finished rows leave
    (`select`), and a prompt whose rows have all left leaves the cache."""

    def __init__(self, keys_t, values, valid, n: int):
        self.keys_t, self.values, self.valid = keys_t, values, valid  # [L, P, kv, D, t], [L, P, kv, t, D], [P, t]
        self.n, self.prompt_len = n, valid.shape[1]
        prompts = torch.arange(valid.shape[0], device=valid.device)
        self.prompt = prompts.repeat_interleave(n)  # [rows]: index of each row's prompt among the live ones
        self.sample = torch.arange(n, device=valid.device).repeat(valid.shape[0])
        self._index()

    def _index(self) -> None:
        self.cell = self.prompt * self.n + self.sample  # each row's cell of the grid
        self.prompts = self.valid.shape[0]

    def allowed(self):
        """The prompt positions each row attends to, [rows, prompt_len] (pads excluded)."""
        return self.valid[self.prompt]

    def to_grid(self, x):
        """Rows' [rows, kv, g, m] -> the prompts' [P, kv, n*g, m] (cells of finished rows are zero)."""
        rows, kv, g, m = x.shape
        grid = x.new_zeros((self.prompts * self.n, kv, g, m))
        grid[self.cell] = x
        return grid.view(self.prompts, self.n, kv, g, m).transpose(1, 2).reshape(self.prompts, kv, self.n * g, m)

    def from_grid(self, y):
        """The prompts' [P, kv, n*g, m] -> rows' [rows, kv, g, m]."""
        p, kv, ng, m = y.shape
        g = ng // self.n
        return y.view(p, kv, self.n, g, m).transpose(1, 2).reshape(p * self.n, kv, g, m)[self.cell]

    def select(self, idx) -> None:
        prompt, self.sample = self.prompt[idx], self.sample[idx]
        live = torch.unique(prompt)  # sorted
        if live.numel() < self.prompts:
            self.keys_t, self.values, self.valid = self.keys_t[:, live], self.values[:, live], self.valid[live]
            prompt = torch.searchsorted(live, prompt)
        self.prompt = prompt
        self._index()


class FastDecoder:
    """Batched prefill + one-token decode steps over a preallocated cache of `capacity` positions.

    Rows are left-padded prompts (`mask` 0 on pads); `select(idx)` keeps only some rows (finished
    rows leave); `repeat(n)` gives each row n copies (n samples per prompt share one prefill).

    After `repeat(n > 1)` the prompt's keys and values are kept once per prompt, not once per row
    (`_attend_shared`): a decode step reads them once for the prompt's n rows, as one matmul of n
    queries, and only the responses have a cache per row. A decode step's attention reads the whole
    cache, so on CPU this saves most of its memory traffic when n = 8.
    """

    share_prompts = True  # False: repeat(n) copies the prompt cache for every row (the baseline of bench/)

    def __init__(self, model, batch: int, capacity: int):
        cfg = model.config
        inner = model.model
        p = next(model.parameters())
        self.dtype, self.device = p.dtype, p.device
        self.heads = cfg.num_attention_heads
        self.kv_heads = getattr(cfg, "num_key_value_heads", None) or self.heads
        self.head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.heads
        self.scale = self.head_dim ** -0.5
        self.embed = inner.embed_tokens.weight
        fuse = sum(p.numel() for p in model.parameters()) <= FUSE_MAX_PARAMS
        self.layers = [_Layer(layer, fuse) for layer in inner.layers]
        self.norm, self.norm_eps = inner.norm.weight, inner.norm.variance_epsilon
        self.head_w, self.head_b = model.lm_head.weight, getattr(model.lm_head, "bias", None)
        self.capacity = capacity
        positions = torch.arange(capacity, device=self.device)[None]
        cos, sin = inner.rotary_emb(self.embed[:1], positions)
        half = self.head_dim // 2
        sin = torch.cat([-sin[..., :half], sin[..., half:]], dim=-1)  # rotate_half's sign, folded in once
        self.cos, self.sin = cos[0].to(self.dtype), sin[0].to(self.dtype)  # [capacity, head_dim]
        n = len(self.layers)
        self.kt = torch.zeros((n, batch, self.kv_heads, self.head_dim, capacity), dtype=self.dtype, device=self.device)
        self.v = torch.zeros((n, batch, self.kv_heads, capacity, self.head_dim), dtype=self.dtype, device=self.device)
        self.valid = torch.zeros((batch, capacity), dtype=torch.bool, device=self.device)
        self.length = 0  # cache positions filled (same for every row: pads are masked, not skipped)
        self.shared = None  # after repeat(n > 1): the per-prompt prompt cache and each row's prompt (`_Shared`)

    def _qkv(self, x, lay: _Layer, cos, sin):
        """Queries, keys and values of x [B, T, H*D] as [B, heads, T, D], q and k rotated."""
        b, t, _ = x.shape
        qkv = lay.project_qkv(x).view(b, t, self.heads + 2 * self.kv_heads, self.head_dim).transpose(1, 2)
        qk = _rope(qkv[:, : self.heads + self.kv_heads], cos, sin)  # q and k heads rotated together
        return qk[:, : self.heads], qk[:, self.heads:], qkv[:, self.heads + self.kv_heads:]

    def _attend(self, x, li: int, lay: _Layer, cos, sin, attn_mask):
        """Attention of x [B, T, H*D] at cache slots [length, length+T); cos/sin [B, 1, T, D] of its positions.

        Keys are cached transposed ([D, positions]) so a decode step is two plain batched matmuls,
        faster on CPU than SDPA for one query; prefill (T > 1) uses SDPA.
        """
        b, t, _ = x.shape
        q, k, v = self._qkv(x, lay, cos, sin)
        end = self.length + t
        self.kt[li, :, :, :, self.length:end] = k.transpose(-1, -2)
        self.v[li, :, :, self.length:end] = v
        keys_t, values = self.kt[li, :, :, :, :end], self.v[li, :, :, :end]
        if t == 1:
            q = q.reshape(b, self.kv_heads, self.heads // self.kv_heads, self.head_dim)  # query heads by kv head
            scores = torch.matmul(q, keys_t).float().mul_(self.scale).add_(attn_mask)  # softmax in float32
            probs = torch.softmax(scores, dim=-1).to(values.dtype)
            out = torch.matmul(probs, values).view(b, self.heads, 1, self.head_dim)
        else:
            out = F.scaled_dot_product_attention(q, keys_t.transpose(-1, -2), values, attn_mask=attn_mask,
                                                 scale=self.scale, enable_gqa=self.kv_heads != self.heads)
        return F.linear(out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim), lay.o_w, lay.o_b)

    def _attend_shared(self, x, li: int, lay: _Layer, cos, sin, attn_mask, sh: "_Shared"):
        """One decode step's attention for rows whose prompt cache is shared (`_Shared`): the prompt part as
        one matmul per prompt over its rows' queries (laid out on a prompts x n grid), the response part
        per row; one softmax over both. `attn_mask` [B, 1, 1, prompt_len + responses so far] is additive."""
        b = x.shape[0]
        q, k, v = self._qkv(x, lay, cos, sin)
        slot = self.length - sh.prompt_len
        self.kt[li, :, :, :, slot:slot + 1] = k.transpose(-1, -2)
        self.v[li, :, :, slot:slot + 1] = v
        g = self.heads // self.kv_heads
        q = q.reshape(b, self.kv_heads, g, self.head_dim)
        scores_p = sh.from_grid(torch.matmul(sh.to_grid(q), sh.keys_t[li]))  # [b, kv, g, prompt_len]
        scores_r = torch.matmul(q, self.kt[li, :, :, :, : slot + 1])  # [b, kv, g, responses so far]
        scores = torch.cat([scores_p, scores_r], dim=-1).float().mul_(self.scale).add_(attn_mask)
        probs = torch.softmax(scores, dim=-1).to(self.v.dtype)
        t = sh.prompt_len
        out = sh.from_grid(torch.matmul(sh.to_grid(probs[..., :t]), sh.values[li]))
        out = out + torch.matmul(probs[..., t:], self.v[li, :, :, : slot + 1])
        return F.linear(out.reshape(b, 1, self.heads * self.head_dim), lay.o_w, lay.o_b)

    def _forward(self, ids, pos, allowed, shared=None):
        """Hidden states of ids [B, T] at rotary positions pos [B, T]; `allowed` [B, 1, T|1, end] is the bool mask
        (with `shared`: of the response cache only; the prompts' own mask is `shared.allowed()`)."""
        x = F.embedding(ids, self.embed)
        cos, sin = self.cos[pos].unsqueeze(1), self.sin[pos].unsqueeze(1)
        if shared is not None:
            allowed = torch.cat([shared.allowed()[:, None, None, :], allowed], dim=-1)
        attn_mask = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device).masked_fill_(~allowed, float("-inf"))
        for li, lay in enumerate(self.layers):
            a = _rms(x, lay.ln1, lay.eps1)
            x = x + (self._attend(a, li, lay, cos, sin, attn_mask) if shared is None
                     else self._attend_shared(a, li, lay, cos, sin, attn_mask, shared))
            gu = lay.project_gate_up(_rms(x, lay.ln2, lay.eps2))
            x = x + F.linear(F.silu(gu[..., :lay.inter]) * gu[..., lay.inter:], lay.down_w, lay.down_b)
        return x

    def _logits(self, h):
        return F.linear(_rms(h, self.norm, self.norm_eps), self.head_w, self.head_b).float()

    def prefill(self, ids, mask):
        """Run left-padded prompts [B, T] (mask 0 on pads); returns the last position's logits [B, V]."""
        b, t = ids.shape
        if t > self.capacity:
            raise ValueError(f"prompt of {t} tokens exceeds the decode capacity {self.capacity}")
        mask = mask.bool()
        pos = left_pad_positions(mask)
        self.valid[:b, :t] = mask
        causal = torch.ones((t, t), dtype=torch.bool, device=self.device).tril()
        attn = causal[None, None] & mask[:, None, None, :]
        attn = attn | torch.eye(t, dtype=torch.bool, device=self.device)[None, None]  # pad rows attend to themselves
        h = self._forward(ids, pos, attn)
        self.length = t
        self.last_pos = pos[:, -1]
        return self._logits(h[:, -1])

    def step(self, tokens):
        """Append one token per row [B]; returns next-token logits [B, V]."""
        if self.length >= self.capacity:
            raise ValueError(f"decode capacity {self.capacity} reached")
        self.last_pos = self.last_pos + 1
        if self.shared is not None:
            sh = self.shared
            slot = self.length - sh.prompt_len
            self.valid[:, slot] = True
            h = self._forward(tokens[:, None], self.last_pos[:, None], self.valid[:, None, None, : slot + 1], sh)
        else:
            self.valid[:, self.length] = True
            h = self._forward(tokens[:, None], self.last_pos[:, None], self.valid[:, None, None, : self.length + 1])
        self.length += 1
        return self._logits(h[:, -1])

    def repeat(self, n: int) -> None:
        """Each row becomes n consecutive rows (row i -> rows i*n .. i*n+n-1). Right after a prefill with
        n > 1 the prompts' cache is kept once per prompt (`_Shared`); the new rows get a response cache."""
        if n > 1 and self.share_prompts and self.shared is None and self.length > 0:
            rows, t = self.valid.shape[0], self.length
            self.shared = _Shared(self.kt[:, :, :, :, :t].contiguous(), self.v[:, :, :, :t].contiguous(),
                                  self.valid[:, :t].clone(), n)
            free = self.capacity - t
            shape = self.kt.shape
            self.kt = torch.zeros((shape[0], rows * n, shape[2], shape[3], free), dtype=self.dtype, device=self.device)
            self.v = torch.zeros((shape[0], rows * n, shape[2], free, self.head_dim), dtype=self.dtype, device=self.device)
            self.valid = torch.zeros((rows * n, free), dtype=torch.bool, device=self.device)
        elif self.shared is not None:
            raise ValueError("FastDecoder.repeat: rows already share their prompt's cache")
        else:
            self.kt = self.kt.repeat_interleave(n, dim=1)
            self.v = self.v.repeat_interleave(n, dim=1)
            self.valid = self.valid.repeat_interleave(n, dim=0)
        self.last_pos = self.last_pos.repeat_interleave(n, dim=0)

    def select(self, idx) -> None:
        """Keep only rows `idx` (a 1-D index tensor), in that order."""
        self.kt, self.v = self.kt[:, idx], self.v[:, idx]
        self.valid, self.last_pos = self.valid[idx], self.last_pos[idx]
        if self.shared is not None:
            self.shared.select(idx)
