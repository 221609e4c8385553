"""layerconf.output.write_text: a file written whole keeps the mode it had, and a new one gets the mode open()
gives (0o666 less the umask), not the temporary file's 0o600."""
import os
import stat

from layerconf import output


def test_a_new_file_gets_the_mode_open_gives(tmp_path):
    mask = os.umask(0o022)
    try:
        output.write_text(tmp_path / "report.html", "<p>page</p>")
    finally:
        os.umask(mask)
    assert stat.S_IMODE((tmp_path / "report.html").stat().st_mode) == 0o644
    assert (tmp_path / "report.html").read_text() == "<p>page</p>"


def test_a_file_written_again_keeps_its_mode(tmp_path):
    path = tmp_path / "repro.py"
    path.write_text("old")
    path.chmod(0o755)
    output.write_text(path, "new")
    assert stat.S_IMODE(path.stat().st_mode) == 0o755 and path.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["repro.py"]   # no temporary file left beside it
