"""REACT: retrieval-augmented customization of CLIP models, as a library (no Dagster here)."""

__version__ = "0.1.0"
