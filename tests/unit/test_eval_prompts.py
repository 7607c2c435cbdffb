"""Prompt construction: the paper's shot counts, stop strings, toy format, RL templates."""
import re

import pytest

from octothinker.config import ToyWorldConfig
from octothinker.eval.prompts import FEWSHOT, GSM_SHOTS, MATH_SHOTS, MC_SHOTS, OCW_SHOTS, build_prompt, question_text

REC = {"id": "x", "question": "What is 2 + 2?", "answer": "4", "kind": "gsm"}
MC = {"id": "y", "question": "Pick one.", "choices": ["red", "blue", "green"], "answer": "B", "kind": "mc"}


@pytest.mark.parametrize(
    "bench,k,marker,stop",
    [("gsm8k", 8, "Question:", "\n\nQuestion:"), ("svamp", 8, "Question:", "\n\nQuestion:"),
     ("asdiv", 8, "Question:", "\n\nQuestion:"), ("mawps", 8, "Question:", "\n\nQuestion:"),
     ("tabmwp", 8, "Question:", "\n\nQuestion:"), ("math", 4, "Problem:", "\n\nProblem:"),
     ("math500", 4, "Problem:", "\n\nProblem:"), ("olympiad_bench", 4, "Problem:", "\n\nProblem:"),
     ("ocw", 4, "Problem:", "\n\nProblem:"), ("amc23", 0, "Problem:", "\n\nProblem:"),
     ("sat", 4, "Question:", "\n\nQuestion:"), ("mathqa", 4, "Question:", "\n\nQuestion:"),
     ("mmlu_stem", 4, "Question:", "\n\nQuestion:")],
)
def test_paper_shot_counts_and_stops(bench, k, marker, stop):
    rec = MC if bench in ("sat", "mathqa", "mmlu_stem") else REC
    text, stops = build_prompt(bench, rec)
    assert text.count(marker) == k + 1
    assert stop in stops
    assert text.endswith("Answer:" if marker == "Question:" else "Solution:")
    assert question_text(rec) in text


def test_shots_override_and_bounds():
    text, _ = build_prompt("gsm8k", REC, shots=2)
    assert text.count("Question:") == 3
    with pytest.raises(ValueError, match="between 0 and 4"):
        build_prompt("math500", REC, shots=5)


def test_mc_question_lists_lettered_choices():
    assert question_text(MC) == "Pick one.\nAnswer choices:\n(A) red\n(B) blue\n(C) green"


def test_exemplars_are_graded_correct_by_the_shared_grader():
    from octothinker.grading import grade

    for _, a in GSM_SHOTS:
        assert grade(a, re.search(r"The answer is (\d+)\.$", a).group(1), "gsm").correct
    for _, s in MATH_SHOTS + OCW_SHOTS:
        assert grade(s, re.search(r"\\boxed\{(.+)\}\$\.$", s).group(1), "math").correct
    for _, _, a in MC_SHOTS:
        assert grade(a, re.search(r"\((\w)\)\.$", a).group(1), "mc").correct
    assert len({q for q, _ in GSM_SHOTS}) == 8


def test_toy_prompt_uses_toy_exemplars():
    cfg = ToyWorldConfig()
    text, stops = build_prompt("toy_gsm", REC, toy_cfg=cfg)
    from octothinker.toyworld import fewshot_exemplars

    ex = fewshot_exemplars(FEWSHOT["toy_gsm"][1], cfg)
    assert text.startswith(f"Question: {ex[0]['question']}\nAnswer: {ex[0]['solution']}\n\nQuestion:")
    assert text.endswith("Question: What is 2 + 2?\nAnswer:") and "\n\nQuestion:" in stops


def test_rl_template_protocol_uses_rl_render():
    from octothinker.rl.templates import render

    for template in ("simple", "complex", "plain"):
        text, stops = build_prompt("math500", REC, protocol="rl_template", template=template)
        assert text == render(template, REC["question"])
    with pytest.raises(ValueError, match="protocol"):
        build_prompt("math500", REC, protocol="zeroshot")
