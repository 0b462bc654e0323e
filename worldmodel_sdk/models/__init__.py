"""Built-in world models, registered on import: `VAE`, `RDLM`, `JOPM` and `ExampleModel`."""

from .example import ExampleConfig, ExampleModel
from .jopm import JOPM, JOPMConfig
from .rdlm import RDLM, RDLMConfig
from .vae import VAE, VAEConfig

__all__ = [
    "JOPM",
    "RDLM",
    "VAE",
    "ExampleConfig",
    "ExampleModel",
    "JOPMConfig",
    "RDLMConfig",
    "VAEConfig",
]
