"""Detector backends. Each is registered explicitly in ``vision.detector``."""
