"""The report's columns: one per framework and version in each results document."""
from dataclasses import dataclass, field


@dataclass
class Column:
    framework: str
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
    """Columns in document order; a framework whose process left no records still gets one (from ``runs``).

    The label is the framework name, with the version added where the name repeats, and the document
    number where the name and version repeat (two runs of one version).
    """
    found: dict[tuple, Column] = {}
    for number, document in enumerate(documents, start=1):
        frameworks = document["metadata"]["frameworks"]
        for record in document["records"]:
            key = (number, record["framework"], record["version"])
            if key not in found:
                found[key] = Column(record["framework"], record["version"],
                                    frameworks[record["framework"]]["environment"], number)
            found[key].records.append(record)
        for name, run in document.get("runs", {}).items():
            mine = [c for (n, fw, _), c in found.items() if (n, fw) == (number, name)]
            if mine:
                mine[0].run = run
            else:
                found[(number, name, "")] = Column(name, "", {}, number, run=run)
    result = list(found.values())
    for column in result:
        column.label = column.framework
        if sum(c.framework == column.framework for c in result) > 1:
            column.label += f" {column.version or '(no results)'}"
            if sum((c.framework, c.version) == (column.framework, column.version) for c in result) > 1:
                column.label += f" #{column.document}"
    return result
