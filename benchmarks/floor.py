"""The bare-script floor: replay, without pytest, the reference or the comparisons, the framework calls a suite
run made (recorded by benchmarks/speed_plugin.py), with the same inputs, in the same order.

    python benchmarks/floor.py FLAVOUR LOG      # prints JSON: {"import_s": ..., "calls": n, "replay_s": ...}

The replay is the time a script doing only the framework's work takes; calls that raised in the suite
(the error checks) raise here too and are part of the work.
"""
import json
import pickle
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from layerconf import flavours  # noqa: E402


def calls(log: Path):
    with log.open("rb") as f:
        while True:
            try:
                yield pickle.load(f)
            except EOFError:
                return


def main(flavour: str, log: str) -> dict:
    start = time.perf_counter()
    objects = {0: flavours.load_adapter(flavour)}
    objects[0].environment()   # as the suite does when it loads an adapter (the device it reports)
    imported = time.perf_counter()
    recorded = list(calls(Path(log)))
    begin, n = time.perf_counter(), 0
    for ident, method, args, kwargs, made in recorded:
        try:
            result = getattr(objects[ident], method)(*args, **kwargs)
        except Exception:  # noqa: BLE001 - an error check's call raises here as in the suite
            result = None
        if made is not None:
            objects[made] = result
        n += 1
    return {"import_s": imported - start, "calls": n, "replay_s": time.perf_counter() - begin}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:3])))
