"""The `Capability` enum: what a world model declares it can do."""

from __future__ import annotations

from enum import Enum

__all__ = ["Capability", "DECODE_CAPABILITIES"]


class Capability(str, Enum):
    """One thing a world model can do.

    A model class declares its capabilities once, as a class-level
    ``frozenset[Capability]``; each protocol method is tied to one of them (see
    ``WorldModel``). Values are stable strings, used in ``config.json`` and in
    contract fingerprints.
    """

    REPRESENTATION = "representation"
    """``encode``: observation to latent state."""
    LATENT_DYNAMICS = "latent_dynamics"
    """``transition``: next latent state from state and action (the prior)."""
    POSTERIOR_UPDATE = "posterior_update"
    """``update``: fold a new observation into the state (the posterior)."""
    OBS_DECODER = "obs_decoder"
    """``decode`` predicts observations."""
    REWARD_PRED = "reward_pred"
    """``decode`` predicts a ``reward``."""
    CONTINUE_PRED = "continue_pred"
    """``decode`` predicts a ``continue`` probability."""
    VALUE = "value"
    """``decode`` predicts a ``value``."""
    POLICY = "policy"
    """The model carries a policy head."""
    PLANNING = "planning"
    """``plan_step`` does more than a plain transition."""
    SAMPLING = "sampling"
    """``sample_step`` draws generative samples."""
    MULTI_AGENT = "multi_agent"
    """Observations and actions are per named agent."""
    RECURRENT = "recurrent"
    """The state carries a recurrent memory across calls."""

    def __str__(self) -> str:
        return self.value


DECODE_CAPABILITIES: frozenset[Capability] = frozenset(
    {
        Capability.OBS_DECODER,
        Capability.REWARD_PRED,
        Capability.CONTINUE_PRED,
        Capability.VALUE,
    }
)
"""Any one of these makes ``decode`` available."""
