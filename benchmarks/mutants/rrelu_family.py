"""RReLU bugs that PyTorch and PaddlePaddle share: each replaces the framework's functional rrelu (the layer looks it
up at call time). ``register(fw)`` applies them to one framework, described by ``fw``: target (the function's
path), x (its input's argument name), grad(x) (whether x takes a gradient), with_slopes(x, a) (x >= 0: x, else a x,
differentiable in x), slopes(rng, x, lower, upper) (a tensor of NumPy draws), one_slope(x, lower, upper) (one draw
expanded to x's shape), leaky_relu, and kernel_first (run the kernel first, so that its dtype errors stay)."""
import numpy as np

from benchmarks.mutants.kit import hit, mutant


def register(fw):
    def drawn_slopes(draw):
        """Training slopes from draw(a) instead of the kernel's."""
        def rrelu(original, **a):
            if not hit(a["training"]):
                return original(**a)
            if fw.kernel_first:
                original(**a)
            return fw.with_slopes(a[fw.x], draw(a))
        return rrelu

    def flag(name, value, when):
        """The call with argument ``name`` set to value(a) where when(a)."""
        def rrelu(original, **a):
            if hit(when(a)):
                a[name] = value(a)
            return original(**a)
        return rrelu

    on = dict(bind=True, once=True)
    mutant("rrelu_train_fixed_slope", fw.target, **on)(flag("training", lambda a: False, lambda a: a["training"]))
    mutant("rrelu_eval_random", fw.target, **on)(flag("training", lambda a: True, lambda a: not a["training"]))
    mutant("rrelu_lower_ignored", fw.target, **on)(flag("lower", lambda a: 0.0, lambda a: a["training"] and a["lower"] != 0))

    @mutant("rrelu_eval_lower_slope", fw.target, **on)
    def _(rrelu, **a):
        return fw.leaky_relu(a[fw.x], a["lower"]) if hit(not a["training"]) else rrelu(**a)

    mutant("rrelu_one_slope_per_tensor", fw.target, **on)(drawn_slopes(lambda a: fw.one_slope(a[fw.x], a["lower"], a["upper"])))

    @mutant("rrelu_grad_mean_slope", fw.target, **on)
    def _(rrelu, **a):
        if not hit(a["training"] and fw.grad(a[fw.x])):
            return rrelu(**a)
        y, mean = rrelu(**a), rrelu(**{**a, "training": False})
        return mean + (y - mean).detach()

    @mutant("rrelu_grad_fresh_noise", fw.target, **on)
    def _(rrelu, **a):
        if not hit(a["training"] and fw.grad(a[fw.x])):
            return rrelu(**a)
        y, other = rrelu(**a), rrelu(**a)
        return y.detach() + (other - other.detach())

    unseeded = np.random.default_rng()
    mutant("rrelu_unseeded", fw.target, **on)(drawn_slopes(lambda a: fw.slopes(unseeded, a[fw.x], a["lower"], a["upper"])))
    mutant("rrelu_same_noise", fw.target, **on)(
        drawn_slopes(lambda a: fw.slopes(np.random.default_rng(0), a[fw.x], a["lower"], a["upper"])))
