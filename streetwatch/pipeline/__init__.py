"""Footage and GPS in, violations out: ingest, frames, GPS, geolocation, rules, the run."""
