"""Small hand-made results documents for the report, diff and command-line self-tests (no framework)."""
import copy

from layerconf import results

VERSIONS = {"torch": "2.9.1+cpu", "keras-jax": "3.11.0"}
LINK = "https://github.com/pytorch/pytorch/blob/main/torch/nn/modules/batchnorm.py"


def record(flavour, behaviour, family, params, outcome="passed", observed=None, **fields):
    check = behaviour + ("[" + ",".join(f"{k}={v}" for k, v in params.items()) + "]" if params else "")
    return {"framework": flavour, "version": VERSIONS[flavour], "behaviour": behaviour, "family": family,
            "params": params, "check": check, "outcome": outcome, "message": fields.pop("message", None),
            "deviation": fields.pop("deviation", None), "worst_error": fields.pop("worst_error", None),
            "margin": fields.pop("margin", None), "tolerance": None, "quantity": fields.pop("quantity", None),
            "statistics": fields.pop("statistics", []), "observed": observed or {}, "duration_s": 0.01, **fields}


def _flavour_records(fw, momentum, decay_default, eps_name, eps_default, factor, frozen_updates, size_one):
    """One flavour's records: its conventions as the checks would observe them."""
    region = {"name": "dropped elements", "value": 20_100, "region": [19_000, 21_000], "false_alarm": 1e-6, "power": {}}
    return [
        record(fw, "bn.train.running_mean", "batchnorm.running", {"decay": 0.7, "steps": 1},
               observed={"decay": 0.7, "decay_argument": {"momentum": momentum}, "eps_argument": {eps_name: 0.001}}),
        record(fw, "bn.train.running_mean", "batchnorm.running", {"decay": 0.7, "steps": 4},
               observed={"running_mean_trajectory": [0.0, 0.3, 0.5, 0.6, 0.7],
                         "running_mean_reference": [0.0, 0.3, 0.5, 0.6, 0.7]}),
        record(fw, "bn.train.running_var", "batchnorm.running", {"decay": 0.7, "steps": 1},
               observed={"running_var_factor": factor, "n": 3}),
        record(fw, "bn.defaults.decay", "batchnorm.defaults", {}, observed={"default_decay": decay_default}),
        record(fw, "bn.defaults.eps", "batchnorm.defaults", {}, observed={"default_eps": eps_default * 1.0000001}),
        record(fw, "bn.frozen.statistics", "batchnorm.frozen", {},
               observed={"frozen_updates_statistics": frozen_updates,
                         "frozen_output": "batch statistics" if frozen_updates else "running statistics"}),
        record(fw, "bn.eval.batch_independent", "batchnorm.inference", {}, observed={"inference_batch_difference": 0.0}),
        record(fw, "bn.batch_size_one", "batchnorm.errors", {}, observed={"batch_size_one": size_one}),
        record(fw, "do.train.values", "dropout.training", {"rate": 0.1}, observed={"dropout_scale": 1 / 0.9}),
        record(fw, "do.train.rate", "dropout.statistics", {"rate": 0.1},
               observed={"drop_fraction": 0.1005, "drop_trials": 200_000}, statistics=[region]),
        record(fw, "bn.train.output", "batchnorm.training", {"layout": "NC"}),
        record(fw, "bn.train.output", "batchnorm.training", {"layout": "NHWC"}, outcome="not_applicable",
               message="layout NHWC not in batchnorm.layouts of the profile"),
    ]


def document(runs=None) -> dict:
    """torch (PyTorch conventions, one declared deviation) and keras-jax (Keras conventions, one failure)."""
    records = _flavour_records("torch", 0.3, 0.9, "eps", 1e-5, 1.5, True, "error")
    records += _flavour_records("keras-jax", 0.7, 0.99, "epsilon", 1e-3, 1.0, False, "beta")
    records.append(record("torch", "bn.error.momentum", "batchnorm.errors", {"layout": "NC"}, outcome="deviation",
                          message="momentum=-0.5 was accepted",
                          deviation={"file": "torch", "index": 0, "behaviours": ["bn.error.momentum"], "where": {},
                                     "versions": ">=0", "reason": "r", "link": LINK, "signature": {"kind": "no_error"}},
                          failures=[{"kind": "no_error", "quantity": "error", "detail": "error: momentum=-0.5 was accepted"}]))
    records.append(record("keras-jax", "bn.train.output", "batchnorm.training", {"layout": "NCHW"}, outcome="failed",
                          message="bn.train.output[layout=NCHW] on keras-jax\n  y: worst error 0.002",
                          worst_error=0.002, margin=4.5, quantity="y"))
    meta = results.metadata({fw: {"version": v, "environment": {"device": "cpu"}} for fw, v in VERSIONS.items()}, 0)
    doc = {"schema": results.SCHEMA_ID, "metadata": meta, "records": records}
    if runs is not None:
        doc["runs"] = runs
    return results.validate(doc)


def with_outcome(doc: dict, check: str, flavour: str, outcome: str, version: str | None = None) -> dict:
    """A copy of ``doc`` with one check's outcome replaced (and, optionally, the flavour's version)."""
    doc = copy.deepcopy(doc)
    for r in doc["records"]:
        if (r["check"], r["framework"]) == (check, flavour):
            r["outcome"] = outcome
    if version is not None:
        doc["metadata"]["frameworks"][flavour]["version"] = version
        for r in doc["records"]:
            if r["framework"] == flavour:
                r["version"] = version
    return doc
