"""The InstanceNorm reference: hand-computed statistics and outputs, finite-difference gradients."""
import numpy as np
import pytest

from layerconf.reference import instance_norm as ref


def test_hand_computed_instance_statistics_and_update():
    # N=2, C=1, L=3: instances [1, 2, 3] (mean 2, biased var 2/3, unbiased 1) and [0, 0, 6] (mean 2, biased 8,
    # unbiased 12): the update folds mean 2 and variance (1 + 12) / 2 = 6.5 into the running statistics.
    x = np.array([[[1.0, 2.0, 3.0]], [[0.0, 0.0, 6.0]]])
    mean, var = ref.instance_moments(x, "NCL")
    assert mean.tolist() == [[2.0], [2.0]] and np.allclose(var, [[2 / 3], [8.0]])
    assert [v.tolist() for v in ref.batch_statistics(x, "NCL")] == [[2.0], [6.5]]
    m, v = ref.update(np.array([0.0]), np.array([1.0]), x, 0.9, "NCL")
    assert np.allclose(m, [0.2]) and np.allclose(v, [0.9 + 0.65])
    y = ref.train_forward(x, np.ones(1), np.zeros(1), 0.0, "NCL")
    assert np.allclose(y[0, 0], [-1, 0, 1] / np.sqrt(2 / 3)) and np.allclose(y[1, 0], [-2, -2, 4] / np.sqrt(8))


@pytest.mark.parametrize("layout", ["NCL", "NLC", "NCHW", "NHWC", "NCDHW"])
def test_each_instance_normalised_in_any_layout(layout):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 4, 5, 3)[: len(layout)])
    y = ref.train_forward(x, np.full(x.shape[layout.index("C")], 2.0), np.full(x.shape[layout.index("C")], 1.0),
                          0.0, layout)
    spatial = tuple(a for a in range(1, len(layout)) if layout[a] != "C")
    assert np.allclose(y.mean(axis=spatial), 1.0) and np.allclose(y.std(axis=spatial), 2.0)


def test_step_model_tracks_and_infers_with_running_statistics():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(4, 3, 5))
    model = ref.InstanceNorm(1e-5, 0.9, "NCL", np.ones(3), np.zeros(3), np.zeros(3), np.ones(3))
    model.forward(x, training=True)
    assert np.allclose(model.running_mean, 0.1 * x.mean(axis=2).mean(axis=0))
    assert np.allclose(model.running_var, 0.9 + 0.1 * x.var(axis=2, ddof=1).mean(axis=0))
    expected = (x - model.running_mean[:, None]) / np.sqrt(model.running_var[:, None] + 1e-5)
    assert np.allclose(model.forward(x, training=False), expected)
    untracked = ref.InstanceNorm(1e-5, 0.9, "NCL", np.ones(3), np.zeros(3))
    assert np.allclose(untracked.forward(x, training=False), untracked.forward(x, training=True))
    assert untracked.running_mean is None


@pytest.mark.parametrize("training", [True, False])
def test_backward_matches_finite_differences(training):
    rng = np.random.default_rng(2)
    x, dy = rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 3, 4))
    model = ref.InstanceNorm(1e-3, 0.9, "NCL", rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.normal(size=3),
                             rng.uniform(0.5, 2, 3))
    loss = lambda z: float((dy * ref.InstanceNorm(model.eps, 0.9, "NCL", model.gamma, model.beta,  # noqa: E731
                                                  model.running_mean, model.running_var).forward(z, training)).sum())
    numeric, h = np.zeros_like(x), 1e-6
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = h
        numeric[i] = (loss(x + e) - loss(x - e)) / (2 * h)
    assert np.allclose(model.backward(x, dy, training), numeric, atol=1e-6)
