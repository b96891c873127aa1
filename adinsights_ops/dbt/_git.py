"""Git for `dbt.build_at`: check a tag, find schema changes since it, check it out in a worktree.

Import these through `adinsights_ops.dbt`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from adinsights_ops.dbt._results import DbtError
from adinsights_ops.errors import UsageError

GIT_TIMEOUT = 120.0


class UnknownTag(UsageError):
    """The git tag to build does not exist in the repository."""

    def __init__(self, tag: str, repo: str, known: Sequence[str]) -> None:
        hint = f" (newest tags: {', '.join(known)})" if known else " (the repository has no tags)"
        super().__init__(f"no git tag {tag!r} in {repo}{hint}")
        self.tag = tag
        self.repo = repo
        self.known = tuple(known)


class GitFailed(DbtError):
    """A git command that building a prior release needs did not work."""

    def __init__(self, command: Sequence[str], reason: str) -> None:
        super().__init__(f"`git {' '.join(command)}` failed: {reason}")
        self.command = tuple(command)
        self.reason = reason


def _git(repo: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT,
            env={**os.environ, "GIT_TERMINAL_PROMPT": "0"},
            check=False,
        )
    except FileNotFoundError:
        raise GitFailed(args, "git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitFailed(args, f"no answer within {GIT_TIMEOUT:.0f}s") from None
    if check and done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        raise GitFailed(args, lines[-1] if lines else f"exit code {done.returncode}")
    return done


def repository_root(repo_dir: str | os.PathLike[str], *, option: str = "--repo") -> Path:
    """The top folder of the git repository `repo_dir` is in; UsageError (exit 2) when it is not
    a folder, or not in a repository. Reads only."""
    given = str(repo_dir)
    if not given or "\x00" in given:
        raise UsageError(f"{option} {given!r}: expected a git repository folder")
    folder = Path(given).expanduser()
    if not folder.exists():
        raise UsageError(f"{option} {given}: no such folder")
    if not folder.is_dir():
        raise UsageError(f"{option} {given}: not a folder (expected a git repository)")
    shown = _git(folder.resolve(), "rev-parse", "--show-toplevel", check=False)
    if shown.returncode != 0 or not shown.stdout.strip():
        raise UsageError(f"{option} {given}: not in a git repository")
    return Path(shown.stdout.strip()).resolve()


def locate(
    repo_dir: str | os.PathLike[str], project_subdir: str | os.PathLike[str]
) -> tuple[Path, str]:
    """(the repository's top folder, the project's folder relative to it, POSIX style).

    `repo_dir` may be any folder inside the repository; `project_subdir` is relative to it.
    """
    folder = Path(repo_dir).resolve()
    root = repository_root(repo_dir)
    project = (folder / project_subdir).resolve()
    if not project.is_relative_to(root):
        raise UsageError(f"{project} is outside the git repository {root}")
    return root, project.relative_to(root).as_posix()


def tag_ref(repo: Path, tag: str) -> str:
    """`refs/tags/<tag>` once it is known to exist; `UnknownTag` otherwise."""
    if not tag or tag.startswith("-") or any(c.isspace() for c in tag):
        raise UsageError(f"{tag!r} is not a git tag name")
    ref = f"refs/tags/{tag}"
    if _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).returncode:
        newest = _git(repo, "tag", "--sort=-creatordate", check=False).stdout.split()[:5]
        raise UnknownTag(tag, str(repo), newest)
    return ref


def _incremental_at(repo: Path, rev: str, path: str) -> bool:
    shown = _git(repo, "show", f"{rev}:{path}", check=False)
    return shown.returncode == 0 and "incremental" in shown.stdout


def schema_changes(
    *, repo_dir: str | os.PathLike[str], tag: str, project_subdir: str | os.PathLike[str]
) -> tuple[str, ...]:
    """Files under `<project_subdir>/models` changed since `tag` that can change a kept table.

    Views and tables are rebuilt from scratch by every build, so they take the tag's columns
    anyway. Incremental models keep the table HEAD's code built; when the tag's code differs,
    that table may have other columns than the tag's SQL writes. So: every changed schema file
    (.yml/.yaml: columns, contracts, configs) and every changed .sql file that is an incremental
    model at the tag or at HEAD. Deliberately coarse: a needless full refresh costs time, a
    missed one corrupts a table.
    """
    repo, subdir = locate(repo_dir, project_subdir)
    ref = tag_ref(repo, tag)
    models = str(PurePosixPath(subdir) / "models")
    names = _git(repo, "diff", "--name-only", ref, "HEAD", "--", models).stdout.splitlines()
    changed = []
    for name in names:
        if name.endswith((".yml", ".yaml")) or (
            name.endswith(".sql")
            and (_incremental_at(repo, ref, name) or _incremental_at(repo, "HEAD", name))
        ):
            changed.append(name)
    return tuple(changed)


@contextmanager
def worktree(repo: Path, ref: str) -> Iterator[Path]:
    """A detached checkout of `ref` in a temporary folder, removed afterwards whatever happens."""
    holder = Path(tempfile.mkdtemp(prefix="adinsights-dbt-at-"))
    tree = holder / "src"
    try:
        _git(repo, "worktree", "add", "--detach", str(tree), ref)
        yield tree
    finally:
        if tree.exists():
            removed = _git(repo, "worktree", "remove", "--force", str(tree), check=False)
            if removed.returncode != 0:
                shutil.rmtree(tree, ignore_errors=True)
        _git(repo, "worktree", "prune", check=False)
        shutil.rmtree(holder, ignore_errors=True)
