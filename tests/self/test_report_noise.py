"""layerconf.report: the Gaussian-noise and stochastic-depth conventions and their porting lines."""
from layerconf import report
from tests.self.documents import document, record


def test_noise_and_stochastic_depth_conventions_and_porting():
    doc = document()
    for fw, above in (("torch", "noise"), ("keras-jax", "error")):
        doc["records"] += [
            record(fw, "gn.train.variance", "gaussian_noise.statistics", {"stddev": 0.1, "dtype": "float32"},
                   observed={"noise_variance_ratio": 1.0012}),
            record(fw, "gn.train.per_element", "gaussian_noise.training", {"stddev": 0.1}, observed={"noise_per_element": True}),
            record(fw, "gn.stddev.above_one", "gaussian_noise.edges", {"stddev": 2.0}, observed={"noise_stddev_above_one": above}),
            record(fw, "gn.seed.reproducible", "gaussian_noise.seeding", {"stddev": 0.1},
                   observed={"noise_seed_per_layer": above == "error"})]
    doc["records"] += [record("torch", "sd.train.values", "stochastic_depth.training", {"mode": m, "rate": 0.2, "dtype": "float32"},
                              observed={"depth_mask": k, "depth_scale": 1.25}) for m, k in (("row", "row"), ("batch", "input"))]
    r = report.build([doc])
    torch, keras = r.conventions["torch"], r.conventions["keras-jax"]
    assert torch["gaussian_noise"].value == (True, "noise", False) and keras["gaussian_noise"].value == (True, "error", True)
    assert torch["gaussian_noise"].text == ("adds N(0, stddev^2) noise drawn per element (variance ratio 1.0012 at stddev 0.1); "
                                            "stddev above 1: adds noise of that size; seed argument: an operation seed: "
                                            "the same noise only after reseeding the global generator")
    assert torch["stochastic_depth"].value == (("batch", "input"), ("row", "row"))
    assert torch["stochastic_depth"].text == ("mode batch: one draw for the whole input; mode row: one draw per row of axis 0; "
                                              "kept x1.25 at p = 0.2")
    assert keras["stochastic_depth"].value is None   # no such layer: no porting line
    remaining = r.pairs[0].remaining
    assert any(line.startswith("Gaussian noise: torch adds") and "raises an error" in line for line in remaining)
    assert not any(line.startswith("stochastic depth") for line in remaining)
