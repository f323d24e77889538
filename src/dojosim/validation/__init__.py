"""Predictions checked against measured training runs (tables in docs/validation-schema.md format)."""
