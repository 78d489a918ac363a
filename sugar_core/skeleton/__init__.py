"""Skeleton data: joint layouts, graphs, readers, the in-memory sample set, transforms."""
