"""Where everything on a :class:`~maskviz.figures.sheet.Sheet` goes, in whole pixels from the top-left corner.

Rows of pictures (panels, colour bars) share columns, so a grid lines up; a row with a plot or a
legend is laid out on its own. Text is measured with matplotlib's metrics of the figures' font, and
what matplotlib draws around a box (tick labels, axis labels) by drawing it once aside.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from maskviz.figures.canvas import BAR_GAP, BAR_WIDTH, bar_pad, legend_size, plot_pad
from maskviz.figures.sheet import GAP, MIN_PANEL_WIDTH, Block, ColorBar, Panel, Plot, Row, Sheet, bar_of, source_shape
from maskviz.figures.style import DPI, FONT, FONT_PX, line_height, pt

PAD, GROUP_GAP, ROW_GAP, TITLE_GAP = 12, 24, 14, 4


class Text:
    """Text measurement in pixels with the figures' font (matplotlib's own metrics, remembered)."""

    _widths: dict[tuple[str, str], int] = {}

    def __init__(self) -> None:
        from matplotlib.backends.backend_agg import RendererAgg
        from matplotlib.font_manager import FontProperties

        self.renderer = RendererAgg(1, 1, DPI)
        self.props = {role: FontProperties(family=FONT, size=pt(px)) for role, px in FONT_PX.items()}

    def width(self, text: str, role: str) -> int:
        return max((self._line_width(s, role) for s in text.splitlines() if s), default=0) if text else 0

    def _line_width(self, line: str, role: str) -> int:
        key = (line, role)
        if key not in self._widths:
            if len(self._widths) > 4096:
                self._widths.clear()
            width = self.renderer.get_text_width_height_descent(line, self.props[role], False)[0]
            self._widths[key] = math.ceil(width)
        return self._widths[key]

    @staticmethod
    def line(role: str) -> int:
        return line_height(role)

    def height(self, text: str, role: str) -> int:
        return len(text.splitlines()) * self.line(role) if text else 0


# ------------------------------------------------------------------------------------------- layout


@dataclass
class Box:
    block: Block
    x: int  # left of the block's body (picture, bar, axes with their decorations)
    y: int
    width: int  # body width
    height: int  # body height
    picture: int = 0  # a panel's drawn picture width (its own colour bar follows)
    title_y: int = 0
    caption_y: int = 0
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # decorations (left, top, right, bottom) of a plot or bar


@dataclass
class Layout:
    width: int = 0
    height: int = 0
    boxes: list[Box] = field(default_factory=list)
    texts: list[tuple[str, str, int, int, str]] = field(default_factory=list)  # text, role, x, y, align


class Planner:
    """Whole-pixel positions of everything on a sheet (measured, then placed).

    Rows of pictures (panels, colour bars) share columns, so grids line up; a row with a plot or a
    legend is laid out on its own, left to right.
    """

    def __init__(self, sheet: Sheet) -> None:
        self.sheet = sheet
        self.text = Text()
        self.scale = sheet.scale or self._auto_scale()
        self.out = Layout()
        self.right = PAD  # the rightmost ink so far

    def _auto_scale(self) -> int:
        widths = [s[1] for r in self.sheet.rows for b in r.blocks if isinstance(b, Panel) and b.size is None
                  and (s := source_shape(b)) is not None]
        return max(1, math.ceil(MIN_PANEL_WIDTH / max(widths))) if widths else 1

    def picture_size(self, panel: Panel) -> tuple[int, int]:
        shape = source_shape(panel)
        if shape is None:
            if panel.size is None:
                raise ValueError("an empty panel needs a size")
            return panel.size, panel.size
        width = panel.size if panel.size is not None else shape[1] * self.scale
        return width, max(1, round(shape[0] * width / shape[1]))

    def body(self, block: Block, row_height: int) -> tuple[int, int, tuple[int, int, int, int]]:
        """(width, height, decorations) of a block's body; a colour bar is as tall as the row's pictures."""
        if isinstance(block, Panel):
            w, h = self.picture_size(block)
            if block.colorbar and block.heat is not None:
                w += BAR_GAP + BAR_WIDTH + bar_pad(bar_of(block.heat), h)[2]
            return w, h, (0, 0, 0, 0)
        if isinstance(block, ColorBar):
            h = block.height or row_height
            pad = bar_pad(block, h)
            return BAR_WIDTH + pad[2], h, pad
        if isinstance(block, Plot):
            pad = plot_pad(block)
            return pad[0] + block.width + pad[2], pad[1] + block.height + pad[3], pad
        size = legend_size(block)
        return size[0], size[1], (0, 0, 0, 0)

    def _text(self, text: str, role: str, x: int, y: int, align: str = "left") -> None:
        self.out.texts.append((text, role, x, y, align))
        width = self.text.width(text, role)
        self.right = max(self.right, x + (width // 2 if align == "center" else width))

    def plan(self) -> Layout:
        s, t = self.sheet, self.text
        heights = [max((self.picture_size(b)[1] for b in r.blocks if isinstance(b, Panel)), default=128)
                   for r in s.rows]
        bodies = [[self.body(b, h) for b in r.blocks] for r, h in zip(s.rows, heights, strict=True)]
        widths = self._column_widths(bodies)
        lefts = self._lefts(widths)
        y = self._headers(widths, lefts)
        pictures_top = None
        for row, body in zip(s.rows, bodies, strict=True):
            x = lefts if shares_columns(row) else self._lefts([max(w, t.width(getattr(b, "title", ""), "label"))
                                                         for b, (w, _, _) in zip(row.blocks, body, strict=True)])
            cols = widths if shares_columns(row) else [w for w, _, _ in body]
            y, top = self._row(row, body, x, cols, y)
            pictures_top = top if pictures_top is None else pictures_top
        if lefts:
            self.right = max(self.right, lefts[-1] + widths[-1])
        y = self._side(pictures_top or y, heights[0] if heights else 128, y)
        if s.footer:
            self._text(s.footer, "row", PAD, y)
            y += t.height(s.footer, "row") + ROW_GAP
        self.out.width, self.out.height = self.right + PAD, y - ROW_GAP + PAD
        return self.out

    def _column_widths(self, bodies: list[list[tuple[int, int, Any]]]) -> list[int]:
        s, t = self.sheet, self.text
        aligned = [(r, b) for r, b in zip(s.rows, bodies, strict=True) if shares_columns(r)]
        ncols = max((len(r.blocks) for r, _ in aligned), default=0)
        widths = [0] * ncols
        for row, body in aligned:
            for c, (block, (w, _, _)) in enumerate(zip(row.blocks, body, strict=True)):
                widths[c] = max(widths[c], w, t.width(getattr(block, "title", ""), "label"))
        for c, name in enumerate(self._column_names(ncols)):
            widths[c] = max(widths[c], t.width(name, "label"))
        return widths

    def _column_names(self, ncols: int) -> list[str]:
        names = list(self.sheet.columns)
        return names * max(1, ncols // len(names)) if names and len(names) < ncols else names[:ncols]

    def _lefts(self, widths: list[int]) -> list[int]:
        s, x, lefts = self.sheet, PAD, []
        for c, w in enumerate(widths):
            lefts.append(x)
            last_of_group = s.group_size and (c + 1) % s.group_size == 0
            x += w + (GROUP_GAP if last_of_group else s.gap)
        return lefts

    def _headers(self, widths: list[int], lefts: list[int]) -> int:
        """The title, group and column headers; returns the top of the first row."""
        s, t, y = self.sheet, self.text, PAD
        if s.title:
            self._text(s.title, "title", PAD, y)
            y += t.height(s.title, "title") + TITLE_GAP
        if any(s.groups):
            size = s.group_size or len(widths)
            for g, name in enumerate(s.groups):
                last = min(len(widths), (g + 1) * size) - 1
                self._text(name, "header", (lefts[g * size] + lefts[last] + widths[last]) // 2, y, "center")
            y += t.line("header")
        names = self._column_names(len(widths))
        for c, name in enumerate(names):
            self._text(name, "label", lefts[c] + widths[c] // 2, y, "center")
        if names:
            y += t.line("label") + (TITLE_GAP if s.rows and s.rows[0].title else 0)
        return y

    def _row(self, row: Row, body: list[tuple[int, int, Any]], lefts: list[int], widths: list[int],
             y: int) -> tuple[int, int]:
        """Place one row's title and blocks (each centred in its column); returns (next y, top of its bodies)."""
        t = self.text
        if row.title:
            self._text(row.title, "row", PAD, y)
            y += t.line("row")
        title_y = y
        if any(getattr(b, "title", "") for b in row.blocks):
            y += t.line("label")
        height = max((h for _, h, _ in body), default=0)
        captions = max((t.height(getattr(b, "caption", ""), "caption") for b in row.blocks), default=0)
        for block, (w, h, pad), left, width in zip(row.blocks, body, lefts, widths, strict=False):
            x = left + (width - w) // 2
            picture = self.picture_size(block)[0] if isinstance(block, Panel) else w
            self.out.boxes.append(Box(block, x, y, w, h, picture, title_y, y + height + 3, pad))
            self.right = max(self.right, x + w, x + t.width(getattr(block, "caption", ""), "caption"))
        return y + height + (3 + captions if captions else 0) + ROW_GAP, y

    def _side(self, top: int, height: int, y: int) -> int:
        """The shared colour bars, right of everything, from the top of the first pictures; returns the next y."""
        x = max((b.x + b.width for b in self.out.boxes), default=PAD) + GAP
        for bar in self.sheet.side:
            w, h, pad = self.body(bar, height)
            self.out.boxes.append(Box(bar, x, top, w, h, w, top, top, pad))
            self.right = max(self.right, x + w)
            top += h + ROW_GAP
        return max(y, top)


def shares_columns(row: Row) -> bool:
    """Rows of pictures share columns; a row with a plot or a legend is laid out on its own."""
    return all(isinstance(b, (Panel, ColorBar)) for b in row.blocks)
