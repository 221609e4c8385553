"""``--compare``'s terminal table, made from its JSON document: one row per pair of layers, then each pair's
differences with their sizes and what removes them."""
import textwrap

COLUMNS = ("A layer", "B layer", "class A / B", "step A / B", "out B-A", "inference A / B", "out B-A", "stats B-A")
WIDTH = 116
LEGEND = ("step / inference: each side's measured mode (train, infer) and its check against the reference (ok, FAIL); "
          "out B-A: the largest |B - A| of the layer's output, '!' beyond the dtype's tolerance (random: a training "
          "dropout, checked against the reference only); stats B-A: the running statistics after the step")


def mode_text(side: dict | None) -> str:
    """A side's measured mode and its check against the reference: 'train ok', 'infer FAIL', '-' (not called)."""
    if not side or not side["mode"]:
        return "-"
    check = side["check"]
    ref = "" if check is None else f" {'ok' if check['passed'] else 'FAIL'}"
    return f"{side['mode'][:5]}{ref}"


def size_text(c: dict | None, random: bool = False) -> str:
    """The largest |B - A| of a comparison, '!' beyond the tolerance; 'random' for a training dropout."""
    if random:
        return "random"
    return "-" if c is None else f"{c['max_error']:.2g}" + ("" if c["passed"] else " !")


def worst_statistic(pair: dict) -> dict | None:
    """The running statistic after the step that differs most between B and A (None: none compared)."""
    return max(pair["statistics"].values(), key=lambda c: c["max_error"]) if pair["statistics"] else None


def class_text(name: str) -> str:
    """A class without its module ('BatchNorm1d'); an ONNX node's op and name as they are."""
    return name.rsplit(".", 1)[-1] if "(" not in name else name.removeprefix("onnx.")


def cells(pair: dict) -> list[str]:
    """The pair's row under COLUMNS."""
    stats = worst_statistic(pair)
    classes = " / ".join(class_text(c) for c in (pair["a_class"], pair["b_class"]))
    return [pair["a"], pair["b"], classes, f"{mode_text(pair['step']['a'])} / {mode_text(pair['step']['b'])}",
            size_text(pair["step"]["output"], pair["step"]["random"]),
            f"{mode_text(pair['inference']['a'])} / {mode_text(pair['inference']['b'])}",
            size_text(pair["inference"]["output"], pair["inference"]["random"]), size_text(stats)]


def _wrapped(text: str, indent: str = "    ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent + "  ")


def fix_text(entry: dict) -> str:
    """A fix entry in one line: the suite's declaration (its first sentence and link), a porting line, or a fix."""
    if "declared" in entry:
        first = entry["reason"].split(": ", 1)[0].split(". ", 1)[0]
        return f"found by this suite ({entry['flavour']}), {entry['declared']}: {first} ({entry['link']})"
    if "porting" in entry:
        return f"porting table: {entry['porting']}"
    return f"fix: {entry['fix']}"


def heading(d: dict) -> str:
    """What differs and by how much: 'step, size 6.4 (3.49e+05 x the tolerance)'."""
    size = "" if d["size"] is None else f", size {d['size']:.3g}" + (
        "" if d["margin"] is None else f" ({d['margin']:.3g} x the tolerance)")
    return d["what"] + size


def differences(doc: dict) -> list[tuple[dict, dict]]:
    """Every difference with its pair, in the order they are numbered (1, 2, ...)."""
    return [(p, d) for p in doc["pairs"] for d in p["differences"]]


def table(doc: dict) -> str:
    """The terminal report: both sides, a row per pair, then every difference with its size and its fixes."""
    lines = [f"layerconf audit --compare (pairs by {doc['mapping']})"]
    for label, side in doc["compare"].items():
        lines += [f"{label}: {side['target']} (flavour {side['flavour']}, {side['framework_version']})",
                  f"   model: {side['model_kept']}", f"   step:  {side['step']}", f"   batch: {side['batch']}"]
    rows = [list(COLUMNS)] + [cells(p) for p in doc["pairs"]]
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    lines += [""] + ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines += ["", LEGEND]
    for key, what in (("only_in_a", "only in A"), ("only_in_b", "only in B")):
        if doc[key]:
            lines += _wrapped(f"{what}: {', '.join(doc[key])}", "")
    for pair in doc["pairs"]:
        lines += [line for note in pair["notes"] for line in _wrapped(f"note: {pair['a']} / {pair['b']}: {note}", "")]
    found = differences(doc)
    lines += ["", "differences: none" if not found else f"differences: {len(found)}"]
    for i, (pair, d) in enumerate(found, 1):
        lines += _wrapped(f"{i}. {pair['a']} / {pair['b']}: {d['kind']} ({heading(d)}): {d['sentence']}", "")
        for entry in d["fixes"]:
            lines += _wrapped(fix_text(entry))
    return "\n".join(lines) + "\n"
