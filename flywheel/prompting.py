"""The whole-proof prompt, shared by the prover and the exported datasets so that a model is trained on
exactly what it is later asked (DeepSeek-Prover-V1.5's format)."""

from __future__ import annotations

INSTRUCTION = "Complete the following Lean 4 code:\n\n```lean4\n"


def informal_comment(informal: str | None) -> str:
    if not informal or not informal.strip():
        return ""
    return "/-- " + informal.strip().replace("-/", "- /") + " -/\n"


EXAMPLES = "/- Proved lemmas like the next one, to adapt: -/\n"


def _code(header: str, preamble: str, informal: str | None, declaration: str, examples: tuple[str, ...] = ()) -> str:
    """The code before `:=`: the informal problem stays next to the theorem, after the preamble's commands and
    any proved examples (a subgoal lemma's near matches, prover_loop.lemmas.Pool.examples)."""
    from flywheel.lean.text.statements import with_preamble

    shown = EXAMPLES + "".join(e.rstrip() + "\n\n" for e in examples) if examples else ""
    return header + with_preamble(preamble, shown + informal_comment(informal) + declaration.rstrip())


def proof_prompt(header: str, declaration: str, informal: str | None = None, preamble: str = "",
                 examples: tuple[str, ...] = ()) -> str:
    """`declaration` is the theorem without its `:=`; the prompt ends with `:= by` and a newline."""
    return f"{INSTRUCTION}{_code(header, preamble, informal, declaration, examples)} := by\n"


def resume_prompt(header: str, declaration: str, prefix: str, goals: tuple[str, ...], informal: str | None = None,
                  preamble: str = "") -> str:
    """DeepSeek-Prover-V1.5's truncate-and-resume: the proof prompt, then the proof's tactics up to the cut (a
    `by` block as the verifier takes it, `prefix` ending where the next tactic goes) with the goals there as a
    comment on the line before; the model continues from the cut. An empty prefix is the proof prompt."""
    body = prefix.removeprefix("by").lstrip(" ").removeprefix("\n")
    base = proof_prompt(header, declaration, informal, preamble)
    if not body.strip():
        return base
    head, _, tail = body.rpartition("\n")
    indent = tail[: len(tail) - len(tail.lstrip())]
    state = "\n\n".join(goals) if goals else "no goals"
    comment = indent + "/- tactic state:\n" + state.replace("-/", "- /") + " -/\n"
    return base + (head + "\n" if head else "") + comment + tail


def proof_completion(proof: str) -> str:
    """What follows the prompt: the tactic block of a `by` proof, then the closing fence."""
    body = proof.strip("\n")
    if body.startswith("by"):
        body = body[2:].lstrip(" ").lstrip("\n")
        if body and not body.startswith((" ", "\t")):
            body = "  " + body
    else:  # a term proof after `:= by` is still valid as `exact term`
        body = "  exact " + body.strip()
    return body.rstrip() + "\n```"


def chat_question(header: str, declaration: str, informal: str | None = None, preamble: str = "",
                  examples: tuple[str, ...] = ()) -> list[dict]:
    """The user's turn: the statement with `sorry`, to be answered with the complete code in a final block
    (reasoning provers think first; the answer's last complete Lean block is taken)."""
    code = _code(header, preamble, informal, declaration, examples)
    return [{"role": "user", "content": f"{INSTRUCTION}{code} := by\n  sorry\n```"}]


def chat_messages(header: str, declaration: str, proof: str, informal: str | None = None,
                  preamble: str = "") -> list[dict]:
    """The same pair as a conversation: the statement with `sorry` asked, the complete code answered."""
    code = _code(header, preamble, informal, declaration)
    answer = f"```lean4\n{code} := {proof.strip()}\n```"
    return chat_question(header, declaration, informal, preamble) + [{"role": "assistant", "content": answer}]


# Repair: a failed proof and what Lean said of it, asked to be revised (Kimina-Prover's open format: at most N
# errors, each with the goal at the error and the few lines of code around it). Proving and the exported
# multi-turn data both render it here.
REPAIR_INSTRUCTION = "The following Lean 4 proof does not check:\n\n```lean4\n"
REVISE = "Revise the proof so that Lean accepts it; answer with the complete corrected Lean 4 code."


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[:limit]}\n... ({len(text) - limit} more characters)"


def lean_feedback(proof: str, messages: list[dict], reason: str | None = None, max_errors: int = 3,
                  context: int = 2, max_chars: int = 2000) -> str:
    """Lean's errors in the proof body, at most `max_errors`, each with its message, the goal where Lean
    gives one (a message's `goal`, as tactic-level REPL information adds it; else the goals Lean prints in
    the message itself, `unsolved goals` or a failed tactic's goal block) and `context` lines of the proof either side of it, the error's line marked.
    A message and its goals are cut at `max_chars` each (a goal blown up by `simp` would fill the context)."""
    errors = [m for m in messages if m.get("severity") == "error"]
    if not errors:
        return f"Lean's verdict: {reason or 'the proof was not accepted'}."
    from flywheel.lean.tactics.records import UNSOLVED, goals_of_message

    lines = proof.strip("\n").split("\n")
    parts = [f"Lean reports {len(errors)} error{'s' if len(errors) > 1 else ''}"
             + (f"; the first {max_errors}:" if len(errors) > max_errors else ":")]
    for i, m in enumerate(errors[:max_errors], 1):
        at = m.get("proof_pos") or {}
        line = at.get("line") if isinstance(at.get("line"), int) else None
        where = f" at line {line}, column {at.get('column', 0)} of the proof" if line else ""
        data = str(m.get("data", "")).strip()
        goals = (str(m["goal"]).strip(),) if m.get("goal") else goals_of_message(data)
        if goals and data.startswith(UNSOLVED):  # the goals are the message: say it once, under Goal
            data = UNSOLVED
        part = [f"Error {i}{where}:", _clip(data, max_chars)]
        if goals:
            part += ["Goal:" if len(goals) == 1 else "Goals:", _clip("\n\n".join(goals), max_chars)]
        if line and 1 <= line <= len(lines):
            lo, hi = max(1, line - context), min(len(lines), line + context)
            part += ["Code:"] + [f"{'>' if n == line else ' '} {lines[n - 1]}" for n in range(lo, hi + 1)]
        parts.append("\n".join(part))
    return "\n\n".join(parts)


def repair_prompt(header: str, declaration: str, proof: str, feedback: str, informal: str | None = None,
                  preamble: str = "") -> str:
    """The completion-style repair prompt: the failed proof, Lean's feedback, then the proof prompt again
    (ending with `:= by` and a newline, as proof_prompt does)."""
    code = _code(header, preamble, informal, declaration)
    return (f"{REPAIR_INSTRUCTION}{code} := {proof.strip()}\n```\n\n{feedback}\n\n"
            f"{proof_prompt(header, declaration, informal, preamble)}")


def repair_messages(header: str, declaration: str, failed: list[tuple[str, str]], informal: str | None = None,
                    preamble: str = "") -> list[dict]:
    """A repair chain as a conversation: the statement asked, then for each failed proof (proof, Lean's
    feedback) the proof answered and the feedback given, ready for the next revision."""
    code = _code(header, preamble, informal, declaration)
    out = chat_question(header, declaration, informal, preamble)
    for proof, feedback in failed:
        out.append({"role": "assistant", "content": f"```lean4\n{code} := {proof.strip()}\n```"})
        out.append({"role": "user", "content": f"{feedback}\n\n{REVISE}"})
    return out


SKETCH_INSTRUCTION = ("Write a proof sketch of the following Lean 4 theorem: its key steps as "
                      "`have h_i : P_i := by sorry`, each small enough to prove on its own, and then the proof "
                      "of the theorem from them.\n\n```lean4\n")


def sketch_prompt(header: str, declaration: str, informal: str | None = None, preamble: str = "",
                  chat: bool = False) -> str | list[dict]:
    """The sketcher's question (DeepSeek-Prover-V2's decomposition): a proof whose steps are left `sorry`,
    continued after `:= by` or, in a chat turn, answered with the complete code in a final block."""
    code = _code(header, preamble, informal, declaration)
    if chat:
        return [{"role": "user", "content": f"{SKETCH_INSTRUCTION}{code} := by\n  sorry\n```"}]
    return f"{SKETCH_INSTRUCTION}{code} := by\n"
