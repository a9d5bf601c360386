"""Bags: cutting images into shuffled fragments, damaging them, fragment folders, solutions and truth files.

May import ``data``, ``evaluation``, ``runs`` and ``errors``; no other part of ``fragments``.
"""
