"""vLLM's asynchronous engine (AsyncLLM) in-process: each request is handed to the engine the moment it is
submitted and answered the moment its samples finish, so continuous batching fills every slot a finished
sequence frees, and a strategy's next request (a revision, a tree search's rollout) starts at once instead of
waiting for the slowest completion of a batch. Prefix caching stays on (generator.enable_prefix_caching): a
resumed proof prefix or a repair prompt shares its statement's cached blocks. The engine's asyncio loop runs
on a thread of its own; submit() returns a concurrent Future any thread may wait on."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import threading
from concurrent.futures import Future
from typing import Sequence

from flywheel.config import GeneratorConfig
from flywheel.errors import GenerationError
from flywheel.llm.base import (Completion, GenerationRequest, prompt_token_ids, require_open, says_too_long,
                               too_long, validate)
from flywheel.llm.vllm_backend import (VllmGenerator, _empty_cuda_cache, context_limit, engine_kwargs, load_failed,
                                       lora_request, sampling_params, to_completions, vllm_module)

log = logging.getLogger(__name__)


class AsyncVllmGenerator(VllmGenerator):
    """The offline generator's config, model name and engine arguments; its own engine, loop and requests."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__(cfg)
        self._engine = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ids = itertools.count()
        self._lora = None

    def __enter__(self) -> "AsyncVllmGenerator":
        kwargs = engine_kwargs(self.cfg)
        AsyncEngineArgs = vllm_module().AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vllm-async-loop", daemon=True)
        self._thread.start()

        async def start():
            return AsyncLLM.from_engine_args(AsyncEngineArgs(**kwargs, disable_log_stats=True))

        try:
            self._engine = asyncio.run_coroutine_threadsafe(start(), self._loop).result()
        except Exception as e:  # vLLM raises many types while loading; all mean the same to a user
            self._stop_loop()
            raise load_failed(self.cfg, e) from e
        self._tokenizer = self._engine.get_tokenizer()
        self._limit = context_limit(self._engine)
        self._lora = lora_request(self.cfg)
        return self

    def __exit__(self, *exc) -> None:
        engine, self._engine, self._tokenizer = self._engine, None, None
        if engine is not None:
            handler = getattr(engine, "output_handler", None)
            if handler is not None:  # stopped first, so the engine's end is not reported as its death
                asyncio.run_coroutine_threadsafe(_cancel(handler), self._loop).result()
            try:
                # The engine core runs in its own process that holds the GPU memory; end it now, not at exit.
                engine.shutdown()
            except Exception as e:  # cleanup must not hide the error that ended the `with` block
                log.warning("vLLM engine shutdown: %s: %s", type(e).__name__, e)
            del engine
        self._stop_loop()
        gc.collect()
        _empty_cuda_cache()

    def _stop_loop(self) -> None:
        loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()

    def prompt(self, req: GenerationRequest):
        """Token ids, as the offline engine makes of a text (its special tokens) or of chat (the template's)."""
        from vllm.inputs import TokensPrompt

        return TokensPrompt(prompt_token_ids=prompt_token_ids(self._tokenizer, req.prompt))

    async def _one(self, i: int, req: GenerationRequest, prompt, params) -> list[Completion]:
        if (past := self.past_context(req, prompt)) is not None:
            return past
        final = None
        try:
            async for out in self._engine.generate(prompt, params, f"flywheel-{i}", lora_request=self._lora):
                final = out
        except ValueError as e:  # e.g. a prompt longer than max_model_len
            if says_too_long(str(e)):
                return too_long(req, len(prompt["prompt_token_ids"]), "the engine's")
            raise GenerationError(f"vLLM refused request {i} ({req.key or 'no key'}): {e}") from e
        if final is None or not final.finished:
            raise GenerationError(f"vLLM ended request {i} ({req.key or 'no key'}) without its final output")
        return to_completions(final)

    def submit(self, request: GenerationRequest) -> Future:
        """The request goes to the engine now; the Future holds its n completions once they are all done."""
        from vllm.sampling_params import RequestOutputKind

        validate([request])
        require_open(self._engine, self.name)
        params = sampling_params(request)
        params.output_kind = RequestOutputKind.FINAL_ONLY  # the whole answer once, not a stream of deltas
        return asyncio.run_coroutine_threadsafe(self._one(next(self._ids), request, self.prompt(request), params),
                                                self._loop)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[list[Completion]]:
        """Every request submitted at once, the answers in request order; a failure cancels the rest."""
        validate(requests)
        require_open(self._engine, self.name)
        futures = [self.submit(r) for r in requests]
        try:
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.cancel()  # cancelling the task aborts the request in the engine; done ones are left as they are


async def _cancel(task) -> None:
    task.cancel()
    try:
        await task
    except BaseException:  # its cancellation, or the error it had ended with: the engine is closing either way
        pass
