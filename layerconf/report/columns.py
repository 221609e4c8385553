"""The report's columns: one per flavour and version in each results document."""
from dataclasses import dataclass, field

from layerconf.results import flavour_of, flavours_in


@dataclass
class Column:
    flavour: str
    version: str
    environment: dict
    document: int                      # 1-based position of its results document
    label: str = ""
    records: list = field(default_factory=list)
    run: dict | None = None            # its `runs` entry, where `layerconf run` wrote the document

    @property
    def device(self) -> str:
        return str(self.environment.get("device", "?"))


def columns(documents: list[dict]) -> list[Column]:
    """Columns in document order; a flavour whose process left no records still gets one (from ``runs``).

    The label is the flavour's name, with the version added where the name repeats, and the document
    number where the name and version repeat (two runs of one version).
    """
    found: dict[tuple, Column] = {}
    for number, document in enumerate(documents, start=1):
        listed = flavours_in(document)
        for record in document["records"]:
            key = (number, flavour_of(record), record["version"])
            if key not in found:
                found[key] = Column(flavour_of(record), record["version"], listed[flavour_of(record)]["environment"], number)
            found[key].records.append(record)
        for name, run in document.get("runs", {}).items():
            mine = [c for (n, fl, _), c in found.items() if (n, fl) == (number, name)]
            if mine:
                mine[0].run = run
            else:
                found[(number, name, "")] = Column(name, "", {}, number, run=run)
    result = list(found.values())
    for column in result:
        column.label = column.flavour
        if sum(c.flavour == column.flavour for c in result) > 1:
            column.label += f" {column.version or '(no results)'}"
            if sum((c.flavour, c.version) == (column.flavour, column.version) for c in result) > 1:
                column.label += f" #{column.document}"
    return result
