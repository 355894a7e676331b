from flywheel.jsonl import BadRecord, read_records


def _split(path):
    good, bad = [], []
    for item in read_records(path):
        (bad if isinstance(item, BadRecord) else good).append(item)
    return good, bad


def test_lines_with_every_kind_of_fault(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_bytes(
        b'{"a": 1}\n'
        b"{not json\n"
        b"\n"
        b'[1, 2]\n'
        b'{"b": "\xff\xfe"}\n'
        b'{"c": 3}\n'
    )
    good, bad = _split(path)
    assert good == [(1, {"a": 1}), (6, {"c": 3})]
    assert [(b.line, b.reason.split(" ")[0]) for b in bad] == [(2, "bad"), (4, "expected"), (5, "not")]
    assert str(bad[0]).startswith(f"{path}:2: bad JSON")


def test_json_array_gives_line_numbers(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('[\n  {"a": 1},\n  "text",\n  {"b": 2}\n]\n')
    good, bad = _split(path)
    assert good == [(2, {"a": 1}), (4, {"b": 2})]
    assert bad[0].line == 3


def test_broken_array_stops_with_the_line(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('[\n {"a": 1},\n {"b": \n')
    good, bad = _split(path)
    assert good == [(2, {"a": 1})]
    assert len(bad) == 1 and "unread" in bad[0].reason


def test_empty_file_is_reported(tmp_path):
    path = tmp_path / "e.jsonl"
    path.write_text("\n\n")
    good, bad = _split(path)
    assert good == [] and bad[0].reason.startswith("empty file")
