"""Clearance: continuous authorization on a Kafka stream."""

__version__ = "0.1.0"
__all__ = ["__version__"]
