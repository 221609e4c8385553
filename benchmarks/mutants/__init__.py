"""Semantic mutants of PyTorch, injected by a pytest plugin (plugin.py)."""
