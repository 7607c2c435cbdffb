"""verl reward function on the shared grader: `compute_score(data_source, solution_str, ground_truth, extra_info)`.

verl calls it once per response with the decoded response text; it returns 1.0 for a correct final
answer and 0.0 otherwise (the paper's R1-Zero reward), never raising and never hanging.
"""
from __future__ import annotations


def compute_score(data_source, solution_str, ground_truth, extra_info=None) -> float:
    from ..grading import grade

    kind, gold = "math", str(ground_truth)
    if isinstance(extra_info, dict) and extra_info.get("answer_kind"):
        kind = str(extra_info["answer_kind"])
    if isinstance(extra_info, dict) and isinstance(extra_info.get("answers"), (list, tuple)) and extra_info["answers"]:
        gold = [str(a) for a in extra_info["answers"]]  # several accepted answers (any of them is right)
    try:
        return 1.0 if grade(str(solution_str), gold, kind=kind).correct else 0.0
    except Exception:  # verl aborts the job on an exception; a broken response scores 0
        return 0.0
