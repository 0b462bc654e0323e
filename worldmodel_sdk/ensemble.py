"""`Ensemble`: N copies of one model class, trained apart, reporting how much they disagree.

``Ensemble.of(ModelClass)`` is the ensemble class of any conforming model class;
it is built from an `EnsembleConfig` (the number of members, the propagation mode,
the members' own config), so it saves, loads and resolves through the registry like
any model (``create_model("ensemble[example]", members=3)``).

Each member keeps its own state: the members are trained separately, so their
latent spaces are not shared. The ensemble's state holds every member's tensors
stacked along a member axis after ``B`` (``[B, N, ...]``) and ``member_weights``
``[B, N]``, the weight each member's prediction gets in the row's reported one.
``decode`` reports the weighted prediction and, under `disagreement_key`, the
variance across members of every prediction (see docs/uncertainty.md).

Propagation modes, as in PETS / MBPO:

* ``"random"``: a member drawn per row at ``encode`` and again at every ``transition``;
* ``"fixed"``: a member drawn per row at ``encode`` and kept (trajectory sampling);
* ``"mean"``: every row reports the mean of the members' predictions.

With ``deterministic=True`` nothing is drawn: ``encode`` gives every row equal
weights (the mean) and ``transition`` keeps the weights it is given.

By default every member steps from its own state. With ``share_state`` (members
whose states live in one space, such as observation-space models) every member
steps from the row's combined state instead: the chosen member's, or the mean.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal, cast, final

import torch
from pydantic import BaseModel, ConfigDict, Field

from ._batches import _batch_size_of, select_input
from .capabilities import DECODE_CAPABILITIES, Capability, disagreement_key
from .contract import IOContract, TensorSpec, show_shape
from .errors import ContractError
from .model import Action, Obs, WorldModel
from .payloads.condition import ConditionPayload
from .payloads.outputs import LossOutput, ModelOutput, WorldModelInput
from .payloads.state import State

__all__ = ["WEIGHTS_KEY", "Ensemble", "EnsembleConfig", "Propagation"]

Propagation = Literal["random", "fixed", "mean"]
WEIGHTS_KEY = "member_weights"
"""The state tensor ``[B, N]`` of each member's weight in a row's prediction."""

# What an ensemble keeps of its members' capabilities: plan_step, sample_step and a
# policy head are member hooks an ensemble does not combine.
_KEPT = frozenset(Capability) - {Capability.PLANNING, Capability.SAMPLING, Capability.POLICY}
_CLASSES: dict[type[WorldModel], type[Ensemble]] = {}


class EnsembleConfig(BaseModel):
    """How an `Ensemble` is built.

    Attributes:
        members: Number of members ``N`` (at least 2: one model cannot disagree).
        propagation: ``"random"``, ``"fixed"`` or ``"mean"`` (see `Ensemble`).
        bootstrap: Train each member on its own bootstrap resample of every
            training batch (rows drawn with replacement); validation uses the whole batch.
        share_state: Start every member's step from the row's combined state (the
            member weights applied to the members' states): the chosen member's next
            state in ``"random"`` and ``"fixed"`` mode, their mean in ``"mean"`` mode, as
            PETS and MBPO propagate. Only for members whose states live in one space
            (observation-space models, or members built to share their latent space);
            every state tensor must then be floating.
        member: The members' config, as the member class's config fields; it is
            recorded in full once the ensemble is built.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    members: int = Field(5, ge=2)
    propagation: Propagation = "random"
    bootstrap: bool = True
    share_state: bool = False
    member: dict[str, Any] = Field(default_factory=dict)


class Ensemble(WorldModel):
    """An ensemble of ``N`` members of one model class, declaring ``epistemic_uncertainty``.

    Not built directly: ``Ensemble.of(ModelClass)`` is the (cached, final) ensemble
    class of ``ModelClass``, with the member class's capabilities (but ``planning``,
    ``sampling`` and ``policy``) plus ``epistemic_uncertainty``, and the model type
    ``ensemble[<member model type>]``.

    Its contract is the member's, with every state tensor given a member axis
    (``(B, N, ...)``), the state tensor ``member_weights`` ``(B, N)``, and for every
    prediction ``k`` a prediction ``disagreement_key(k)`` of the same spec.

    Example:
        >>> Ens = Ensemble.of(ExampleModel)
        >>> ens = Ens(EnsembleConfig(members=5, propagation="fixed", member={"obs_dim": 8}))
        >>> out = ens.decode(ens.encode(obs))
        >>> out["obs"], out["obs.disagreement"]  # prediction, variance across members
    """

    member_class: ClassVar[type[WorldModel]]
    config_class = EnsembleConfig
    config: EnsembleConfig

    @classmethod
    def of(cls, member_class: type[WorldModel]) -> type[Ensemble]:
        """The ensemble class of ``member_class`` (the same class on every call).

        Raises:
            TypeError: if ``member_class`` is not a `WorldModel` subclass, is an
                ensemble, or declares no decoder capability (nothing to disagree on).
        """
        if not (isinstance(member_class, type) and issubclass(member_class, WorldModel)):
            raise TypeError(f"Ensemble.of expects a WorldModel subclass; got {member_class!r}")
        if issubclass(member_class, Ensemble):
            raise TypeError(f"Ensemble.of({member_class.__name__}): members cannot be ensembles")
        if not member_class.capabilities & DECODE_CAPABILITIES:
            raise TypeError(
                f"Ensemble.of({member_class.__name__}): the members must decode (declare one of "
                f"{sorted(c.value for c in DECODE_CAPABILITIES)}) for the ensemble to report "
                "their disagreement"
            )
        built = _CLASSES.get(member_class)
        if built is None:
            built = _subclass(member_class)
            _CLASSES[member_class] = built
        return built

    def __init__(self, config: EnsembleConfig | Mapping[str, Any] | None = None) -> None:
        if "member_class" not in type(self).__dict__:
            raise TypeError(
                f"{type(self).__name__} is built per member class: use "
                "Ensemble.of(ModelClass)(config)"
            )
        super().__init__(config)
        members = [self._build_member(self.config.member) for _ in range(self.config.members)]
        self.members = torch.nn.ModuleList(members)
        first = members[0].config
        full = first.model_dump(mode="json") if first is not None else {}
        self.config = self.config.model_copy(update={"member": full})
        self.contract()  # refuse a member contract the ensemble cannot extend, now

    def _build_member(self, config: dict[str, Any]) -> WorldModel:
        cls = self.member_class
        if cls.config_class is None:
            if config:
                raise ContractError(
                    f"{cls.__name__} takes no config; EnsembleConfig.member holds {sorted(config)}"
                )
            return cls()
        return cls(config)

    @property
    def _members(self) -> list[WorldModel]:
        return cast(list[WorldModel], list(self.members))

    @property
    def size(self) -> int:
        """The number of members ``N``."""
        return self.config.members

    # -- contract -------------------------------------------------------------------------

    def io_contract(self) -> IOContract:
        """The member's contract with a member axis on the state and disagreement predictions."""
        inner = self._members[0].contract()
        where = f"{type(self).__name__}.io_contract"
        state = {}
        for key, spec in inner.state.items():
            if self.config.share_state and not spec.torch_dtype.is_floating_point:
                raise ContractError(
                    f"State[{key!r}] of {self.member_class.__name__} is {spec.dtype}; "
                    f"share_state combines the members' states, which must be floating [{where}]"
                )
            if not spec.shape or spec.shape[0] != "B":
                raise ContractError(
                    f"State[{key!r}] of {self.member_class.__name__} has contract shape "
                    f"{spec.show()}; an ensemble needs (B, ...) to add its member axis [{where}]"
                )
            state[key] = _with_shape(spec, ("B", self.size, *spec.shape[1:]))
        if WEIGHTS_KEY in state:
            raise ContractError(
                f"{self.member_class.__name__}'s state already holds {WEIGHTS_KEY!r}, the "
                f"ensemble's own state tensor [{where}]"
            )
        state[WEIGHTS_KEY] = TensorSpec(
            shape=("B", self.size), description="weight of each member in the row's prediction"
        )
        prediction = dict(inner.prediction)
        for key, spec in inner.prediction.items():
            if not spec.torch_dtype.is_floating_point:
                raise ContractError(
                    f"prediction {key!r} of {self.member_class.__name__} is {spec.dtype}; an "
                    f"ensemble averages predictions, which must be floating [{where}]"
                )
            prediction[disagreement_key(key)] = TensorSpec(
                shape=spec.shape,
                dtype=spec.dtype,
                allow_nonfinite=spec.allow_nonfinite,
                description=f"variance of {key!r} across the members",
            )
        # Every field of the members' contract, validated again with the two it changes.
        return IOContract(**{**dict(inner), "state": state, "prediction": prediction})

    # -- states ---------------------------------------------------------------------------

    def member_state(self, state: State, index: int) -> State:
        """Member ``index``'s own state within an ensemble state (views, no copy)."""
        return State(
            {k: v[:, index] for k, v in state.tensors.items() if k != WEIGHTS_KEY}, state.meta
        )

    def _starts(self, state: State) -> list[State]:
        """Where each member's step starts: its own state, or the row's combined state."""
        if not self.config.share_state:
            return [self.member_state(state, i) for i in range(self.size)]
        weights = state.tensors[WEIGHTS_KEY]
        shared = {}
        for key, value in state.tensors.items():
            if key != WEIGHTS_KEY:
                w = weights.reshape(*weights.shape, *([1] * (value.dim() - 2))).to(value.dtype)
                shared[key] = (w * value).sum(1)
        return [State(shared, state.meta)] * self.size

    def _join(self, states: Sequence[State], weights: torch.Tensor, call: str) -> State:
        meta = states[0].meta
        for i, other in enumerate(states[1:], 1):
            if other.meta != meta:
                raise ContractError(
                    f"members 0 and {i} returned different State.meta ({meta!r} vs "
                    f"{other.meta!r}); an ensemble state holds one [{type(self).__name__}.{call}]"
                )
        tensors = {k: torch.stack([s.tensors[k] for s in states], 1) for k in states[0].tensors}
        tensors[WEIGHTS_KEY] = weights
        return State(tensors, meta)

    def _drawn(self, like: torch.Tensor, batch: int) -> torch.Tensor:
        """One-hot weights of one member per row, drawn uniformly."""
        pick = torch.randint(self.size, (batch,), device=like.device)
        return torch.nn.functional.one_hot(pick, self.size).to(torch.float32)

    def _equal(self, like: torch.Tensor, batch: int) -> torch.Tensor:
        return torch.full((batch, self.size), 1.0 / self.size, device=like.device)

    # -- protocol methods -----------------------------------------------------------------

    def encode(self, obs: Obs, deterministic: bool = False) -> State:
        """Every member encodes ``obs``; each row gets its member weights (see `Ensemble`)."""
        states = [m.encode(obs, deterministic) for m in self._members]
        first = next(iter(states[0].tensors.values()))
        batch = states[0].batch_size
        sample = self.config.propagation != "mean" and not deterministic
        weights = self._drawn(first, batch) if sample else self._equal(first, batch)
        return self._join(states, weights, "encode")

    def transition(
        self,
        state: State,
        action: Action,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Every member steps its own state; ``"random"`` draws each row's member again."""
        starts = self._starts(state)
        states = [
            m.transition(start, action, conditions, deterministic)
            for m, start in zip(self._members, starts, strict=True)
        ]
        weights = state.tensors[WEIGHTS_KEY]
        if self.config.propagation == "random" and not deterministic:
            weights = self._drawn(weights, state.batch_size)
        return self._join(states, weights, "transition")

    def update(
        self,
        state: State,
        action: Action,
        obs: Obs,
        conditions: ConditionPayload | None = None,
        deterministic: bool = False,
    ) -> State:
        """Every member folds ``obs`` into its own state; the member weights are kept."""
        starts = self._starts(state)
        states = [
            m.update(start, action, obs, conditions, deterministic)
            for m, start in zip(self._members, starts, strict=True)
        ]
        return self._join(states, state.tensors[WEIGHTS_KEY], "update")

    def decode(self, state: State, conditions: ConditionPayload | None = None) -> ModelOutput:
        """The weighted prediction of the members, and each prediction's variance across them."""
        outs = [
            m.decode(self.member_state(state, i), conditions) for i, m in enumerate(self._members)
        ]
        weights = state.tensors[WEIGHTS_KEY].t()
        predictions: dict[str, torch.Tensor] = {}
        spreads: dict[str, torch.Tensor] = {}
        for key in outs[0].predictions:
            stack = torch.stack([o.predictions[key] for o in outs])  # [N, B, ...]
            w = weights.reshape(*weights.shape, *([1] * (stack.dim() - 2))).to(stack.dtype)
            predictions[key] = (w * stack).sum(0)
            spreads[disagreement_key(key)] = _variance(stack)
        return ModelOutput({**predictions, **spreads}, state)

    # -- training -------------------------------------------------------------------------

    def loss(self, batch: WorldModelInput) -> LossOutput:
        """The mean of the members' losses, each on its own bootstrap resample when training.

        Components are the members' components, averaged over members.
        """
        size = _batch_size_of(batch)
        outs = []
        for member in self._members:
            part = batch
            if self.training and self.config.bootstrap:
                part = select_input(batch, torch.randint(size, (size,)))
            outs.append(member.loss(part))
        total = torch.stack([o.total for o in outs]).mean()
        components = {
            name: torch.stack([o.components[name] for o in outs]).mean()
            for name in outs[0].components
        }
        return LossOutput(total=total, components=components)

    def prepare_for_training(self, batch: WorldModelInput) -> None:
        """Let every member that fits data statistics (normalisation) fit them on ``batch``."""
        from .training import PreparesForTraining

        for member in self._members:
            if isinstance(member, PreparesForTraining):
                member.prepare_for_training(batch)


def _with_shape(spec: TensorSpec, shape: tuple[int | str, ...]) -> TensorSpec:
    return TensorSpec(
        shape=shape,
        dtype=spec.dtype,
        allow_nonfinite=spec.allow_nonfinite,
        description=spec.description or f"per member, {show_shape(spec.shape)} each",
    )


def _variance(stack: torch.Tensor) -> torch.Tensor:
    """Variance over axis 0, exactly zero when every slice is equal.

    Computed on the differences to the first slice, which are exactly zero for
    identical members (a plain mean of equal values may round away from them).
    """
    shifted = stack - stack[:1]
    return (shifted - shifted.mean(0)).pow(2).mean(0)


def _subclass(member_class: type[WorldModel]) -> type[Ensemble]:
    name = f"Ensemble[{member_class.__name__}]"
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__qualname__": name,
        "__doc__": f"An `Ensemble` of `{member_class.__name__}` members.",
        "capabilities": (member_class.capabilities & _KEPT) | {Capability.EPISTEMIC_UNCERTAINTY},
        "member_class": member_class,
        "model_type": f"ensemble[{member_class.model_type}]",
        "batch_independent": member_class.batch_independent,
    }
    # The members' DeclaresMonitor attribute: fit selects an ensemble's epochs by it too.
    monitor = getattr(member_class, "fit_monitor", None)
    if isinstance(monitor, str):
        namespace["fit_monitor"] = monitor
    return final(type(name, (Ensemble,), namespace))
