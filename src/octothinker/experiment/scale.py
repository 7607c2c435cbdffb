"""`scale_recipe`: one knob that grows (or shrinks) a recipe's data, model and RL length together.

Data grows linearly (token budgets and the toy world's document counts, so data is not repeated
more), RL steps by ceil(sqrt(scale)) and tiny-model widths by round(sqrt(scale)) (at least 1), keeping
head counts so the hidden size stays divisible by them. RL length-schedule switch steps move with
the RL steps so that the schedule keeps its shape.
"""
from __future__ import annotations

import math

from ..config import Recipe, recipe_from_dict
from ..configio import to_dict

TOY_DOC_COUNTS = ("general_docs", "math_web_docs", "qa_docs", "instruct_docs")


def scale_factors(scale: float) -> dict[str, float]:
    """The multipliers `scale_recipe` applies: data (tokens, docs), rl_steps and model width."""
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale: must be a finite number > 0, got {scale!r}")
    return {"data": float(scale), "rl_steps": math.ceil(math.sqrt(scale)), "width": max(1, round(math.sqrt(scale)))}


def _grow(n: int, factor: float) -> int:
    return n if n == 0 else max(1, round(n * factor))


def _scale_rl(section: dict, steps_factor: int) -> None:
    if section.get("steps") is not None:
        section["steps"] = section["steps"] * steps_factor
    if section.get("length_schedule"):
        section["length_schedule"] = {int(k) * steps_factor: v for k, v in section["length_schedule"].items()}


def scale_recipe(recipe: Recipe, scale: float) -> Recipe:
    """The recipe with every size multiplied as the module doc says; scale 1 returns `recipe` itself."""
    f = scale_factors(scale)
    if scale == 1:
        return recipe
    d = to_dict(recipe)
    for mix in d["data"]["mixtures"].values():
        mix["tokens"] = _grow(mix["tokens"], f["data"])
    for stage in d["midtrain"]["stages"].values():
        if stage.get("tokens") is not None:
            stage["tokens"] = _grow(stage["tokens"], f["data"])
    for key in TOY_DOC_COUNTS:
        d["toyworld"][key] = _grow(d["toyworld"][key], f["data"])
    _scale_rl(d["rl"], f["rl_steps"])
    for variant in d["rl"]["variants"].values():
        _scale_rl(variant, f["rl_steps"])
    if d["model"]["init"] == "tiny":
        for key in ("hidden_size", "intermediate_size"):
            d["model"][key] = d["model"][key] * f["width"]
    return recipe_from_dict(d, source=recipe.source or "<scaled recipe>")
