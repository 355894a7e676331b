"""flywheel: informal competition mathematics in, verified Lean 4 training data out."""

__version__ = "0.1.0"
