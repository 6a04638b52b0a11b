"""llm-ecosystem core: model registry, inference engines, serving. Apps build on these interfaces."""

__version__ = "0.1.0"
