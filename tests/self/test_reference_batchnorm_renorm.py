"""reference.batchnorm_renorm: hand-computed renorm corrections and updates, ghost batches, finite differences."""
import numpy as np

from layerconf.reference import batchnorm
from layerconf.reference.batchnorm_renorm import Renorm, corrections, ghost_groups, ghost_train_forward


def test_corrections_by_hand():
    # mean_B = 2, var_B = 3, eps = 1: s_B = 2; S = 4, M = 0: r = 0.5, d = 0.5
    r, d = corrections(np.array([2.0]), np.array([3.0]), np.array([0.0]), np.array([4.0]), 1.0)
    assert np.allclose([r[0], d[0]], [0.5, 0.5])
    r, d = corrections(np.array([2.0]), np.array([3.0]), np.array([0.0]), np.array([4.0]), 1.0, rmin=0.8, dmax=0.25)
    assert np.allclose([r[0], d[0]], [0.8, 0.25])
    # renorm_stddev below sqrt(eps) is raised to it: S = 1
    r, d = corrections(np.array([2.0]), np.array([3.0]), np.array([1.0]), np.array([0.1]), 1.0, rmax=1.5)
    assert np.allclose([r[0], d[0]], [1.5, 1.0])


def test_renorm_step_by_hand():
    # x = [0, 4] (NC, one channel): mean_B = 2, var_B = 4, eps = 5: s_B = 3; S = 2.5 (renorm_stddev), M = 1
    model = Renorm(eps=5.0, decay=0.5, renorm_decay=0.25, layout="NC", renorm_stddev=np.array([2.5]),
                   renorm_mean=np.array([1.0]), gamma=np.array([2.0]), beta=np.array([1.0]))
    y = model.forward(np.array([[0.0], [4.0]]), training=True)
    # r = 1.2, d = 0.4; xhat = -2/3, 2/3; y = 2 (1.2 xhat + 0.4) + 1
    assert np.allclose(y[:, 0], [2 * (-0.8 + 0.4) + 1, 2 * (0.8 + 0.4) + 1])
    assert np.allclose(model.renorm_mean, 0.25 * 1 + 0.75 * 2)
    assert np.allclose(model.renorm_stddev, 0.25 * 2.5 + 0.75 * 3)
    assert np.allclose(model.running_mean, 1.0) and np.allclose(model.moving_stddev, 2.0)
    assert np.allclose(model.running_var, 0.0)   # max(2^2 - 5, 0)


def test_renorm_without_correction_is_batchnorm():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(6, 3, 2, 2))
    mean, var = batchnorm.batch_moments(x, "NCHW")
    model = Renorm(eps=1e-3, decay=0.9, renorm_decay=0.9, layout="NCHW", renorm_mean=mean,
                   renorm_stddev=np.sqrt(var + 1e-3))
    assert np.allclose(model.forward(x, training=True), batchnorm.train_forward(x, 1.0, 0.0, 1e-3, "NCHW")[0])


def test_renorm_gradients_finite_differences():
    rng = np.random.default_rng(1)
    x, dy = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    gamma, beta = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    kw = dict(eps=0.1, decay=0.9, renorm_decay=0.8, layout="NC", clipping={"rmax": 1.2, "dmax": 0.3},
              renorm_mean=rng.normal(size=3), renorm_stddev=rng.uniform(0.5, 2, 3))
    r, d = Renorm(**kw).corrections(x)

    def loss(x, gamma, beta):   # r and d held at their values
        mean, var = batchnorm.batch_moments(x, "NC")
        return np.sum(dy * batchnorm.normalize(x, mean, var, gamma * r, gamma * d + beta, 0.1, "NC"))

    dx, dgamma, dbeta = Renorm(**kw, gamma=gamma, beta=beta).gradients(x, dy)
    h = 1e-6
    for value, grad, at in ((x, dx, lambda v: loss(v, gamma, beta)), (gamma, dgamma, lambda v: loss(x, v, beta)),
                            (beta, dbeta, lambda v: loss(x, gamma, v))):
        numeric = np.zeros_like(value)
        for i in np.ndindex(value.shape):
            e = np.zeros_like(value)
            e[i] = h
            numeric[i] = (at(value + e) - at(value - e)) / (2 * h)
        assert np.allclose(grad, numeric, atol=1e-6)


def test_ghost_groups():
    assert [g.tolist() for g in ghost_groups(6, 3, "strided")] == [[0, 2, 4], [1, 3, 5]]
    assert [g.tolist() for g in ghost_groups(6, 3, "contiguous")] == [[0, 1, 2], [3, 4, 5]]


def test_ghost_forward_by_hand():
    x = np.array([[0.0], [10.0], [2.0], [20.0]])   # strided groups {0, 2}: mean 1, var 1; {1, 3}: mean 15, var 25
    y, mean, var = ghost_train_forward(x, 1.0, 0.0, 0.0, "NC", 2, "strided")
    assert np.allclose(y[:, 0], [-1, -1, 1, 1])
    assert np.allclose([mean[0], var[0]], [8.0, 13.0])
