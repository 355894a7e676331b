"""The Lean REPL: its JSON protocol, one process, the pool of processes under a cap, and which toolchain a REPL runs."""
