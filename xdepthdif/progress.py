"""Progress of long work, reported to whatever wants to show it.

Long loops (diffusion sampling steps, training steps, batch blocks) call :func:`report` with a
stage name and ``done``/``total``; nothing is shown unless a callback is installed with
:func:`reporting`. A callback is any ``callback(stage, done, total)``: :class:`TextProgress`
draws one line per stage on a stream (the CLI's bar), :func:`tqdm_progress` draws tqdm bars
(in Jupyter too). Callbacks are process-wide, so the threaded and synchronous dask schedulers
report from every task; on a distributed cluster each worker process reports on its own (its
log), and ``dask.distributed.progress`` shows the time steps.

Examples
--------
>>> seen = []
>>> with reporting(lambda stage, done, total: seen.append((stage, done, total))):
...     for i in range(3):
...         report("work", i + 1, 3)
>>> seen
[('work', 1, 3), ('work', 2, 3), ('work', 3, 3)]
>>> report("work", 1, 3)  # no callback installed: nothing happens
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import TextIO

__all__ = ["TextProgress", "report", "reporting", "tqdm_progress"]

Callback = Callable[[str, int, int], object]

_callbacks: list[Callback] = []
_lock = threading.Lock()


@contextmanager
def reporting(callback: Callback) -> Iterator[Callback]:
    """Install ``callback`` for the duration of the ``with`` block (nested blocks add theirs).

    Parameters
    ----------
    callback : callable
        ``callback(stage, done, total)``, called from the thread that does the work.
    """
    with _lock:
        _callbacks.append(callback)
    try:
        yield callback
    finally:
        with _lock:
            _callbacks.remove(callback)


def report(stage: str, done: int, total: int) -> None:
    """Tell the installed callbacks that ``done`` of ``total`` units of ``stage`` are done."""
    if not _callbacks:
        return
    with _lock:
        callbacks = list(_callbacks)
    for callback in callbacks:
        callback(stage, int(done), int(total))


class TextProgress:
    """A one-line bar per stage on ``stream`` (stderr): ``stage  [#####-----]  5/10  3.2 s``,
    redrawn at most every ``interval`` seconds and finished with a newline; only ``stages``
    when given.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = TextProgress(out, width=10, interval=0.0)
    >>> bar("steps", 5, 10); bar("steps", 10, 10)
    >>> out.getvalue().splitlines()[-1].split()[:3]
    ['steps', '[##########]', '10/10']
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        width: int = 30,
        interval: float = 0.2,
        stages: Collection[str] | None = None,
    ):
        self.stream = stream or sys.stderr
        self.width, self.interval = width, interval
        self.stages = None if stages is None else frozenset(stages)
        self._start: dict[str, float] = {}
        self._drawn: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, stage: str, done: int, total: int) -> None:
        if self.stages is not None and stage not in self.stages:
            return
        now = time.perf_counter()
        with self._lock:
            start = self._start.setdefault(stage, now)
            finished = done >= total
            if not finished and now - self._drawn.get(stage, -1e9) < self.interval:
                return
            self._drawn[stage] = now
            filled = int(self.width * min(done, total) / max(total, 1))
            bar = "#" * filled + "-" * (self.width - filled)
            line = f"\r{stage}  [{bar}]  {done}/{total}  {now - start:.1f} s"
            self.stream.write(line + ("\n" if finished else ""))
            self.stream.flush()
            if finished:
                del self._start[stage], self._drawn[stage]


def tqdm_progress(**kwargs) -> Callback:
    """A callback drawing one ``tqdm`` bar per stage (``tqdm.auto``: a widget in Jupyter).

    Raises :class:`ImportError` naming the package when tqdm is not installed.
    """
    try:
        from tqdm.auto import tqdm
    except ImportError as exc:
        raise ImportError("tqdm_progress needs tqdm: pip install tqdm") from exc
    bars: dict[str, object] = {}

    def callback(stage: str, done: int, total: int) -> None:
        bar = bars.get(stage)
        if bar is None:
            bar = bars[stage] = tqdm(total=total, desc=stage, **kwargs)
        bar.n = done
        bar.refresh()
        if done >= total:
            bar.close()
            del bars[stage]

    return callback
