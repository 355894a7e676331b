"""The transformers back end on a tiny random Llama: n samples, seeds, batching, stop strings, chat,
token counts."""

import pytest

from flywheel.config import GeneratorConfig
from flywheel.errors import ConfigError, GenerationError
from flywheel.llm.base import FinishReason, GenerationRequest as R, chat_text, make_generator

THM = "theorem foo (x : ℕ) :"


@pytest.fixture(scope="module")
def gen(tiny_model):
    # batch_size 2: a request's 3 samples are split across batches, which must not change them.
    with make_generator(GeneratorConfig(backend="hf", model=tiny_model, device="cpu", dtype="float32",
                                        batch_size=2)) as g:
        yield g


def _texts(out):
    return [c.text for c in out]


def test_seeded_samples_do_not_depend_on_the_batch(gen):
    alone = gen.generate([R(THM, n=3, max_tokens=12, seed=5)])[0]
    mixed = gen.generate([R("Show that", n=2, max_tokens=12, seed=1), R(THM, n=3, max_tokens=12, seed=5),
                          R("x", n=1, max_tokens=7), R(THM, n=3, max_tokens=12, seed=6)])
    assert [c.index for c in alone] == [0, 1, 2] and len(set(_texts(alone))) == 3
    assert _texts(mixed[1]) == _texts(alone)
    assert _texts(mixed[3]) != _texts(alone)
    assert [len(o) for o in mixed] == [2, 3, 1, 3]
    # A random model almost never ends by itself: every sample runs to max_tokens.
    assert all(c.completion_tokens == 12 and c.finish_reason is FinishReason.LENGTH for c in alone)
    assert mixed[2][0].completion_tokens == 7
    assert alone[0].prompt_tokens == len(gen._tok(THM)["input_ids"]) > 3


def test_greedy_is_unchanged_by_left_padding(gen):
    alone = gen.generate([R("x", temperature=0.0, max_tokens=10)])[0][0]
    padded = gen.generate([R("Show that for all real numbers x, x^2 >= 0", temperature=0.0, max_tokens=10),
                           R("x", n=2, temperature=0.0, max_tokens=10)])[1]
    assert _texts(padded) == [alone.text, alone.text]


def test_stop_strings_cut_text_and_count(gen):
    free = gen.generate([R("Show that", temperature=0.0, max_tokens=24)])[0][0].text
    stop = free[5:8]
    cut = gen.generate([R("Show that", temperature=0.0, max_tokens=24, stop=["@@never@@", stop])])[0][0]
    assert cut.text == free[: free.index(stop)] and cut.finish_reason is FinishReason.STOP
    # generation ended on the token that completed the stop string
    tokens = gen._tok(free)["input_ids"]
    assert 1 <= cut.completion_tokens < 24 and cut.completion_tokens <= len(tokens)


def test_chat_prompts_use_the_template(gen):
    messages = [{"role": "user", "content": "Prove 1 + 1 = 2"}]
    chat = gen.generate([R(messages, n=2, max_tokens=6, seed=1)])[0]
    rendered = chat_text(gen._tok, messages)
    assert rendered.startswith("<s>user: Prove") and rendered.endswith("assistant: ")
    assert len(chat) == 2 and chat[0].prompt_tokens == len(gen._tok(rendered, add_special_tokens=False)["input_ids"])


def test_end_of_sequence_and_padding_are_not_counted(gen):
    tok = gen._tok
    words = tok("theorem foo")["input_ids"]
    req = R("p", max_tokens=8)
    row = gen._rows([req], [[None]])[0]
    ended = gen._completion(req, row, words + [tok.eos_token_id] + [tok.pad_token_id] * 2)
    assert (ended.text, ended.completion_tokens, ended.finish_reason) == ("theorem foo", len(words) + 1, FinishReason.STOP)


def test_row_sampler_min_tokens_and_top_p():
    import torch

    from flywheel.llm.hf_sampling import RowSampler

    scores = torch.tensor([[0.0, 1.0, 5.0, 2.0]] * 2)  # token 2 (the eos here) is the favourite
    reqs = [R("a", temperature=0.0, min_tokens=2), R("b", temperature=1.0, top_p=0.01)]
    sampler = RowSampler(reqs, [0, 1], prompt_width=3, eos=[2], device="cpu")
    early = sampler(torch.zeros(2, 4, dtype=torch.long), scores.clone())  # step 1 < min_tokens
    late = sampler(torch.zeros(2, 5, dtype=torch.long), scores.clone())  # step 2
    assert early.argmax(-1).tolist() == [3, 2] and late.argmax(-1).tolist() == [2, 2]
    assert torch.isinf(early).sum() == 6  # one finite score a row: generate takes exactly that token


def test_misuse_is_reported(tiny_model, tmp_path):
    with pytest.raises(ConfigError, match="dtype"):
        make_generator(GeneratorConfig(backend="hf", model=tiny_model, dtype="fp8"))
    g = make_generator(GeneratorConfig(backend="hf", model=tiny_model, device="cpu"))
    with pytest.raises(GenerationError, match="outside its `with` block"):
        g.generate([R("x")])
    with pytest.raises(GenerationError, match="cannot load model"):
        make_generator(GeneratorConfig(backend="hf", model=str(tmp_path / "missing"), device="cpu")).__enter__()
    with pytest.raises(ConfigError, match=r"request 1 \(k\): top_p"):
        g.generate([R("x"), R("y", top_p=0.0, key="k")])


def test_a_prompt_that_fills_the_positions_is_answered_empty_and_the_rest_generated(gen):
    long = THM * 200  # past the tiny model's 1024 positions
    alone = gen.generate([R(THM, n=2, max_tokens=8, seed=4)])[0]
    out = gen.generate([R(long, n=2, max_tokens=8, seed=3, key="long"), R(THM, n=2, max_tokens=8, seed=4)])
    assert [(c.text, c.finish_reason, c.completion_tokens) for c in out[0]] == [("", FinishReason.PROMPT_TOO_LONG, 0)] * 2
    assert out[0][0].prompt_tokens > 1024
    assert _texts(out[1]) == _texts(alone)  # the other request's samples as they are alone
