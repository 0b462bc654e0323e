"""Version of worldmodel-sdk."""

__version__ = "0.1.0"
