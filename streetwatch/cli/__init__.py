"""The command line: ``streetwatch`` and its sub-commands (typer)."""
