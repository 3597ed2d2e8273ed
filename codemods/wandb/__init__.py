"""Codemods whose target library is Weights & Biases."""
