"""QA and chat corpora: short CoT, long CoT with reflection, and instruction following.

`qa_short` is a problem plus one equation per line and a boxed answer (MegaMath-QA /
OpenMathInstruct-2 stand-in); `qa_long` thinks aloud inside `<think>` with exploration, checks and
corrected slips (OpenR1-Math / AM-DeepSeek-R1-Distilled stand-in); `instruct` is chat turns with
format requests (TULU3 instruction following / WildChat / UltraChat stand-in).
"""
from __future__ import annotations

import random

from . import lexicon as L
from .problems import Problem, question_parts, render_question, short_solution
from .web import ProblemSource, _world_fields

REFLECT = ["Wait, let me verify", "Let me double-check", "Hmm, let me check that again"]


def qa_short_doc(rng: random.Random, draw: ProblemSource, restate: bool = False) -> tuple[dict, list[str]]:
    p = draw()
    parts = question_parts(rng, p)
    return {"problem": " ".join(parts), "solution": short_solution(p, parts if restate else None)}, [p.key]


def _inverse(a: int, op: str, k: int, c: int) -> str:
    """An equation that undoes a step, used to check it."""
    if op == "+":
        return f"{c} - {k} = {a}"
    if op == "-":
        return f"{c} + {k} = {a}"
    return f"{c} / {k} = {a}"


_OPENERS = ["Okay, let me work through this.", "Let me think about this step by step.",
            "Alright, I need to follow the changes in order."]
_EXPLORE = ["Should I just add up all the numbers? No, each step changes the running amount, so I go in order.",
            "Maybe I can combine steps, but it is safer to do them one at a time.",
            "The order matters here, especially for the multiplication, so I keep a running total."]
_NARRATE = {"+": ["Adding {k}: {eq}.", "Then {k} more: {eq}."],
            "-": ["Taking away {k}: {eq}.", "Then {k} fewer: {eq}."],
            "*": ["Multiplying by {k}: {eq}.", "Then {k} times as many: {eq}."]}


def long_solution(rng: random.Random, p: Problem, parts: list[str] | None = None) -> str:
    """`<think>` with exploration, step checks and an occasional corrected slip, then the boxed answer.

    With the question's `parts`, each step's sentence is repeated before its narration (as in the short CoT).
    """
    lines = ["<think>", rng.choice(_OPENERS), f"The starting amount is {p.start}."]
    if rng.random() < 0.5:
        lines.append(rng.choice(_EXPLORE))
    vals = p.values()
    for i, (op, k) in enumerate(p.steps):
        a, c = vals[i], vals[i + 1]
        if parts:
            lines.append(parts[1 + i])
        if rng.random() < 0.15:
            bad = c + rng.choice([-2, -1, 1, 2] if c >= 2 else [1, 2])
            lines.append(rng.choice(_NARRATE[op]).format(k=k, eq=f"{a} {op} {k} = {bad}"))
            lines.append(f"Wait, that is not right. {a} {op} {k} is {c}, not {bad}. So it is {c}.")
        else:
            lines.append(rng.choice(_NARRATE[op]).format(k=k, eq=f"{a} {op} {k} = {c}"))
        if rng.random() < 0.35:
            lines.append(f"{rng.choice(REFLECT)}: {_inverse(a, op, k, c)}. Yes, that matches.")
    lines.append(f"So the final amount is {p.answer}.")
    if rng.random() < 0.5:
        chain = " ".join([str(p.start)] + [f"{op} {k}" for op, k in p.steps])
        lines.append(f"{rng.choice(REFLECT)} the whole chain once more: {chain} gives {p.answer}. Good.")
    lines += ["</think>", f"The answer is \\boxed{{{p.answer}}}."]
    return "\n".join(lines)


def qa_long_doc(rng: random.Random, draw: ProblemSource, restate: bool = False) -> tuple[dict, list[str]]:
    p = draw()
    parts = question_parts(rng, p)
    return {"problem": " ".join(parts), "solution": long_solution(rng, p, parts if restate else None)}, [p.key]


# ----------------------------------------------------------------------------- instruct

_BOXED_ASKS = ["Please reason step by step, and put your final answer within \\boxed{}.",
               "Show your steps and put the final answer in \\boxed{}.",
               "Solve it and write the final answer as \\boxed{answer}."]


def _two_sentences(rng: random.Random) -> str:
    f = _world_fields(rng)
    return (f"{f['name']} keeps {f['poss']} {f['adj']} {f['obj']} in a {f['where']}. "
            f"Every day at {f['place']}, {f['p']} shows them to {f['friend']}.")


def _chat_task(rng: random.Random, draw: ProblemSource, restate: bool = False) -> tuple[str, str, list[str]]:
    """One (user, assistant, problem keys) exchange; math or a formatting instruction."""
    kind = rng.choice(["boxed", "boxed", "number", "sentences", "list", "lower", "title"])
    if kind in ("boxed", "number"):
        p = draw()
        parts = question_parts(rng, p)
        q = " ".join(parts)
        if kind == "boxed":
            return f"{q}\n{rng.choice(_BOXED_ASKS)}", short_solution(p, parts if restate else None), [p.key]
        return f"{q}\nReply with only the number.", str(p.answer), [p.key]
    f = _world_fields(rng)
    if kind == "sentences":
        return f"Write exactly two sentences about {f['name']} and {f['poss']} {f['obj']}.", _two_sentences(rng), []
    if kind == "list":
        items = rng.sample(L.PLACES, 3)
        return (f"List three places where {f['name']} could look for {f['obj']}. Use a bulleted list.",
                "\n".join(f"- {x}" for x in items), [])
    if kind == "lower":
        text = f"{f['name']}'s {f['where']} is {f['adj']} and full of {f['obj']}."
        return f"Describe {f['name']}'s {f['where']} in one sentence, all in lowercase letters.", text.lower(), []
    return (f"Give a short title for a story about {f['name']} at {f['place']}, in capital letters.",
            f"{f['name']} AT {f['place']}".upper(), [])


def instruct_doc(rng: random.Random, draw: ProblemSource, restate: bool = False) -> tuple[dict, list[str]]:
    messages, keys = [], []
    for _ in range(1 if rng.random() < 0.7 else 2):
        user, assistant, k = _chat_task(rng, draw, restate)
        messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
        keys += k
    return {"messages": messages}, keys

