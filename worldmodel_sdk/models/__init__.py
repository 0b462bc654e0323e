"""Built-in world models, registered on import: VAE, RDLM, JOPM, JOPMWithHeads, ExampleModel."""

from .example import ExampleConfig, ExampleModel
from .jopm import JOPM, JOPMBase, JOPMConfig, JOPMWithHeads, JOPMWithHeadsConfig
from .predictor import JOPMPredictor
from .rdlm import RDLM, RDLMConfig
from .vae import VAE, VAEConfig

__all__ = [
    "JOPM",
    "RDLM",
    "VAE",
    "ExampleConfig",
    "ExampleModel",
    "JOPMBase",
    "JOPMConfig",
    "JOPMPredictor",
    "JOPMWithHeads",
    "JOPMWithHeadsConfig",
    "RDLMConfig",
    "VAEConfig",
]
