"""The whole-proof prompt, shared by the prover and the exported datasets so that a model is trained on
exactly what it is later asked (DeepSeek-Prover-V1.5's format)."""

from __future__ import annotations

INSTRUCTION = "Complete the following Lean 4 code:\n\n```lean4\n"


def informal_comment(informal: str | None) -> str:
    if not informal or not informal.strip():
        return ""
    return "/-- " + informal.strip().replace("-/", "- /") + " -/\n"


def _code(header: str, preamble: str, informal: str | None, declaration: str) -> str:
    """The code before `:=`: the informal problem stays next to the theorem, after the preamble's commands."""
    from flywheel.lean.statements import with_preamble

    return header + with_preamble(preamble, informal_comment(informal) + declaration.rstrip())


def proof_prompt(header: str, declaration: str, informal: str | None = None, preamble: str = "") -> str:
    """`declaration` is the theorem without its `:=`; the prompt ends with `:= by` and a newline."""
    return f"{INSTRUCTION}{_code(header, preamble, informal, declaration)} := by\n"


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


def chat_question(header: str, declaration: str, informal: str | None = None, preamble: str = "") -> list[dict]:
    """The user's turn: the statement with `sorry`, to be answered with the complete code in a final block
    (reasoning provers think first; the answer's last complete Lean block is taken)."""
    code = _code(header, preamble, informal, declaration)
    return [{"role": "user", "content": f"{INSTRUCTION}{code} := by\n  sorry\n```"}]


def chat_messages(header: str, declaration: str, proof: str, informal: str | None = None,
                  preamble: str = "") -> list[dict]:
    """The same pair as a conversation: the statement with `sorry` asked, the complete code answered."""
    code = _code(header, preamble, informal, declaration)
    answer = f"```lean4\n{code} := {proof.strip()}\n```"
    return chat_question(header, declaration, informal, preamble) + [{"role": "assistant", "content": answer}]
