"""The `Capability` enum: what a world model declares it can do.

Also the one convention a capability adds to ``decode``'s output names:
`disagreement_key`, where a model declaring ``epistemic_uncertainty`` reports how
much it is unsure of each prediction.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["Capability", "DECODE_CAPABILITIES", "DISAGREEMENT_SUFFIX", "disagreement_key"]


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
    EPISTEMIC_UNCERTAINTY = "epistemic_uncertainty"
    """``decode`` also reports, for every prediction ``k``, its epistemic uncertainty
    under `disagreement_key` ``(k)``: a non-negative tensor of ``k``'s shape (for an
    `Ensemble`, the variance of ``k`` across the members)."""

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

DISAGREEMENT_SUFFIX = ".disagreement"
"""What `disagreement_key` appends to a prediction's name."""


def disagreement_key(name: str) -> str:
    """The prediction that carries the uncertainty of prediction ``name``.

    Example:
        >>> disagreement_key("obs")
        'obs.disagreement'
    """
    return name + DISAGREEMENT_SUFFIX
