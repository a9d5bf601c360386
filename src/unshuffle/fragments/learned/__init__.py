"""The learned edge measure: a two-tower pair model on edge bands, its training data and Lightning training.

May import ``fragments.bags``, ``data``, ``runs`` and ``errors``; never ``fragments.solver`` (which imports it).
"""
