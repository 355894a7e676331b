"""One Generator interface over vLLM (offline), OpenAI-compatible HTTP servers and transformers.
Importing this package loads no model and no heavy library; back ends load in `__enter__`."""

from flywheel.llm.base import Completion, FinishReason, GenerationRequest, Generator, make_generator

__all__ = ["Completion", "FinishReason", "GenerationRequest", "Generator", "make_generator"]
