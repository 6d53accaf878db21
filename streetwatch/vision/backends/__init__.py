"""Detector backends. Each is registered explicitly in ``streetwatch.vision.detector``."""
