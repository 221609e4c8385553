"""JUnit XML from results documents, for the test views of CI systems.

One <testsuite> per flavour of each document (its version and environment as properties), one <testcase> per
record: classname the flavour and the behaviour id (``torch.bn.train.output``), name the check id. A failed check
and a declared deviation that no longer reproduces are a <failure> (message: expected against observed; text: the
record's message), an error and a check its process never ran an <error>; a declared deviation that reproduced is
<skipped> with the declaration's reason and link (text: the verdict and the file that declares it), a skipped or
not applicable case <skipped> with its reason. A flavour process that did not complete (the document's ``runs``)
adds a testcase ``run`` with an <error> and its output's tail. Every <testsuite> and the <testsuites> carry the
counts: tests, failures, errors, skipped, time.
"""
import re
import xml.etree.ElementTree as ET

from layerconf.outcomes import Outcome
from layerconf.results import declared_in, flavour_of, flavours_in, gist

ELEMENT = {Outcome.FAILED: "failure", Outcome.DEVIATION_FIXED: "failure", Outcome.ERROR: "error", Outcome.NOT_RUN: "error",
           Outcome.DEVIATION: "skipped", Outcome.SKIPPED: "skipped", Outcome.NOT_APPLICABLE: "skipped"}
COUNTED = {"failure": "failures", "error": "errors", "skipped": "skipped"}
NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")   # characters XML 1.0 cannot hold


def to_xml(documents: list[dict]) -> str:
    """The JUnit XML of ``documents`` (validated results documents)."""
    root = ET.Element("testsuites", name="layerconf")
    for document in documents:
        meta = document["metadata"]
        suites = {flavour: _suite(root, flavour, meta, {"version": about["version"], **about["environment"]})
                  for flavour, about in flavours_in(document).items()}
        for record in document["records"]:
            _testcase(suites[flavour_of(record)], record)
        for flavour, run in document.get("runs", {}).items():
            if run["status"] != "completed":
                if flavour not in suites:   # it ended before it loaded its framework
                    suites[flavour] = _suite(root, flavour, meta, {})
                _run(suites[flavour], flavour, run)
    for element in (*root, root):
        _count(element)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _suite(root: ET.Element, flavour: str, meta: dict, properties: dict) -> ET.Element:
    suite = ET.SubElement(root, "testsuite", name=flavour, timestamp=meta["date"][:19], hostname=meta["host"])
    if properties:
        listed = ET.SubElement(suite, "properties")
        for name, value in properties.items():
            ET.SubElement(listed, "property", name=name, value=_text(value))
    return suite


def _run(suite: ET.Element, flavour: str, run: dict) -> None:
    case = ET.SubElement(suite, "testcase", classname=flavour, name="run", time=f"{run['duration_s']:.3f}")
    code = "" if run["exit_code"] is None else f" (exit {run['exit_code']})"
    ET.SubElement(case, "error", message=f"the flavour's process {run['status']}{code}",
                  type=run["status"]).text = _text(run["output_tail"])


def _testcase(suite: ET.Element, record: dict) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"{flavour_of(record)}.{record['behaviour']}", name=record["check"],
                         time=f"{record.get('duration_s', 0.0):.3f}")
    outcome = Outcome(record["outcome"])
    if outcome not in ELEMENT:
        return
    declared = record.get("deviation")
    if outcome is Outcome.DEVIATION:
        message = f"declared deviation: {declared['reason']} ({declared['link']})"
        text = f"{record.get('message') or ''}\n  declared in {declared_in(declared)}"
    elif outcome in (Outcome.SKIPPED, Outcome.NOT_APPLICABLE):
        message, text = f"{outcome.short}: {record.get('message') or ''}", None
    else:
        message, text = gist(record) or outcome.value, record.get("message")
    element = ET.SubElement(case, ELEMENT[outcome], message=_text(message))
    if ELEMENT[outcome] != "skipped":
        errors = [f["error_type"] for f in record.get("failures") or () if f.get("error_type")]
        element.set("type", errors[0] if outcome is Outcome.ERROR and errors else outcome.value)
    if text:
        element.text = _text(text)


def _count(element: ET.Element) -> None:
    """Set the counts of a <testsuite> from its testcases, or of the <testsuites> from its suites."""
    if element.tag == "testsuite":
        cases = element.findall("testcase")
        counts = {"tests": len(cases), **{COUNTED[tag]: len(element.findall(f"testcase/{tag}")) for tag in COUNTED},
                  "time": sum(float(c.get("time")) for c in cases)}
    else:
        counts = {key: sum(float(s.get(key)) for s in element) for key in ("tests", *COUNTED.values(), "time")}
    for key, value in counts.items():
        element.set(key, f"{value:.3f}" if key == "time" else str(int(value)))


def _text(value) -> str:
    return NOT_XML.sub("\ufffd", str(value))
