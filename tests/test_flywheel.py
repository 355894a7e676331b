"""The flywheel turning, short: `flywheel run --rounds 3` with train and evaluate on the synthetic benchmark,
from the random-init word-level policy (bench/flywheel.py's settings, fewer statements), proofs checked by the
fake REPL's reference-proof rule (FAKE_REPL_SYNTHETIC; the real-Lean run is `python -m bench.flywheel`).
The last checkpoint's held-out pass@1 beats the first's by more than seed noise (see MARGIN), and
`flywheel report` shows the curve."""

import json

import pytest

from orchestration.cli import main

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

# Measured with bench.flywheel --lean fake --train-limit 50 over seeds 0-3 (docs/benchmarks.md): the gain of
# held-out pass@1 from checkpoint 1 to the last; the margin asserted is well under the smallest gain seen.
MARGIN = 0.03


def test_the_last_checkpoint_proves_more_of_the_held_out_split_than_the_first(store, pg_url, tmp_path, monkeypatch):
    from bench.flywheel import fake_repl, turn

    for name in ("FLYWHEEL_DB_URL", "FAKE_REPL_SYNTHETIC", "FAKE_REPL_NO_REPLAY", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.setenv(name, "1")  # restored after the test, whatever turn() sets them to
    rows = turn(pg_url, tmp_path, 3, seed=0, train_limit=50, repl=fake_repl())
    assert [r["round"] for r in rows] == [1, 2, 3]
    assert rows[0]["proved"] > 0 and rows[-1]["proved_total"] > rows[0]["proved_total"]
    first, last = rows[0]["pass@1"], rows[-1]["pass@1"]
    assert first is not None and last > first + MARGIN, rows
    assert all(r["train_s"] > 0 for r in rows[:2])  # round 1 and 2 trained
    assert main(["report", "--out", str(tmp_path / "report")]) == 0
    data = json.loads((tmp_path / "report" / "report.json").read_text())
    curve = [(e["round"], e["benchmark"], e["split"]) for e in data["pass_at_k"]]
    assert curve == [(1, "synthetic", "test"), (2, "synthetic", "test"), (3, "synthetic", "test")]
    assert (tmp_path / "report" / "pass_at_k.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
