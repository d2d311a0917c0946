"""vigui's Qt application: draws what ``engine`` computes, never computes itself."""
__version__ = "0.1.0"
