import pytest

from filters.grade import GRADES, grade_filter, parse_grade, threshold_index
from flywheel.config import FilterConfig
from flywheel.errors import ConfigError
from flywheel.records import DropReason, Statement
from tests.doubles import ScriptedGenerator


def _statement(i: int) -> Statement:
    return Statement(id=f"s{i}", problem_id=f"p{i}", round=1, header="", text=f"theorem t{i} : {i} = {i} := by sorry",
                     name=f"t{i}", normalized_sha256=f"h{i}")


@pytest.mark.parametrize(
    "text, grade",
    [
        ("1. ... 3. Assess.\nGrade: excellent", "excellent"),
        ("The scale is excellent..poor. **Grade:** Above Average", "above average"),
        ("Grade: good\n... on reflection ...\nGrade: fair", "fair"),
        ("grade：poor", "poor"),
        ("I think it is good.", None),
        ("Grade: mediocre", None),
        ("", None),
    ],
)
def test_parse_grade(text, grade):
    assert parse_grade(text) == grade


def test_threshold_names_the_scale():
    assert threshold_index("Above Average") == GRADES.index("above average")
    with pytest.raises(ConfigError, match="min_grade"):
        threshold_index("great")


def test_grades_kept_dropped_and_retried():
    answers = {
        "t0": ["Back-translation ... Grade: excellent"],
        "t1": ["Grade: fair"],
        "t2": ["no grade here", "still nothing", "Grade: good"],  # parsed on the third try
        "t3": ["nothing", "nothing", "nothing"],  # never parsable
        "t4": ["Grade: poor"],
    }
    calls = {k: 0 for k in answers}

    def script(request):
        key = next(k for k in answers if f"theorem {k} " in request.prompt)
        text = answers[key][min(calls[key], len(answers[key]) - 1)]
        calls[key] += 1
        return [text]

    gen = ScriptedGenerator(script)
    statements = [_statement(i) for i in range(5)]
    informal = {f"p{i}": f"Problem {i}" for i in range(5)}
    decisions = grade_filter(statements, informal, gen, FilterConfig(grade_retries=2))
    assert decisions[0] is None and statements[0].grade == "excellent"
    assert decisions[1].reason is DropReason.LOW_GRADE and "fair" in decisions[1].detail
    assert decisions[2] is None and statements[2].grade == "good" and calls["t2"] == 3
    assert decisions[3].reason is DropReason.NO_GRADE and statements[3].grade is None and calls["t3"] == 3
    assert decisions[4].reason is DropReason.LOW_GRADE
    assert "Problem 0" in gen.requests[0].prompt and "theorem t0" in gen.requests[0].prompt
    assert statements[0].grade_rationale.startswith("Back-translation")
