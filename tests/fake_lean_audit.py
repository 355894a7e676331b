#!/usr/bin/env python3
"""TEST DOUBLE of `lean` (compiling a module: `lean [-R ROOT] [-o OLEAN] FILE`) and `lean4checker MODULE`,
for the audit. The "olean" it writes is JSON: each theorem's type (its signature, spaces dropped), axioms,
and whether the kernel would accept it. Imports are found on LEAN_PATH like Lean finds them.

Markers in a theorem's text (comments, so the soundness guard lets them through, as in tests/fake_repl.py):
`-- fake:compile-error=TEXT` (an error at that theorem), `-- fake:kernel-reject` (lean4checker rejects the
module; in a preamble's `def`, where comments do not survive its rendering, inside a string literal), `-- fake:module-axioms=A,B` (axioms the REPL did not see), `-- fake:type-mismatch` (the compiled
type is not the statement's), `-- fake:hang`. An identifier `undefined_...` is an unknown identifier, as in
the fake REPL. `#print axioms N` and `flywheel_audit_compare P C` answer as info messages.
Usage: fake_lean_audit.py lean ARGS... | fake_lean_audit.py lean4checker MODULE.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

BASE_AXIOMS = ["propext", "Classical.choice", "Quot.sound"]
_MARK = re.compile(r"--\s*fake:([\w-]+)(?:=([^\n]*))?")
_BLOCK = re.compile(r"(?m)^(?=theorem |#print |flywheel_audit_compare |open Lean)")
_THEOREM = re.compile(r"theorem\s+(\S+)")
_DEF = re.compile(r"(?m)^(?:noncomputable\s+)?(?:def|abbrev)\s+([^\s:(\[{]+)")
_UNKNOWN = re.compile(r"\bundefined_\w+")


def find_olean(module: str) -> Path | None:
    for root in filter(None, os.environ.get("LEAN_PATH", "").split(os.pathsep)):
        path = Path(root).joinpath(*module.split(".")).with_suffix(".olean")
        if path.is_file():
            return path
    return None


def _theorem(block: str) -> tuple[str, dict, str | None]:
    """(name, its olean entry, an error or None)."""
    name = _THEOREM.match(block).group(1)
    marks = {k: (v or "").strip() for k, v in _MARK.findall(block)}
    if "hang" in marks:
        time.sleep(3600)
    code = re.sub(r"--[^\n]*", " ", block)
    signature, _, proof = code[len("theorem " + name):].partition(":=")
    unknown = _UNKNOWN.search(code)
    error = marks.get("compile-error") or (f"unknown identifier '{unknown.group()}'" if unknown else None)
    axioms = [a for a in marks.get("module-axioms", "").split(",") if a] or list(BASE_AXIOMS)
    if re.search(r"\bsorry\b", proof):
        axioms.append("sorryAx")
    entry = {"type": "".join(signature.split()) + ("†" if "type-mismatch" in marks else ""), "axioms": axioms,
             "kernel_ok": "kernel-reject" not in marks}
    return name, entry, error


def lean(args: list[str]) -> int:
    if args[:1] == ["--version"]:
        print("Lean (version 4.26.0, x86_64-unknown-linux-gnu, fake)")
        return 0
    out = args[args.index("-o") + 1] if "-o" in args else None
    file = args[-1]
    text = Path(file).read_text(encoding="utf-8")
    decls: dict[str, dict] = {}
    messages, failed = [], False
    for line_no, line in enumerate(text.splitlines(), 1):
        module = line.removeprefix("import ").strip() if line.startswith("import ") else None
        if module and module.startswith("FlywheelAudit."):
            olean = find_olean(module)
            if olean is None:
                print(f"{file}:{line_no}:0: error: unknown module prefix '{module}'")
                return 1
            decls |= json.loads(olean.read_text())["decls"]
    first = next((m.start() for m in _BLOCK.finditer(text)), len(text))
    unknown = _UNKNOWN.search(re.sub(r"--[^\n]*", " ", text[:first]))  # in a preamble
    if unknown:
        messages.append(f"{file}:{text.count(chr(10), 0, unknown.start()) + 1}:0: error: "
                        f"unknown identifier '{unknown.group()}'")
        failed = True
    local: dict[str, dict] = {}
    for m in _DEF.finditer(text[:first]):  # a preamble's definitions: its markers ride in string literals
        end = text.find("\n\n", m.start())
        chunk = text[m.start():end if end >= 0 else len(text)]
        marks = {k: (v or "").strip() for k, v in _MARK.findall(chunk)}
        local[m.group(1)] = {"type": "def", "axioms": list(BASE_AXIOMS), "kernel_ok": "kernel-reject" not in marks}
    for m in _BLOCK.finditer(text):
        end = next((n.start() for n in _BLOCK.finditer(text, m.start() + 1)), len(text))
        block, line_no = text[m.start():end], text.count("\n", 0, m.start()) + 1
        if block.startswith("theorem"):
            name, entry, error = _theorem(block)
            if error:
                messages.append(f"{file}:{line_no}:2: error: {error}")
                failed = True
            else:
                local[name] = entry
        elif block.startswith("#print axioms"):
            name = block.split()[2]
            entry = (decls | local).get(name)
            if entry is None:
                messages.append(f"{file}:{line_no}:15: error: unknown constant '{name}'")
                failed = True
            else:
                listed = ", ".join(entry["axioms"])
                messages.append(f"{file}:{line_no}:0: info: '{name}' depends on axioms: [{listed}]")
        elif block.startswith("flywheel_audit_compare"):
            p, c = block.split()[1:3]
            every = decls | local
            verdict = ("missing" if p not in every or c not in every
                       else "same" if every[p]["type"] == every[c]["type"] else "differs")
            messages.append(f"{file}:{line_no}:0: info: flywheel-audit {p} {verdict}")
    print("\n".join(messages))
    if failed:
        return 1
    if out:
        Path(out).write_text(json.dumps({"decls": local}), encoding="utf-8")
    return 0


def lean4checker(args: list[str]) -> int:
    module = args[-1]
    olean = find_olean(module)
    if olean is None:
        print(f"uncaught exception: object file of module {module} does not exist")
        return 1
    for name, entry in json.loads(olean.read_text())["decls"].items():
        if not entry["kernel_ok"]:
            print(f"uncaught exception: (kernel) declaration type mismatch, '{name}' has type ...")
            return 1
    return 0


def install(bin_dir: Path, project: Path, log: Path) -> None:
    """The doubles where the audit looks: `lean` and `lake` on PATH (bin_dir), lean4checker built in the
    project, and the project's lakefile."""
    import shlex

    from tests.fake_toolchain import fake_lake, write_tool

    me = f"{shlex.quote(sys.executable)} {shlex.quote(str(Path(__file__).resolve()))}"
    write_tool(bin_dir, "lean", f'exec {me} lean "$@"\n')
    fake_lake(bin_dir, log)
    checker = project / ".lake/packages/lean4checker/.lake/build/bin"
    write_tool(checker, "lean4checker", f'exec {me} lean4checker "$@"\n')
    (project / "lakefile.toml").write_text('name = "flywheel_lean"\n')


if __name__ == "__main__":
    tool, *rest = sys.argv[1:]
    sys.exit(lean(rest) if tool == "lean" else lean4checker(rest))
