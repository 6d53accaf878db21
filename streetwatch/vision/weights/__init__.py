"""Converting and loading detector weights."""
