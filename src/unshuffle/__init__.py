"""unshuffle: put shuffled visual data back into its groups without labels."""

from unshuffle.errors import (
    CheckpointError,
    ConfigError,
    DataFormatError,
    UnsafeFileError,
    UnshuffleError,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "UnshuffleError",
    "DataFormatError",
    "UnsafeFileError",
    "ConfigError",
    "CheckpointError",
]
