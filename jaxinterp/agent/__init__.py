"""LLM/VLM interpretability agents (MAIA, FIND, vision check-up).

Built so far: `backends` (one chat interface over OpenAI-compatible endpoints and Anthropic, with retries,
an on-disk request cache and a token/cost ledger) and `sandbox` (model-written code in a separate process
with time, memory, output, network and file-system limits). The FIND benchmark, MAIA and the vision
check-up build on them.
"""
