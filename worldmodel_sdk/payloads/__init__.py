"""Typed containers that cross every boundary."""
