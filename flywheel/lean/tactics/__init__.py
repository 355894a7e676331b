"""Tactic-level records: what the REPL says about a proof's tactics, goals as Lean prints them, lean-dojo interaction."""
