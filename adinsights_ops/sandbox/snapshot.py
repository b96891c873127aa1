"""A seeded blueprint, saved once and restored in milliseconds instead of seeded again.

Seeding the ADinsights blueprint is about 150 AWS calls: seconds of botocore and moto on every
embedded sandbox, `inv sandbox.up` and test. What those calls build is moto's in-memory state, so
`capture()` pickles it (every moto backend in use, with the simulated scheduler's records and the
`Blueprint`), and `restore()` puts it back into moto's backends. Nothing else is kept: what depends
on the moment (cost and CloudWatch data, the Slack stand-in's address, what a sandbox remembers
between commands) is still made fresh after a restore.

Snapshots are kept per process (tests) and in the tool's cache folder (`paths.cache_home()`, one
file per blueprint: the environment's fingerprint, this package's code and the moto/botocore
versions name it); a cached one older than `MAX_AGE` or unreadable is seeded again. moto objects
hold a few things pickle refuses (cryptography keys, locks, lambdas as defaultdict factories, the
scheduler's wrappers on the ECS backend): `_Pickler` says how to rebuild each.
"""

from __future__ import annotations

import hashlib
import importlib
import io
import logging
import os
import pickle
import sys
import threading
import time
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from adinsights_ops.config import Environment
    from adinsights_ops.sandbox.blueprint import Blueprint
    from adinsights_ops.sandbox.scheduler import EcsScheduler

MAX_AGE = 6 * 3600.0  # seconds: past this a cached blueprint is seeded again (its dates age)
_log = logging.getLogger(__name__)


@attrs.frozen
class Seeded:
    """A captured blueprint: moto's state, the scheduler's records and the Blueprint, pickled."""

    data: bytes

    @property
    def size(self) -> int:
        return len(self.data)


# -- what a blueprint depends on ------------------------------------------------------------------

# The environment's fields the blueprint seed reads (blueprint*.py); the others (dbt, Airbyte,
# release, notifications, cost, infra, where the file lives) are seeded after a restore or never.
SEEDED_FROM = (
    "name",
    "account",
    "region",
    "sandbox",
    "ecs",
    "registry",
    "repositories",
    "rds_instance",
    "kms_key",
    "state_bucket",
    "health_base_url",
)


def fingerprint(env: Environment, *extra: object) -> str:
    """A name for the blueprint `env` seeds: `<environment>-<digest of its seeded fields, this
    package's code and moto's version>`."""
    digest = hashlib.sha256()
    for field in SEEDED_FROM:
        digest.update(f"{field}={getattr(env, field)!r}\n".encode())
    for item in extra:
        digest.update(f"{item!r}\n".encode())
    digest.update(_code_version().encode())
    return f"{env.name}-{digest.hexdigest()[:24]}"


_code: list[str] = []


def _code_version() -> str:
    """This package's sources and the versions of what pickles are made of."""
    if not _code:
        from importlib.metadata import version

        digest = hashlib.sha256()
        here = Path(__file__).resolve().parent
        for path in sorted(here.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        for package in ("moto", "botocore", "cryptography"):
            digest.update(f"{package}={version(package)}".encode())
        digest.update(sys.version.encode())
        _code.append(digest.hexdigest())
    return _code[0]


# -- capture and restore ---------------------------------------------------------------------------


def capture(blueprint: Blueprint, scheduler: EcsScheduler | None = None) -> Seeded:
    """moto's state now (every backend in use), with `blueprint` and the scheduler's records."""
    from moto.core.base_backend import BackendDict, backend_lock

    with backend_lock:
        backends = {
            _where(backend_dict): (dict(backend_dict), _extra_attributes(backend_dict))
            for backend_dict in BackendDict._instances  # type: ignore[misc]
        }
        records = scheduler.records() if scheduler is not None else None
        out = io.BytesIO()
        _Pickler(out).dump({"backends": backends, "records": records, "blueprint": blueprint})
    return Seeded(out.getvalue())


def restore(seeded: Seeded, scheduler: EcsScheduler | None = None) -> Blueprint:
    """Replace moto's state with `seeded`'s (and the scheduler's records); returns its Blueprint."""
    from moto.core.base_backend import BackendDict, backend_lock

    state = pickle.loads(seeded.data)
    with backend_lock:
        for backend_dict in BackendDict._instances:  # type: ignore[misc]
            backend_dict.clear()
        BackendDict._instances.clear()  # type: ignore[misc]
        for (module, attribute), (accounts, extra) in state["backends"].items():
            backend_dict = getattr(importlib.import_module(module), attribute)
            backend_dict.update(accounts)
            for key, value in extra.items():
                setattr(backend_dict, key, value)
            BackendDict._instances.append(backend_dict)  # type: ignore[misc]
    if scheduler is not None and state["records"] is not None:
        scheduler.adopt(state["records"])
    blueprint: Blueprint = state["blueprint"]
    return blueprint


class SnapshotError(Exception):
    """moto's state could not be captured; the caller seeds as before."""


_STANDARD = {"backend", "service_name", "_use_boto3_regions", "_additional_regions", "_id"}


def _extra_attributes(backend_dict: Any) -> dict[str, Any]:
    """State some services keep on their BackendDict itself (S3: which account owns a bucket)."""
    return {k: v for k, v in vars(backend_dict).items() if k not in _STANDARD}


def _where(backend_dict: Any) -> tuple[str, str]:
    """(module, attribute) of a moto BackendDict: where restore() finds it again."""
    home = sys.modules.get(backend_dict.backend.__module__)
    modules = [home] if home is not None else []
    modules += [m for n, m in list(sys.modules.items()) if n.startswith("moto.") and m is not home]
    for module in modules:
        for attribute, value in vars(module).items():
            if value is backend_dict:
                return module.__name__, attribute
    raise SnapshotError(f"moto's {backend_dict.service_name} backends are nowhere to be found")


# -- what pickle cannot do alone -------------------------------------------------------------------


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        if kind is _LOCK_TYPE:
            return threading.Lock, ()
        if kind is _RLOCK_TYPE:
            return threading.RLock, ()
        if isinstance(obj, defaultdict) and (
            kind is not defaultdict or _is_lambda(obj.default_factory)
        ):
            # moto's subclasses take other arguments; lambdas do not pickle
            factory = obj.default_factory
            factory = _factory_like(factory) if _is_lambda(factory) else factory
            state = vars(obj) if kind is not defaultdict else None
            return _new_defaultdict, (kind, factory), state, None, iter(obj.items())
        if hasattr(obj, "private_bytes") and _is_private_key(obj):
            return _load_private_key, (_private_pem(obj),)
        if hasattr(obj, "public_bytes") and _is_certificate(obj):
            return _load_certificate, (_certificate_pem(obj),)
        wrapped = _scheduler_wrapped(obj)
        if wrapped:
            reduced = obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
            state = {k: v for k, v in reduced[2].items() if k not in wrapped}
            return (*reduced[:2], state, *reduced[3:])
        return NotImplemented


_LOCK_TYPE = type(threading.Lock())
_RLOCK_TYPE = type(threading.RLock())


def _is_lambda(factory: Any) -> bool:
    return isinstance(factory, types.LambdaType) and factory.__name__ == "<lambda>"


def _factory_like(factory: Any) -> Callable[[], Any]:
    """A picklable factory that makes what the lambda `factory` makes (an empty container)."""
    made = factory()
    if type(made) in (dict, list, set, int, str) and not made:
        return type(made)
    if type(made) is defaultdict and not made:
        inner = made.default_factory
        return _Factory(_factory_like(inner) if _is_lambda(inner) else inner)
    raise SnapshotError(f"a defaultdict whose factory makes {type(made).__name__}")


def _new_defaultdict(kind: type[defaultdict[Any, Any]], factory: Any) -> defaultdict[Any, Any]:
    made = defaultdict.__new__(kind)
    defaultdict.__init__(made, factory)
    return made


@attrs.frozen
class _Factory:
    """defaultdict(inner), as a picklable factory."""

    inner: Any

    def __call__(self) -> defaultdict[Any, Any]:
        return defaultdict(self.inner)


def _is_private_key(obj: Any) -> bool:
    from cryptography.hazmat.primitives.asymmetric import types as key_types

    return isinstance(obj, key_types.PrivateKeyTypes)  # type: ignore[arg-type]


def _private_pem(key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem


def _load_private_key(pem: bytes) -> Any:
    """The key `_private_pem` wrote. RSA validation is skipped: it guards against crafted keys
    (this one was valid when written, in the user's own cache folder) and costs 50 ms for a 2048-bit
    key, 350 ms for a 4096-bit one, which made it most of a restore."""
    from cryptography.hazmat.primitives import serialization

    return serialization.load_pem_private_key(
        pem, password=None, unsafe_skip_rsa_key_validation=True
    )


def _is_certificate(obj: Any) -> bool:
    from cryptography import x509

    return isinstance(obj, x509.Certificate)


def _certificate_pem(certificate: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    pem: bytes = certificate.public_bytes(serialization.Encoding.PEM)
    return pem


def _load_certificate(pem: bytes) -> Any:
    from cryptography import x509

    return x509.load_pem_x509_certificate(pem)


def _scheduler_wrapped(obj: Any) -> frozenset[str]:
    """The attributes the simulated scheduler set on a moto backend (it installs them again)."""
    from adinsights_ops.sandbox.scheduler import WRAPPED

    instance_vars = getattr(obj, "__dict__", None)
    if type(instance_vars) is dict and WRAPPED[-1] in instance_vars:
        return frozenset(WRAPPED)
    return frozenset()


# -- kept per process and in the cache folder ------------------------------------------------------

_in_process: dict[str, Seeded] = {}
_in_process_lock = threading.Lock()


def cached(key: str) -> Seeded | None:
    """The snapshot named `key`: this process's, else the cache folder's when young and readable."""
    with _in_process_lock:
        found = _in_process.get(key)
    if found is not None:
        return found
    path = _path(key)
    try:
        if time.time() - path.stat().st_mtime > MAX_AGE:
            return None
        seeded = Seeded(path.read_bytes())
    except OSError:
        return None
    with _in_process_lock:
        _in_process[key] = seeded
    return seeded


def keep(key: str, seeded: Seeded) -> None:
    """Keep `seeded` for this process and in the cache folder (written whole or not at all)."""
    with _in_process_lock:
        _in_process[key] = seeded
    path = _path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_bytes(seeded.data)
        partial.replace(path)
        _prune(path.parent)
    except OSError as exc:  # a read-only cache folder only costs the next command a seed
        _log.debug("sandbox blueprint not cached at %s: %s", path, exc)


def forget_environment(name: str) -> bool:
    """Drop every kept blueprint of environment `name`; True when there was one."""
    prefix = f"{name}-"
    with _in_process_lock:
        dropped = [key for key in _in_process if key.startswith(prefix)]
        for key in dropped:
            del _in_process[key]
    found = bool(dropped)
    folder = _path(prefix).parent
    for path in folder.glob(f"{prefix}*.pickle") if folder.is_dir() else ():
        path.unlink(missing_ok=True)
        found = True
    return found


def _prune(folder: Path) -> None:
    """Remove blueprints too old to be restored (older code's and versions' among them)."""
    for path in folder.glob("*.pickle"):
        try:
            if time.time() - path.stat().st_mtime > MAX_AGE:
                path.unlink()
        except OSError:
            continue


def forget(key: str) -> None:
    """Drop a snapshot that failed to restore, here and in the cache folder."""
    with _in_process_lock:
        _in_process.pop(key, None)
    _path(key).unlink(missing_ok=True)


def _path(key: str) -> Path:
    from adinsights_ops.paths import cache_home

    return cache_home() / "sandbox-blueprints" / f"{key}.pickle"


def restore_or_seed(
    key: str,
    seed: Callable[[], Blueprint],
    scheduler: EcsScheduler | None = None,
) -> Blueprint:
    """Restore the blueprint named `key` when one is kept, else `seed()` it and keep it.

    `seed` creates the blueprint in moto (through any client) and settles the scheduler. A snapshot
    that cannot be read back is forgotten and the blueprint seeded; one that cannot be captured
    only costs the next sandbox its seed.
    """
    seeded = cached(key)
    if seeded is not None:
        try:
            return restore(seeded, scheduler)
        except Exception as exc:  # any unreadable snapshot: seed instead
            _log.debug("sandbox blueprint %s not restored (%s): seeding", key, exc)
            forget(key)
            _empty_moto()
    blueprint = seed()
    try:
        keep(key, capture(blueprint, scheduler))
    except (SnapshotError, pickle.PicklingError, TypeError, AttributeError) as exc:
        _log.debug("sandbox blueprint %s not captured: %s", key, exc)
    return blueprint


def _empty_moto() -> None:
    from moto.core.base_backend import BackendDict

    BackendDict.reset()
