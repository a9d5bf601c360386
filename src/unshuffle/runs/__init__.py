"""Run folders: resolved config, metrics log, checkpoints, all written atomically."""
