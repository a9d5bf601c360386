"""TEMI clustering heads, loss, training system and baselines on cached features."""
