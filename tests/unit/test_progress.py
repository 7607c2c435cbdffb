"""progress(): a tqdm bar on a terminal, bounded plain lines elsewhere (fake clock, no sleeping)."""
import io

from octothinker.progress import PlainProgress, progress


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_non_tty_gives_a_bounded_number_of_plain_lines():
    clock, out = FakeClock(), io.StringIO()
    bar = progress(total=10_000, desc="data mix", unit="tok", unit_scale=True, mininterval=1.0,
                   file=out, clock=clock, interval=5.0)
    assert isinstance(bar, PlainProgress)
    for _ in range(10_000):  # 10k updates over 60 fake seconds
        clock.t += 0.006
        bar.update(1)
    bar.close()
    lines = out.getvalue().splitlines()
    assert 1 <= len(lines) <= 60 / 5.0 + 1, lines
    assert "\r" not in out.getvalue()
    assert lines[-1].startswith("data mix: 10k/10k tok (100%)")


def test_many_updates_in_no_time_print_one_line():
    clock, out = FakeClock(), io.StringIO()
    bar = progress(total=5, desc="d", file=out, clock=clock)
    for _ in range(5):
        bar.update(1)
    bar.close()
    bar.close()
    assert out.getvalue().splitlines() == ["d: 5/5 it (100%), elapsed 0:00:00"]


def test_iterable_initial_postfix_and_eta():
    clock, out = FakeClock(), io.StringIO()
    seen = []
    bar = progress(range(2, 6), total=6, initial=2, desc="rl x", unit="step", file=out, clock=clock, interval=10.0)
    for step in bar:
        seen.append(step)
        clock.t += 10.0
        if step == 3:
            bar.set_postfix(loss="0.5")
    assert seen == [2, 3, 4, 5]
    lines = out.getvalue().splitlines()
    assert lines[0] == "rl x: 3/6 step (50%), 0.1 step/s, eta 0:00:30, elapsed 0:00:10"
    assert lines[-1].startswith("rl x: 6/6 step (100%)") and "loss=0.5" in lines[-1]
    assert len(lines) == 4


def test_disabled_prints_nothing(monkeypatch):
    clock, out = FakeClock(), io.StringIO()
    bar = progress(total=3, file=out, clock=clock, disable=True)
    clock.t += 100
    bar.update(3)
    bar.close()
    monkeypatch.setenv("TQDM_DISABLE", "1")
    bar = progress(total=3, file=out, clock=clock)
    clock.t += 100
    bar.update(3)
    bar.close()
    assert out.getvalue() == ""


def test_tty_gets_a_tqdm_bar():
    from tqdm import tqdm

    out = TTY()
    bar = progress(total=3, desc="x", file=out, disable=False)  # tqdm bakes TQDM_DISABLE in at its first import
    assert isinstance(bar, tqdm)
    bar.update(3)
    bar.close()
    assert "x" in out.getvalue()


def test_eval_call_site_writes_plain_lines_to_a_log(tmp_path, monkeypatch, capsys):
    """A stage's progress written to a non-terminal stderr: no carriage-return redraws, one line per interval."""
    import octothinker.progress as progress_mod
    from octothinker.eval.backends import Sampling
    from octothinker.eval.generation import Completion
    from octothinker.eval.runner import eval_benchmark

    class Backend:
        def generate(self, prompts, s):
            return [[Completion("The answer is 12.", 5, False)] for _ in prompts]

    monkeypatch.setattr(progress_mod, "INTERVAL", float("inf"))  # only the closing line, on any machine
    records = [{"id": str(i), "question": "q", "answer": "12", "kind": "gsm"} for i in range(20)]
    prompts = [("q", []) for _ in records]
    rows = eval_benchmark(Backend(), "toy_gsm", records, prompts, Sampling(max_new_tokens=4), tmp_path / "c.jsonl", chunk=1)
    assert len(rows) == 20
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert "\r" not in err and len(lines) == 1 and lines[0].startswith("toy_gsm: 20/20 problem (100%)"), err
