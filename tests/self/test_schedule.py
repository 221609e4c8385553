"""layerconf.schedule: the longest flavours start first, from this machine's last durations or the estimates."""
import pytest
import yaml

from layerconf import flavours, schedule


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LAYERCONF_CACHE_DIR", str(tmp_path))
    return tmp_path


def test_the_estimates_name_flavours_and_seconds():
    estimates = schedule.expected()
    assert set(estimates) <= set(flavours.names())
    assert all(isinstance(s, (int, float)) and s > 0 for s in estimates.values())


def test_the_longest_estimate_starts_first_and_unknown_names_last():
    estimates = schedule.expected()
    longest = max(estimates, key=estimates.get)
    assert schedule.order(["mine", "onnx-reference", longest]) == [longest, "onnx-reference", "mine"]


def test_this_machines_durations_override_the_estimates(cache):
    schedule.remember({"onnx-reference": 10_000.0})
    assert schedule.order(["torch-compile", "onnx-reference"]) == ["onnx-reference", "torch-compile"]
    schedule.remember({"torch": 1.0})   # added to those kept
    assert schedule.expected()["onnx-reference"] == 10_000.0


def test_an_unreadable_file_leaves_the_estimates(cache):
    (cache / "runs").mkdir()
    (cache / "runs" / "durations.json").write_text('{"torch": 1')   # cut short
    assert schedule.expected() == yaml.safe_load(schedule.ESTIMATES.read_text())
    schedule.remember({"mlx": 2.0})
    assert schedule.expected()["mlx"] == 2.0


def test_caching_off_keeps_nothing(monkeypatch):
    monkeypatch.setenv("LAYERCONF_CACHE_DIR", "")
    schedule.remember({"onnx-reference": 10_000.0})
    assert schedule.expected()["onnx-reference"] < 10_000.0
