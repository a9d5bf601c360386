"""Files shipped with unshuffle (the trained edge pair model)."""
