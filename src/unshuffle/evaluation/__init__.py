"""Scoring: clustering and fragment-placement metrics, pure functions of predictions and truth."""
