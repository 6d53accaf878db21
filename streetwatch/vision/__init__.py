"""Per-frame perception: frames in, detections out.

Detector backends, tracking, image geometry and weight conversion. This package imports
nothing else of streetwatch's and never touches a database or the network.
"""
