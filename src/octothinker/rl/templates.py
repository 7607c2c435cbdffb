"""Prompt templates for R1-Zero RL and RL-style evaluation (shared with `octothinker.eval`).

"simple" is a Question/Answer prompt that invites step-by-step reasoning; "complex" is a
User/Assistant exchange where the assistant reasons inside <think>...</think> and boxes the
answer, with generation starting inside the think block; "plain" is a bare question prompt.
"""
from __future__ import annotations

TEMPLATES = ("simple", "complex", "plain")

_COMPLEX_SYSTEM = (
    "A dialogue between a User and an Assistant. The User poses a problem and the Assistant "
    "solves it. The Assistant first works through the reasoning privately, inside <think> </think> "
    "tags, and then states the final answer inside \\boxed{}."
)

# Strings that end a response early: the model starting the next turn or the next question.
_STOPS = {
    "simple": ["\n\nQuestion:"],
    "plain": ["\n\nQuestion:"],
    "complex": ["\nUser:"],
}


def render(template: str, question: str) -> str:
    """The prompt text for `question` under `template` (simple | complex | plain)."""
    question = question.strip()
    if template == "simple":
        return f"Question: {question}\nAnswer: Let's work through this step by step."
    if template == "complex":
        return f"{_COMPLEX_SYSTEM}\nUser: {question}\nAssistant: <think>"
    if template == "plain":
        return f"Question: {question}\nAnswer:"
    raise ValueError(f"template: unknown RL template {template!r}; choose one of {', '.join(TEMPLATES)}")


def stop_strings(template: str) -> list[str]:
    """Strings at which sampling under `template` stops (in addition to EOS)."""
    if template not in _STOPS:
        raise ValueError(f"template: unknown RL template {template!r}; choose one of {', '.join(TEMPLATES)}")
    return list(_STOPS[template])


def format_ok(template: str, response: str) -> bool:
    """Whether a response follows the template's answer format (for the optional format reward).

    complex: the think block is closed and a boxed answer follows it; simple/plain: a boxed answer.
    """
    if template == "complex":
        head, sep, tail = response.partition("</think>")
        return bool(sep) and "\\boxed{" in tail and "<think>" not in tail
    return "\\boxed{" in response
