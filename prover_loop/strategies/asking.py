"""Requests to the model and proofs out of its answers, shared by the strategies."""

from __future__ import annotations

from flywheel.llm.base import FinishReason
from prover_loop.extract import NoProof, extract_proof
from prover_loop.strategies.base import Check, Order, Task


# the seeds of one independent attempt (Task.attempt) lie this far from the next one's: past any pass's offsets
ATTEMPT_SEEDS = 1_000_003


def stops(task: Task) -> list[str]:
    """A completion continues the code block: its closing fence ends it. A chat answer (a reasoning prover's)
    may hold drafts in fences before its final block, so it runs to its end."""
    s = task.cfg.sampling
    return list(s.stop) if task.cfg.prompt_style == "chat" else list(dict.fromkeys(["```"] + list(s.stop)))


def request(task: Task, prompt, n: int, key: str, seed_offset: int = 0):
    from flywheel.llm.base import GenerationRequest

    s = task.cfg.sampling
    seed = None if s.seed is None else s.seed + 1000 * task.pass_ + seed_offset + ATTEMPT_SEEDS * task.attempt
    key = key if not task.attempt else f"{key}:a{task.attempt}"
    return GenerationRequest(prompt=prompt, n=n, temperature=s.temperature, top_p=s.top_p, max_tokens=s.max_tokens,
                             stop=stops(task), seed=seed, key=key)


def first_request(task: Task):
    """The proof prompt for the side's goal, `task.samples` answers (the prover loop's request before strategies)."""
    from flywheel.prompting import chat_question, proof_prompt

    ask = chat_question if task.cfg.prompt_style == "chat" else proof_prompt
    st = task.statement
    prompt = ask(st.header, task.declaration, task.informal, st.preamble, task.examples)
    return request(task, prompt, task.samples, f"{st.id}:{task.side.value}:{task.pass_}")


def sampling_of(req, pass_: int, **more) -> dict:
    """What an attempt stores of how it was sampled (and its key depends on)."""
    return {"temperature": req.temperature, "top_p": req.top_p, "max_tokens": req.max_tokens, "n": req.n,
            "seed": req.seed, "pass": pass_} | more


def check_of(task: Task, order: Order, completion, sampling: dict, **lineage) -> Check:
    """A check of the proof in the model's answer, or of nothing (why, stored as the attempt's reason)."""
    if completion.finish_reason is FinishReason.PROMPT_TOO_LONG:
        return Check(order, None, sampling, no_proof=NoProof.PROMPT_TOO_LONG.value, **lineage)
    proof = extract_proof(completion.text, name=task.name)
    tokens = int(completion.completion_tokens)
    if isinstance(proof, NoProof):
        return Check(order, None, sampling, tokens=tokens, no_proof=proof.value, **lineage)
    return Check(order, proof, sampling, tokens=tokens, **lineage)
