"""Recipes that build training sets in the streetwatch taxonomy from public sources."""
