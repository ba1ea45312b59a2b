"""The LLM layer: model catalogue, prompt templates, and one engine interface with two back ends
(vLLM for production, transformers where vLLM cannot run)."""
