"""Offline evaluation of retrieval and answer grounding; question sets live in ``sets/``."""
