"""pytest plugin for benchmarks/speed.py: the phases of one suite process, and (LAYERCONF_SPEED_RECORD) every
framework call the adapters make, with its inputs, for the bare-script floor.

Phases go to LAYERCONF_SPEED_OUT (JSON): epochs of the plugin's import, the session's start, the end of the
framework import (every selected adapter loaded), the end of collection, the start and end of the checks and
the session's finish. Recording wraps each adapter and every layer it returns: each call is appended to the
file (pickled: object id, method, arguments, the id given to a layer it returns), which benchmarks/floor.py
replays without pytest, the reference or the comparisons.
"""
import json
import os
import pickle
import time

import pytest

from layerconf import flavours

EPOCHS = {"plugin_imported": time.time()}
RECORD = os.environ.get("LAYERCONF_SPEED_RECORD")
LAYER_MAKERS = {"batchnorm", "dropout", "flag_model", "reloaded"}
UNTIMED = {"version", "environment", "name"}


class Recorder:
    """A proxy that appends each call of its target to the log; layers it returns are proxied too."""

    counter = [0]

    def __init__(self, target, ident, log):
        self._target, self._id, self._log = target, ident, log

    def __getattr__(self, name):
        attr = getattr(self._target, name)
        if not callable(attr) or name in UNTIMED:
            return attr

        def call(*args, **kwargs):
            made = None
            if name in LAYER_MAKERS:
                Recorder.counter[0] += 1
                made = Recorder.counter[0]
            pickle.dump((self._id, name, args, kwargs, made), self._log)
            result = attr(*args, **kwargs)
            return Recorder(result, made, self._log) if made is not None else result
        return call


def pytest_configure(config):
    if RECORD:
        log = open(RECORD, "wb")  # noqa: SIM115 - open for the session, closed at exit by the interpreter
        load = flavours.load_adapter
        flavours.load_adapter = lambda name, device="cpu", options=None: Recorder(load(name, device, options), 0, log)


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    EPOCHS["session_start"] = time.time()
    for name in session.config.layerconf.selected:
        session.config.layerconf.adapter(name)
    EPOCHS["imported"] = time.time()


def pytest_collection_finish(session):
    EPOCHS["collected"] = time.time()


def pytest_runtestloop(session):
    EPOCHS["checks_start"] = time.time()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    EPOCHS["checks_end"] = time.time()
    if path := os.environ.get("LAYERCONF_SPEED_OUT"):
        with open(path, "w") as f:
            json.dump({"epochs": EPOCHS, "exitstatus": int(exitstatus)}, f)
