"""The environments file: one frozen `Environment` per name, loaded and validated once.

Every error names the file, the dotted key and what was expected, so a bad edit is one clear line;
a load reports every problem of an environment at once (one ConfigError whose `details` list them).
Which file is read: see `environments_file`. The settings types live in `_settings` (and the
`cost:` and `infra:` sections' in `_cost` and `_infra`), the YAML reader in `_reader`, the
validation in `_parse`, and finding and loading the file in `_files`.
"""

from __future__ import annotations

from adinsights_ops.config._cost import (
    CostSettings,
)
from adinsights_ops.config._files import (
    chosen_file,
    environment_names,
    environments_file,
    find_upward,
    load,
    read_file,
)
from adinsights_ops.config._infra import (
    InfraSettings,
    check_mapping,
)
from adinsights_ops.config._listing import (
    EnvironmentEntry,
    EnvironmentList,
    list_environments,
)
from adinsights_ops.config._parse import (
    parse_environment,
)
from adinsights_ops.config._reader import (
    combined,
    load_yaml,
)
from adinsights_ops.config._settings import (
    ACCOUNT,
    BRANCH_RULES,
    DEFAULT_FILE,
    ENV_VARIABLE,
    MAX_TIMEOUT,
    PACKAGED_FILE,
    PLACEHOLDER,
    PROJECT_ROOT,
    REGION,
    ROLES,
    AirbyteSettings,
    DbtSettings,
    EcsSettings,
    Environment,
    Notifications,
    ReleaseSettings,
    RunTaskNetwork,
    ServiceRef,
    SshSettings,
    StatusPage,
)

__all__ = [
    "ACCOUNT",
    "BRANCH_RULES",
    "DEFAULT_FILE",
    "ENV_VARIABLE",
    "MAX_TIMEOUT",
    "PACKAGED_FILE",
    "PLACEHOLDER",
    "PROJECT_ROOT",
    "REGION",
    "ROLES",
    "AirbyteSettings",
    "CostSettings",
    "DbtSettings",
    "EcsSettings",
    "Environment",
    "EnvironmentEntry",
    "EnvironmentList",
    "InfraSettings",
    "Notifications",
    "ReleaseSettings",
    "RunTaskNetwork",
    "ServiceRef",
    "SshSettings",
    "StatusPage",
    "check_mapping",
    "chosen_file",
    "combined",
    "environment_names",
    "environments_file",
    "find_upward",
    "list_environments",
    "load",
    "load_yaml",
    "parse_environment",
    "read_file",
]
