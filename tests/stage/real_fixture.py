"""Small checkpoints in the real hub formats, built in-process (no network): for the real-model path tests.

`build_real_checkpoint(out_dir, style)` writes what a hub snapshot of the family looks like, at toy size:
- a byte-level BPE tokenizer trained with `tokenizers` on a generated math-ish English corpus, with the
  family's pre-tokenizer regex (Llama-3 groups digits up to three; Qwen2.5 splits every digit), ByteLevel
  decoder, its special tokens and chat template. `llama3`: `<|begin_of_text|>` prepended by the
  post-processor (TemplateProcessing), `<|end_of_text|>` eos, a pad token that is neither, header / eot
  tokens. `qwen2`: no BOS, `<|endoftext|>` both eos and pad, `<|im_start|>` / `<|im_end|>`.
- a 2-layer model (hidden 64, GQA): `LlamaForCausalLM` with llama3 rope scaling and an untied head, or
  `Qwen2ForCausalLM` with q/k/v biases and tied embeddings; bf16 weights; a generation config with two
  stop ids (Llama-3's `<|eot_id|>`, Qwen's `<|im_end|>` beside eos).
Both are saved with `save_pretrained`, then the metadata files are rewritten in the layout transformers
4.x wrote them on the hub (`rope_scaling`, `torch_dtype`, `tokenizer_class`, chat template inside
tokenizer_config.json, special_tokens_map.json).

The models are randomly initialised: the tests check formats and plumbing, not answers.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

VOCAB_SIZE = 1024

# The pre-tokenizer splits of the two families (tokenizer.json of meta-llama/Llama-3.2-1B, Qwen/Qwen2.5-0.5B):
# Llama-3 groups digits up to three, Qwen2.5 splits every digit.
LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

LLAMA3_CHAT = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)
QWEN2_CHAT = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}"
)


@dataclass(frozen=True)
class Style:
    """What differs between the hub families that matter here: special tokens, BOS, pad, stops, architecture."""

    name: str
    specials: tuple[str, ...]
    bos: str | None  # prepended by the tokenizer's post-processor (None: the tokenizer adds no BOS)
    eos: str
    pad: str | None  # None: the hub tokenizer has no pad token (Llama-3.2)
    stops: tuple[str, ...]  # generation_config eos ids (all end a sequence)
    split: str
    chat_template: str
    tokenizer_class: str
    arch: str  # llama | qwen2
    chat_markers: tuple[str, ...]


LLAMA3 = Style("llama3", ("<|begin_of_text|>", "<|end_of_text|>", "<|finetune_right_pad_id|>", "<|start_header_id|>",
                          "<|end_header_id|>", "<|eot_id|>"),
               bos="<|begin_of_text|>", eos="<|end_of_text|>", pad="<|finetune_right_pad_id|>",
               stops=("<|end_of_text|>", "<|eot_id|>"), split=LLAMA3_SPLIT, chat_template=LLAMA3_CHAT,
               tokenizer_class="PreTrainedTokenizerFast", arch="llama", chat_markers=("<|start_header_id|>",))
# Qwen2.5 base: no BOS, pad is the eos token itself, tied embeddings, q/k/v biases
QWEN2 = Style("qwen2", ("<|endoftext|>", "<|im_start|>", "<|im_end|>"), bos=None, eos="<|endoftext|>", pad="<|endoftext|>",
              stops=("<|endoftext|>", "<|im_end|>"), split=QWEN2_SPLIT, chat_template=QWEN2_CHAT,
              tokenizer_class="Qwen2Tokenizer", arch="qwen2", chat_markers=("<|im_start|>",))
STYLES = {s.name: s for s in (LLAMA3, QWEN2)}

_NAMES = ["Ava", "Ben", "Chen", "Dara", "Eli", "Farah", "Gus", "Hana", "Ivo", "Jun"]
_THINGS = ["apples", "marbles", "books", "coins", "pencils", "stickers", "eggs", "cards"]


def _sentences(rng: random.Random, n: int) -> list[str]:
    """Word problems with worked answers, statements with equations, LaTeX-ish fragments, plain prose."""
    out = []
    for _ in range(n):
        name, thing = rng.choice(_NAMES), rng.choice(_THINGS)
        a, b = rng.randint(2, 999), rng.randint(2, 99)
        kind = rng.randrange(4)
        if kind == 0:
            out.append(f"Question: {name} has {a} {thing} and buys {b} more. How many {thing} does {name} have now?\n"
                       f"Answer: {name} has {a} + {b} = {a + b} {thing}. The answer is {a + b}.")
        elif kind == 1:
            out.append(f"Problem:\nCompute ${a} \\times {b}$.\n\nSolution:\nWe have ${a} \\times {b} = {a * b}$.\n"
                       f"The final answer is $\\boxed{{{a * b}}}$.")
        elif kind == 2:
            out.append(f"The sum of {a} and {b} is {a + b}, and their difference is {a - b}. "
                       f"If we divide {a * b} by {b} we get {a} again.")
        else:
            out.append(f"{name} walked to the market with a bag of {thing}. It was a sunny day, and the "
                       f"{thing} were counted twice: first {a}, then {a} again.")
    return out


def corpus_texts(n: int = 1500, seed: int = 0) -> list[str]:
    """The tokenizer's training corpus: generated sentences plus the toy world's math web and QA documents."""
    from octothinker.config import ToyWorldConfig
    from octothinker.data.templates import DEFAULT_FIELDS, render
    from octothinker.toyworld import CORPORA, corpus

    texts = _sentences(random.Random(seed), n)
    cfg = ToyWorldConfig(seed=seed)
    for name in ("math_web_hq", "qa_short", "general"):
        texts += [render(CORPORA[name], rec, DEFAULT_FIELDS[CORPORA[name]]) for rec in corpus(name, cfg, n_docs=150)]
    return texts


def train_real_tokenizer(texts: list[str], style: Style = LLAMA3, vocab_size: int = VOCAB_SIZE):
    """A byte-level BPE of `style` as a `PreTrainedTokenizerFast` (its BOS rule, eos/pad, chat template)."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False, ignore_merges=style.arch == "llama"))
    if style.arch == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(style.split), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(style.specials),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    post = [processors.ByteLevel(trim_offsets=False)]
    if style.bos:
        post.append(processors.TemplateProcessing(single=f"{style.bos}:0 $A:0", pair=f"{style.bos}:0 $A:0 {style.bos}:1 $B:1",
                                                  special_tokens=[(style.bos, tok.token_to_id(style.bos))]))
    tok.post_processor = processors.Sequence(post)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=style.bos, eos_token=style.eos, pad_token=style.pad,
                                   clean_up_tokenization_spaces=style.arch == "llama", model_max_length=131072,
                                   model_input_names=["input_ids", "attention_mask"])
    fast.chat_template = style.chat_template
    return fast


def build_model(tokenizer, style: Style = LLAMA3, seed: int = 0):
    """A 2-layer model of the family's shape: Llama-3.2 (GQA, llama3 rope, untied head) or Qwen2.5 (GQA, q/k/v
    biases, tied embeddings)."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    ids = tokenizer.convert_tokens_to_ids
    bos = ids(style.bos) if style.bos else ids(style.eos)  # Qwen2.5's config names <|endoftext|> as bos too
    eos = ids(style.eos)
    common = dict(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=192, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048, bos_token_id=bos,
                  eos_token_id=eos)
    if style.arch == "llama":
        config = LlamaConfig(**common, head_dim=16, rms_norm_eps=1e-5, tie_word_embeddings=False, pad_token_id=None,
                             rope_parameters={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
                                              "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                              "original_max_position_embeddings": 256})
        cls = LlamaForCausalLM
    else:
        config = Qwen2Config(**common, rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
                             sliding_window=2048, max_window_layers=2,
                             rope_parameters={"rope_type": "default", "rope_theta": 1000000.0})
        cls = Qwen2ForCausalLM
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    model.generation_config = GenerationConfig(bos_token_id=bos, eos_token_id=[ids(t) for t in style.stops],
                                               do_sample=True, temperature=0.7, top_p=0.9)
    return model


def build_real_checkpoint(out_dir: str | Path, style: Style | str = LLAMA3, seed: int = 0) -> Path:
    """Write model + tokenizer of `style` into `out_dir` with `save_pretrained`, laid out as a hub snapshot."""
    import torch

    style = STYLES[style] if isinstance(style, str) else style
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok = train_real_tokenizer(corpus_texts(seed=seed), style)
    model = build_model(tok, style, seed).to(torch.bfloat16)  # hub weights are bf16
    model.save_pretrained(str(out))
    tok.save_pretrained(str(out))
    _hub_layout(out, tok, style)
    return out


def _hub_layout(out: Path, tok, style: Style) -> None:
    """Rewrite the metadata files as the hub snapshots have them (written by transformers 4.x): `rope_scaling` /
    `rope_theta` / `torch_dtype` in config.json, the family's `tokenizer_class` with the chat template and
    `added_tokens_decoder` inside tokenizer_config.json, and a special_tokens_map.json."""
    import json

    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope.pop("rope_theta")
    cfg["rope_scaling"] = rope if rope.get("rope_type") != "default" else None
    cfg["torch_dtype"] = cfg.pop("dtype")
    cfg["transformers_version"] = "4.45.0.dev0"
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")
    template = (out / "chat_template.jinja").read_text()
    (out / "chat_template.jinja").unlink()
    added = {str(tok.convert_tokens_to_ids(t)): {"content": t, "lstrip": False, "normalized": False, "rstrip": False,
                                                 "single_word": False, "special": True} for t in style.specials}
    specials = {"bos_token": style.bos, "eos_token": style.eos, "pad_token": style.pad}
    tc = {"added_tokens_decoder": added, **specials, "chat_template": template,
          "clean_up_tokenization_spaces": style.arch == "llama", "model_input_names": ["input_ids", "attention_mask"],
          "model_max_length": 131072, "tokenizer_class": style.tokenizer_class}
    if style.arch == "qwen2":
        tc.update(errors="replace", split_special_tokens=False, add_prefix_space=False)
    (out / "tokenizer_config.json").write_text(json.dumps(tc, indent=2) + "\n")
    (out / "special_tokens_map.json").write_text(
        json.dumps({k: v for k, v in specials.items() if v is not None}, indent=2) + "\n")
