"""Per-conversation settings: the configured models (catalog) and what each supports."""
