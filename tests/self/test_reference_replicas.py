"""reference.replicas: the global-batch step model, against hand-computed values."""
import numpy as np
import pytest

from layerconf.reference import replicas as ref
from layerconf.reference.models import Conventions

UNBIASED = Conventions("unbiased")


def test_synchronized_training_is_batchnorm_of_the_global_batch_by_hand():
    # channel values 0, 2 on replica 0 and 4 on replica 1: mean 2, biased var 8/3, unbiased over n = 3: 4
    model = ref.reference(2, 0.0, 0.5, "NC", UNBIASED)
    y0, y1 = model.forward([np.array([[0.0], [2.0]]), np.array([[4.0]])], training=True)
    s = np.sqrt(8 / 3)
    np.testing.assert_allclose(y0[:, 0], [-2 / s, 0.0])
    np.testing.assert_allclose(y1[:, 0], [2 / s])
    for state in model.states():   # running <- 0.5 initial (0, 1) + 0.5 (2, 4) on every replica
        np.testing.assert_allclose(state["running_mean"], [1.0])
        np.testing.assert_allclose(state["running_var"], [2.5])


def test_per_replica_statistics_differ_from_the_global_ones():
    parts = [np.array([[0.0], [2.0]]), np.array([[4.0], [8.0]])]
    local = ref.reference(2, 0.0, 0.5, "NC", UNBIASED, synchronized=False)
    y_local = local.forward(parts, training=True)
    np.testing.assert_allclose(y_local[1][:, 0], [-1.0, 1.0])          # its own mean 6, std 2
    np.testing.assert_allclose(local.states()[1]["running_mean"], [3.0])   # 0.5 * 0 + 0.5 * 6
    np.testing.assert_allclose(local.states()[0]["running_mean"], [0.5])
    synced = ref.reference(2, 0.0, 0.5, "NC", UNBIASED)
    synced.forward(parts, training=True)
    np.testing.assert_allclose(synced.states()[1]["running_mean"], [1.75])   # global mean 3.5


def test_empty_replica_contributes_nothing_and_the_count_is_global():
    model = ref.reference(3, 0.0, 0.0, "NC", UNBIASED)
    y = model.forward([np.zeros((0, 1)), np.array([[1.0]]), np.array([[3.0]])], training=True)
    assert y[0].shape == (0, 1)
    np.testing.assert_allclose([y[1][0, 0], y[2][0, 0]], [-1.0, 1.0])
    np.testing.assert_allclose(model.states()[0]["running_var"], [2.0])   # biased 1, times n / (n - 1) = 2 / 1
    assert ref.global_count([np.zeros((0, 1, 2)), np.ones((3, 1, 2))], "NCL") == 6


def test_masks_count_the_kept_entries_of_every_replica():
    model = ref.reference(2, 0.0, 0.0, "NC", Conventions("biased"))
    x = [np.array([[0.0], [100.0]]), np.array([[2.0]])]
    masks = [np.array([True, False]), np.array([True])]
    y = model.forward(x, training=True, masks=masks)
    np.testing.assert_allclose(y[0][0, 0], -1.0)       # kept 0 and 2: mean 1, var 1
    np.testing.assert_allclose(model.states()[0]["running_mean"], [1.0])


def test_broadcast_copies_replica_zero_before_a_call_that_follows_training():
    model = ref.reference(2, 0.0, 0.5, "NC", Conventions("biased"), synchronized=False, broadcast=True,
                          gamma=1.0, beta=0.0, running_mean=np.array([0.0]), running_var=np.array([1.0]))
    model.models[1].running_mean = np.array([10.0])   # broadcast before the first call overwrites it
    model.forward([np.array([[0.0], [2.0]]), np.array([[4.0], [8.0]])], training=True)
    assert [s["running_mean"][0] for s in model.states()] == [0.5, 3.0]
    y = model.forward([np.array([[0.5]]), np.array([[0.5]])], training=False)   # after training: broadcast first
    assert y[0][0, 0] == y[1][0, 0] == pytest.approx(0.0)
    model.models[1].running_mean = np.array([7.0])
    y = model.forward([np.array([[0.5]]), np.array([[0.5]])], training=False)   # after inference: no broadcast
    assert y[1][0, 0] != y[0][0, 0]


def test_averaged_gradients_are_the_mean_of_the_replicas():
    parts = [np.array([[0.0], [2.0]]), np.array([[4.0], [8.0]])]
    dys = [np.array([[1.0], [0.0]]), np.array([[0.0], [2.0]])]
    dgamma, dbeta = ref.averaged_gradients(parts, dys, np.array([1.0]), 0.0, "NC")
    # replica 0: xhat (-1, 1), dgamma -1, dbeta 1; replica 1: xhat (-1, 1), dgamma 2, dbeta 2
    np.testing.assert_allclose(dgamma, [0.5])
    np.testing.assert_allclose(dbeta, [1.5])


def test_mask_helpers():
    assert ref.distinct_masks([np.array([1, 0]), np.array([0, 1]), np.array([1, 1])])
    assert not ref.distinct_masks([np.array([1, 0]), np.array([1, 0])])
    assert ref.identical_probability(2, 0.5) == pytest.approx(0.25)
    assert ref.mask_of(np.zeros((2, 3, 4)), "NCL").shape == (2, 4)
    with pytest.raises(ValueError, match="3 parts for 2 replicas"):
        ref.reference(2, 0.0, 0.5, "NC", UNBIASED).forward([np.zeros((1, 1))] * 3, training=True)


def test_replica_means_average_each_replicas_moments_by_hand():
    # replica 0 keeps 0 and 2 (mean 1, E[x^2] 2), replica 1 keeps 6 (mean 6, E[x^2] 36): pmean gives mean 3.5 and
    # E[x^2] 19, var 19 - 12.25 = 6.75; the global batch (0, 2, 6) has mean 8/3
    x = [np.array([[0.0], [2.0], [100.0]]), np.array([[6.0], [50.0], [70.0]])]
    masks = [np.array([True, True, False]), np.array([True, False, False])]
    mean, var, n = ref.replica_means(x, "NC", masks)
    np.testing.assert_allclose([mean[0], var[0], n], [3.5, 6.75, 3])
    model = ref.reference(2, 0.0, 0.0, "NC", Conventions("biased"), moments="replica_means")
    y = model.forward(x, training=True, masks=masks)
    np.testing.assert_allclose(y[1][0, 0], (6.0 - 3.5) / np.sqrt(6.75))
    for state in model.states():
        np.testing.assert_allclose([state["running_mean"][0], state["running_var"][0]], [3.5, 6.75])
    assert "_moments" not in vars(model.models[0])   # the override lasts one call
    glob = ref.reference(2, 0.0, 0.0, "NC", Conventions("biased"))
    glob.forward(x, training=True, masks=masks)
    np.testing.assert_allclose(glob.states()[0]["running_mean"], [8 / 3])


def test_replica_means_equal_the_global_moments_for_equal_counts():
    rng = np.random.default_rng(0)
    x = [rng.standard_normal((4, 3, 2)) for _ in range(3)]
    mean, var, n = ref.replica_means(x, "NCL")
    from layerconf.reference import batchnorm
    gm, gv = batchnorm.batch_moments(ref.global_batch(x), "NCL")
    np.testing.assert_allclose(mean, gm)
    np.testing.assert_allclose(var, gv)
    assert n == 24
    with pytest.raises(ValueError, match="moments must be"):
        ref.reference(2, 0.0, 0.0, "NC", Conventions("biased"), moments="median")
