"""Step types: one class per file, whose typed parameters are its YAML keys."""
