"""Progress lines of a batch run: one line per block, or one updating line on a terminal."""

from __future__ import annotations

import sys
from typing import IO


class Printer:
    """Progress lines on ``stream``; one line rewritten with ``\\r`` on a terminal."""

    def __init__(self, stream: IO[str] | None, quiet: bool) -> None:
        self.stream = stream or sys.stdout
        self.quiet = quiet
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.open_line = False

    def info(self, message: str) -> None:
        if not self.quiet:
            self.end_progress()
            print(message, file=self.stream, flush=True)

    def progress(self, message: str) -> None:
        if self.quiet:
            return
        if self.tty:
            self.stream.write("\r" + message + "\x1b[K")
            self.stream.flush()
            self.open_line = True
        else:
            print(message, file=self.stream, flush=True)

    def end_progress(self) -> None:
        if self.open_line:
            self.stream.write("\n")
            self.stream.flush()
            self.open_line = False


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {s:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
