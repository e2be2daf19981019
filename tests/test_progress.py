"""The CLI's one progress line: tqdm redrawing in place on a terminal, plain throttled lines in a log."""

from __future__ import annotations

import io
import re

from maskviz.progress import ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_line_is_redrawn_in_place_by_tqdm_and_closed_once():
    out = Terminal()
    line = ProgressLine(out, total=3, label="models", unit="step", redraw_s=0)
    for done in (1, 2, 3):
        line.update(done)
    line.close()
    line.close()
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1  # one line, ended once
    frames = [frame for frame in text.rstrip("\n").split("\r") if frame]
    assert frames[-1].startswith("models: 100%|") and "3/3" in frames[-1] and "step/s" in frames[-1]
    assert any(" 33%|" in frame and "1/3" in frame for frame in frames)


def test_a_log_gets_whole_lines_throttled_but_always_the_last():
    out = io.StringIO()
    line = ProgressLine(out, total=3, unit="step", log_every_s=3600)
    for done in (1, 2, 3):
        line.update(done)
    line.close()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue() and len(lines) == 2  # the first update, then the end
    assert re.match(r" 33%\|###3 +\| 1/3 \[", lines[0]) and re.match(r"100%\|#+\| 3/3 \[", lines[1])


def test_bytes_are_counted_in_kilo_and_megabytes_and_an_unknown_total_still_reads():
    out = io.StringIO()
    line = ProgressLine(out, total=None, label="tiny.pth", unit="B", unit_scale=True)
    line.update(2_500_000)
    line.close()
    assert out.getvalue().startswith("tiny.pth: 2.50MB [")
    sized = io.StringIO()
    line = ProgressLine(sized, total=448_000_000, unit="B", unit_scale=True)
    line.update(201_000_000)
    assert "201M/448M" in sized.getvalue() and " 45%" in sized.getvalue()


def test_a_message_gets_its_own_line_and_the_progress_line_stays_below():
    out = Terminal()
    line = ProgressLine(out, total=2, unit="step", redraw_s=0)
    line.update(1)
    line.write("maskviz: skipped a.png: not an image")
    line.update(2)
    line.close()
    first, second, rest = out.getvalue().split("\n")
    assert first.split("\r")[-1] == "maskviz: skipped a.png: not an image"  # the bar cleared, the message
    assert "2/2" in second.split("\r")[-1] and rest == ""  # then the bar again, below it, finished
    log = io.StringIO()
    line = ProgressLine(log, total=2)
    line.write("a message")
    assert log.getvalue().splitlines()[-1] == "a message"


def test_nothing_is_shown_before_the_first_update():
    for out in (io.StringIO(), Terminal()):
        ProgressLine(out, total=3).close()
        assert out.getvalue() == ""


def test_a_download_shows_one_finished_line_per_file():
    from maskviz.zoo.commands import ProgressBar

    out = Terminal()
    progress = ProgressBar(out)
    for label in ("hf-x: config.json", "hf-x: model.safetensors"):
        for done in (0, 500, 1000):
            progress(done, 1000, label)
    progress.close()
    lines = out.getvalue().split("\n")
    assert len(lines) == 3 and lines[-1] == ""
    assert [line.split("\r")[-1].split(":")[1] for line in lines[:2]] == [" config.json", " model.safetensors"]
    assert all("100%" in line.split("\r")[-1] and "1.00k/1.00k" in line for line in lines[:2])
