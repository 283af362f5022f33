"""model_sync: one exact, always-fresh catalog of AI models, their providers and prices."""

__version__ = "0.1.0"
