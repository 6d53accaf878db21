"""Package data, installed as ``streetwatch.assets``: the taxonomy, the default model and its card,
workflow tables (deadlines, units, holidays) and sample zones and permits. No code lives here."""
