"""NMN policy and RNN baselines under sb3-contrib RecurrentPPO."""

from __future__ import annotations

import json
import re
import zipfile

import gymnasium as gym
import numpy as np
import pytest
import torch as th
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.callbacks import CallbackList
from stable_baselines3.common.utils import set_random_seed

from nmn_envs.sb3_vec_env import make_sb3_vec_env
from policies import LSTMPolicy, NMNPolicy, RecurrentStack, RNNPolicy, StackedRecurrentPolicy
from policies.config import load_hyperparams
from policies.nmn import NeuromodulatedLinear, base_observation_slice
from policies.heading import WrappedGaussianDistribution
from policies.action_head import LOG_STD_BOUNDS
from policies.serialization import load_safe, save_safe
from training.train import policy_class

BENCH2_NMN = {"recurrent_sizes": (100, 75), "modulation_size": 45, "main_sizes": (30, 10)}
BENCH2_RNN = {"recurrent_sizes": (100, 75), "net_arch": (45, 30, 10)}
OUR_POLICIES = [(NMNPolicy, {}), (RNNPolicy, {}), (NMNPolicy, {"cell": "lstm"}), (RNNPolicy, BENCH2_RNN)]
POLICY_IDS = ["nmn-gru", "rnn-gru", "nmn-lstm", "rnn-two-layers"]

# One intra-op thread: the networks are tiny, and OpenMP threads spinning on a busy machine
# slow every call many times over.
th.set_num_threads(1)


def constant_schedule(_: float) -> float:
    return 3e-4


def make_policy(cls: type, env_id: str = "NMN-Bench1-v0", **kwargs) -> StackedRecurrentPolicy:
    env = gym.make(env_id)
    return cls(env.observation_space, env.action_space, constant_schedule, **kwargs)


def count_parameters(policy: th.nn.Module) -> int:
    return sum(parameter.numel() for parameter in policy.parameters())


def parameters_missing_from_optimizer(policy: RecurrentActorCriticPolicy) -> list[str]:
    held = {id(parameter) for group in policy.optimizer.param_groups for parameter in group["params"]}
    return [name for name, parameter in policy.named_parameters() if id(parameter) not in held]


def small_model(policy: type, env_id: str = "NMN-Bench1-v0", episode_steps: int = 23, **kwargs) -> RecurrentPPO:
    """A model whose short meta-episodes put episode starts inside every rollout."""
    env = make_sb3_vec_env(env_id, 3, seed=7, max_episode_steps=episode_steps)
    return RecurrentPPO(policy, env, n_steps=40, batch_size=30, n_epochs=1, seed=7, **kwargs)


@pytest.mark.parametrize("env_id", ["NMN-Bench1-v0", "NMN-Bench2-v0", "NMN-Bench3-v0"])
def test_parameter_counts_match_within_five_percent(env_id: str) -> None:
    hyperparams = load_hyperparams(env_id)
    env = gym.make(env_id)
    counts = {}
    for name, kwargs in hyperparams.policy_kwargs.items():
        cls = policy_class(name)
        cls = RecurrentPPO.policy_aliases[cls] if isinstance(cls, str) else cls
        counts[name] = count_parameters(cls(env.observation_space, env.action_space, constant_schedule, **kwargs))
    print(env_id, counts)
    for name in ("rnn", "lstm"):
        assert abs(counts[name] - counts["nmn"]) / counts["nmn"] < 0.05, (name, counts)


def test_nmn_sizes_follow_the_source_on_bench2() -> None:
    policy = make_policy(NMNPolicy, "NMN-Bench2-v0", **BENCH2_NMN)
    for network in (policy.lstm_actor, policy.lstm_critic):
        assert [layer.hidden_size for layer in network.neuromodulator.layers] == [100, 75]
        assert network.modulation.out_features == 45
        assert [layer.weight.out_features for layer in network.layers] == [30, 10, network.layers[-1].weight.out_features]
        assert network.layers[0].weight.in_features == 2  # the base observation g - p only
    assert policy.lstm_actor.layers[-1].weight.out_features == 2  # the Gaussian mean and log-std
    assert policy.lstm_critic.layers[-1].weight.out_features == 1  # the value
    assert policy.lstm_actor.hidden_size == 175
    # actor and critic share no parameter
    actor = {id(p) for p in policy.lstm_actor.parameters()}
    assert not actor & {id(p) for p in policy.lstm_critic.parameters()}


def test_neuromodulated_layer_computes_the_source_formula() -> None:
    generator = th.Generator().manual_seed(0)
    layer = NeuromodulatedLinear(3, 4, 2)
    x, z = th.randn(5, 3, generator=generator), th.randn(5, 2, generator=generator)
    W, Ws, Wb, b = layer.weight.weight.T, layer.scale.weight.T, layer.shift.weight.T, layer.shift.bias
    th.testing.assert_close(layer(x, z), (x @ W) * (1 + z @ Ws) + b + z @ Wb)


def test_main_network_reads_only_the_base_observation() -> None:
    env = gym.make("NMN-Bench3-v0")
    base = base_observation_slice(env.observation_space)
    assert base == slice(0, 4)
    policy = make_policy(NMNPolicy, "NMN-Bench3-v0", **BENCH2_NMN)
    network = policy.lstm_actor
    x = th.randn(6, 2, network.input_size, requires_grad=True)
    state = (th.zeros(1, 2, network.hidden_size),) * 2
    output, _ = network(x, state)
    # cut the recurrent path: then the output depends on the base observation only
    hidden, _ = network.neuromodulator(x, state)
    z = th.relu(network.modulation(hidden)).detach()
    y = x[..., base]
    for layer in network.layers[:-1]:
        y = th.clamp(layer(y, z), -1, 1)
    th.testing.assert_close(network.layers[-1](y, z), output)
    (grad,) = th.autograd.grad(network.layers[-1](y, z).sum(), x)
    assert th.all(grad[..., 4:] == 0) and th.any(grad[..., :4] != 0)


@pytest.mark.parametrize(("cls", "kwargs"), OUR_POLICIES, ids=POLICY_IDS)
def test_optimizer_holds_every_parameter(cls: type, kwargs: dict) -> None:
    policy = make_policy(cls, **kwargs)
    assert parameters_missing_from_optimizer(policy) == []


def test_replacing_modules_after_the_parent_optimizer_leaves_them_untrained() -> None:
    """Negative control: what a subclass that forgets to rebuild the optimizer would get."""
    env = gym.make("NMN-Bench1-v0")
    policy = RecurrentPPO.policy_aliases["MultiInputLstmPolicy"](
        env.observation_space, env.action_space, constant_schedule, lstm_hidden_size=8
    )
    assert parameters_missing_from_optimizer(policy) == []
    policy.lstm_actor = RecurrentStack(policy.features_dim, (8,), "gru")
    missing = parameters_missing_from_optimizer(policy)
    assert missing and all(name.startswith("lstm_actor.") for name in missing)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_gradients_reach_the_neuromodulatory_network_through_z(cell: str) -> None:
    policy = make_policy(NMNPolicy, cell=cell)
    observations = {key: th.randn(12, *space.shape) for key, space in policy.observation_space.spaces.items()}
    state = (th.zeros(1, 2, policy.lstm_actor.hidden_size),) * 2
    starts = th.zeros(12)
    starts[0] = starts[6] = 1.0
    distribution, _ = policy.get_distribution(observations, state, starts)
    distribution.distribution.mean.sum().backward()
    for name, parameter in policy.lstm_actor.named_parameters():
        assert parameter.grad is not None and th.any(parameter.grad != 0), name


@pytest.mark.parametrize(("cls", "kwargs"), OUR_POLICIES, ids=POLICY_IDS)
def test_fused_sequence_equals_the_per_step_loop(cls: type, kwargs: dict) -> None:
    policy = make_policy(cls, **kwargs)
    net = policy.lstm_actor
    generator = th.Generator().manual_seed(3)
    n_seq, length = 4, 9
    features = th.randn(n_seq * length, net.input_size, generator=generator)
    state = (th.randn(1, n_seq, net.hidden_size, generator=generator),) * 2
    if kwargs.get("cell", "gru") == "gru":
        state = (state[0], th.zeros_like(state[1]))
    starts = th.zeros(n_seq, length)
    starts[[0, 2], 0] = 1.0  # as the rollout buffer cuts them: starts only at t = 0
    fused = StackedRecurrentPolicy._process_sequence(features, state, starts.flatten(), net)
    loop = RecurrentActorCriticPolicy._process_sequence(features, state, starts.flatten(), net)
    th.testing.assert_close(fused[0], loop[0])
    th.testing.assert_close(fused[1], loop[1])
    # a reset at t = 0 zeroes the state: the first sequence ignores its carried state
    zero_state = tuple(th.zeros_like(s) for s in state)
    alone, _ = net(features[:length, None], (zero_state[0][:, :1], zero_state[1][:, :1]))
    th.testing.assert_close(fused[0][:length], alone[:, 0])


def test_a_start_inside_a_sequence_falls_back_to_the_loop() -> None:
    policy = make_policy(RNNPolicy)
    net = policy.lstm_actor
    features = th.randn(2 * 5, net.input_size)
    state = (th.randn(1, 2, net.hidden_size), th.zeros(1, 2, net.hidden_size))
    starts = th.zeros(2, 5)
    starts[1, 3] = 1.0
    fused = StackedRecurrentPolicy._process_sequence(features, state, starts.flatten(), net)
    loop = RecurrentActorCriticPolicy._process_sequence(features, state, starts.flatten(), net)
    th.testing.assert_close(fused[0], loop[0])
    # the second sequence restarts at t = 3: from there it equals a fresh run
    fresh, _ = net(features[8:10, None], (th.zeros(1, 1, net.hidden_size),) * 2)
    th.testing.assert_close(fused[0][8:10], fresh[:, 0])


@pytest.mark.parametrize(("cls", "kwargs"), OUR_POLICIES[:3], ids=POLICY_IDS[:3])
def test_predict_resets_the_carried_state_at_episode_start(cls: type, kwargs: dict) -> None:
    policy = make_policy(cls, **kwargs)
    env = gym.make("NMN-Bench1-v0")
    observation, _ = env.reset(seed=0)
    state = None
    for _ in range(5):  # build up a non-zero carried state
        action, state = policy.predict(observation, state, np.array([False]), deterministic=True)
        observation, *_ = env.step(action)
    assert np.any(state[0] != 0)
    carried, _ = policy.predict(observation, state, np.array([False]), deterministic=True)
    restarted, restarted_state = policy.predict(observation, state, np.array([True]), deterministic=True)
    fresh, fresh_state = policy.predict(observation, None, np.array([False]), deterministic=True)
    np.testing.assert_array_equal(restarted, fresh)
    np.testing.assert_array_equal(restarted_state[0], fresh_state[0])
    assert not np.array_equal(carried, fresh)  # control: the carried state does matter


HEADED_POLICIES = [NMNPolicy, RNNPolicy, LSTMPolicy]
"""Every policy class that takes the package's action heads."""
HEADING_POLICIES = [(cls, {"heading_action": True}) for cls in HEADED_POLICIES]


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    OUR_POLICIES[:3] + HEADING_POLICIES,
    ids=[*POLICY_IDS[:3], "nmn-heading", "rnn-heading", "lstm-heading"],
)
def test_evaluate_actions_reproduces_the_rollout(cls: type, kwargs: dict) -> None:
    model = small_model(cls, policy_kwargs=kwargs)
    model._setup_learn(10_000, callback=None)
    callback = CallbackList([])
    callback.init_callback(model)
    assert model.collect_rollouts(model.env, callback, model.rollout_buffer, model.n_steps)
    starts = model.rollout_buffer.episode_starts
    assert starts[1:].sum() > 0  # episode starts inside the rollout are exercised
    set_random_seed(1)
    minibatches = 0
    with th.no_grad():
        for batch in model.rollout_buffer.get(model.batch_size):
            values, log_prob, _ = model.policy.evaluate_actions(
                batch.observations, batch.actions, batch.lstm_states, batch.episode_starts
            )
            mask = batch.mask > 1e-8
            th.testing.assert_close(log_prob[mask], batch.old_log_prob[mask], atol=1e-5, rtol=1e-5)
            th.testing.assert_close(values.flatten()[mask], batch.old_values[mask], atol=1e-5, rtol=1e-5)
            minibatches += 1
    assert minibatches == 4


@pytest.mark.parametrize(("cls", "kwargs"), OUR_POLICIES[:3], ids=POLICY_IDS[:3])
def test_model_save_and_load_round_trip(tmp_path, cls: type, kwargs: dict) -> None:
    model = small_model(cls, policy_kwargs=kwargs)
    model.save(tmp_path / "model.zip")
    loaded = RecurrentPPO.load(tmp_path / "model.zip", device="cpu")
    assert type(loaded.policy) is cls
    observation = model.env.reset()
    episode_start = np.ones(3, dtype=bool)
    expected = model.predict(observation, None, episode_start, deterministic=True)
    got = loaded.predict(observation, None, episode_start, deterministic=True)
    np.testing.assert_array_equal(expected[0], got[0])
    np.testing.assert_array_equal(expected[1][0], got[1][0])


@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [(NMNPolicy, BENCH2_NMN | {"cell": "lstm", "activation": "sigmoid"}), (RNNPolicy, BENCH2_RNN)],
    ids=["nmn", "rnn"],
)
def test_policy_only_save_and_load_keeps_the_recurrent_arguments(tmp_path, cls: type, kwargs: dict) -> None:
    policy = make_policy(cls, "NMN-Bench2-v0", **kwargs)
    policy.save(tmp_path / "policy.pt")
    loaded = cls.load(tmp_path / "policy.pt", device="cpu")
    assert loaded.lstm_actor.hidden_size == 175
    for name, value in kwargs.items():
        assert tuple(getattr(loaded, name)) == tuple(value) if isinstance(value, tuple) else getattr(loaded, name) == value
    for (name, a), (_, b) in zip(policy.state_dict().items(), loaded.state_dict().items(), strict=True):
        th.testing.assert_close(a, b, msg=name)
    env = gym.make("NMN-Bench2-v0")
    observation, _ = env.reset(seed=1)
    np.testing.assert_array_equal(
        policy.predict(observation, deterministic=True)[0], loaded.predict(observation, deterministic=True)[0]
    )


@pytest.mark.parametrize("env_id", ["NMN-Bench1-v0", "NMN-Bandit-v0"], ids=["box", "discrete"])
@pytest.mark.parametrize("cls", [NMNPolicy, RNNPolicy])
def test_smoke_training_per_action_space(env_id: str, cls: type) -> None:
    model = small_model(cls, env_id, episode_steps=20)
    before = [parameter.detach().clone() for parameter in model.policy.parameters()]
    model.learn(240)
    assert model.num_timesteps >= 240
    after = list(model.policy.parameters())
    changed = [not th.equal(a, b) for a, b in zip(before, after, strict=True)]
    assert all(th.all(th.isfinite(p)) for p in after)
    assert sum(changed) >= len(changed) - 1  # all trained (log_std has no use for Discrete)


@pytest.mark.parametrize(
    ("cls", "kwargs", "message"),
    [
        (NMNPolicy, {"cell": "rnn"}, "cell must be one of"),
        (NMNPolicy, {"activation": "relu"}, "activation must be one of"),
        (NMNPolicy, {"recurrent_sizes": []}, "recurrent_sizes must be a non-empty"),
        (NMNPolicy, {"main_sizes": [10, 0]}, "main_sizes must be a non-empty"),
        (NMNPolicy, {"modulation_size": 0}, "modulation_size must be a positive int"),
        (RNNPolicy, {"shared_lstm": True}, r"does not take \['shared_lstm'\]"),
        (RNNPolicy, {"use_sde": True}, "does not support gSDE"),
        (LSTMPolicy, {"use_sde": True}, "does not support gSDE"),
        (LSTMPolicy, {"max_log_std": 3.0}, r"max_log_std must lie in \(-5.0, 1.0\], got 3.0"),
    ],
)
def test_bad_arguments_are_rejected_clearly(cls: type, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_policy(cls, **kwargs)


@pytest.mark.parametrize("env_id", ["NMN-Bench2-v0", "NMN-Bandit-v0"], ids=["box", "discrete"])
def test_the_lstm_policy_with_its_defaults_is_sb3_contribs(env_id: str) -> None:
    """Built from one seed, LSTMPolicy and sb3-contrib's MultiInputLstmPolicy have the same
    modules and weights, and the same head; the heading head changes only the action's."""
    sizes = {"lstm_hidden_size": 12, "n_lstm_layers": 2, "net_arch": [8]}
    th.manual_seed(2)
    contrib = make_policy(RecurrentPPO.policy_aliases["MultiInputLstmPolicy"], env_id, **sizes)
    th.manual_seed(2)
    ours = make_policy(LSTMPolicy, env_id, **sizes)
    assert type(ours.action_dist) is type(contrib.action_dist)
    expected, got = contrib.state_dict(), ours.state_dict()
    assert list(got) == list(expected)
    for name, weight in expected.items():
        th.testing.assert_close(got[name], weight, rtol=0.0, atol=0.0, msg=name)
    assert parameters_missing_from_optimizer(ours) == []
    if env_id == "NMN-Bench2-v0":
        th.manual_seed(2)
        heading = make_policy(LSTMPolicy, env_id, heading_action=True, **sizes)
        assert heading.action_net.out_features == 2 and parameters_missing_from_optimizer(heading) == []
        assert heading.lstm_actor.hidden_size == 12 and heading.lstm_actor.num_layers == 2


def test_a_dict_observation_without_a_base_entry_is_rejected() -> None:
    space = gym.spaces.Dict({"position": gym.spaces.Box(-1, 1, (2,)), "prev_reward": gym.spaces.Box(-1, 1, (1,))})
    with pytest.raises(ValueError, match="needs an 'observation' key"):
        NMNPolicy(space, gym.spaces.Discrete(2), constant_schedule)


def bench1_observations(policy: StackedRecurrentPolicy, rewards: list[float]) -> dict[str, th.Tensor]:
    """A one-sequence batch of Bench1 observations whose previous rewards are ``rewards``."""
    steps = len(rewards)
    observations = {key: th.zeros(steps, *space.shape) for key, space in policy.observation_space.spaces.items()}
    observations["observation"][:, 0] = 1.5
    observations["prev_action"][1:, 0] = 0.3
    observations["prev_reward"][:, 0] = th.tensor(rewards)
    return observations


@pytest.mark.parametrize("cls", [NMNPolicy, RNNPolicy])
def test_action_std_depends_on_the_history(cls: type) -> None:
    """The source's head: two histories (misses, then hits) give two different action stds."""
    th.manual_seed(0)
    policy = make_policy(cls)
    assert policy.std_from_actor and "log_std" not in dict(policy.named_parameters())
    stds = []
    for rewards in ([0.0, -12.0, -12.0, -12.0], [0.0, 10.0, 10.0, 10.0]):
        state = (th.zeros(1, 1, policy.lstm_actor.hidden_size),) * 2
        distribution, _ = policy.get_distribution(bench1_observations(policy, rewards), state, th.zeros(4))
        stds.append(distribution.distribution.stddev[-1])
    assert not th.allclose(stds[0], stds[1])
    low, high = np.exp(LOG_STD_BOUNDS)
    assert all(th.all((std >= low) & (std <= high)) for std in stds)


@pytest.mark.parametrize("cls", [NMNPolicy, RNNPolicy])
def test_max_log_std_caps_the_action_std_and_is_kept_by_the_model(cls: type, tmp_path) -> None:
    th.manual_seed(0)
    policy = make_policy(cls, max_log_std=-3.0, log_std_init=0.0)  # the head's std starts near 1
    state = (th.zeros(1, 1, policy.lstm_actor.hidden_size),) * 2
    distribution, _ = policy.get_distribution(bench1_observations(policy, [0.0, -12.0, 10.0]), state, th.zeros(3))
    th.testing.assert_close(distribution.distribution.stddev, th.full((3, 1), float(np.exp(-3.0))))
    assert policy._get_constructor_parameters()["max_log_std"] == -3.0
    with pytest.raises(ValueError, match=r"max_log_std must lie in \(-5.0, 1.0\], got 2.0"):
        make_policy(cls, max_log_std=2.0)


def test_scaled_output_offset_starts_the_nmn_action_mean_near_zero_like_the_rnn_head() -> None:
    def first_means(cls: type, **kwargs) -> th.Tensor:
        th.manual_seed(3)
        policy = make_policy(cls, "NMN-Navigation2D-v0", **kwargs)
        state = (th.zeros(1, 16, policy.lstm_actor.hidden_size),) * 2
        observations = {
            key: th.as_tensor(np.stack([space.sample() for _ in range(16)]), dtype=th.float32)
            for key, space in policy.observation_space.spaces.items()
        }
        distribution, _ = policy.get_distribution(observations, state, th.ones(16))
        return distribution.distribution.mean.abs()

    # PyTorch's initialisation of the offset path b + z W_b puts the first mean near the edge of
    # the Box(-0.1, 0.1) action; SB3's head gain 0.01, applied to that path too, puts it near 0.
    assert first_means(NMNPolicy).mean() > 0.02
    assert first_means(NMNPolicy, scale_output_offset=True).max() < 0.01
    assert first_means(RNNPolicy).max() < 0.01
    assert make_policy(NMNPolicy, scale_output_offset=True)._get_constructor_parameters()["scale_output_offset"]
    assert "scale_output_offset" not in make_policy(NMNPolicy)._get_constructor_parameters()


def test_slope_gain_scales_only_the_initial_slope_weights_of_both_networks() -> None:
    def fresh(**kwargs) -> dict[str, th.Tensor]:
        th.manual_seed(5)
        return make_policy(NMNPolicy, "NMN-Harlow-v0", **kwargs).state_dict()

    default, scaled = fresh(), fresh(slope_gain=10.0)
    slope_weights = {name for name in default if name.endswith(".scale.weight")}
    # every layer of the actor's and the critic's main networks (hidden and output)
    assert len(slope_weights) == 4
    for name, weights in default.items():
        expected = 10.0 * weights if name in slope_weights else weights
        th.testing.assert_close(scaled[name], expected, rtol=0.0, atol=0.0)
    assert make_policy(NMNPolicy, slope_gain=10.0)._get_constructor_parameters()["slope_gain"] == 10.0
    assert "slope_gain" not in make_policy(NMNPolicy)._get_constructor_parameters()


@pytest.mark.parametrize("gain", [0.0, -1.0, float("nan"), float("inf"), True, "10"])
def test_a_slope_gain_that_is_not_a_positive_number_is_refused(gain) -> None:
    with pytest.raises(ValueError, match=f"slope_gain must be a positive finite number, got {re.escape(repr(gain))}"):
        make_policy(NMNPolicy, slope_gain=gain)


def actor_latent(policy: StackedRecurrentPolicy, outputs: th.Tensor) -> th.Tensor:
    """The latent whose head gives the actor ``outputs`` (one row each): the NMN's output layer is
    its head; the RNN's linear head is set to pass its latent's first entries through."""
    if not isinstance(policy.action_net, th.nn.Linear):
        return outputs
    with th.no_grad():
        policy.action_net.weight.copy_(th.eye(*policy.action_net.weight.shape))
        policy.action_net.bias.zero_()
    return th.nn.functional.pad(outputs, (0, policy.mlp_extractor.latent_dim_pi - outputs.shape[1]))


def actor_means(policy: StackedRecurrentPolicy, outputs: th.Tensor) -> th.Tensor:
    """The Gaussian means the policy's head gives for the actor ``outputs`` (one row each)."""
    return policy._get_action_dist_from_latent(actor_latent(policy, outputs)).distribution.mean


@pytest.mark.parametrize("state_dependent_std", [True, False])
@pytest.mark.parametrize("cls", HEADED_POLICIES)
def test_a_heading_action_has_its_mean_and_density_on_the_circle(cls: type, state_dependent_std: bool) -> None:
    policy = make_policy(cls, "NMN-Bench3-v0", heading_action=True, state_dependent_std=state_dependent_std)
    assert policy.actor_outputs_per_action == 2 + state_dependent_std
    assert isinstance(policy.action_dist, WrappedGaussianDistribution)
    assert policy.std_from_actor == state_dependent_std
    scale = [0.0] if state_dependent_std else []
    # (u, v) on both sides of the direction pi, then no output, then a quarter turn's worth
    outputs = th.tensor([[-2.0, 1e-4, *scale], [-2.0, -1e-4, *scale], [0.0, 0.0, *scale], [0.0, 1.0, *scale]])
    th.testing.assert_close(actor_means(policy, outputs)[:, 0], th.tensor([1.0, -1.0, 0.0, 0.25]), atol=1e-4, rtol=0.0)
    anywhere = th.randn(256, outputs.shape[1], generator=th.Generator().manual_seed(0)) * 5
    assert actor_means(policy, anywhere).abs().max() <= 1.0
    distribution = policy._get_action_dist_from_latent(actor_latent(policy, outputs[:2]))
    due_west = th.tensor([[0.9999], [-0.9999]])
    th.testing.assert_close(distribution.log_prob(due_west)[0], distribution.log_prob(due_west)[1], atol=1e-3, rtol=0.0)


@pytest.mark.parametrize("cls", HEADED_POLICIES)
def test_a_heading_action_needs_actions_in_the_unit_box(cls: type) -> None:
    for env_id in ("NMN-Bandit-v0", "NMN-Navigation2D-v0"):  # Discrete(2), Box(-0.1, 0.1, (2,))
        with pytest.raises(ValueError, match=r"heading_action reads a Box\(-1, 1\) action as a heading pi \* a; got"):
            make_policy(cls, env_id, heading_action=True)


@pytest.mark.parametrize("state_dependent_std", [True, False])
@pytest.mark.parametrize("cls", HEADED_POLICIES)
def test_a_heading_action_trains_and_is_kept_by_the_safe_form(cls: type, state_dependent_std: bool, tmp_path) -> None:
    kwargs = {"heading_action": True, "state_dependent_std": state_dependent_std}
    model = small_model(cls, "NMN-Bench3-v0", policy_kwargs=kwargs)
    before = [parameter.detach().clone() for parameter in model.policy.parameters()]
    model.learn(80)
    assert any(not th.equal(old, new) for old, new in zip(before, model.policy.parameters()))
    assert model.logger.name_to_value["train/entropy_loss"] != 0.0  # estimated from the log-probabilities
    assert model.policy._get_constructor_parameters()["heading_action"] is True
    assert "heading_action" not in make_policy(cls, "NMN-Bench3-v0")._get_constructor_parameters()
    loaded = load_safe(save_safe(model, tmp_path / "heading.safe.zip", env_id="NMN-Bench3-v0"))
    assert loaded.policy.heading_action and isinstance(loaded.policy.action_dist, WrappedGaussianDistribution)
    observation = model.env.reset()
    starts = np.ones(3, dtype=bool)
    for deterministic in (True, False):
        th.manual_seed(5)
        expected = model.predict(observation, None, starts, deterministic=deterministic)[0]
        assert np.all((expected >= -1.0) & (expected < 1.0))
        th.manual_seed(5)
        np.testing.assert_array_equal(loaded.predict(observation, None, starts, deterministic=deterministic)[0], expected)


@pytest.mark.parametrize("cls", [NMNPolicy, RNNPolicy])
def test_state_independent_std_stays_an_option(cls: type) -> None:
    policy = make_policy(cls, state_dependent_std=False, log_std_init=-1.0)
    assert not policy.std_from_actor
    th.testing.assert_close(policy.log_std, th.full((1,), -1.0))
    state = (th.zeros(1, 1, policy.lstm_actor.hidden_size),) * 2
    distribution, _ = policy.get_distribution(bench1_observations(policy, [0.0, 5.0]), state, th.zeros(2))
    th.testing.assert_close(distribution.distribution.stddev, th.full((2, 1), np.exp(-1.0)))


@pytest.mark.parametrize("cls", [NMNPolicy, RNNPolicy])
def test_a_model_saved_with_the_former_head_still_loads(tmp_path, cls: type) -> None:
    """Models saved before the state-dependent head (no such kwarg, a ``log_std`` weight) load."""
    model = small_model(cls, policy_kwargs={"state_dependent_std": False})
    path = tmp_path / "former.zip"
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    data = json.loads(files["data"])
    del data["policy_kwargs"]["state_dependent_std"]  # what the former code saved
    files["data"] = json.dumps(data).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    loaded = RecurrentPPO.load(path, env=model.env, device="cpu")
    assert not loaded.policy.std_from_actor and parameters_missing_from_optimizer(loaded.policy) == []
    observation = model.env.reset()
    starts = np.ones(3, dtype=bool)
    for deterministic in (True, False):
        th.manual_seed(5)
        expected = model.predict(observation, None, starts, deterministic=deterministic)[0]
        th.manual_seed(5)
        np.testing.assert_array_equal(loaded.predict(observation, None, starts, deterministic=deterministic)[0], expected)
    loaded.learn(64)  # and it trains on


@pytest.mark.parametrize(("cls", "kwargs"), OUR_POLICIES, ids=POLICY_IDS)
def test_actor_and_critic_in_one_pass_equal_each_network_alone(cls: type, kwargs: dict) -> None:
    policy = make_policy(cls, **kwargs)
    generator = th.Generator().manual_seed(4)
    n_seq, length = 3, 7
    observations = {
        key: th.randn(n_seq * length, *space.shape, generator=generator)
        for key, space in policy.observation_space.spaces.items()
    }
    hidden = policy.lstm_actor.hidden_size
    states = RNNStates(*(
        (th.randn(1, n_seq, hidden, generator=generator), th.randn(1, n_seq, hidden, generator=generator))
        for _ in range(2)
    ))
    starts = th.zeros(n_seq, length)
    starts[1, 0] = 1.0
    actions = th.randn(n_seq * length, 1, generator=generator)
    values, log_prob, entropy = policy.evaluate_actions(observations, actions, states, starts.flatten())
    distribution, _ = policy.get_distribution(observations, states.pi, starts.flatten())
    th.testing.assert_close(log_prob, distribution.log_prob(actions))
    th.testing.assert_close(entropy, distribution.entropy())
    th.testing.assert_close(values, policy.predict_values(observations, states.vf, starts.flatten()))


def test_predict_leaves_the_modules_alone_once_they_are_in_evaluation_mode(monkeypatch) -> None:
    policy = make_policy(NMNPolicy)
    env = gym.make("NMN-Bench1-v0")
    obs, _ = env.reset(seed=0)
    batch = {key: value[None] for key, value in obs.items()}
    state = None
    for step in range(3):
        _, state = policy.predict(batch, state, np.array([step == 0]), deterministic=True)
    assert not any(module.training for module in policy.modules())
    switched = []
    monkeypatch.setattr(policy, "train", lambda mode=True: switched.append(mode))
    policy.predict(batch, state, np.array([False]), deterministic=True)
    assert switched == []  # already in evaluation mode: no walk over every submodule
    monkeypatch.undo()
    policy.set_training_mode(True)  # and the switch still reaches every module both ways
    assert all(module.training for module in policy.modules())
    policy.set_training_mode(False)
    assert not any(module.training for module in policy.modules())
