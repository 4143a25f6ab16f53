"""LLM/VLM interpretability agents (MAIA, FIND, vision check-up). Arrives with later issues."""
