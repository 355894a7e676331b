"""Filters: each takes statements and returns, for each, keep (None) or a Drop with its reason."""
