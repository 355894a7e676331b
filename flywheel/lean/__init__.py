"""Everything that touches Lean, one package per job: reading text, the guard, the REPL, the audit, tactic-level records, the toolchain."""
