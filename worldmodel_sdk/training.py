"""Training: `fit` with a validation split, a monitored metric, a time budget, callbacks.

`fit` trains any `WorldModel` on an `EpisodeDataset` (cut into fixed-length
windows and turned into a sequence `WorldModelInput` by `episodes_to_input`) or
on a ready `WorldModelInput`. It validates the data once against the model's
contract, minimises ``model.loss`` with Adam, evaluates the validation loss
after every epoch, stops when the monitored component (by default the model's
prediction objective if it declares one, else the total) has not improved for
``patience`` epochs, when a wall-clock budget is spent or when a callback asks,
and restores the weights of the best epoch. A model that defines
``prepare_for_training(batch)`` (the reference models fit their input
normalisation there) gets it called once with the training data first.

`optimize` runs an optuna search (the ``hpo`` extra) over the search space a
config class declares in its ``search_space`` class attribute.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import torch
from pydantic import BaseModel, ConfigDict, model_validator

from ._batches import _batch_size_of, _split_input, episodes_to_input, select_input, to_device
from .callbacks import Callback
from .data.dataset import EpisodeDataset
from .errors import ContractError
from .model import WorldModel
from .payloads.outputs import WorldModelInput

__all__ = [
    "FitResult",
    "OptimizeResult",
    "PreparesForTraining",
    "Progress",
    "SearchDim",
    "StopReason",
    "DeclaresMonitor",
    "episodes_to_input",
    "fit",
    "limit_threads",
    "optimize",
    "select_input",
    "to_device",
]

Progress = bool | Literal["rich", "tqdm"]
StopReason = Literal["epochs", "patience", "time_budget", "callback"]


class SearchDim(BaseModel):
    """One hyperparameter's search range, as a config class declares it.

    Attributes:
        kind: ``int``, ``float`` or ``categorical``.
        low: Lower bound (numeric kinds).
        high: Upper bound (numeric kinds).
        log: Search on a log scale (numeric kinds).
        choices: The values of a categorical dimension.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: tuple[str | int | float | bool, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> SearchDim:
        if self.kind == "categorical" and not self.choices:
            raise ValueError("a categorical SearchDim needs choices")
        if self.kind != "categorical" and (
            self.low is None or self.high is None or self.low > self.high
        ):
            raise ValueError(
                f"a {self.kind} SearchDim needs low <= high; got {self.low}, {self.high}"
            )
        return self


@contextlib.contextmanager
def limit_threads(threads: int | None) -> Iterator[None]:
    """Run a block with ``threads`` torch intra-op threads, restoring the count after.

    Small models such as the reference ones train fastest on one thread: with more,
    synchronisation costs more than the work saved, above all on a busy machine.
    ``None`` leaves the setting alone.
    """
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@runtime_checkable
class PreparesForTraining(Protocol):
    """A model that fits data statistics (e.g. normalisation) before training."""

    def prepare_for_training(self, batch: WorldModelInput) -> None:
        """Fit statistics on the full training batch."""


@runtime_checkable
class DeclaresMonitor(Protocol):
    """A model that names the loss component `fit` should select epochs by by default."""

    fit_monitor: str


@dataclass(slots=True)
class FitResult:
    """What `fit` did.

    Attributes:
        best_epoch: Epoch (1-based) whose weights were restored.
        best_val_loss: Validation value of the monitored metric at that epoch.
        epochs_run: Epochs actually run.
        stopped_early: Whether early stopping ended training.
        seconds: Wall-clock training time.
        history: Per epoch: ``train``, ``val`` (total), ``monitor`` and the validation
            loss components as ``val_<name>``.
        monitor: The loss component that selected the best epoch.
        stop_reason: ``epochs`` (all run), ``patience``, ``time_budget`` or ``callback``.
    """

    best_epoch: int
    best_val_loss: float
    epochs_run: int
    stopped_early: bool
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)
    monitor: str = "total"
    stop_reason: StopReason = "epochs"


def _evaluate(
    model: WorldModel, batch: WorldModelInput, batch_size: int, seed: int
) -> dict[str, float]:
    model.eval()
    totals: dict[str, float] = {}
    size = _batch_size_of(batch)
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for start in range(0, size, batch_size):
            index = torch.arange(start, min(start + batch_size, size))
            out = model.loss(select_input(batch, index))
            for name, value in out.items():
                totals[name] = totals.get(name, 0.0) + float(value) * len(index)
    return {name: value / size for name, value in totals.items()}


@contextlib.contextmanager
def _progress(mode: Progress, epochs: int, label: str) -> Iterator[Callable[[str], None]]:
    if mode is False:
        yield lambda _text: None
        return
    if mode == "tqdm":
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs, desc=label, leave=False)
        try:
            yield lambda text: (bar.set_postfix_str(text), bar.update(1)) and None
        finally:
            bar.close()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"))
    with Progress(*columns, TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task(label, total=epochs, info="")
        yield lambda text: bar.update(task, advance=1, info=text)


def _as_inputs(
    model: WorldModel,
    data: EpisodeDataset | WorldModelInput,
    val_data: EpisodeDataset | WorldModelInput | None,
    val_fraction: float,
    window: int,
    stride: int,
    seed: int,
) -> tuple[WorldModelInput, WorldModelInput]:
    if isinstance(data, EpisodeDataset):
        if val_data is None:
            data, val_data = data.split(val_fraction=val_fraction, seed=seed)
        train = episodes_to_input(model, data, window=window, stride=stride)
    else:
        train = data
        if val_data is None:
            train, val_data = _split_input(data, val_fraction, torch.Generator().manual_seed(seed))
    val = (
        episodes_to_input(model, val_data, window=window, stride=stride)
        if isinstance(val_data, EpisodeDataset)
        else val_data
    )
    model.validate_batch_contract(train)
    model.validate_batch_contract(val)
    return train, val


def fit(
    model: WorldModel,
    data: EpisodeDataset | WorldModelInput,
    *,
    val_data: EpisodeDataset | WorldModelInput | None = None,
    val_fraction: float = 0.2,
    window: int = 10,
    window_stride: int = 1,
    epochs: int = 50,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.0,
    patience: int = 8,
    min_delta: float = 0.0,
    grad_clip: float | None = 10.0,
    monitor: str | None = None,
    time_budget: float | None = None,
    callbacks: Sequence[Callback] = (),
    device: str | torch.device | None = None,
    seed: int = 0,
    progress: Progress = True,
    threads: int | None = None,
) -> FitResult:
    """Train ``model`` in place and restore the weights of its best validation epoch.

    Args:
        model: The model to train (``model.loss`` is minimised).
        data: Training episodes, or a ready `WorldModelInput`.
        val_data: Validation data; by default ``val_fraction`` of ``data`` is held out
            (whole episodes for an `EpisodeDataset`).
        val_fraction: Share held out when ``val_data`` is not given.
        window: Steps per training window when ``data`` holds episodes.
        window_stride: Steps between the starts of consecutive windows.
        epochs: Maximum number of epochs.
        batch_size: Samples (windows) per optimiser step.
        lr: Adam learning rate.
        weight_decay: Adam weight decay.
        patience: Stop after this many epochs without improvement of the monitored metric.
        min_delta: Smallest decrease of the monitored metric counted as improvement.
        grad_clip: Clip the gradient norm to this value (``None``: no clipping).
        monitor: The validation loss component that selects the best epoch and drives
            early stopping (``"total"`` or a component name such as ``"one_step"``).
            ``None``: the model's `DeclaresMonitor.fit_monitor` if it declares one (the
            reference JOPMs monitor ``"prediction"``), else ``"total"``.
        time_budget: Wall-clock seconds of training; when spent, the current epoch stops
            after its minibatch, is validated, and training ends.
        callbacks: `Callback` objects called at the start, after every epoch (any may
            stop training) and at the end.
        device: Where to train (``None``: where the model is). The model stays there.
        seed: Seeds the split, the shuffling and the randomness of training (the
            initial weights are drawn when the model is built: seed torch before that).
        progress: ``True``/``"rich"`` for a rich progress bar, ``"tqdm"``, or ``False``.
        threads: Torch intra-op threads while training (``None``: leave as is); see
            `limit_threads`.

    Returns:
        A `FitResult`; the model holds the best weights and is in eval mode.

    Raises:
        ContractError: if the data does not fit the model's contract, or ``monitor`` names
            no validation loss component.
    """
    if epochs < 1 or batch_size < 1 or patience < 1:
        raise ContractError(
            f"fit: epochs, batch_size and patience must be >= 1; got {epochs}, {batch_size}, "
            f"{patience}"
        )
    if time_budget is not None and not time_budget > 0:
        raise ContractError(f"fit: time_budget must be > 0 seconds or None; got {time_budget}")
    torch.manual_seed(seed)
    train, val = _as_inputs(model, data, val_data, val_fraction, window, window_stride, seed)
    if device is not None:
        model.to(device)
        train, val = to_device(train, device), to_device(val, device)
    if isinstance(model, PreparesForTraining):
        model.prepare_for_training(train)
    watched = _monitor_of(model, val, monitor, batch_size)
    loop = _Loop(model, train, val, batch_size, seed, grad_clip, time_budget)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    best = (math.inf, 0, _snapshot(model))
    history: list[dict[str, float]] = []
    reason: StopReason = "epochs"
    label = f"training {type(model).__name__} ({watched})"
    for callback in callbacks:
        callback.on_fit_start(model)
    with limit_threads(threads), _progress(progress, epochs, label) as report:
        for epoch in range(1, epochs + 1):
            train_loss, out_of_time = loop.epoch(optimiser)
            scores = _evaluate(model, val, batch_size, seed)
            record = {"epoch": epoch, "train": train_loss, "val": scores["total"]}
            record |= {"monitor": scores[watched]}
            record |= {f"val_{k}": v for k, v in scores.items() if k != "total"}
            history.append(record)
            if scores[watched] < best[0] - min_delta:
                best = (scores[watched], epoch, _snapshot(model))
            report(f"train {train_loss:.4f}  {watched} {scores[watched]:.4f}  best {best[0]:.4f}")
            stop = [callback.on_epoch_end(record, model) for callback in callbacks]
            reason = _stop_reason(epoch - best[1] >= patience, out_of_time, any(stop))
            if reason != "epochs":
                break
    for callback in callbacks:
        callback.on_fit_end(model)
    model.load_state_dict(best[2])
    model.eval()
    return FitResult(
        best_epoch=best[1],
        best_val_loss=best[0],
        epochs_run=len(history),
        stopped_early=reason != "epochs",
        seconds=loop.seconds,
        history=history,
        monitor=watched,
        stop_reason=reason,
    )


def _snapshot(model: WorldModel) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _stop_reason(patience: bool, out_of_time: bool, callback: bool) -> StopReason:
    if out_of_time:
        return "time_budget"
    if callback:
        return "callback"
    return "patience" if patience else "epochs"


def _monitor_of(
    model: WorldModel, val: WorldModelInput, monitor: str | None, batch_size: int
) -> str:
    """The validated name of the monitored component."""
    if monitor is None:
        monitor = model.fit_monitor if isinstance(model, DeclaresMonitor) else "total"
    model.eval()
    with torch.no_grad(), torch.random.fork_rng(devices=[]):
        index = torch.arange(min(batch_size, _batch_size_of(val)))
        names = ["total", *model.loss(select_input(val, index)).components]
    if monitor not in names:
        raise ContractError(
            f"fit: monitor {monitor!r} is not a loss component of {type(model).__name__}; "
            f"expected one of {names}"
        )
    return monitor


class _Loop:
    """The minibatch loop of `fit`, with its clock."""

    def __init__(
        self,
        model: WorldModel,
        train: WorldModelInput,
        val: WorldModelInput,
        batch_size: int,
        seed: int,
        grad_clip: float | None,
        time_budget: float | None,
    ) -> None:
        self.model, self.train, self.batch_size, self.grad_clip = (
            model,
            train,
            batch_size,
            grad_clip,
        )
        self.size = _batch_size_of(train)
        self.generator = torch.Generator().manual_seed(seed)
        self.started = time.perf_counter()
        self.deadline = math.inf if time_budget is None else self.started + time_budget

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def epoch(self, optimiser: torch.optim.Optimizer) -> tuple[float, bool]:
        """One pass (cut short when the budget is spent): ``(mean train loss, out of time)``."""
        self.model.train()
        running, seen = 0.0, 0
        order = torch.randperm(self.size, generator=self.generator)
        for start in range(0, self.size, self.batch_size):
            index = order[start : start + self.batch_size]
            loss = self.model.loss(select_input(self.train, index)).total
            optimiser.zero_grad(set_to_none=True)
            torch.autograd.backward(loss)
            if self.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
            optimiser.step()
            running += float(loss.detach()) * len(index)
            seen += len(index)
            if time.perf_counter() >= self.deadline:
                return running / seen, True
        return running / seen, False


@dataclass(slots=True)
class OptimizeResult:
    """What `optimize` found.

    Attributes:
        best_config: The best config found (base config plus the best parameters).
        best_value: Its best validation loss.
        study: The optuna study, for further analysis.
    """

    best_config: BaseModel
    best_value: float
    study: Any


def optimize(
    build: Callable[[Any], WorldModel],
    base_config: BaseModel,
    data: EpisodeDataset | WorldModelInput,
    *,
    n_trials: int = 20,
    timeout: float | None = None,
    seed: int = 0,
    space: Mapping[str, SearchDim] | None = None,
    **fit_kwargs: Any,
) -> OptimizeResult:
    """Search hyperparameters with optuna, minimising `fit`'s best monitored validation value.

    Args:
        build: Makes a model from a config (e.g. the model class).
        base_config: Values of the parameters that are not searched.
        data: Passed to `fit` for every trial.
        n_trials: Number of trials.
        timeout: Stop starting trials after this many seconds.
        seed: Seeds the sampler and every trial's `fit`.
        space: Parameters to search; defaults to ``type(base_config).search_space``.
        **fit_kwargs: Further `fit` options (``epochs``, ``batch_size``...).

    Raises:
        ImportError: if optuna is not installed (``pip install worldmodel-sdk[hpo]``).
    """
    try:
        import optuna
    except ImportError as error:
        raise ImportError("optimize needs optuna; install worldmodel-sdk[hpo]") from error
    dims = dict(space if space is not None else getattr(type(base_config), "search_space", {}))
    if not dims:
        raise ContractError(f"optimize: {type(base_config).__name__} declares no search_space")

    def config_for(params: Mapping[str, Any]) -> BaseModel:
        return type(base_config).model_validate({**base_config.model_dump(), **params})

    def objective(trial: Any) -> float:
        params = {name: _suggest(trial, name, dim) for name, dim in dims.items()}
        model = build(config_for(params))
        return fit(model, data, seed=seed, progress=False, **fit_kwargs).best_val_loss

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    return OptimizeResult(
        best_config=config_for(study.best_params), best_value=float(study.best_value), study=study
    )


def _suggest(trial: Any, name: str, dim: SearchDim) -> Any:
    if dim.kind == "categorical":
        return trial.suggest_categorical(name, list(dim.choices))
    assert dim.low is not None and dim.high is not None
    if dim.kind == "int":
        return trial.suggest_int(name, int(dim.low), int(dim.high), log=dim.log)
    return trial.suggest_float(name, dim.low, dim.high, log=dim.log)
