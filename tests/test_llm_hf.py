"""The transformers back end on a tiny random Llama: n samples, seeds, stop strings, token counts."""

from flywheel.config import GeneratorConfig
from flywheel.llm.base import GenerationRequest, make_generator


def _gen(tiny_model):
    return make_generator(GeneratorConfig(backend="hf", model=tiny_model, device="cpu", dtype="float32"))


def test_samples_seeds_and_counts(tiny_model):
    with _gen(tiny_model) as g:
        a = g.generate([GenerationRequest("theorem foo (x : ℕ) :", n=3, temperature=1.0, max_tokens=12, seed=5)])[0]
        b = g.generate([GenerationRequest("theorem foo (x : ℕ) :", n=3, temperature=1.0, max_tokens=12, seed=5)])[0]
        c = g.generate([GenerationRequest("theorem foo (x : ℕ) :", n=3, temperature=1.0, max_tokens=12, seed=6)])[0]
    assert len(a) == 3 and [x.index for x in a] == [0, 1, 2]
    assert [x.text for x in a] == [x.text for x in b]  # same seed, same samples
    assert [x.text for x in a] != [x.text for x in c]
    assert all(x.prompt_tokens > 0 and 0 < x.completion_tokens <= 12 for x in a)
    assert any(x.finish_reason == "length" for x in a)


def test_stop_strings_and_chat(tiny_model):
    with _gen(tiny_model) as g:
        free = g.generate([GenerationRequest("Show that", n=1, temperature=0.0, max_tokens=24)])[0][0].text
        stop = free[3:6] if len(free) > 6 else free[-1:]
        cut = g.generate([GenerationRequest("Show that", n=1, temperature=0.0, max_tokens=24, stop=[stop])])[0][0]
        chat = g.generate([GenerationRequest([{"role": "user", "content": "Prove 1 + 1 = 2"}], n=2, max_tokens=6, seed=1)])[0]
    assert stop not in cut.text and free.startswith(cut.text) and cut.finish_reason == "stop"
    assert len(chat) == 2 and all(c.prompt_tokens > 5 for c in chat)
