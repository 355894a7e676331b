"""Reading Lean text as Lean reads it: the lexer, statement surgery, preambles as checked commands, truncation of proofs."""
