"""Runner: outputs, summary, paper-style table and resuming an interrupted evaluation from the cache."""
import json

import pytest

from octothinker.eval.backends import Sampling
from octothinker.eval.fixtures import write_fixture_benchmarks
from octothinker.eval.generation import Completion
from octothinker.eval.runner import evaluate_model, format_table
from octothinker.paths import read_jsonl


class FakeBackend:
    """Answers "The answer is 12." to everything; can fail after a number of calls."""

    name = "fake"

    def __init__(self, fail_after=None):
        self.prompts, self.fail_after = [], fail_after

    def generate(self, prompts, s):
        if self.fail_after is not None and len(self.prompts) >= self.fail_after:
            raise KeyboardInterrupt
        self.prompts += prompts
        return [[Completion("The answer is 12.", 5, False)] * s.n for _ in prompts]


@pytest.fixture()
def setup(tmp_path):
    bench = write_fixture_benchmarks(tmp_path / "bench")
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    return bench, model, tmp_path / "out"


def test_outputs_summary_and_metrics(setup):
    bench, model, out = setup
    s = evaluate_model(model, ["gsm8k", "svamp"], out, benchmark_dir=bench, backend=FakeBackend(), batch_size=2,
                       sampling=Sampling(max_new_tokens=8, n=2, temperature=1.0), progress=False)
    assert s["benchmarks"]["gsm8k"]["accuracy"] == pytest.approx(100 / 3)  # gold 12, 1300, 10
    assert s["benchmarks"]["svamp"]["accuracy"] == 0.0
    assert s["benchmarks"]["gsm8k"]["pass@2"] == pytest.approx(100 / 3) and s["benchmarks"]["gsm8k"]["maj@2"] == pytest.approx(100 / 3)
    assert s["average"] == pytest.approx(50 / 3)
    rows = read_jsonl(out / "gsm8k.jsonl")
    assert [r["id"] for r in rows] == ["gsm8k-test-0", "gsm8k-test-1", "gsm8k-test-2"]
    assert rows[0]["correct"] and rows[0]["extracted"] == "12" and rows[0]["prompt"].endswith("Answer:")
    assert len(rows[0]["outputs"]) == 2 and rows[1]["n_correct"] == 0
    assert json.loads((out / "summary.json").read_text())["benchmarks"].keys() == {"gsm8k", "svamp"}
    table = format_table([s])
    assert table.splitlines()[0].split("|")[1:-1] == [" model ", " gsm8k ", " svamp ", " avg  "]
    assert "33.3" in table and "16.7" in table


def test_interrupted_eval_resumes_from_cache(setup):
    bench, model, out = setup
    with pytest.raises(KeyboardInterrupt):
        evaluate_model(model, ["gsm8k"], out, benchmark_dir=bench, backend=FakeBackend(fail_after=2), batch_size=1,
                       progress=False)
    cached = list((out / "cache").glob("gsm8k.*.jsonl"))
    assert len(cached) == 1 and len(read_jsonl(cached[0])) == 2
    second = FakeBackend()
    evaluate_model(model, ["gsm8k"], out, benchmark_dir=bench, backend=second, batch_size=1, progress=False)
    assert len(second.prompts) == 1 and "Ana ran 5 km" in second.prompts[0]
    fresh = out.parent / "fresh"
    evaluate_model(model, ["gsm8k"], fresh, benchmark_dir=bench, backend=FakeBackend(), batch_size=1, progress=False)
    assert read_jsonl(out / "gsm8k.jsonl") == read_jsonl(fresh / "gsm8k.jsonl")
    other = FakeBackend()  # different settings -> a different cache entry, everything regenerated
    evaluate_model(model, ["gsm8k"], out, benchmark_dir=bench, backend=other, batch_size=1, progress=False,
                   sampling=Sampling(max_new_tokens=7))
    assert len(other.prompts) == 3
