# Modules here register themselves on import.
__all__ = []
