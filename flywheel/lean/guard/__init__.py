"""The soundness guard and the verifier, its public face: what may reach Lean, which axioms a proof may rest on, verdicts and their caches."""
