"""Parallel stage scheduling: thread shares, critical-path order, dependencies, failures (no timing assumptions)."""
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from octothinker.scheduler import (_Prefixed, auto_jobs, critical_path, run_parallel, share_threads, simulate_wall,
                                   thread_slowdown)


@dataclass
class FakeStage:
    id: str
    deps: list = field(default_factory=list)
    estimate_s: float = 1.0
    out: str = ""


@pytest.mark.parametrize("free,slots,want", [(2, 1, 2), (2, 2, 1), (1, 1, 1), (1, 3, 1), (16, 4, 4), (16, 3, 5), (0, 1, 1)])
def test_share_threads(free, slots, want):
    assert share_threads(free, slots) == want


@pytest.mark.parametrize("cores,want", [(1, 1), (2, 2), (4, 4), (16, 4)])
def test_auto_jobs(cores, want):
    assert auto_jobs(cores) == want


def test_critical_path_sums_the_heaviest_chain():
    a, b, c, d = FakeStage("a", [], 1), FakeStage("b", ["a"], 5), FakeStage("c", ["a"], 2), FakeStage("d", ["c", "x"], 10)
    assert critical_path([a, b, c, d], lambda s: s.estimate_s) == {"a": 13, "b": 5, "c": 12, "d": 10}


@pytest.mark.parametrize("threads,cores,gain,want", [(2, 2, 1.5, 1.0), (1, 2, 1.5, 1.5), (1, 4, 1.5, 2.25),
                                                     (2, 4, 2.0, 2.0), (8, 4, 1.5, 1.0)])
def test_thread_slowdown(threads, cores, gain, want):
    assert thread_slowdown(threads, cores, gain) == pytest.approx(want)


def test_simulated_wall_follows_the_schedulers_policy():
    # one core's worth of work at a time: the serial sum
    chain = [FakeStage("a", [], 10), FakeStage("b", ["a"], 20)]
    assert simulate_wall(chain, {}, jobs=2, cores=2) == pytest.approx(30)
    # two equal branches share two cores, one thread each: 1.5x as long each, side by side
    pair = [FakeStage("short", [], 10), FakeStage("long", [], 10)]
    assert simulate_wall(pair, {}, jobs=2, cores=2) == pytest.approx(15)
    assert simulate_wall(pair, {}, jobs=1, cores=2) == pytest.approx(20)  # one at a time, each on both cores
    # a long stage with little beside it runs alone on both cores (5 < 100 x 0.5); so does "after", then "small"
    lone = [FakeStage("stable", [], 100), FakeStage("small", [], 5), FakeStage("after", ["stable"], 50)]
    assert simulate_wall(lone, {}, jobs=2, cores=2) == pytest.approx(100 + 50 + 5)
    # a running stage's remaining seconds and threads count; its dependants wait for it
    rest = [FakeStage("rl", ["short"], 8), FakeStage("eval", ["rl"], 2)]
    assert simulate_wall(rest, {"short": (6.0, 1), "long": (3.0, 1)}, jobs=2, cores=2) == pytest.approx(6 + 8 + 2)
    assert simulate_wall([], {"x": (4.0, 2)}, jobs=2, cores=2) == pytest.approx(4)
    # two stages ending together free both cores at once: the next one takes both (alone), not one
    assert simulate_wall([FakeStage("c", [], 10)], {"a": (5.0, 1), "b": (5.0, 1)}, jobs=2, cores=2) == pytest.approx(15)
    # `decide`: the scheduler decides by the run's first estimates while durations use the refined ones
    pair2 = [FakeStage("big", [], 100), FakeStage("small", [], 5)]
    assert simulate_wall(pair2, {}, jobs=2, cores=2) == pytest.approx(105)  # big alone (5 < 50), then small
    first = {"big": 100.0, "small": 80.0}.__getitem__
    assert simulate_wall(pair2, {}, jobs=2, cores=2, decide=lambda s: first(s.id)) == pytest.approx(150)  # side by side
    # `ordered`: the caller's order is the scheduler's (sorted at the start of the run), kept as given
    two = [FakeStage("small", [], 2), FakeStage("big", [], 8)]
    assert simulate_wall(two, {}, jobs=1, cores=2, ordered=True) == simulate_wall(two, {}, jobs=1, cores=2) == pytest.approx(10)


def test_prefixed_stream_writes_whole_prefixed_lines():
    out = io.StringIO()
    p = _Prefixed(out, "[rl:x] ")
    p.write("a\npart")
    p.write("ial\rbar\n\n")
    p.write("tail")
    p.flush()
    assert out.getvalue() == "[rl:x] a\n[rl:x] partial\n[rl:x] bar\n[rl:x] tail\n"
    assert not p.isatty()


def fake_stage(recipe, stage):
    """Worker body: check dependencies' outputs exist, record the thread count, fail where asked."""
    root = Path(recipe["root"])
    for d in stage.deps:
        if d in recipe["ids"]:
            assert (root / f"{d}.json").exists(), f"{stage.id} started before {d} finished"
    if stage.id in recipe.get("fail", ()):
        raise RuntimeError(f"boom in {stage.id}")
    if stage.id in recipe.get("bad", ()):
        raise FileNotFoundError(f"{stage.id}.jsonl: no such file")
    if stage.id in recipe.get("die", ()):
        os._exit(9)
    print(f"hello from {stage.id}")
    assert os.environ["RAYON_NUM_THREADS"] == os.environ["OMP_NUM_THREADS"]  # the tokenizers' pool too
    (root / f"{stage.id}.json").write_text(json.dumps({"threads": os.environ["OMP_NUM_THREADS"], "pid": os.getpid()}))


def _run(tmp_path, stages, jobs, cores, fail=(), die=(), bad=()):
    events, running, peak = [], set(), {"jobs": 0}
    threads_now = {}

    def start(s, threads, eta_s):
        assert eta_s >= 0
        running.add(s.id)
        threads_now[s.id] = threads
        peak["jobs"] = max(peak["jobs"], len(running))
        assert sum(threads_now[i] for i in running) <= cores
        events.append(("start", s.id, threads))

    def done(s, wall):
        running.discard(s.id)
        events.append(("done", s.id))

    def failed(s, f):
        running.discard(s.id)
        events.append(("fail", s.id, f.error))

    tmp_path.mkdir(parents=True, exist_ok=True)
    recipe = {"root": str(tmp_path), "ids": {s.id for s in stages}, "fail": set(fail), "die": set(die), "bad": set(bad)}
    failure = run_parallel(recipe, stages, jobs, fake_stage, start, done, failed, cores=cores, poll_s=0.05)
    return events, peak["jobs"], failure


def test_parallel_run_respects_dependencies_jobs_and_cores(tmp_path):
    stages = [FakeStage("base", [], 1), FakeStage("stable", ["base"], 10), FakeStage("short", ["stable"], 5),
              FakeStage("long", ["stable"], 3), FakeStage("rl", ["short"], 5), FakeStage("solo", ["elsewhere"], 1)]
    events, peak, failure = _run(tmp_path, stages, jobs=2, cores=2)
    assert failure is None
    assert peak <= 2
    assert {e[1] for e in events if e[0] == "done"} == {s.id for s in stages}
    order = [e[1] for e in events if e[0] == "start"]
    assert order.index("base") < order.index("stable") < order.index("short") < order.index("rl")
    assert order[0] == "base"  # heads the longest chain (base -> stable -> short -> rl)
    for s in stages:  # the thread count each worker saw is the one it was given
        given = next(e[2] for e in events if e[0] == "start" and e[1] == s.id)
        assert json.loads((tmp_path / f"{s.id}.json").read_text())["threads"] == str(given)


def test_a_lone_ready_stage_gets_every_core(tmp_path):
    stages = [FakeStage("a", [], 1), FakeStage("b", ["a"], 1)]
    events, _, _ = _run(tmp_path, stages, jobs=4, cores=3)
    assert [e[2] for e in events if e[0] == "start"] == [3, 3]


def test_failure_stops_new_work_but_lets_running_stages_finish(tmp_path):
    stages = [FakeStage("bad", [], 5), FakeStage("after_bad", ["bad"], 5), FakeStage("other", [], 6)]
    events, _, failure = _run(tmp_path, stages, jobs=2, cores=2, fail={"bad"})
    assert failure is not None and failure.stage_id == "bad" and "boom in bad" in failure.error
    assert "after_bad" not in {e[1] for e in events if e[0] == "start"}
    assert ("done", "other") in events


def test_a_failure_on_bad_input_is_marked_so_it_shows_as_one_line(tmp_path):
    """As in a serial run: a stage that failed on bad input (here a missing file) is one line, not a traceback."""
    stages = [FakeStage("reader", [], 1), FakeStage("crasher", [], 1)]
    _, _, failure = _run(tmp_path / "a", stages, jobs=1, cores=1, bad={"reader"})
    assert failure.stage_id == "reader" and failure.bad_input and "reader.jsonl: no such file" in failure.error
    _, _, failure = _run(tmp_path / "b", stages, jobs=1, cores=1, fail={"reader"})
    assert failure.stage_id == "reader" and not failure.bad_input


def test_a_long_stage_with_little_beside_it_takes_every_core(tmp_path):
    # stable (100) is ready with two small independent stages (5 + 5 < 100 x 0.34): it runs alone on both cores
    stages = [FakeStage("stable", [], 100), FakeStage("small_a", [], 5), FakeStage("small_b", [], 5),
              FakeStage("after", ["stable"], 50)]
    events, _, _ = _run(tmp_path, stages, jobs=2, cores=2)
    starts = [(e[1], e[2]) for e in events if e[0] == "start"]
    assert starts[0] == ("stable", 2)
    # two branches of similar size share the cores
    stages = [FakeStage("short", [], 10), FakeStage("long", [], 8)]
    events, _, _ = _run(tmp_path / "b", stages, jobs=2, cores=2)
    assert [e[2] for e in events if e[0] == "start"] == [1, 1]


def test_descendants_and_runs_alone():
    from octothinker.scheduler import descendants, runs_alone

    a, b, c, d = FakeStage("a", [], 10), FakeStage("b", ["a"], 50), FakeStage("c", ["b"], 1), FakeStage("d", [], 9)
    below = descendants([a, b, c, d])
    assert below == {"a": {"b", "c"}, "b": {"c"}, "c": set(), "d": set()}
    assert runs_alone(a, [a, b, c, d], below["a"], gain=2.0)  # beside it only d (9 < 10 x 1)
    assert not runs_alone(a, [a, b, c, d], below["a"], gain=1.34)  # 9 > 10 x 0.34
    assert not runs_alone(d, [a, b, c, d], below["d"], gain=2.0)  # beside it a, b, c (61 > 9)


def test_workers_are_reused_between_stages(tmp_path):
    stages = [FakeStage(f"s{i}", [], 5) for i in range(6)]
    _, _, failure = _run(tmp_path, stages, jobs=2, cores=2)
    assert failure is None
    pids = {json.loads((tmp_path / f"s{i}.json").read_text())["pid"] for i in range(6)}
    assert 1 <= len(pids) <= 2


def test_a_killed_worker_is_a_failure_naming_its_stage(tmp_path):
    stages = [FakeStage("dies", [], 5), FakeStage("later", ["dies"], 1)]
    events, _, failure = _run(tmp_path, stages, jobs=2, cores=2, die={"dies"})
    assert failure.stage_id == "dies" and "worker process died with exit code 9" in failure.error
    assert "later" not in {e[1] for e in events if e[0] == "start"}


def test_workers_exit_when_their_parent_is_killed(tmp_path):
    """A parent killed by a signal leaves its daemon workers behind; they must notice and exit."""
    import signal
    import subprocess
    import sys
    import time

    script = tmp_path / "parent.py"
    script.write_text(
        "import sys, time\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_scheduler import FakeStage, sleepy_stage\n"
        "from octothinker.scheduler import run_parallel\n"
        "if __name__ == '__main__':\n"
        f"    run_parallel({{'root': {str(tmp_path)!r}}}, [FakeStage('long', [], 1)], 1, sleepy_stage,\n"
        "                 lambda s, n, eta: None, lambda s, w: None, lambda s, f: None, cores=1)\n")
    proc = subprocess.Popen([sys.executable, str(script)])
    pid_file = tmp_path / "worker.pid"
    for _ in range(600):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    worker = int(pid_file.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    for _ in range(100):  # the watchdog polls once a second
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        raise AssertionError("the worker outlived its killed parent")


def sleepy_stage(recipe, stage):
    """Worker body that records its pid, then runs far longer than the test waits."""
    import time

    (Path(recipe["root"]) / "worker.pid").write_text(str(os.getpid()))
    time.sleep(120)
