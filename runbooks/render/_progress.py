"""The live progress of a rollout, a one-off task or a restore, from the library's events.

On a terminal: a `rich.live.Live` area below the log, one line per service or task still in
progress, each cut to the terminal's width (never wrapped, so a redraw leaves no fragments). Step
headers, phases, ECS service events and a finished service's or task's last state are printed
above the area, so they stay in the scrollback and never glue onto a status line. Anywhere else:
the plain change lines the tasks have always written.
"""

from __future__ import annotations

from typing import IO, Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from runbooks.render import _console


def short_arn(arn: str) -> str:
    from adinsights_ops.ecs import short_arn as short

    return short(arn)


def status_text(event: Any) -> str:
    """`backend 1/2 IN_PROGRESS backend:8 ...`: one service's or task's state."""
    mark = "ok" if event.done else "..."
    return (
        f"{event.service} {event.running}/{event.desired} "
        f"{event.rollout_state or '-'} {short_arn(event.task_definition)} {mark}"
    )


class Progress:
    """Renders rollout events (`on_event=`); `close()` (or `with`) ends the live area."""

    def __init__(
        self,
        stream: IO[str] | None = None,
        live: bool | None = None,
        *,
        console: Console | None = None,
    ) -> None:
        if console is None:
            if stream is not None:
                console = _console.make_console(stream, force_terminal=live or None)
            else:
                console = _console.err_console()
        self.console = console
        self.live = console.is_terminal if live is None else live
        self.last: dict[str, tuple[Any, ...]] = {}
        self.status: dict[str, tuple[str, float]] = {}
        self.finished: dict[str, tuple[Any, ...]] = {}
        self._live: Live | None = None

    # -- the two outputs -------------------------------------------------------------------
    def print_above(self, text: str) -> None:
        """A full line: above the live area on a terminal, a plain line otherwise."""
        if self._live is not None:
            self._live.console.print(Text(text), soft_wrap=True)
        elif self.live:
            self.console.print(Text(text), soft_wrap=True)
        else:
            self.console.file.write(text + "\n")
            self.console.file.flush()

    def _area(self) -> Group:
        lines = []
        for text, elapsed in self.status.values():
            line = Text(f"{text}  [{elapsed:.0f}s]", no_wrap=True, overflow="ellipsis")
            lines.append(line)
        return Group(*lines)

    def _redraw(self) -> None:
        if not self.status:
            self._stop()  # nothing in progress: no empty area left between steps
            return
        if self._live is None:
            if not self.status:
                return
            self._live = Live(
                self._area(),
                console=self.console,
                auto_refresh=False,
                redirect_stdout=False,
                redirect_stderr=False,
                transient=False,
            )
            self._live.start()
            _console.activate(self)
        self._live.update(self._area(), refresh=True)

    def _stop(self) -> None:
        if self._live is not None:
            self._live.update(self._area(), refresh=True)
            self._live.stop()
            self._live = None
            _console.deactivate(self)

    # -- events ----------------------------------------------------------------------------
    def __call__(self, event: Any) -> None:
        from adinsights_ops.ecs import Phase, ServiceEvent
        from adinsights_ops.ecs import Progress as ProgressEvent

        if isinstance(event, Phase):
            self.print_above(f"-- {event.name}" + (f": {event.detail}" if event.detail else ""))
        elif isinstance(event, ServiceEvent):
            self.print_above(f"   {event.created_at:%H:%M:%S} {event.message}")
        elif isinstance(event, ProgressEvent):
            if self.live:
                self._live_progress(event)
            else:
                self._plain_progress(event)

    def _key(self, event: Any) -> tuple[Any, ...]:
        return (
            event.running,
            event.desired,
            event.rollout_state,
            event.done,
            event.task_definition,
        )

    def _plain_progress(self, event: Any) -> None:
        key = self._key(event)
        if self.last.get(event.service) != key:
            self.last[event.service] = key
            self.print_above(f"   [{event.elapsed:5.1f}s] {status_text(event)}")

    def _live_progress(self, event: Any) -> None:
        key = self._key(event)
        if event.done:
            # Finished: its last state goes above the area once, and it leaves the area (a
            # one-off task that stopped is not part of the rollout line any more).
            self.status.pop(event.service, None)
            if self.finished.get(event.service) != key:
                self.finished[event.service] = key
                self.print_above(f"   [{event.elapsed:5.1f}s] {status_text(event)}")
            self._redraw()
            return
        self.finished.pop(event.service, None)
        self.status[event.service] = (status_text(event), event.elapsed)
        self._redraw()

    def step(self, name: str) -> None:
        """A new step (`== name`): the previous step's area ends where it stood."""
        self._stop()
        self.status.clear()
        self.print_above(f"== {name}")

    def close(self) -> None:
        """End the live area; what is still in progress stays on the screen as it was."""
        self._stop()
        self.status.clear()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
