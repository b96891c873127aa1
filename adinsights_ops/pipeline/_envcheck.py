"""Would this tag be allowed here? (runbook section 1): the preflight rules as a check report.

`check_environment` judges one image tag against an environment's branch rule, its account, the
images in ECR and promotion, each rule with why it passes or not; it reads only.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack

from adinsights_ops import checks_report as cr
from adinsights_ops.config import Environment
from adinsights_ops.errors import OpsError
from adinsights_ops.opsenv import OpsEnv
from adinsights_ops.pipeline import _preflight as preflight

OpenOps = Callable[[Environment | str], AbstractContextManager[OpsEnv]]
TITLE = "environment check"


def check_environment(
    environment: Environment, open_ops: OpenOps, image_tag: str | None = None
) -> cr.CheckReport:
    """The section-1 rules for `image_tag` (default: the environment's) in `environment`.

    A tag the branch rule refuses is the one failing item (nothing is opened); otherwise the
    account, the images and promotion are checked through `open_ops` (promotion opens the source
    environment too), each a passed or failed item.
    """
    rule = environment.branch_rule
    try:
        tag = preflight.resolve_tag(environment, image_tag or None)
    except OpsError as exc:
        items = [cr.failed("branch rule", f"rule {rule!r}", str(exc))]
        return cr.report(TITLE, environment.name, items)
    items = [cr.passed("branch rule", f"rule {rule!r} allows {tag.given} ({tag.kind} build)")]
    with ExitStack() as stack, open_ops(environment) as ops:

        def source(name: str) -> OpsEnv:
            return stack.enter_context(open_ops(name))

        probes: list[tuple[str, Callable[[], str]]] = [
            ("account", lambda: f"credentials are for {preflight.check_account(ops)}"),
            ("images in ECR", lambda: "; ".join(preflight.check_images(ops, tag))),
            ("promotion", lambda: preflight.check_promotion(ops, tag, source)),
        ]
        for name, probe in probes:
            try:
                items.append(cr.passed(name, probe()))
            except OpsError as exc:
                items.append(cr.failed(name, name, str(exc)))
    return cr.report(TITLE, environment.name, items)
