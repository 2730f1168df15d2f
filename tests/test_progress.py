from __future__ import annotations

import io

from rich.console import Console

from transferscout._progress import progress_bar


def test_a_bars_description_and_note_are_shown_as_they_are() -> None:
    # A search's bar is described by its target's name, a note may quote an error: neither
    # is rich markup ("[/x]" alone would raise a MarkupError, "[[a.b]]" would be eaten).
    bar = progress_bar(enabled=True, note=True)
    task = bar.add_task("search [[a.b]] [/x] [", total=4, note="failed [/x] 1")
    bar.update(task, advance=1)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(bar.make_tasks_table(bar.tasks))
    line = out.getvalue()
    assert line.startswith("search [[a.b]] [/x] [ ")
    assert "1/4" in line and "failed [/x] 1" in line
