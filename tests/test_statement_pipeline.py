"""ingest → autoformalize → filter on the 20 bundled miniF2F-valid problems, from the CLI, against
PostgreSQL, with an OpenAI-compatible server double as the model and the fake REPL as Lean."""

import json
import re

import pytest
import yaml
from sqlalchemy import text

from orchestration.cli import main
from tests.conftest import REPO
from tests.doubles import OpenAIServer

pytestmark = pytest.mark.postgres
SAMPLE = REPO / "flywheel" / "data" / "sample_problems.jsonl"


def _problems():
    return [json.loads(x) for x in SAMPLE.read_text().splitlines()]


def model_answer(prompt: str, i: int) -> str:
    """What the scripted model writes: the behaviour depends on the problem's position in the sample."""
    if "You are grading an autoformalization" in prompt:
        return "1. It says ... 2. Faithful.\nGrade: poor" if "* 3 =" in prompt else "Back-translation ...\nGrade: excellent"
    problem = prompt.rsplit("Mathematical Problem in Natural Language:\n", 1)[1]
    rows = _problems()
    k = next(j for j, r in enumerate(rows) if r["informal_prefix"].strip("/-\n ").strip()[:40] in problem)
    if k % 5 == 0:
        return rows[k]["formal_statement"] + "  sorry\n```"  # a benchmark statement: contaminated
    if k % 5 == 1:
        return "I am not able to formalize this problem."
    if k % 5 == 2:
        return f"theorem bad (n : ℕ) : n = undefined_m + {k}\n  := by sorry\n```"
    if k % 5 == 3:
        return f"abbrev three : ℕ := 3\n\ntheorem weak (n : ℕ) (h₀ : n = {k}) : n * 3 = three * {k} := by\n  subst h₀; rfl\n```"
    same = 4 if k == 9 else k  # problems 4 and 9 get the same statement: a cross-problem duplicate
    return f"theorem good (n : ℕ) (h₀ : n = {same}) : n * 2 = {2 * same} := by\n  omega\n```"


@pytest.fixture()
def config(tmp_path, fake_repl):
    server = OpenAIServer(model_answer)
    path = tmp_path / "flywheel.yaml"
    path.write_text(yaml.safe_dump({
        "generator": {"backend": "openai", "model": "scripted", "base_url": server.url, "max_retries": 1},
        "lean": {"repl": fake_repl, "timeout_s": 5, "workers": 2},
        "autoformalize": {"few_shot": 2},
    }))
    yield str(path)
    server.close()


def _reasons(store):
    with store.engine.connect() as c:
        rows = c.execute(text("SELECT status, drop_reason, count(*) FROM statements GROUP BY 1, 2")).all()
    return {(s, r): n for s, r, n in rows}


def test_pipeline_from_the_cli(store, config, capsys):
    assert main(["ingest", str(SAMPLE), "--source", "minif2f-valid", "--map", "informal=informal_prefix", "--map", "id=name"]) == 0
    assert main(["--config", config, "autoformalize", "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert "round 1" in out and re.search(r"dropped: no_code\s+8\n", out) and re.search(r"dropped: duplicate\s+16\n", out)
    assert _reasons(store) == {("candidate", None): 16, ("dropped", "no_code"): 8}
    with store.engine.connect() as c:
        preambles = dict(c.execute(text("SELECT text LIKE '%three%', array_agg(DISTINCT preamble) FROM statements "
                                        "WHERE status = 'candidate' GROUP BY 1")).all())
    assert preambles == {True: ["abbrev three : ℕ := 3"], False: [""]}
    assert main(["--config", config, "autoformalize", "--samples", "2"]) == 0  # nothing pending: nothing new
    assert sum(_reasons(store).values()) == 24

    assert main(["--config", config, "filter"]) == 0
    out = capsys.readouterr().out
    assert "dropped: contaminated" in out and "after compile" in out
    assert _reasons(store) == {
        ("dropped", "no_code"): 8, ("dropped", "contaminated"): 4, ("dropped", "does_not_compile"): 4,
        ("dropped", "low_grade"): 4, ("dropped", "duplicate"): 1, ("kept", None): 3,
    }
    with store.engine.connect() as c:
        detail = c.execute(text("SELECT drop_detail FROM statements WHERE drop_reason='contaminated' LIMIT 1")).scalar()
        graded = c.execute(text("SELECT grade, grade_rationale FROM statements WHERE status='kept' LIMIT 1")).one()
        compile_why = c.execute(text("SELECT drop_detail FROM statements WHERE drop_reason='does_not_compile' LIMIT 1")).scalar()
    assert re.match(r"equals minif2f valid \w+", detail)
    assert graded[0] == "excellent" and graded[1].startswith("Back-translation")
    assert "unknown identifier" in compile_why
    assert main(["--config", config, "filter"]) == 0  # a rerun finds no candidates and changes nothing
    assert _reasons(store)[("kept", None)] == 3
    assert main(["sql", "SELECT drop_reason, statements FROM drop_reasons ORDER BY 1", "--format", "csv"]) == 0
    assert "contaminated,4" in capsys.readouterr().out


def test_autoformalize_without_a_model_says_so(store, capsys):
    assert main(["autoformalize"]) == 2
    assert "no model" in capsys.readouterr().err
