"""The audit outside the REPL: proof modules compiled by fresh Lean processes and checked from a trusted module."""
