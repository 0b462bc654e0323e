"""An example third-party world model for worldmodel-sdk."""

from .model import AcmeGrid, AcmeGridConfig, make_model

__all__ = ["AcmeGrid", "AcmeGridConfig", "make_model"]
