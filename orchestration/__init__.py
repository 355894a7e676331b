"""The face: the `flywheel` CLI, the round driver, Ray, progress and logging set-up."""
