"""The toy world: a seeded arithmetic universe with corpora, benchmarks and RL prompts (no downloads).

See docs/toyworld.md for what each corpus stands in for and the measured learnability.
"""
from .disjoint import check_disjoint
from .problems import Problem, split_of
from .world import BENCHMARKS, CORPORA, benchmark, benchmark_names, corpus, fewshot_exemplars, rl_prompts

__all__ = [
    "BENCHMARKS", "CORPORA", "Problem", "benchmark", "benchmark_names", "check_disjoint", "corpus", "fewshot_exemplars",
    "rl_prompts", "split_of",
]
