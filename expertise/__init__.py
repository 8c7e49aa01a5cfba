"""expertise: a support-desk answer engine that adapts to the caller's technical expertise."""

__version__ = "0.1.0"

__all__ = ["__version__"]
