"""The few real faults of flywheel. Expected outcomes (a failed proof, a dropped statement) are enums."""


class FlywheelError(Exception):
    """Base of every fault that the CLI reports as one clear line and a non-zero exit."""


class ConfigError(FlywheelError):
    """A config file, flag or FLYWHEEL_* variable is missing or malformed."""


class InputError(FlywheelError):
    """A file given to us is malformed; the message names the file and line."""


class OutputError(FlywheelError):
    """A file we write cannot be written (disk full, a file size limit, no permission); the message names it."""


class StoreError(FlywheelError):
    """The database cannot be reached, is behind on migrations, or refused a statement."""


class LeanError(FlywheelError):
    """The Lean toolchain or REPL cannot be started or set up."""


class GenerationError(FlywheelError):
    """An LLM back end cannot be loaded or keeps failing after its retries."""


class UnparsableStatement(FlywheelError):
    """A Lean theorem declaration that statement surgery cannot take apart; the message says where."""
