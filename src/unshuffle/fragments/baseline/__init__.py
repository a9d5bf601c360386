"""The case study's baseline: conv autoencoder embeddings + KMeans, its bag data module, random/KMeans baselines.

May import ``fragments.bags``, ``data``, ``evaluation``, ``runs`` and ``errors``.
"""
