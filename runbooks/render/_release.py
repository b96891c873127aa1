"""Output of `inv release.*` and `inv compose.smoke`: commands as they start, images, promotions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from runbooks.render._console import out, say
from runbooks.render._json import emit_json

if TYPE_CHECKING:
    from adinsights_ops.release import Promotion
    from adinsights_ops.release._compose import ComposeStatus
    from adinsights_ops.release._publish import BuiltImages, CiRun, PushedImages, TagResult
    from adinsights_ops.waiting import Poll


def announce(command: str) -> None:
    """A command about to run (stderr), as `== <command>`."""
    say(f"== {command}")


def ci_passed(run: CiRun) -> None:
    out(f"CI passed: {len(run.commands)} commands")


def built(images: BuiltImages) -> None:
    """One image reference a line: what was built."""
    for ref in images.refs.values():
        out(ref)


def pushed(images: PushedImages) -> None:
    """Each image pushed and the digest ECR holds for it."""
    for name, ref in images.refs.items():
        out(f"{ref}  {images.digests[name]}")


def promotion(found: Promotion, as_json: bool = False) -> None:
    """The promotion in ECR: JSON, or a head line and one line per repository."""
    if as_json:
        emit_json(found)
        return
    head = "dry run, nothing changed: " if found.dry_run else ""
    out(f"{head}{found.version} from main-{found.sha}")
    for image in found.images:
        out(
            f"  {image.repository:<28} {image.source_tag} -> {image.new_tag}  "
            f"{image.digest[:19]}  {image.action}"
        )


def tagged(result: TagResult) -> None:
    """What was done with git after the promotion (printed already by `promotion`)."""
    from adinsights_ops.release._publish import NO_REPOSITORY, WOULD_TAG

    if result.git == NO_REPOSITORY:
        say(
            f"{result.environment}: no git repository to tag; skipped: "
            f"{'; '.join(result.git_commands)}"
        )
    elif result.git == WOULD_TAG:
        for command in result.git_commands:
            out(f"would run: {command}")
    else:
        out(f"tagged {result.version} at {result.sha} and pushed it to origin")


class ComposeProgress:
    """`docker compose ps` polls as `[  2.0s] backend running, ...`, only when the line changes."""

    def __init__(self) -> None:
        self.last = ""

    def __call__(self, poll: Poll[Any]) -> None:
        line = poll.state.describe()
        if line != self.last:
            say(f"   [{poll.elapsed:5.1f}s] {line}")
            self.last = line


def smoke_passed(status: ComposeStatus) -> None:
    out(f"compose smoke passed: {status.describe()}")


def note(line: str) -> None:
    """A line for the human (stderr), e.g. what is left to do after a failure."""
    say(line)
