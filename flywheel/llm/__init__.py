"""One Generator interface over vLLM (offline), OpenAI-compatible HTTP servers and transformers."""
