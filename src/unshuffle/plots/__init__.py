"""Pictures: fragment reassemblies, cluster galleries and training curves (matplotlib, Agg)."""
