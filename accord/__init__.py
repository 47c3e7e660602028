"""Accord: cybercrime intelligence sharing for an international alliance."""

__version__ = "0.1.0"
