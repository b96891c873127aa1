"""An environment together with the means to reach it: what every runbook operation is handed."""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from adinsights_ops.aws import Aws
from adinsights_ops.config import Environment
from adinsights_ops.waiting import SYSTEM_CLOCK, Clock

if TYPE_CHECKING:
    from adinsights_ops.journal import Journal


@attrs.frozen
class OpsEnv:
    """An `Environment`, its AWS clients and a clock; built once per command, passed everywhere."""

    env: Environment
    aws: Aws
    clock: Clock = SYSTEM_CLOCK
    health_base_url: str | None = None
    airbyte_url: str | None = None

    @property
    def name(self) -> str:
        return self.env.name

    def journal(self) -> Journal:
        from adinsights_ops.journal import Journal

        return Journal(self.aws.s3(), bucket=self.env.state_bucket, environment=self.env.name)
