"""The Lean toolchain: where it lives, `flywheel lean setup`, `flywheel lean doctor`."""
