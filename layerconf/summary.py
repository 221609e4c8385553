"""A short Markdown summary of results documents, for a CI step summary (GitHub's $GITHUB_STEP_SUMMARY, a job
page): the outcome counts per flavour, the failing checks (error, failed, not run) each in one line, the
declared deviations that no longer reproduce with the file and entry that declares them, the flavour processes
that did not complete, and where the full report is. Lists stop at LIMIT entries, saying how many more there are,
and a line at WIDTH characters.
"""
from layerconf.outcomes import Outcome, count
from layerconf.results import declared_in, flavour_of, flavours_in, gist

LIMIT = 20    # entries a list shows
WIDTH = 240   # characters a line shows
FAILURES = (Outcome.ERROR, Outcome.FAILED, Outcome.NOT_RUN)


def to_markdown(documents: list[dict], links: dict[str, str] | None = None) -> str:
    """The summary of ``documents`` (validated results documents); ``links``: what the full report is -> where it
    is (a path or an address), e.g. {"report": "report/report.md"}."""
    records = [r for d in documents for r in d["records"]]
    failures = [r for r in records if Outcome(r["outcome"]) in FAILURES]
    stale = [r for r in records if Outcome(r["outcome"]) is Outcome.DEVIATION_FIXED]
    unfinished = [(f, run) for d in documents for f, run in d.get("runs", {}).items() if run["status"] != "completed"]
    flavours = [(f, about["version"]) for d in documents for f, about in flavours_in(d).items()]
    verdict = ", ".join(f"{n} {what}" for n, what in ((len(failures), "failing"), (len(stale), "stale deviation(s)"),
                                                         (len(unfinished), "incomplete run(s)")) if n) or "nothing failing"
    lines = [f"## layerconf: {len(records)} checks on {len(flavours)} flavour(s): {verdict}", ""]
    lines += _counts(records, flavours)
    lines += _section("Failing checks", failures, lambda r: f"{Outcome(r['outcome']).symbol} {_check(r)}: {_line(gist(r))}")
    lines += _section("Declared deviations that no longer reproduce: update or remove their declarations", stale,
                      lambda r: f"{Outcome.DEVIATION_FIXED.symbol} {_check(r)}: declared in {_declared(r['deviation'])}")
    lines += _section("Flavour processes that did not complete", unfinished,
                      lambda item: f"{item[0]}: {item[1]['status']}" + ("" if item[1]["exit_code"] is None
                                                                          else f" (exit {item[1]['exit_code']})"))
    if links:
        lines += ["", "Full report: " + ", ".join(f"{what} `{where}`" for what, where in links.items())]
    return "\n".join(lines) + "\n"


def _counts(records: list[dict], flavours: list[tuple]) -> list[str]:
    """The table: one row per flavour and version, one column per outcome that occurs (worst first)."""
    columns = list(count(records))
    lines = ["| flavour | version | " + " | ".join(f"{o.symbol} {o.short}" for o in columns) + " |",
             "| --- | --- |" + " ---: |" * len(columns)]
    for flavour, version in flavours:
        counts = count(r for r in records if (flavour_of(r), r["version"]) == (flavour, version))
        lines.append(f"| {flavour} | {version} | " + " | ".join(str(counts.get(o, 0)) for o in columns) + " |")
    return lines


def _section(title: str, items: list, line) -> list[str]:
    if not items:
        return []
    shown = [f"- {line(item)}" for item in items[:LIMIT]]
    more = [f"- ... and {len(items) - LIMIT} more: see the full report"] if len(items) > LIMIT else []
    return ["", f"### {title} ({len(items)})", "", *shown, *more]


def _check(record: dict) -> str:
    return f"{flavour_of(record)} {record['version']} `{record['check']}`"


def _declared(declaration: dict) -> str:
    return f"{declared_in(declaration)} ([link]({declaration['link']})): {_line(declaration['reason'])}"


def _line(text: str) -> str:
    """``text`` on one line, cut at WIDTH characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= WIDTH else text[: WIDTH - 3] + "..."
