"""The Generator interface's shared pieces and the scripted generator double other stages test with."""

import pytest

from flywheel.errors import ConfigError
from flywheel.llm.base import FinishReason, GenerationRequest as R, chat_text, truncate_at_stop, validate
from tests.doubles import ScriptedGenerator


@pytest.mark.parametrize("bad, field", [
    (R("p", n=0), "n must be"),
    (R("p", max_tokens=0), "max_tokens"),
    (R("p", max_tokens=5, min_tokens=6), "min_tokens"),
    (R("p", temperature=-0.1), "temperature"),
    (R("p", temperature=float("nan")), "temperature"),
    (R("p", top_p=1.5), "top_p"),
    (R("p", stop="```"), "stop"),
    (R("p", stop=[""]), "stop"),
    (R([], n=1), "no messages"),
    (R([{"role": "user"}]), "message 0"),
    (R(42), "prompt must be"),
])
def test_malformed_requests_are_named(bad, field):
    bad.key = "problem-7"
    with pytest.raises(ConfigError, match=rf"request 1 \(problem-7\): .*{field}"):
        validate([R("fine"), bad])


def test_stop_strings_cut_at_the_earliest():
    assert truncate_at_stop("a := by\n  simp\n```\nmore", ["\n\n", "```"]) == ("a := by\n  simp\n", True)
    assert truncate_at_stop("no stop here", ["```"]) == ("no stop here", False)


def test_finish_reasons_from_servers():
    assert [FinishReason.parse(x) for x in ("stop", "length", None, "content_filter")] == [
        FinishReason.STOP, FinishReason.LENGTH, FinishReason.STOP, FinishReason.ABORT]
    assert FinishReason.LENGTH == "length"  # a str enum: compares and serialises as the API's word


def test_chat_without_a_template_falls_back_to_plain_turns():
    class BaseTokenizer:
        chat_template = None

    text = chat_text(BaseTokenizer(), [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}])
    assert text == "system: Be brief.\nuser: 2+2?\nassistant: "


def test_scripted_generator_answers_records_and_validates():
    g = ScriptedGenerator({"prime": ["theorem p : True := trivial", ""], "sum": "x" * 100}, default=["prose only"],
                          honour_stop=True)
    with g:
        out = g.generate([R("a prime problem", n=3), R([{"role": "user", "content": "a sum"}], max_tokens=5),
                          R("other", stop=["only"])])
    assert [c.text for c in out[0]] == ["theorem p : True := trivial", "", "theorem p : True := trivial"]
    assert [c.index for c in out[0]] == [0, 1, 2]
    assert out[1][0].text == "x" * 20 and out[1][0].finish_reason is FinishReason.LENGTH
    assert out[2][0].text == "prose " and out[2][0].finish_reason is FinishReason.STOP
    assert g.calls == 1 and [r.prompt for r in g.requests][0] == "a prime problem"
    with pytest.raises(ConfigError):
        g.generate([R("x", n=0)])
