"""run_data end to end on toy sources with tiny budgets: shards + manifest, caching, atomic failure, CLI."""
import json

import numpy as np
import pytest

from octothinker.config import recipe_from_dict
from octothinker.data import build as build_mod
from octothinker.data.build import run_data
from octothinker.data.pack import read_shard
from octothinker.data.tokenizer import load_tokenizer


def _recipe(root, **data_over):
    data = {
        "seq_len": 32,
        "shard_rows": 64,
        "heldout_docs": 3,
        "encode_batch": 64,
        "sources": {
            "general": {"kind": "toy", "corpus": "general"},
            "qa_short": {"kind": "toy", "corpus": "qa_short"},
            "instruct": {"kind": "toy", "corpus": "instruct", "max_docs": 5},
        },
        "mixtures": {
            "mix_a": {"weights": {"general": 0.7, "qa_short": 0.2, "instruct": 0.1}, "tokens": 12000},
            "mix_b": {"weights": {"general": 0.0, "qa_short": 1.0}, "tokens": 3000},
        },
    }
    data.update(data_over)
    return recipe_from_dict({
        "run": {"name": "t", "root": str(root)},
        "toyworld": {"general_docs": 200, "math_web_docs": 50, "qa_docs": 200, "instruct_docs": 50,
                     "benchmark_size": 20, "rl_prompts": 20},
        "tokenizer": {"vocab_size": 280, "sample_docs": 60},
        "data": data,
    })


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    recipe = _recipe(root)
    return recipe, run_data(recipe)


def test_manifest_and_shards_follow_the_contract(built):
    recipe, out = built
    m = json.loads((out / "mix_a" / "manifest.json").read_text())
    tok = load_tokenizer(m["tokenizer"])
    assert (m["seq_len"], m["dtype"], m["eos_id"], m["pad_id"]) == (32, "uint16", tok.eos_token_id, tok.pad_token_id)
    assert m["vocab_size"] == len(tok)
    assert (out / "mix_a" / "config.resolved.yaml").is_file()
    rows = [read_shard(out / "mix_a" / s["file"], 32, np.uint16) for s in m["shards"]]
    assert [len(r) for r in rows] == [s["rows"] for s in m["shards"]] and sum(map(len, rows)) == m["rows"]
    flat = np.concatenate([r.ravel() for r in rows])
    n_docs = sum(s["docs"] for s in m["sources"].values())
    assert int((flat == m["eos_id"]).sum()) == n_docs
    assert m["tokens"] == sum(s["tokens"] for s in m["sources"].values()) == int((flat != m["pad_id"]).sum())
    # the first document decodes to the start of one of the toy templates
    first = tok.decode(flat[: int(np.argmax(flat == m["eos_id"]))].tolist())
    assert first and "<|endoftext|>" not in first


def test_mixture_accounting(built):
    _, out = built
    m = json.loads((out / "mix_a" / "manifest.json").read_text())
    src = m["sources"]
    assert {k: v["target_tokens"] for k, v in src.items()} == {"general": 8400, "qa_short": 2400, "instruct": 1200}
    for s in src.values():
        assert s["target_tokens"] <= s["tokens"] < s["target_tokens"] + 400
        assert s["bad_records"] == 0 and len(s["sha256"]) == 64
    # instruct has 5 docs, 3 held out: 2 per epoch, so it is upsampled
    assert src["instruct"]["docs_per_epoch"] == 2 and src["instruct"]["epochs"] > 1
    assert m["heldout"]["instruct"]["file"] == "heldout/instruct.bin"
    assert (out / "mix_a" / "heldout" / "instruct.bin").stat().st_size == m["heldout"]["instruct"]["rows"] * 32 * 2
    dec = m["decontamination"]
    assert dec["ngram"] == 13 and set(dec["contaminated_docs"]) == {"general", "qa_short", "instruct"}
    assert set(dec["benchmarks"]) >= {"toy_gsm", "toy_math", "toy_olympiad"}
    mb = json.loads((out / "mix_b" / "manifest.json").read_text())
    assert set(mb["sources"]) == {"qa_short"}


def test_rebuild_is_skipped_when_config_unchanged(built, capsys):
    recipe, out = built
    before = (out / "mix_a" / "manifest.json").stat().st_mtime_ns
    run_data(recipe, mixtures=["mix_a"])
    assert "skipped" in capsys.readouterr().out
    assert (out / "mix_a" / "manifest.json").stat().st_mtime_ns == before


def test_failed_build_keeps_previous_output(built, tmp_path):
    recipe, out = built
    bad_file = tmp_path / "bad.jsonl"
    bad_file.write_text('{"text": "fine"}\n{"text": 3}\n')
    changed = _recipe(recipe.run.root)
    changed.data.sources["local"] = type(changed.data.sources["general"])(kind="local", path=str(bad_file))
    changed.data.mixtures["mix_a"].weights["local"] = 0.5
    old = (out / "mix_a" / "manifest.json").read_text()
    with pytest.raises(Exception, match=rf"{bad_file}:2: field 'text': expected a string"):
        run_data(changed, mixtures=["mix_a"])
    assert (out / "mix_a" / "manifest.json").read_text() == old
    assert not [p for p in (out).iterdir() if p.name.startswith(".mix_a")]

    changed.data.on_bad_record = "skip"
    changed.data.heldout_docs = 0
    run_data(changed, mixtures=["mix_a"])
    m = json.loads((out / "mix_a" / "manifest.json").read_text())
    assert m["sources"]["local"]["bad_records"] == 1 and m["sources"]["local"]["epochs"] > 1


def test_deterministic_build(built, tmp_path):
    recipe, out = built
    again = run_data(_recipe(tmp_path))
    a = json.loads((out / "mix_b" / "manifest.json").read_text())
    b = json.loads((again / "mix_b" / "manifest.json").read_text())
    assert [s["sha256"] for s in a["shards"]] == [s["sha256"] for s in b["shards"]]


def test_cli_data_build(tmp_path, monkeypatch):
    from octothinker.cli import main

    recipe = _recipe(tmp_path)
    path = tmp_path / "r.yaml"
    path.write_text(recipe.to_yaml())
    calls = []
    monkeypatch.setattr(build_mod, "run_data", lambda r, mixtures=None: calls.append((r, mixtures)) or tmp_path)
    assert main(["data", "build", str(path), "data.seq_len=16", "--mixture", "mix_b", "--skip-bad-records"]) == 0
    r, mixtures = calls[0]
    assert (r.data.seq_len, r.data.on_bad_record, mixtures) == (16, "skip", ["mix_b"])


def test_crash_mid_mixture_leaves_previous_shards(built, monkeypatch):
    recipe, out = built
    old = {p.name: p.read_bytes() for p in (out / "mix_b").iterdir() if p.is_file()}
    changed = _recipe(recipe.run.root)
    changed.data.mixtures["mix_b"].tokens = 5000

    def boom(self):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_mod.ShardWriter, "close", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run_data(changed, mixtures=["mix_b"])
    assert {p.name: p.read_bytes() for p in (out / "mix_b").iterdir() if p.is_file()} == old
    assert not [p for p in out.iterdir() if p.name.startswith(".mix_b")]


def test_data_stages_side_by_side_build_the_shared_tokenizer_once(tmp_path, monkeypatch):
    """Two data stages starting together (a parallel run) must not both train and swap in the tokenizer: the
    second waits for the first and loads what it wrote."""
    import threading
    import time

    from octothinker.paths import RunPaths

    recipe = _recipe(tmp_path)
    trained = []
    real = build_mod.train_toy_tokenizer

    def slow_train(*a, **k):
        trained.append(threading.get_ident())
        time.sleep(0.5)  # widen the window in which a second builder would start its own
        return real(*a, **k)

    monkeypatch.setattr(build_mod, "train_toy_tokenizer", slow_train)
    results, errors = [], []

    def build():
        try:
            results.append(build_mod.build_tokenizer(recipe, RunPaths(recipe.run_dir))[1])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(trained) == 1 and len(results) == 2 and len(set(results)) == 1


def test_an_edited_local_source_file_is_rebuilt_not_called_up_to_date(tmp_path, capsys):
    """The data hash covers a local source's files (name, size, mtime), not only its path."""
    import os

    from octothinker.pipeline import plan

    src = tmp_path / "mine.jsonl"
    src.write_text("".join(json.dumps({"text": f"document number {i} about apples and pears"}) + "\n" for i in range(40)))
    recipe = _recipe(tmp_path / "runs", sources={"mine": {"kind": "local", "path": str(src), "template": "web"}},
                     mixtures={"m": {"weights": {"mine": 1.0}, "tokens": 500}})
    first = json.loads((run_data(recipe) / "m" / "manifest.json").read_text())["config_hash"]
    h1 = {s.id: s.hash for s in plan(recipe, time_probe=False)}["data:m"]
    with open(src, "a") as fh:
        fh.write(json.dumps({"text": "one more document about plums"}) + "\n")
    os.utime(src, ns=(src.stat().st_atime_ns, src.stat().st_mtime_ns + 10**9))
    capsys.readouterr()
    second = json.loads((run_data(recipe) / "m" / "manifest.json").read_text())["config_hash"]
    assert second != first and "up to date" not in capsys.readouterr().out
    assert {s.id: s.hash for s in plan(recipe, time_probe=False)}["data:m"] != h1


def test_a_held_out_text_repeated_later_in_its_source_is_never_trained_on(tmp_path):
    """Held-out rows are split off by position; a copy of one further on is dropped (and counted), not trained on."""
    src = tmp_path / "rep.jsonl"
    texts = [f"document number {i} about apples and pears" for i in range(12)]
    rows = texts + [texts[0], texts[1], texts[0]]  # three later copies of the two held-out texts
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    recipe = _recipe(tmp_path / "runs", heldout_docs=2, sources={"rep": {"kind": "local", "path": str(src)}},
                     mixtures={"m": {"weights": {"rep": 1.0}, "tokens": 2000}})
    out = run_data(recipe) / "m"
    m = json.loads((out / "manifest.json").read_text())
    assert m["sources"]["rep"]["heldout_repeats_dropped"] == 3
    assert m["sources"]["rep"]["docs_per_epoch"] == 10  # 15 rows - 2 held out - 3 copies of them
    tok = load_tokenizer(m["tokenizer"])
    flat = np.concatenate([read_shard(out / s["file"], 32, np.uint16).ravel() for s in m["shards"]])
    docs = tok.decode([t for t in flat.tolist() if t != m["pad_id"]]).split(tok.eos_token)
    trained = {d.strip() for d in docs if d.strip()}
    assert texts[0] not in trained and texts[1] not in trained and texts[2] in trained
