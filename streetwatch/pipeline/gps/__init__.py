"""GPS sources: fixes from files, and a track that gives the camera's pose at any time."""
