"""Model surgery on transformers (path patching, DCM, CMAP). Arrives with later issues."""
