"""Dataset recipes, converters, synthetic footage and evaluation.

Installed as ``streetwatch_datasets`` (never as a top-level ``datasets`` package, which
would shadow Hugging Face's library).
"""
