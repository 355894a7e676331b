"""Informal problems in, Lean 4 theorem statements (proof `sorry`) out."""
