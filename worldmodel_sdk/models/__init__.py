"""Built-in world models, registered on import."""

from .example import ExampleConfig, ExampleModel

__all__ = ["ExampleConfig", "ExampleModel"]
