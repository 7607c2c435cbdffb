"""Answer grading shared by evaluation and RL: extraction, normalisation, safe equivalence."""

from octothinker.grading.extract import extract_answer
from octothinker.grading.grader import Verdict, grade, grade_many
from octothinker.grading.pool import shutdown_pool

__all__ = ["Verdict", "extract_answer", "grade", "grade_many", "shutdown_pool"]
