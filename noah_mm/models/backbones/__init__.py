# Modules here register themselves on import.
from .gmlp import GMLP

__all__ = ['GMLP']
