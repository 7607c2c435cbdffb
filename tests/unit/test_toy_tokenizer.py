"""The toy BPE's digit handling: one token per digit, and with `join_space_digit` the space before a
number's first digit kept with it (so the token before a copied number is the word before it)."""
import pytest

from octothinker.data.tokenizer import train_toy_tokenizer

TEXTS = ["She finds 2 more. She loses 15. Mia has 20 coins.\nShe finds 2 more: 17 + 2 = 19",
         "Start with 3. Subtract 1. Add 3. The answer is \\boxed{105}."] * 50


def pieces(tok, s):
    return [tok.decode([i]) for i in tok(s)["input_ids"]]


@pytest.mark.parametrize("join", [False, True])
def test_every_digit_is_its_own_token_and_text_round_trips(join):
    tok = train_toy_tokenizer(TEXTS, vocab_size=300, join_space_digit=join)
    for s in ["17 + 2 = 19", "x=105, 3.5 and \\boxed{2048}", "  7  8", "a9b 0"]:
        ps = pieces(tok, s)
        assert tok.decode(tok(s)["input_ids"]) == s
        for p in ps:  # no token holds two digits, and a digit's token holds at most one space before it
            assert sum(c.isdigit() for c in p) <= 1
            if any(c.isdigit() for c in p):
                assert p.lstrip(" ").isdigit() and len(p) - len(p.lstrip(" ")) <= (1 if join else 0)


def test_join_space_digit_keeps_the_space_with_the_first_digit():
    apart = train_toy_tokenizer(TEXTS, vocab_size=300)
    joined = train_toy_tokenizer(TEXTS, vocab_size=300, join_space_digit=True)
    assert pieces(apart, " 17 + 2")[-2:] == [" ", "2"]
    assert pieces(joined, " 17 + 2") == [" 1", "7", " +", " 2"]
    assert pieces(joined, "=19") == ["=", "1", "9"]
