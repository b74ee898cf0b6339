"""Shared fixtures: tiny real models (no mocks) and clips written to disk by the tests themselves."""
import os
import socket

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# the live app's tests stand where a Space's proxy stands: each test may speak for its own client address through
# X-Forwarded-For (as the proxy would), so per-address limits hit by one test never reach another
os.environ["CONVLSTM_PROXY_HOPS"] = "1"

import numpy as np
import pytest
import torch

from convlstm.checkpoint import save_weights
from convlstm.data import generate_sequence, load_digits
from convlstm.model import ModelConfig, Seq2Seq


@pytest.fixture(scope="session")
def tiny_model() -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(ModelConfig(hidden=8, kernel_size=3, patch_size=4)).eval()


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, tiny_model):
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    save_weights(tiny_model, path, {"note": "untrained, for tests"})
    return path


@pytest.fixture(scope="session")
def sequence() -> np.ndarray:
    """A real 20-frame MovingMNIST sequence from the test digits, float32 (20, 64, 64)."""
    return generate_sequence(np.random.default_rng(123), load_digits("test"))


@pytest.fixture(scope="session")
def server():
    """The real app, launched once on a free loopback port; yields its URL."""
    import app

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    yield f"http://127.0.0.1:{port}/"
    app.demo.close()
