"""Tokenizers: a small byte-level BPE for the toy world (digits always one token each), or an HF one.

Both come back as `transformers.PreTrainedTokenizerFast` with pad/eos set, saved in HF format so
that every checkpoint directory carries its tokenizer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

PAD = "<|pad|>"
EOS = "<|endoftext|>"
SPECIAL_TOKENS = [PAD, EOS]  # ids 0 and 1 in the toy tokenizer


def train_toy_tokenizer(texts: Iterable[str], vocab_size: int = 384, join_space_digit: bool = False):
    """Train a byte-level BPE whose pre-tokenizer splits every digit on its own.

    One token per digit is what lets ~1M-parameter models learn arithmetic within a few
    million tokens (a BPE that merges digits learned nothing in the same budget).
    `join_space_digit`: a space before a digit stays with it (" 7" can be one token), so the token
    before a number's first digit is the word before it, which a copying (induction) head can key on;
    otherwise every number starts after the same bare " " token.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    digits = (pre_tokenizers.Split(Regex(r" ?[0-9]"), behavior="isolated") if join_space_digit
              else pre_tokenizers.Digits(individual_digits=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            digits,
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, eos_token=EOS, bos_token=EOS, clean_up_tokenization_spaces=False
    )


def load_tokenizer(path: str | Path):
    """Load an HF tokenizer (hub id or local dir) and make sure it has pad and eos tokens."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    if tok.eos_token is None:
        raise ValueError(f"{path}: tokenizer has no eos token; packing needs one to mark document ends")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok
