"""docs/reliability.md stays true: every row of its tables names a test, and every test it names exists."""

import ast
import re

from tests.conftest import REPO

DOC = REPO / "docs" / "reliability.md"
NAMED = re.compile(r"`(tests/[\w/]+\.py)::(\w+)`")


def _rows(text: str) -> list[tuple[int, list[str]]]:
    """(line number, cells) of each body row of the doc's tables: header and separator rows left out."""
    rows, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|") or set(line) <= set("|-: "):
            continue
        if i + 1 < len(lines) and set(lines[i + 1]) <= set("|-: ") and lines[i + 1].startswith("|"):
            continue  # a header: the separator row follows it
        rows.append((i + 1, [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]))
    return rows


def _test_functions(path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return {node.name for node in tree.body
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_")}


def test_every_fault_names_a_test_that_exists():
    rows = _rows(DOC.read_text(encoding="utf-8"))
    assert len(rows) >= 30, "the tables were not read"
    found: dict[str, set[str]] = {}
    for line, cells in rows:
        assert len(cells) == 3 and all(cells), f"{DOC}:{line}: a row is fault | outcome | test, each filled in"
        named = NAMED.findall(cells[2])
        assert named, f"{DOC}:{line}: names no test (`tests/test_x.py::test_name`)"
        for path, name in named:
            if path not in found:
                assert (REPO / path).is_file(), f"{DOC}:{line}: {path} does not exist"
                found[path] = _test_functions(REPO / path)
            assert name in found[path], f"{DOC}:{line}: {path} defines no test {name}"


def test_the_table_reader_skips_headers_and_keeps_escaped_pipes():
    rows = _rows("| Fault | Outcome | Test |\n|---|---|---|\n| a | b | `tests/test_x.py::test_y` |\n| c | d \\| e | none |\n")
    assert [(line, cells) for line, cells in rows] == [(3, ["a", "b", "`tests/test_x.py::test_y`"]),
                                                        (4, ["c", "d \\| e", "none"])]
    assert NAMED.findall(rows[1][1][2]) == []
