"""Fragments: bags of square pieces cut from several images, grouped by source and reassembled.

Sub-packages by stage: ``bags`` (cutting, damage, reading and writing fragment folders, solutions),
``solver`` (the boundary-matching solver), ``learned`` (the self-supervised edge pair model),
``baseline`` (the case study's autoencoder + KMeans); ``bench`` and ``demo`` run them side by side.
May import ``data``, ``evaluation``, ``plots``, ``runs`` and ``errors``; nothing outside imports it but ``cli``.
"""
