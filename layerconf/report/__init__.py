"""The comparison report: from validated results documents, a Markdown report and a self-contained
HTML page (templates in layerconf/report/templates, plots inline as SVG).

``build`` gathers the content (findings digest and scorecard, matrix, failures, observed conventions, porting
table, execution paths, plots, runs, and the audit documents given: "Audits of your models");
``write`` renders it into ``report.md`` (plots as files under ``plots/``) and ``report.html``;
``audit_page`` renders one audit document as the self-contained page of ``layerconf audit --html``.
"""
from dataclasses import dataclass
from pathlib import Path

import jinja2

import layerconf
from layerconf import catalogue, outcomes
from layerconf.outcomes import Outcome
from layerconf.report import audits, conformance_matrix, conventions, digest, paths, plots, porting
from layerconf.report.columns import Column, columns

PLOT_TITLES = {"heat_map": "Conformance matrix", "running_statistics": "Running statistics per step",
               "drop_fractions": "Drop fractions"}


def _symbol(status: str) -> str:
    return "·" if status == conformance_matrix.MISSING else Outcome(status).symbol


def _environment(autoescape: bool) -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("layerconf.report", "templates"), autoescape=autoescape,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update({
        "md": lambda text: str(text).replace("|", "\\|").replace("\n", " "),
        "first_line": lambda text: next((line for line in str(text or "").splitlines() if line.strip()), ""),
        "tail": lambda text, n: "\n".join(str(text).splitlines()[-n:]),
        "outcome_counts": outcomes.summary,
        "symbol": _symbol,
        "scorecard": digest.scorecard,
        **audits.FILTERS,
    })
    env.globals.update(audits.GLOBALS)
    return env


MARKDOWN, HTML = _environment(False), _environment(True)


@dataclass
class Report:
    documents: list
    columns: list[Column]
    rows: list[conformance_matrix.Row]
    failures: list
    conventions: dict            # column label -> {key: Convention}
    pairs: list[porting.Pair]
    paths: list[paths.PathView]
    plots: dict                  # name -> SVG text, only those with data
    digest: digest.Digest
    audits: list                 # audit documents (layerconf audit --json), validated

    @property
    def layers(self) -> dict:
        """{layer heading: {family: rows}} in the rows' order."""
        grouped = {}
        for row in self.rows:
            grouped.setdefault(conformance_matrix.heading(row.family), {}).setdefault(row.family, []).append(row)
        return grouped

    @property
    def titles(self) -> dict:
        """{convention key: its row's title}, in the conventions table's order."""
        return {entry["key"]: entry["title"] for entry in conventions.TABLE}

    @property
    def catalogues(self) -> str | None:
        """Which runs were held to which catalogue, when they were not all held to one (layerconf.catalogue)."""
        return catalogue.disagreement({f"run {i}": d for i, d in enumerate(self.documents, start=1)})

    @property
    def plot_titles(self) -> dict:
        return PLOT_TITLES


def build(documents: list[dict], audit_documents: list[dict] = ()) -> Report:
    cols = columns(documents)
    rows = conformance_matrix.rows(cols)
    observed = {c.label: conventions.conventions(c.records) for c in cols if c.records}
    svgs = {"heat_map": plots.heat_map(rows, [c.label for c in cols]),
            "running_statistics": plots.running_statistics(cols),
            "drop_fractions": plots.drop_fractions(cols)}
    views = paths.views(cols)
    pairs = porting.pairs(observed)
    for view in views:   # a path's differences from its eager execution belong to their pair too
        for pair in pairs:
            if {pair.a, pair.b} == {view.path, view.eager}:
                pair.remaining += paths.porting_sentences(view)
    return Report(documents, cols, rows, conformance_matrix.failures(cols), observed, pairs, views,
                  {k: v for k, v in svgs.items() if v is not None}, digest.build(cols), list(audit_documents))


def markdown(report: Report, plot_dir: str | None = "plots") -> str:
    return MARKDOWN.get_template("report.md.j2").render(r=report, plot_dir=plot_dir, scores=digest.SCORES)


def _style() -> dict:
    """What the style sheet (templates/style.css.j2) needs: each status's colour, and those shown faint."""
    faint = [conformance_matrix.MISSING, *(o for o in Outcome if not o.failing and o is not Outcome.DEVIATION)]
    return {"colours": plots.STATUS_COLOURS, "faint": faint}


def html(report: Report) -> str:
    return HTML.get_template("report.html.j2").render(r=report, outcomes=[o.value for o in Outcome],
                                                      scores=digest.SCORES, **_style())


def audit_page(doc: dict) -> str:
    """One audit document (layerconf.audit.document) as a self-contained HTML page."""
    title = doc["target"] if "target" in doc else " and ".join(side["target"] for side in doc["compare"].values())
    return HTML.get_template("audit.html.j2").render(audits=[doc], title=title, version=layerconf.__version__,
                                                     **_style())


def write(output: Path, documents: list[dict], audit_documents: list[dict] = ()) -> dict[str, Path]:
    """report.md, report.html and plots/*.svg (which the Markdown links) into ``output``."""
    output = Path(output)
    (output / "plots").mkdir(parents=True, exist_ok=True)
    report = build(documents, audit_documents)
    for name, svg in report.plots.items():
        (output / "plots" / f"{name}.svg").write_text(svg)
    paths = {"markdown": output / "report.md", "html": output / "report.html"}
    paths["markdown"].write_text(markdown(report))
    paths["html"].write_text(html(report))
    return paths
