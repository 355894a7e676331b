"""Lean timing out or crashing is a verdict on Lean, never on the statement: retried, then infra_failed,
filtered again next round; a timeout of 0 is refused when the config is read."""

import pytest
from sqlalchemy import text

from filters.base import InfraFailed
from filters.compile import Retries, check_with_retries, decide
from flywheel.lean.guard.verdicts import Verdict
from flywheel.records import VerdictStatus

T, C, I = VerdictStatus.TIMEOUT, VerdictStatus.CRASHED, VerdictStatus.INCOMPLETE


def test_infra_outcomes_are_retried_with_backoff():
    verdicts, waits = iter([Verdict(T), Verdict(C), Verdict(I)]), []
    got = check_with_retries(lambda: next(verdicts), Retries(3, 0.5), "s", sleep=waits.append)
    assert got.status is I and waits == [0.5, 1.0]
    verdicts, waits = iter([Verdict(T, "no answer")] * 3), []
    got = check_with_retries(lambda: next(verdicts), Retries(2, 0.1), "s", sleep=waits.append)
    assert got.status is T and waits == [0.1, 0.2]
    assert isinstance(decide(got), InfraFailed) and decide(Verdict(C)).detail == "crashed"


def _statement(k: int, preamble: str = ""):
    from flywheel.hashing import sha256_text
    from flywheel.records import Statement

    body = f"theorem t{k} (n : ℕ) (h₀ : n = {k}) : n * 2 = {2 * k} := by sorry"
    return Statement(sha256_text(str(k), preamble), None, 1, "import Mathlib\n", body, f"t{k}",
                     sha256_text("n", str(k), preamble), preamble=preamble)


@pytest.mark.postgres
def test_a_compile_check_that_times_out_is_infra_failed_then_filtered_again(store, fake_repl, tmp_path):
    from db import statements as dbst
    from flywheel.config import Config, FilterConfig, LeanConfig
    from flywheel.lean.guard.verifier import Verifier
    from orchestration.statement_stages import run_filter

    # The fake REPL's fault markers ride in string literals: a preamble is sent re-rendered from its tokens, so a
    # comment in it never reaches Lean.
    hang = _statement(1, 'def slow : String := "-- fake:hang"')
    flaky = _statement(2, f'def odd : String := "-- fake:die-once={tmp_path / "died"}"')
    with store.session() as s:
        dbst.insert_statements(s, [hang, flaky, _statement(3)])
    cfg = Config(lean=LeanConfig(repl=fake_repl, timeout_s=1.0, infra_retries=1, infra_backoff_s=0.01),
                 filters=FilterConfig(decontaminate=False, grade=False))
    calls: dict[str, int] = {}

    def counted(check):
        def run(header, statement):
            key = "hang" if "fake:hang" in statement else statement[-12:]
            calls[key] = calls.get(key, 0) + 1
            return check(header, statement)
        return run

    with Verifier(cfg.lean, None) as verifier:
        counts = run_filter(store, cfg, 1, compile_check=counted(verifier.compile_check))
        assert calls["hang"] == 2  # one try and one retry
        assert counts.outcomes["infra_failed"] == 1 and not counts.dropped and counts.kept == 2
        with store.engine.connect() as c:
            rows = dict(c.execute(text("SELECT id, status || ':' || coalesce(drop_reason, '') || ':' || "
                                       "coalesce(drop_detail, '') FROM statements")).all())
            funnel = c.execute(text("SELECT infra_failed, dropped, open FROM round_funnel WHERE round = 1")).one()
        assert rows[hang.id].startswith("infra_failed::timeout") and "2 tries" in rows[hang.id]
        assert rows[flaky.id] == "kept::"  # crashed once, compiled on the retry
        assert tuple(funnel) == (1, 0, 2)
        run_filter(store, cfg, 2, compile_check=counted(verifier.compile_check))  # Lean still hangs on it
        assert calls["hang"] == 4
    with store.session() as s:
        assert [x.id for x in dbst.statements_with_status(s, 1, dbst.StatementStatus.INFRA_FAILED)] == [hang.id]
    # Lean answers at last: the statement is judged (kept), not a duplicate of itself.
    counts = run_filter(store, cfg, 3, compile_check=lambda header, statement: Verdict(I))
    assert counts.kept == 1 and not counts.dropped
    with store.session() as s:
        assert hang.id in {x.id for x in dbst.statements_with_status(s, 1, dbst.StatementStatus.KEPT)}


def test_a_timeout_of_zero_is_refused_with_its_key(tmp_path, capsys):
    from flywheel.config import load_config
    from flywheel.errors import ConfigError
    from orchestration.cli import main

    path = tmp_path / "c.yaml"
    path.write_text("lean:\n  timeout_s: 0\n  infra_retries: -1\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, environ={})
    assert "lean.timeout_s" in str(e.value) and "lean.infra_retries" in str(e.value)
    assert main(["--config", str(path), "status"]) == 2
    assert "timeout_s" in capsys.readouterr().err
