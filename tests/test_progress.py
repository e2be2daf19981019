"""The CLI's one progress line: redrawn in place on a terminal, plain throttled lines in a log."""

from __future__ import annotations

import io

from maskviz.progress import ProgressLine, bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_fills_in_proportion_and_clamps():
    assert bar(0, 10, width=10) == "[----------]"
    assert bar(5, 10, width=10) == "[#####-----]"
    assert bar(20, 10, width=10) == "[##########]"
    assert bar(3, 0, width=4) == "[----]"


def test_a_terminal_line_is_redrawn_and_closed_once():
    out = Terminal()
    line = ProgressLine(out, redraw_s=0.0)
    line.show("1/3")
    line.show("2/3")
    line.show("3/3", final=True)
    line.end()
    assert out.getvalue() == "\r1/3\r2/3\r3/3\n"


def test_a_log_gets_whole_lines_throttled_but_always_the_last():
    out = io.StringIO()
    line = ProgressLine(out, log_every_s=3600)
    for i in range(1, 4):
        line.show(f"{i}/3", final=i == 3)
    line.end()
    assert out.getvalue() == "1/3\n3/3\n"
