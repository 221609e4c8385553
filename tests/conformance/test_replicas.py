"""Replicas (specs/behaviours/replicas.yaml): a layer on R replicas against the global batch (reference.replicas).

Each check builds its replicas through ``Adapter.layer('replicas', ...)``, which starts processes or devices the way
the framework's users do; a call that hangs ends them and raises TimeoutError within the adapter's time limit."""
import re
from dataclasses import replace

import numpy as np
import pytest

from layerconf import specs
from layerconf.reference import replicas as ref
from layerconf.reference.dtypes import quantize

from . import draw
from .helpers import DECAY, EPS, conventions
from .layers import make_layer

behaviour = pytest.mark.behaviour
OFFSET = 1.0e4
LR = 0.5
SPLITS = {"equal": (4, 4, 4), "unequal": (2, 5, 3)}   # examples per replica


def build(adapter, profile, case, kind, channels=3, start=None, **native):
    """The case's replicas, started the way ``start`` names (profile replicas.starts; None: the one way); eps and
    decay spelt by the profile's batchnorm arguments."""
    native = {**profile.native("batchnorm", eps=EPS, decay=DECAY), **native}
    sizes = {"replicas": case["replicas"], **({} if start is None else {"start": start})}
    return make_layer(adapter, profile, "replicas", case.params.get("dtype", "float32"), layout=case["layout"],
                      channels=channels, kind=kind, sizes=sizes, native=native)


def starts(profile) -> list:
    """The ways the framework's users start replicas (profile replicas.starts, e.g. jax.pmap and shard_map): every
    check runs under each; [None] where there is one way."""
    return list(profile.get("replicas.starts") or [None])


def at(start, what: str) -> str:
    """A quantity's name under a start: 'y (pmap)'."""
    return what if start is None else f"{what} [{start}]"


def synchronized(adapter, profile, case, kind="sync", channels=3, start=None):
    """The synchronized replicas, or a skip where the framework runs its synchronized path on other devices."""
    devices = profile.get("replicas.sync.devices")
    if kind == "sync" and devices is not None and adapter.device not in devices:
        pytest.skip(f"{profile.name}'s synchronized BatchNorm runs on {devices}, not {adapter.device} "
                    "(replicas.bn.sync.device_refused checks its error)")
    return build(adapter, profile, case, kind, channels, start)


def counts(profile, case, split=None) -> tuple:
    """Examples per replica for the case's split, or a skip where the framework's replicas take only other splits
    (profile replicas.sync.splits: one SPMD program gives every replica a part of one shape)."""
    split = split or case["split"]
    allowed = profile.get("replicas.sync.splits") or ["equal", "unequal"]
    if split not in allowed:
        why = profile.data.get("not_expressible", {}).get(f"replicas.sync.splits.{split}", "")
        pytest.skip(f"{profile.name}'s replicas take {allowed} splits, not {split}" + (f": {why}" if why else ""))
    return SPLITS[split][: case["replicas"]]


def parts(rng, case, counts, channels=3, offset=0.0):
    """One batch per replica, drawn as one global batch (its per-channel offset and scale shared) and split."""
    whole = offset + draw.batch(rng, case["layout"], "float64", sum(counts), channels, 3)
    return [quantize(p, case.params.get("dtype", "float32")) for p in ref.split(whole, counts)]


def with_state(layer, rng, case, correction, **model):
    """Drawn gamma, beta and running statistics on every replica; the reference replicas holding them, the running
    variance corrected by ``correction`` (read from the profile at call time: a declaration re-runs the check)."""
    dtype = case.params.get("dtype", "float32")
    gamma, beta = draw.affine(rng, 3, dtype)
    mean, var = draw.running(rng, 3, dtype)
    layer.set_state(gamma=gamma, beta=beta, running_mean=mean, running_var=var)
    return ref.reference(case["replicas"], EPS, DECAY, case["layout"], correction, gamma=gamma, beta=beta,
                         running_mean=mean, running_var=var, **model)


def reference(profile, case, rng, layer):
    """The synchronized reference: the profile's batchnorm conventions, its replicas.sync variance correction and
    way of combining the replicas' moments."""
    correction = replace(conventions(profile), running_var_correction=profile.get("replicas.sync.running_var_correction"))
    return with_state(layer, rng, case, correction, moments=profile.get("replicas.sync.moments") or "global")


def agrees(outputs, candidates: dict, dtype: str) -> str:
    """The name of the candidate (replicas' reference outputs) the outputs match within the dtype's tolerance, or
    'other'."""
    tol = specs.tolerances()[dtype]
    for name, want in candidates.items():
        if all(np.shape(a) == np.shape(w) and np.allclose(np.asarray(a, np.float64), w, atol=tol["atol"], rtol=tol["rtol"])
               for a, w in zip(outputs, want)):
            return name
    return "other"


def compare(check, what, layer_out, expected):
    check.equal(f"replicas answering: {what}", len(layer_out), len(expected))
    for r, (actual, want) in enumerate(zip(layer_out, expected)):
        check.close(f"{what} (replica {r})", actual, want)


def compare_states(check, what, states, expected, keys=("running_mean", "running_var")):
    for r, (state, want) in enumerate(zip(states, expected)):
        for key in keys:
            check.close(f"{key} {what} (replica {r})", state[key], want[key])


@behaviour("replicas.bn.sync.train")
def test_sync_train(case, adapter, profile, check, rng):
    n = counts(profile, case)
    for start in starts(profile):
        layer = synchronized(adapter, profile, case, start=start)
        model = reference(profile, case, rng, layer)
        xs = parts(rng, case, n)
        compare(check, at(start, "y"), layer.forward(xs, training=True), model.forward(xs, training=True))
        compare_states(check, at(start, "after the step"), layer.states(), model.states())


@behaviour("replicas.bn.sync.same_state")
def test_sync_same_state(case, adapter, profile, check, rng):
    n = counts(profile, case)
    for start in starts(profile):
        layer = synchronized(adapter, profile, case, start=start)
        model = reference(profile, case, rng, layer)
        for step in range(case["steps"]):
            xs = parts(rng, case, n)
            layer.forward(xs, training=True)
            model.forward(xs, training=True)
            states = layer.states()
            for r, state in enumerate(states[1:], start=1):
                for key in ("running_mean", "running_var"):
                    check.equal(at(start, f"{key} of replica {r} == replica 0's (step {step + 1})"), state[key],
                                states[0][key])
            compare_states(check, at(start, f"after step {step + 1}"), states, model.states())
        xs = parts(rng, case, n)
        compare(check, at(start, "y (inference)"), layer.forward(xs, training=False), model.forward(xs, training=False))


@behaviour("replicas.bn.sync.masked")
def test_sync_masked(case, adapter, profile, check, rng):
    n = counts(profile, case)
    for start in starts(profile):
        layer = synchronized(adapter, profile, case, start=start)
        model = reference(profile, case, rng, layer)
        xs = parts(rng, case, n)
        masks = [rng.random(ref.mask_of(x, case["layout"]).shape) < 0.7 for x in xs]
        for m in masks:
            m.reshape(len(m), -1)[:, 0] = True   # every replica keeps an entry of every example
        others = {name: ref.reference(case["replicas"], EPS, DECAY, case["layout"], conventions(profile), **way,
                                      **model.models[0].state()).forward(xs, training=True, masks=masks)
                  for name, way in (("replica_means", {"moments": "replica_means"}),
                                    ("per_replica", {"synchronized": False}))}
        y = layer.forward(xs, training=True, masks=masks)
        expected = model.forward(xs, training=True, masks=masks)
        check.observe("replicas_masked_moments", agrees(y, {"global": expected, **others}, case["dtype"]))
        compare(check, at(start, "y"), y, expected)
        compare_states(check, at(start, "after the step"), layer.states(), model.states())


@behaviour("replicas.bn.sync.offset_data")
def test_sync_offset_data(case, adapter, profile, check, rng):
    n = counts(profile, case)
    for start in starts(profile):
        layer = synchronized(adapter, profile, case, start=start)
        model = reference(profile, case, rng, layer)
        xs = parts(rng, case, n, offset=OFFSET)
        compare(check, at(start, "y"), layer.forward(xs, training=True), model.forward(xs, training=True))


def attempt(layer, xs):
    """(the training call's outputs, None) or (None, the exception): the outcome is the observation."""
    try:
        return layer.forward(xs, training=True), None
    except TimeoutError:   # a hang ended by the time limit is never the expected error
        raise
    except Exception as e:   # noqa: BLE001
        return None, e


@behaviour("replicas.bn.sync.empty_replica")
def test_sync_empty_replica(case, adapter, profile, check, rng):
    for start in starts(profile):
        layer = synchronized(adapter, profile, case, start=start)
        model = reference(profile, case, rng, layer)
        xs = parts(rng, case, (0, *SPLITS["unequal"][1: case["replicas"]]))
        y, err = attempt(layer, xs)
        if profile.get("replicas.sync.empty_replica") == "error":
            check.expect_error(err, at(start, "a replica with an empty part"))
            continue
        check.expect_no_error(err)
        check.equal(at(start, "rows of the empty replica's output"), np.shape(y[0])[0], 0)
        compare(check, at(start, "y"), y[1:], model.forward(xs, training=True)[1:])
        compare_states(check, at(start, "after the step"), layer.states(), model.states())


@behaviour("replicas.bn.sync.single_example")
def test_sync_single_example(case, adapter, profile, check, rng):
    unequal = "unequal" in (profile.get("replicas.sync.splits") or ["unequal"])
    # a single example on replica 0 beside larger parts, or on every replica where the parts share one shape
    n = (1, *SPLITS["unequal"][1: case["replicas"]]) if unequal else (1,) * case["replicas"]
    for start in starts(profile):
        layer = synchronized(adapter, profile, case, start=start)
        model = reference(profile, case, rng, layer)
        xs = parts(rng, case, n)
        y, err = attempt(layer, xs)
        if profile.get("replicas.sync.single_example") == "error":
            check.expect_error(err, at(start, "a replica with a single example"))
            continue
        check.expect_no_error(err)
        compare(check, at(start, "y"), y, model.forward(xs, training=True))
        compare_states(check, at(start, "after the step"), layer.states(), model.states())


@behaviour("replicas.bn.sync.channel_mismatch")
def test_sync_channel_mismatch(case, adapter, profile, check, rng):
    for start in starts(profile):
        layer = synchronized(adapter, profile, case, start=start)
        a = parts(rng, case, (4,), channels=3)[0]
        b = parts(rng, case, (4,), channels=4)[0]
        try:
            layer.forward([a, b], training=True)
            err = None
        except TimeoutError as e:   # a hang ended by the time limit is a failure, not the expected error
            check.true(at(start, "no hang"), False, str(e))
            continue
        except Exception as e:   # noqa: BLE001
            err = e
        check.expect_error(err, at(start, "replicas whose parts have 3 and 4 channels"))


@behaviour("replicas.bn.sync.device_refused")
def test_sync_device_refused(case, adapter, profile, check, rng):
    if adapter.device in profile.get("replicas.sync.devices"):
        pytest.skip(f"{adapter.device} is among replicas.sync.devices: the synchronized path runs")
    layer = build(adapter, profile, case, "sync")
    refused = profile.get("replicas.sync.refused")
    try:
        layer.forward(parts(rng, case, SPLITS["equal"][: case["replicas"]]), training=True)
        err = None
    except Exception as e:   # noqa: BLE001
        err = e
    check.expect_error(err, f"a synchronized training call on {adapter.device}")
    if err is not None:
        check.true("error type", getattr(err, "error_type", type(err).__name__) == refused["type"], f"raised {err!r}")
        check.true("message", re.search(refused["message"], str(err)) is not None,
                   f"{str(err)!r} does not match {refused['message']!r}")


def broadcast(profile, value: bool) -> dict:
    """The wrapper's arguments for buffer broadcasting ``value``, or a skip where the framework has one behaviour
    only (profile replicas.local.broadcast)."""
    offered = profile.get("replicas.local.broadcast")
    if offered is None:
        return profile.native("replicas.local", broadcast=value)
    if value not in offered:
        why = profile.data.get("not_expressible", {}).get(f"replicas.local.broadcast.{str(value).lower()}", "")
        pytest.skip(f"{profile.name}'s replicas have broadcast {offered} only" + (f": {why}" if why else ""))
    return {}


@behaviour("replicas.bn.local.broadcast_buffers")
def test_local_broadcast_buffers(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, "local", **broadcast(profile, case["broadcast"]))
    model = with_state(layer, rng, case, conventions(profile), synchronized=False, broadcast=case["broadcast"])
    for step in range(case["steps"]):
        xs = parts(rng, case, SPLITS["unequal"][: case["replicas"]])
        compare(check, f"y (step {step + 1})", layer.forward(xs, training=True), model.forward(xs, training=True))
        compare_states(check, f"after step {step + 1}", layer.states(), model.states())
    xs = parts(rng, case, SPLITS["unequal"][: case["replicas"]])
    compare(check, "y (inference)", layer.forward(xs, training=False), model.forward(xs, training=False))


@behaviour("replicas.bn.local.gradients")
def test_local_gradients(case, adapter, profile, check, rng):
    layer = build(adapter, profile, case, "local", **broadcast(profile, (profile.get("replicas.local.broadcast") or [True])[0]))
    model = with_state(layer, rng, case, conventions(profile), synchronized=False)
    xs = parts(rng, case, SPLITS["unequal"][: case["replicas"]])
    dys = [quantize(rng.standard_normal(np.shape(x)), case["dtype"]) for x in xs]
    gamma = model.models[0].gamma
    dgamma, dbeta = ref.averaged_gradients(xs, dys, gamma, model.models[0].eps, case["layout"])
    layer.forward(xs, training=True, dys=dys, lr=LR)
    for r, state in enumerate(layer.states()):
        check.close(f"gamma (replica {r})", state["gamma"], gamma - LR * dgamma)
        check.close(f"beta (replica {r})", state["beta"], model.models[0].beta - LR * dbeta)


@behaviour("replicas.dropout.masks")
def test_dropout_masks(case, adapter, profile, check, rng):
    rate, n = case["rate"], case["replicas"]
    unseeded = case["seeding"] == "unseeded"
    ways = starts(profile)
    for start in ways:
        sizes = {"replicas": n, "fresh": unseeded, **({} if start is None else {"start": start})}
        layer = make_layer(adapter, profile, "replicas", "float32", kind="dropout", sizes=sizes,
                           native=profile.native("dropout", rate=rate))
        if not unseeded:
            layer.seed(int(rng.integers(2**31 - n)))
        xs = [draw.nonzero(rng, (200, 100), "float32") for _ in range(n)]
        masks = [np.asarray(y) != 0 for y in layer.forward(xs, training=True)]
        chance = ref.identical_probability(masks[0].size, rate)
        if not unseeded:
            check.observe("replicas_dropout_masks", "distinct" if ref.distinct_masks(masks) else "identical")
        if unseeded and profile.get("replicas.dropout.unseeded") == "identical":
            check.true(at(start, "identical masks"), all(np.array_equal(m, masks[0]) for m in masks),
                       "replicas started with no seeding drew different masks; the profile states identical ones")
            continue
        check.true(at(start, "distinct masks"), ref.distinct_masks(masks),
                   f"two replicas drew the same mask of {masks[0].size} elements (chance {chance:.1e} if independent)")
        check.rate(at(start, "dropped elements over the union"), int(sum(np.count_nonzero(~m) for m in masks)),
                   sum(m.size for m in masks), rate, observe="drop", parts=len(ways))
