"""LR schedules as exact tables: warmup, stable (constant), each decay shape, the ablation schedule."""
import math

import pytest

from octothinker.train.schedules import decay_shape, lr_at, lr_table

C = 0.5 * (1 + math.cos(math.pi / 4))  # cosine at a quarter of the way
S = 1 - math.sqrt(0.5)


@pytest.mark.parametrize(
    "kwargs, total, expected",
    [
        ({"schedule": "constant", "lr": 1.0, "warmup_steps": 4}, 6, [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]),
        ({"schedule": "constant", "lr": 3e-4}, 3, [3e-4, 3e-4, 3e-4]),
        ({"schedule": "cosine", "lr": 1.0, "min_lr": 0.0}, 4, [1.0, C, 0.5, 1 - C]),
        ({"schedule": "cosine", "lr": 2.0, "min_lr": 1.0}, 2, [2.0, 1.5]),
        ({"schedule": "linear", "lr": 1.0, "min_lr": 0.2}, 4, [1.0, 0.8, 0.6, 0.4]),
        ({"schedule": "1-sqrt", "lr": 1.0, "min_lr": 0.0}, 4, [1.0, 0.5, S, 1 - math.sqrt(0.75)]),
        ({"schedule": "warmup_cosine", "lr": 1.0, "warmup_steps": 2}, 6, [0.5, 1.0, 1.0, C, 0.5, 1 - C]),
    ],
)
def test_exact_tables(kwargs, total, expected):
    assert lr_table(total, **kwargs) == pytest.approx(expected, abs=1e-12)


def test_decay_reaches_floor_after_last_step_and_stays():
    for shape in ("cosine", "linear", "1-sqrt"):
        assert lr_at(10, schedule=shape, lr=1.0, min_lr=0.1, total_steps=10) == pytest.approx(0.1)
        assert lr_at(15, schedule=shape, lr=1.0, min_lr=0.1, total_steps=10) == pytest.approx(0.1)


def test_decay_branch_first_step_uses_the_stable_lr():
    for shape in ("cosine", "linear", "1-sqrt"):
        assert lr_at(0, schedule=shape, lr=3e-5, min_lr=3e-6, total_steps=5000) == 3e-5


def test_bad_inputs():
    with pytest.raises(ValueError, match="unknown shape"):
        decay_shape(0.5, "exp")
    with pytest.raises(ValueError, match="step"):
        lr_at(-1, schedule="constant", lr=1.0)
