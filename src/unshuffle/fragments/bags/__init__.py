"""Bags: cutting images into shuffled fragments, damaging them, fragment folders, solutions and truth files.

May import ``unshuffle.data``, ``unshuffle.evaluation``, ``unshuffle.runs`` and ``errors``; no other part of ``fragments``.
"""
