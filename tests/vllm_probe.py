"""Run by tests/test_llm_vllm.py in its own process (vLLM starts workers and needs a __main__ guard):
drive our vllm back end on a model and print what came back as JSON."""

import json
import sys


def main(model: str) -> None:
    from flywheel.config import GeneratorConfig
    from flywheel.llm.base import GenerationRequest, make_generator

    cfg = GeneratorConfig(backend="vllm", model=model, dtype="float32", max_model_len=512,
                          gpu_memory_utilization=0.1, enforce_eager=True)
    with make_generator(cfg) as g:
        free = g.generate([GenerationRequest("Show that", n=1, temperature=0.0, max_tokens=24)])[0][0].text
        stop = free[3:6] if len(free) > 6 else free[-1:]
        batch = g.generate([
            GenerationRequest("theorem foo (x : ℕ) :", n=3, temperature=1.0, max_tokens=12, seed=5),
            GenerationRequest("theorem foo (x : ℕ) :", n=3, temperature=1.0, max_tokens=12, seed=5),
            GenerationRequest("theorem foo (x : ℕ) :", n=3, temperature=1.0, max_tokens=12, seed=6),
            GenerationRequest("Show that", n=1, temperature=0.0, max_tokens=24, stop=[stop]),
            GenerationRequest([{"role": "user", "content": "Prove 1 + 1 = 2"}], n=2, max_tokens=6, seed=1),
        ])
    print("RESULT " + json.dumps({"free": free, "stop": stop, "batch": [
        [{"text": c.text, "finish": c.finish_reason, "prompt_tokens": c.prompt_tokens,
          "completion_tokens": c.completion_tokens, "index": c.index} for c in out] for out in batch]}))


if __name__ == "__main__":
    main(sys.argv[1])
