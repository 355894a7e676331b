"""Proving: whole-proof sampling for a statement and its negation, verified by the Lean layer."""
