"""Each deliberately broken model fails exactly the checks it should, with the exact message."""

from __future__ import annotations

import re

import pytest
import torch

from worldmodel_sdk.conformance import Profile, Status, run_checks

from .broken import SPEC
from .test_broken_batching import ALSO_FAILING
from .test_broken_batching import CASES as BATCHING_CASES

NUM = "<num>"


def _pattern(text: str) -> str:
    return re.escape(text).replace(re.escape(NUM), r"[0-9.e+-]+")


def _diff(check: str, call: str, what: str, rule: str = "identical values") -> str:
    return f"{check}: {call}: expected {what}: {rule}; got max abs difference {NUM}"


TOL = "values within rtol=1e-4, atol=1e-5"

# factory -> (every check it fails, the check whose message is pinned, that message)
CASES: dict[str, tuple[set[str], str, str]] = {
    "lacks_declared_head": (
        {"capabilities.prediction_heads", "loss.uses_targets"},
        "capabilities.prediction_heads",
        "capabilities.prediction_heads: LacksDeclaredHead.io_contract().prediction: expected "
        "heads ['continue', 'reward'] (from the declared capabilities); got heads ['reward']",
    ),
    "async_bypasses_guard": (
        {"capabilities.encode"},
        "capabilities.encode",
        "capabilities.encode: await AsyncBypassesGuard.async_encode(...) without declaring its "
        "capability: expected CapabilityError; got it returned State[z]",
    ),
    "wrong_shape": (
        {"outputs.decode", "outputs.generated_inputs"},
        "outputs.decode",
        "outputs.decode: WrongShape.decode(state): expected predictions['obs'] (B, 4) float32; "
        "got predictions['obs'] has shape (3, 5); contract expects (B, 4)",
    ),
    "nondeterministic": (
        {
            "determinism.repeat",
            "determinism.batch_independence",
            "determinism.repeat_train_mode",
            "outputs.async_twins",
            "outputs.generated_inputs",
            "persistence.round_trip",
        },
        "determinism.repeat",
        _diff(
            "determinism.repeat",
            "Nondeterministic.encode(obs, deterministic=True) twice",
            "State['z']",
        ),
    ),
    "mutates_state": (
        {
            "outputs.inputs_unchanged",
            "outputs.generated_inputs",
            "rollout.trajectory",
            "rollout.matches_steps",
            "loss.gradients",
        },
        "outputs.inputs_unchanged",
        _diff("outputs.inputs_unchanged", "MutatesState.transition(state, action)", "State['z']"),
    ),
    "rollout_off_by_one": (
        {"rollout.horizon"},
        "rollout.horizon",
        "rollout.horizon: RolloutOffByOne.rollout(state, actions[T=1], deterministic=True): "
        "expected horizon 1 with 2 states; got horizon 2 with 3 states",
    ),
    "loss_not_finite": (
        {"loss.finite"},
        "loss.finite",
        "loss.finite: LossNotFinite.loss(batch [B, T, ...]): expected total: finite values; "
        "got inf",
    ),
    "loss_detached": (
        {"loss.gradients"},
        "loss.gradients",
        "loss.gradients: LossDetached.loss(batch [B, T, ...]).total: expected a tensor "
        "attached to the parameters; got requires_grad=False",
    ),
    "loses_buffer": (
        {"persistence.round_trip"},
        "persistence.round_trip",
        _diff(
            "persistence.round_trip",
            "LosesBuffer.from_pretrained(save_pretrained(dir)).encode(obs, deterministic=True) "
            "vs the original",
            "State['z']",
        ),
    ),
    "async_differs": (
        {"rollout.async_matches_sync"},
        "rollout.async_matches_sync",
        _diff(
            "rollout.async_matches_sync",
            "await AsyncDiffers.async_rollout(state, actions[T=3], deterministic=True): "
            "states[1] vs rollout",
            "State['z']",
        ),
    ),
    "lax_nan": (
        {"contract.rejects_nan"},
        "contract.rejects_nan",
        "contract.rejects_nan: LaxNaN.validate_observation(<nan at obs['obs']>): expected "
        "ContractError; got no error (the payload was accepted)",
    ),
    "rejects_valid": (
        # Public transition() checks actions with validate_action, so every call with
        # other actions fails too.
        {
            "contract.accepts_valid",
            "rollout.matches_steps",
            "outputs.generated_inputs",
            "determinism.batch_independence_train_mode",
            "sensitivity.transition_action",
        },
        "contract.accepts_valid",
        "contract.accepts_valid: RejectsValid.validate_action(...) on a valid Tensor(1, 2) "
        "float32: expected no error; got ContractError: action above 0.5",
    ),
    "unstable_fingerprint": (
        {"contract.fingerprint"},
        "contract.fingerprint",
        "contract.fingerprint: UnstableFingerprint.io_contract().fingerprint: expected "
        "wmc1:69fa9bf225a74e3d8ca90fe94e8f40da6dfb2485ed16ac2607253c4319576567; got "
        "wmc1:d4875160319d47458a738ecf74b8f7d1afcfced8011e3cd9469e2589da1ecc43",
    ),
    "renamed_parameter": (
        {"interface.signatures"},
        "interface.signatures",
        "interface.signatures: inspect.signature(RenamedParameter.decode): expected "
        "(self, state, conditions=None); got (self, latent, conditions=None)",
    ),
    "grad_leak": (
        {"rollout.no_grad_leak"},
        "rollout.no_grad_leak",
        "rollout.no_grad_leak: GradLeak.rollout(...) under torch.no_grad(): expected no tensor "
        "requiring grad; got states[1]['z'], states[2]['z'], states[3]['z']",
    ),
    "batch_coupled": (
        {"determinism.batch_independence", "determinism.batch_independence_train_mode"},
        "determinism.batch_independence",
        _diff(
            "determinism.batch_independence",
            "BatchCoupled.decode(state) on item 0 alone vs item 0 of the batch",
            "predictions['obs']",
            TOL,
        ),
    ),
    "loss_stub": (
        {"interface.loss"},
        "interface.loss",
        "interface.loss: LossStub.loss(batch [B, T, ...]): expected an implementation; got "
        "NotImplementedError: training happens elsewhere",
    ),
    "async_predictions_differ": (
        {"rollout.async_matches_sync"},
        "rollout.async_matches_sync",
        _diff(
            "rollout.async_matches_sync",
            "await AsyncPredictionsDiffer.async_rollout(state, actions[T=3], deterministic=True)",
            "trajectory.predictions['obs'] vs rollout",
        ),
    ),
    "lax_agents": (
        {"contract.rejects_wrong_agent"},
        "contract.rejects_wrong_agent",
        "contract.rejects_wrong_agent: LaxAgents.validate_observation(<wrong_agent at obs "
        "without 'a'>): expected ContractError; got no error (the payload was accepted)",
    ),
    "unstable_dynamics": (
        {"env.pettingzoo_api"},
        "env.pettingzoo_api",
        "env.pettingzoo_api: pettingzoo.test.parallel_api_test(WorldModelEnv(...)): expected no "
        "error; got ContractError: the model predicted NaN or inf in obs['a'] "
        "[WorldModelEnv.step]",
    ),
    "noisy_dynamics": (
        {
            "outputs.async_twins",
            "outputs.generated_inputs",
            "determinism.repeat",
            "determinism.repeat_train_mode",
            "determinism.rollout",
            "determinism.batch_independence",
            "determinism.batch_independence_train_mode",
            "determinism.agent_order",
            "rollout.matches_steps",
            "rollout.latent_mode",
            "rollout.async_matches_sync",
            "persistence.round_trip",
            "env.gymnasium_api",
        },
        "env.gymnasium_api",
        "env.gymnasium_api: gymnasium.utils.env_checker.check_env(SingleAgentEnv(..., "
        "agent='a')): expected no error; got AssertionError: Deterministic step observations "
        "are not equivalent for the same seed and action",
    ),
    "instance_capabilities": (
        {"interface.capabilities"},
        "interface.capabilities",
        "interface.capabilities: InstanceCapabilities().capabilities: expected the class-level "
        "declaration (no per-instance override); got "
        "frozenset({<Capability.REPRESENTATION: 'representation'>})",
    ),
    "ignores_action": (
        {"sensitivity.transition_action"},
        "sensitivity.transition_action",
        "sensitivity.transition_action: IgnoresAction.transition(state, action, "
        "deterministic=True) with only action changed: expected a different State (action is "
        "a declared input); got a bit-identical State[z]",
    ),
    "ignores_observation": (
        {"sensitivity.update_observation"},
        "sensitivity.update_observation",
        "sensitivity.update_observation: IgnoresObservation.update(state, action, obs) with "
        "only obs['obs'] changed: expected a different State (obs['obs'] is a declared input); "
        "got a bit-identical State[z]",
    ),
    "ignores_agent_action": (
        {"sensitivity.transition_action"},
        "sensitivity.transition_action",
        "sensitivity.transition_action: IgnoresAgentAction.transition(state, action, "
        "deterministic=True) with only action['b'] changed: expected a different State "
        "(action['b'] is a declared input); got a bit-identical State[z]",
    ),
    "ignores_agent_observation": (
        {"sensitivity.encode_observation"},
        "sensitivity.encode_observation",
        "sensitivity.encode_observation: IgnoresAgentObservation.encode(obs, "
        "deterministic=True) with only obs['b'] changed: expected a different State (obs['b'] "
        "is a declared input); got a bit-identical State[z]",
    ),
    "order_dependent": (
        {"determinism.agent_order"},
        "determinism.agent_order",
        _diff(
            "determinism.agent_order",
            "OrderDependent.encode(obs, deterministic=True) with agents in the order ['b', 'a']",
            "State['z']",
        ),
    ),
    "with_dropout": (
        {"determinism.repeat_train_mode"},
        "determinism.repeat_train_mode",
        _diff(
            "determinism.repeat_train_mode",
            "WithDropout.encode(obs, deterministic=True) twice in train mode",
            "State['z']",
        ),
    ),
    "batch_norm_leak": (
        {"determinism.batch_independence_train_mode"},
        "determinism.batch_independence_train_mode",
        _diff(
            "determinism.batch_independence_train_mode",
            "BatchNormLeak.encode(obs, deterministic=True) in train mode: item 0 with the other "
            "items changed vs item 0 of the original batch",
            "State['z']",
            TOL,
        ),
    ),
    "sqrt_observation_with_positive_sample": (
        {"outputs.generated_inputs"},
        "outputs.generated_inputs",
        "outputs.generated_inputs: SqrtObservation.encode(obs, deterministic=True) on random "
        "inputs drawn from the contract (B=3, seed=100): expected a State fitting the "
        "contract's state spec; got State['z'] contains NaN or inf; contract expects finite "
        "values",
    ),
    "divides_by_action": (
        {"outputs.generated_inputs"},
        "outputs.generated_inputs",
        "outputs.generated_inputs: DividesByAction.transition(state, action, "
        "deterministic=True) on zero observations, actions at their lower bounds (B=3, "
        "seed=100): expected a State fitting the contract's state spec; got State['z'] "
        "contains NaN or inf; contract expects finite values",
    ),
    "mutates_batch": (
        {"loss.batch_unchanged"},
        "loss.batch_unchanged",
        _diff(
            "loss.batch_unchanged",
            "MutatesBatch.loss(batch [B, T, ...])",
            "batch.obs['obs'] left unchanged",
        ),
    ),
    "ignores_rewards": (
        {"loss.uses_targets"},
        "loss.uses_targets",
        "loss.uses_targets: IgnoresRewards.loss(batch [B, T, ...]) with only batch.rewards "
        "changed: expected a different total (the model declares reward_pred, so its loss must "
        f"learn the reward targets); got the same total {NUM}",
    ),
}

# The imagination and coalescing checks, with their own broken models.
for _name, _extra in ALSO_FAILING.items():
    CASES[_name] = (CASES[_name][0] | _extra, *CASES[_name][1:])


def test_the_thorough_profile_drives_behaviour_with_hypothesis_drawn_inputs() -> None:
    spec = f"{SPEC}:preallocated_batch"
    only = ["outputs.generated_inputs"]
    assert run_checks(spec, only=only).ok
    profile = Profile(name="thorough", max_examples=30, derandomize=True)
    result = run_checks(spec, only=only, profile=profile).result(only[0])
    assert result.message == (
        "outputs.generated_inputs: PreallocatedBatch.encode(obs, deterministic=True) on random "
        "inputs drawn from the contract (B=4, seed=0): expected no exception; got "
        "RuntimeError: The size of tensor a (4) must match the size of tensor b (3) at "
        f"non-singleton dimension 0. Reproduce: wmsdk check {spec} --only {only[0]} --thorough"
    )
    passing = run_checks(f"{SPEC}:tiny", only=only, profile=profile).result(only[0])
    assert passing.message == "3 input sets and 30 Hypothesis-drawn ones"


def test_declared_train_mode_dropout_passes_with_the_dropout_held_in_eval_mode() -> None:
    report = run_checks(f"{SPEC}:with_dropout_declared", only=["determinism"])
    assert report.ok, [r.message for r in report.failed]
    result = report.result("determinism.repeat_train_mode")
    assert result.status is Status.PASSED
    assert result.message == "train mode with 1 dropout layers held in eval mode (train_dropout)"


def test_train_mode_checks_do_not_apply_to_a_model_built_in_eval_mode() -> None:
    report = run_checks(f"{SPEC}:with_dropout_in_eval_mode", only=["determinism"])
    for name in ("determinism.repeat_train_mode", "determinism.batch_independence_train_mode"):
        assert report.result(name).status is Status.NOT_APPLICABLE


def test_the_train_mode_checks_leave_the_model_in_eval_mode_with_its_statistics() -> None:
    from .broken import BatchNormLeak

    model = BatchNormLeak()
    before = model.norm.running_mean.clone()
    run_checks(model, only=["determinism.batch_independence_train_mode", "loss"])
    assert not model.training
    assert torch.equal(model.norm.running_mean, before)


def test_an_ignored_input_declared_on_the_target_is_an_expected_failure() -> None:
    report = run_checks(f"{SPEC}:ignores_action_declared", only=["sensitivity"])
    result = report.result("sensitivity.transition_action")
    assert report.ok and result.status is Status.XFAIL
    assert result.message.startswith("expected failure (a clock, not a robot): ")


@pytest.mark.parametrize("factory", sorted(CASES))
def test_broken_model_fails_exactly_its_checks(factory: str) -> None:
    failing, pinned, message = CASES[factory]
    spec = f"{SPEC}:{factory}"
    report = run_checks(spec)
    assert {r.check for r in report.failed} == failing
    result = report.result(pinned)
    reproduce = f"wmsdk check {spec} --only {pinned}"
    assert re.fullmatch(_pattern(f"{message}. Reproduce: {reproduce}"), result.message)
    assert result.reproduce == reproduce
    assert result.call and result.expected and result.got


@pytest.mark.parametrize(
    "factory", ["tiny", "with_sample", "multi_tiny", "sampled_posterior", "conditioned"]
)
def test_correct_model_passes_every_check(factory: str) -> None:
    report = run_checks(f"{SPEC}:{factory}")
    assert report.ok, [r.message for r in report.failed]
    assert report.counts[Status.FAILED.value] == 0


def test_the_multi_agent_checks_run_and_pass_on_the_correct_multi_agent_model() -> None:
    names = ["contract.rejects_wrong_agent", "env.pettingzoo_api", "env.gymnasium_api"]
    report = run_checks(f"{SPEC}:multi_tiny", only=names)
    assert [(r.check, r.status) for r in report.results] == [(n, Status.PASSED) for n in names]


def test_a_loss_stub_fails_interface_loss_only() -> None:
    report = run_checks(f"{SPEC}:loss_stub", only=["interface.loss", "loss"])
    statuses = {r.check: r.status for r in report.results}
    assert statuses.pop("interface.loss") is Status.FAILED
    assert set(statuses.values()) == {Status.NOT_APPLICABLE}
    assert all(
        "see interface.loss" in r.message
        for r in report.results
        if r.status is Status.NOT_APPLICABLE
    )


def test_the_pinned_check_fails_alone_with_only() -> None:
    report = run_checks(f"{SPEC}:rollout_off_by_one", only=["rollout.horizon"])
    assert [(r.check, r.status) for r in report.results] == [("rollout.horizon", Status.FAILED)]


def test_every_check_is_tripped_by_some_broken_model_or_a_unit_test() -> None:
    from worldmodel_sdk.conformance import all_checks

    tripped = set().union(
        *(failing for failing, _, _ in [*CASES.values(), *BATCHING_CASES.values()])
    )
    # Checks made to fail in test_checks.py and test_uncertainty.py.
    from .test_checks import CASES as OTHER
    from .test_uncertainty import CASES as UNCERTAINTY

    tripped |= set().union(*(failing for failing, _, _ in UNCERTAINTY.values()))

    elsewhere = {name for _, name, _ in OTHER} | {
        "interface.base_class",
        "contract.sample",
        "wire.envelope_round_trip",
        "wire.shared_memory_round_trip",
    }
    assert {c.name for c in all_checks()} == tripped | elsewhere
