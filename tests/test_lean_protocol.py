"""The reader hands over an answer as soon as its object is complete, however the bytes arrive."""

import json
import random

import pytest

from flywheel.lean.repl.protocol import AnswerReader, ProtocolError, encode


def _transcripts(shared_data):
    rows = []
    for path in sorted((shared_data.parent / "lean" / "lean2021").glob("*.jsonl")):
        rows += [json.loads(line) for line in path.read_text().splitlines()]
    return rows


def test_real_raw_answers_in_random_chunks(shared_data):
    rows = _transcripts(shared_data)
    assert len(rows) == 68  # 17 + 51 commands
    # as printed: answers may span lines; the blank line comes only before the next answer
    stream = "".join(r["raw_response"] + "\n\n" for r in rows)
    rng = random.Random(7)
    reader, got, i = AnswerReader(), [], 0
    while i < len(stream):
        step = rng.randint(1, 40)
        got += reader.feed(stream[i : i + step])
        i += step
    assert got == [r["response"] for r in rows]


def test_answer_is_complete_before_the_blank_line():
    reader = AnswerReader()
    assert reader.feed('{"env": 0,\n "messages":\n [{"data": "a } in \\" a string {"}]') == []
    assert reader.feed("}") == [{"env": 0, "messages": [{"data": 'a } in " a string {'}]}]


def test_garbage_is_a_protocol_error():
    with pytest.raises(ProtocolError):
        AnswerReader().feed("uncaught exception: oops\n")


def test_encode_ends_with_a_blank_line():
    assert encode("theorem t : True := trivial", 0) == b'{"cmd": "theorem t : True := trivial", "env": 0}\n\n'
    assert json.loads(encode("x").decode()) == {"cmd": "x"}


def test_braces_quotes_and_escapes_inside_strings_in_any_split():
    import json
    import random

    from flywheel.lean.repl.protocol import AnswerReader

    values = [{"messages": [{"data": 'unsolved goals\n⊢ {x | x ∈ S} = "}" ∧ \\ \\" {'}], "env": 3},
              {"sorries": [{"goal": "\\\\"}], "env": 4}, {"env": 5, "messages": []}]
    text = "".join(json.dumps(v, ensure_ascii=False) + "\n\n" for v in values)
    rng = random.Random(0)
    for _ in range(200):
        reader, got, i = AnswerReader(), [], 0
        while i < len(text):
            step = rng.randint(1, 7)
            got += reader.feed(text[i:i + step])
            i += step
        assert got == values and reader.pending().strip() == ""


def test_a_large_answer_costs_linear_decodes_however_its_reads_fall(monkeypatch):
    # Every read ends at a closing brace inside a string (the worst case: each looks like an answer's end).
    # Decoding at each would scan the text so far each time, quadratic in the answer; past DEFER_FROM the
    # reader decodes as the text doubles, and settle() decodes what the last brace ended.
    import flywheel.lean.repl.protocol as protocol

    scanned = []
    real = protocol._DECODER

    class Counting:
        def raw_decode(self, s, idx=0):
            scanned.append(len(s) - idx)
            return real.raw_decode(s, idx)

    monkeypatch.setattr(protocol, "_DECODER", Counting())
    value = {"messages": [{"severity": "info", "data": "{x} " * (2 << 20)}], "env": 0}  # 8 MB
    text = json.dumps(value) + "\n\n"
    reader, got, i = AnswerReader(), [], 0
    while i < len(text):
        cut = text.find("}", i + 4096)
        cut = len(text) if cut < 0 else cut + 1
        got += reader.feed(text[i:cut])
        i = cut
    assert got == [value]
    reads = len(text) // 4096
    assert sum(scanned) < 4 * len(text), (len(scanned), reads)  # a decode a read would scan ~reads/2 times the text


def test_a_large_answer_without_its_blank_line_is_settled():
    # 2 MB read as 1.5 MB ending at a brace inside a string (decoded: cut short), then the rest up to the
    # answer's own closing brace, no blank line yet: the text has not doubled since the cut decode, so that
    # decode is put off, and settle() makes it once the text stops coming.
    value = {"messages": [{"data": "{x} " * (1 << 19)}], "env": 1}
    text = json.dumps(value)
    split = text.rindex("}", 0, 3 << 19) + 1
    reader = AnswerReader()
    assert reader.feed(text[:split]) == [] and not reader.deferred  # decoded at once, found cut short
    assert reader.feed(text[split:]) == [] and reader.deferred
    assert reader.settle() == [value] and not reader.deferred and reader.pending() == ""
