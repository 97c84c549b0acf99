"""The game language: YAML with source positions, errors, the schema machinery, gate expressions and asset lookup. No pixels, no HTTP."""
