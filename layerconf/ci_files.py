"""The files for CI a run writes besides its results, where asked: --junit PATH (layerconf.junit) and --summary PATH
(layerconf.summary). The command line and the pytest plugin share these two steps: ``checked`` before any work
(OutputError names the option), ``write`` once the records are in."""
from pathlib import Path

from layerconf import junit, output, summary


def checked(junit_path=None, summary_path=None) -> dict[str, Path]:
    """Option -> its path, for the options given, each a file that can be written."""
    return {option: output.file(path, option) for option, path in (("--junit", junit_path), ("--summary", summary_path))
            if path}


def write(files: dict[str, Path], documents: list[dict], links: dict | None = None) -> None:
    """Write each of ``files`` whole from the results ``documents``; ``links``: where the full report is (the
    summary's last line)."""
    texts = {"--junit": lambda: junit.to_xml(documents), "--summary": lambda: summary.to_markdown(documents, links)}
    for option, path in files.items():
        output.write_text(path, texts[option]())
