"""`flywheel report` on a seeded store: the JSON holds the numbers, and headless Chromium opens the page
from disk and loads every image on it."""

import json
import re
import shutil
import subprocess

import pytest

from orchestration.cli import main
from tests.conftest import _need

pytestmark = pytest.mark.postgres


BUDGETS = {"strategy": "rmaxts", "checks_per_attempt": 8.0, "tokens_per_attempt": 300.0,
           "curve": [{"k": 1, "pass": 0.25, "checks": 8.0, "tokens": 300.0},
                     {"k": 4, "pass": 0.5, "checks": 32.0, "tokens": 1200.0}]}


@pytest.fixture()
def report(store, tmp_path, monkeypatch):
    from db import evaluation as dbeval
    from db.checkpoints import save_checkpoint
    from db import proofs as dbproofs
    from db import statements as dbst
    from flywheel.records import Proof, Side, VerdictStatus
    from prover_loop.prove import Result
    from tests.seed import attempt, statement

    for r in (1, 2):  # four proved statements a round
        sts = [statement(i + 100 * r, r) for i in range(4)]
        with store.session() as s:
            dbst.insert_statements(s, sts)
        for st in sts:
            good = attempt(st, Side.STATEMENT, 0, VerdictStatus.PROVED)
            proof = Proof(st.id, Side.STATEMENT, good.id, r, st.text, good.proof, st.text + good.proof)
            with store.session() as s:
                dbproofs.save_result(s, Result(st, Side.STATEMENT, [good], proof), r)
    ckpt = tmp_path / "ckpt-1"
    ckpt.mkdir()
    (ckpt / "trainer_state.json").write_text(json.dumps({"log_history": [{"step": 1, "loss": 1.5}, {"step": 2, "loss": 0.9},
                                                                          {"step": 2, "train_loss": 1.2}]}))
    with store.session() as s:
        ident = save_checkpoint(s, 1, str(ckpt), "base", None, {}, "sft", "full", None, {})
        eid = dbeval.evaluation_id(s, str(ckpt), "minif2f", "valid", 4, [1, 4], {}, 2, ident, 1)
        dbeval.finish(s, eid, {"1": 0.25, "4": 0.5}, {}, BUDGETS)
    out = tmp_path / "report"
    assert main(["report", "--out", str(out)]) == 0
    return out


def test_the_report_holds_the_numbers(report):
    data = json.loads((report / "report.json").read_text())
    assert [r["round"] for r in data["rounds"]] == []  # seeded rows belong to no recorded round
    assert [g["proofs"] for g in data["dataset"]] == [4, 8]  # cumulative
    assert data["pass_at_k"][0]["pass_at_k"] == {"1": 0.25, "4": 0.5}
    assert data["training"][0]["loss"] == [{"step": 1, "loss": 1.5}, {"step": 2, "loss": 0.9}]
    page = (report / "index.html").read_text()
    assert len(re.findall(r"<img ", page)) == 8 and "25.0%" in page
    # pass rate against budget: the evaluation's curve, and per attempt beside pass@k
    assert data["pass_at_k"][0]["budgets"] == BUDGETS
    assert "budget_checks.png" in page and "budget_tokens.png" in page and "8.00 Lean checks, 300 tokens" in page


def _browser() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser")) if p), None)


@pytest.mark.browser
def test_every_image_loads_in_headless_chromium(report):
    browser = _browser()
    if browser is None:
        _need("Chromium not found (Debian: apt-get install chromium; scripts/test.sh installs it as root)")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                          "--virtual-time-budget=5000", (report / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    images = re.search(r'data-images="(\d+)" data-loaded="(\d+)"', dom)
    assert images, dom[:2000]
    assert images.group(1) == images.group(2) == "8"
