"""The go-live checklist (runbook section 9), evaluated with evidence, wherever an API can tell."""

from __future__ import annotations

from adinsights_ops.golive._checklist import (
    SIGNOFF_ITEMS,
    SignOff,
    evaluate,
    read_signoff,
    save_evidence,
)
from adinsights_ops.golive._settings import (
    DEFAULTS,
    GoLiveSettings,
    settings_for,
)
from adinsights_ops.names import (
    SLI_ALARMS,
    airbyte_alarm,
    alerts_topic,
    dbt_notify_rule,
    dbt_schedule,
    rotation_schedule,
    sli_alarm,
)

__all__ = [
    "DEFAULTS",
    "SIGNOFF_ITEMS",
    "SLI_ALARMS",
    "GoLiveSettings",
    "SignOff",
    "airbyte_alarm",
    "alerts_topic",
    "dbt_notify_rule",
    "dbt_schedule",
    "evaluate",
    "read_signoff",
    "rotation_schedule",
    "save_evidence",
    "settings_for",
    "sli_alarm",
]
