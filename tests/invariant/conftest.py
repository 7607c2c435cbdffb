"""Session fixture for the mid-training invariance tests: the toy data dir, built once."""
import pytest

from octothinker.train.synthetic import toy_run


@pytest.fixture(scope="session")
def toy_data(tmp_path_factory):
    """data/ of a run (tokenizer + mixtures gen, short, long, hybrid), built once and copied per test."""
    root = tmp_path_factory.mktemp("toydata")
    toy_run(root / "r", {"gen": {"web": 300}, "short": {"qa": 200}, "long": {"qa": 150, "web": 50}, "hybrid": {"qa": 100, "web": 100}})
    return root / "r" / "data"


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: the CPU is shared, and subprocess runs use one thread too (same kernels)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
