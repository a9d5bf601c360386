"""Browsable HTML reports of clustering runs; self-contained pages, no scripts, no network.

May import ``data``, ``clustering`` (the assignments), ``runs`` and ``errors``; nothing it imports
may import it back (``fragments`` uses :mod:`unshuffle.report.html` for its solution pages).
"""
