"""layerconf repro (issue 26, item 8) without a framework: bad input refused before any work, the script's shape
(only the framework and NumPy imported, the inputs the check's own draws), and docs/repros in step with the
generators. Running the scripts needs the frameworks: test_repro_scripts.py."""
import ast
import base64
import io
import re
from pathlib import Path

import numpy as np
import pytest

from layerconf import cli, repro, seeds
from layerconf.conformance import draw
from layerconf.repro import declared, families

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("argv, message", [
    (["bn.nothing[layout=NC]", "--flavour", "torch"], "CHECK_ID: 'bn.nothing' is not a behaviour of the catalogue"),
    (["bn.error.eps[layout=NCHW]", "--flavour", "torch"], "CHECK_ID: 'bn.error.eps[layout=NCHW]' is not a case of bn.error.eps"),
    (["bn.error.eps[layout=NC]", "--flavour", "caffe"], "--flavour must be one of"),
    (["rrelu.train.values[lower=0.1,upper=0.4,dtype=float32]", "--flavour", "onnxruntime"],
     "does not apply to --flavour onnxruntime: onnxruntime profile has no rrelu"),
    (["bn.train.masked[layout=NC,dtype=float32]", "--flavour", "keras-torch"],
     "no repro generator for bn.train.masked on keras-torch (generators: bn.error.eps, bn.error.momentum, bn.train.output,"),
    (["replicas.bn.sync.same_state[replicas=2,split=unequal,layout=NCHW,dtype=float32,steps=3]", "--flavour", "equinox"],
     "does not apply to --flavour equinox: equinox's replicas take ['equal'] splits, not unequal: one SPMD program"),
    (["bn.error.eps[layout=NC]", "--flavour", "mlx"], "no repro generator for bn.error.eps on mlx (generators: flavours torch,"),
])
def test_bad_input_is_refused_naming_the_argument(argv, message, capsys, tmp_path):
    out = tmp_path / "repro.py"
    assert cli.main(["repro", *argv, "--output", str(out)]) == 2
    assert message in capsys.readouterr().err and not out.exists()


def test_the_script_imports_the_framework_and_numpy_only_and_embeds_the_checks_draws(tmp_path):
    check = "do.train.values[rate=0.1,dtype=float64]"
    assert cli.main(["repro", check, "--flavour", "paddle", "--seed", "3", "--output", str(tmp_path / "r.py")]) == 0
    text = (tmp_path / "r.py").read_text()
    tree = ast.parse(text)
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported == {"base64", "io", "sys", "numpy", "paddle"}
    embedded = "".join(re.search(r'X = array\(\n(.*?)\n\)', text, re.S)[1].replace('"', "").split())
    x = np.load(io.BytesIO(base64.b64decode(embedded)))
    rng = np.random.default_rng(seeds.derived(3, check))
    np.testing.assert_array_equal(x, draw.nonzero(rng, (64, 64), "float64"))   # the test's own draw, bit for bit
    assert "def reference(x, kept, rate):" in text and "sys.exit(main())" in text


def test_docs_repros_are_what_the_generators_write():
    entries = declared.entries()
    assert (ROOT / "docs/repros/README.md").read_text() == declared.index(entries)
    covered = [e for e in entries if e.missing is None]
    assert {e.flavour for e in covered} == set(repro.FRAMEWORKS)
    for e in covered:
        assert (ROOT / "docs/repros" / e.path).read_text() == repro.script(e.check_id, e.flavour, declared=e.declaration), e.path
    written = {p.relative_to(ROOT / "docs/repros") for p in (ROOT / "docs/repros").glob("*/*.py")}
    assert written == {e.path for e in covered}


def test_a_hypothesis_check_embeds_the_first_example_the_suite_draws(monkeypatch):
    """bn.train.output draws its batch by hypothesis: the examples the generator replays are those the conformance test
    itself receives under the plugin's seeding (the test run here on a recording stand-in for the layer), and the
    script's X is the first one's batch."""
    from types import SimpleNamespace

    from layerconf import specs
    from layerconf.conformance import test_batchnorm

    check = "bn.train.output[layout=NC,dtype=float64]"
    seen = []

    class Layer:
        def set_state(self, **arrays):
            pass

        def forward(self, x, training):
            seen.append(x)
            return x

    adapter = SimpleNamespace(layer=lambda section, config: Layer())
    params = {"layout": "NC", "dtype": "float64"}
    case = type("Case", (), {"params": params, "__getitem__": lambda self, key: params[key]})()
    monkeypatch.setattr(test_batchnorm.test_train_output, "_hypothesis_internal_use_seed", seeds.derived(0, check),
                        raising=False)   # as the plugin seeds it
    test_batchnorm.test_train_output(case=case, adapter=adapter, profile=specs.profile("keras-torch"),
                                     check=SimpleNamespace(close=lambda *args, **kwargs: None), kept_layers={})
    def batch(shape, values):
        return draw.batch(np.random.default_rng(values), "NC", "float64", *shape)

    def moderate(shape, values):   # the test's assume
        x = batch(shape, values)
        return bool(np.all(x.mean(axis=0) ** 2 <= 16 * x.var(axis=0)))
    replayed = families.examples(test_batchnorm.test_train_output, seeds.derived(0, check), moderate)
    drawn = [batch(e["shape"], e["values"]) for e in replayed]
    assert len(seen) == 8 and all(np.array_equal(a, b) for a, b in zip(drawn, seen)), "another sequence of examples"
    text = repro.script(check, "keras-torch")
    embedded = "".join(re.search(r'\nX = array\(\n(.*?)\n\)', text, re.S)[1].replace('"', "").split())
    np.testing.assert_array_equal(np.load(io.BytesIO(base64.b64decode(embedded))), seen[0])
