"""Decontamination: a planted benchmark overlap is found, counted per source x benchmark and dropped."""
import json

import pytest

from octothinker.data.decontam import Decontaminator, MCItem, NgramIndex, load_real_benchmarks, mc_item, words

BENCH_Q = ("A train leaves the station at noon travelling sixty miles per hour toward a city "
           "two hundred miles away; when does it arrive?")
CLEAN = "The garden was quiet and the bees moved slowly between the flowers in the late afternoon sun."


def test_words_normalise_case_and_punctuation():
    assert words("Hello, World! x^2+3=7") == ["hello", "world", "x", "2", "3", "7"]


def test_planted_13gram_overlap_found_and_counted():
    idx = NgramIndex(13)
    idx.add("bench_a", [BENCH_Q])
    idx.add("bench_b", ["Entirely different question about triangles and their many interesting angles today."])
    # 13 consecutive words of BENCH_Q, re-cased and re-punctuated, inside unrelated text
    planted = "Notes. " + " ".join(words(BENCH_Q)[3:16]).upper() + " -- end of notes."
    twelve = "Notes. " + " ".join(words(BENCH_Q)[3:15]) + " end."
    assert idx.match(planted) == {"bench_a"}
    assert idx.match(twelve) == set()
    assert idx.match(CLEAN) == set()
    d = Decontaminator(idx, drop=False)
    kept = list(d.filter("web", [CLEAN, planted, twelve, planted]))
    assert len(kept) == 4
    rep = d.report()
    assert rep["contaminated_docs"] == {"web": {"bench_a": 2, "bench_b": 0}}
    assert rep["checked_docs"] == {"web": 4} and rep["dropped_docs"] == {"web": 0}


def test_drop_removes_contaminated_docs_and_uncounted_pass_still_drops():
    idx = NgramIndex(13)
    idx.add("bench", [BENCH_Q])
    d = Decontaminator(idx, drop=True)
    assert list(d.filter("qa", [CLEAN, "x " + BENCH_Q + " y"])) == [CLEAN]
    assert list(d.filter("qa", ["x " + BENCH_Q], count=False)) == []
    rep = d.report()
    assert rep["dropped_docs"] == {"qa": 1} and rep["checked_docs"] == {"qa": 2}


@pytest.mark.parametrize(
    "question, doc, hit",
    [
        ("Tom has 3 apples and buys 4 more apples.", "Intro. Tom has 3 apples and buys 4 more apples. Done", True),
        ("Tom has 3 apples and buys 4 more apples.", "Tom has 5 apples and buys 4 more apples.", False),
        ("What is 2 plus 2", "what is 2 plus 2", False),  # under MIN_WORDS: never indexed
    ],
)
def test_whole_question_mode(question, doc, hit):
    idx = NgramIndex(13)
    idx.add("toy", [question], whole=True)
    assert (idx.match(doc) == {"toy"}) is hit


def test_whole_mode_ignores_shared_template_phrasing():
    q = "Ava collected 86 apples. Next, she takes 60 apples out of the basket. How many apples are there at the end?"
    doc = "Max collected 12 apples. Next, he takes 5 apples out of the basket. How many apples are there at the end?"
    whole, ngram = NgramIndex(13), NgramIndex(13)
    whole.add("toy", [q], whole=True)
    ngram.add("toy", [q])
    assert whole.match(doc) == set() and ngram.match(doc) == {"toy"}


def test_load_real_benchmarks_minimal_reader(tmp_path):
    (tmp_path / "gsm8k").mkdir()
    (tmp_path / "gsm8k" / "test.jsonl").write_text(json.dumps({"question": BENCH_Q, "answer": "2"}) + "\n")
    (tmp_path / "svamp").mkdir()
    (tmp_path / "svamp" / "test.jsonl").write_text(json.dumps({"Body": "Ann has 3 pens.", "Question": "How many?"}) + "\n")
    (tmp_path / "gpqa").mkdir()
    (tmp_path / "gpqa" / "gpqa_diamond.json").write_text(json.dumps([{"Question": "Why is the sky blue?"}]))
    got = load_real_benchmarks(tmp_path)
    assert got == {"gpqa": ["Why is the sky blue?"], "gsm8k": [BENCH_Q], "svamp": ["Ann has 3 pens. How many?"]}
    with pytest.raises(FileNotFoundError, match="benchmark_dir"):
        load_real_benchmarks(tmp_path / "missing")


def test_an_ngram_shorter_than_the_anchor_is_refused():
    """n-grams are found by their first MIN_WORDS words: a shorter n would silently match nothing."""
    import pytest

    from octothinker.config import DECONTAM_MIN_WORDS, recipe_from_dict
    from octothinker.configio import ConfigError
    from octothinker.data.decontam import MIN_WORDS

    assert DECONTAM_MIN_WORDS == MIN_WORDS
    with pytest.raises(ValueError, match=f"ngram: must be >= {MIN_WORDS}, got 5"):
        NgramIndex(5)
    with pytest.raises(ConfigError, match=r"data.decontamination.ngram: must be >= 6, got 5"):
        recipe_from_dict({"data": {"decontamination": {"ngram": 5}}})
    index = NgramIndex(MIN_WORDS)
    index.add("b", ["Natalia sold clips to many of her friends in April and May"])
    assert index.match("so Natalia sold clips to many of her friends, they said") == {"b"}


def test_a_short_multiple_choice_stem_flags_only_a_document_with_its_options(tmp_path):
    """MMLU-style stems of at most n words are matched whole; with the options appended, a generic stem in
    a training document is not leakage, the stem followed by its options is, and so is the stem alone as
    the entire text (a copied question)."""
    stem = "Which of the following statements is true?"
    (tmp_path / "mmlu_stem").mkdir()
    (tmp_path / "mmlu_stem" / "test.jsonl").write_text(json.dumps({"question": stem, "options": ["0", "4", "2", "6"], "answer": "B"}) + "\n")
    (tmp_path / "mathqa").mkdir()
    (tmp_path / "mathqa" / "test.jsonl").write_text(json.dumps({"problem": "the ratio of 5 : 6 ?", "options": "a ) 1 , b ) 2"}) + "\n")
    got = load_real_benchmarks(tmp_path)
    assert got == {"mathqa": [("the ratio of 5 : 6 ? a ) 1 , b ) 2", "the ratio of 5 : 6 ?")],
                   "mmlu_stem": [(f"{stem} A) 0 B) 4 C) 2 D) 6", stem)]}
    index = NgramIndex(13)
    index.add("mmlu_stem", got["mmlu_stem"])
    assert index.match(f"Lecture notes. {stem} It depends on the axioms chosen.") == set()
    assert index.match(f"Quiz: {stem} (A) 0 (B) 4 (C) 2 (D) 6. Answer: B") == {"mmlu_stem"}
    assert index.match(f"Q. {stem}\nA. 0\nB. 4\nC. 2\nD. 6") == {"mmlu_stem"}
    assert index.match(f"Q. {stem} A. 0 B. 4 and more") == set()  # the whole item, not the stem plus a label
    long_stem = "Find the degree for the given field extension Q of sqrt 2 and sqrt 3 over the rationals Q"
    index.add("mmlu_stem", [MCItem(f"{long_stem} A) 0 B) 4", long_stem)])
    assert index.match(f"Notes: {long_stem}.") == {"mmlu_stem"}  # a long stem keeps its own n-grams
    assert index.match(stem) == {"mmlu_stem"} and index.match(f"{stem} Discuss.") == set()
    options_only = NgramIndex(6)
    options_only.add("mmlu_stem", [mc_item(long_stem, [1, 2, 3, 4])])  # numbers lettered as strings
    assert options_only.match("Pick one: (A) 1 (B) 2 (C) 3 (D) 4") == set()  # never n-grams of the options alone
    assert mc_item("Which of the following statements is true?", ["", " "]) == "Which of the following statements is true?"
