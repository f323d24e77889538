"""Predictions checked against measured training runs (tables in ../shared/validation/SCHEMA.md format)."""
