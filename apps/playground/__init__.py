"""Chat playground: talk to any registered model (or a local/HF model) with streaming output."""
