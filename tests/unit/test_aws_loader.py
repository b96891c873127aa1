"""One botocore data loader per process, shared by every session `adinsights_ops.aws` makes."""

from __future__ import annotations

import threading
from pathlib import Path

import boto3
import moto
import pytest

from adinsights_ops.aws import Aws, new_session, shared_loader


def test_sessions_share_one_loader_with_a_fresh_sessions_search_paths() -> None:
    fresh = boto3.Session(region_name="eu-west-1")._session.get_component("data_loader")
    sessions: list[boto3.Session] = []

    def make() -> None:
        for _ in range(10):
            sessions.append(new_session(region_name="eu-west-1"))

    threads = [threading.Thread(target=make) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    loader = shared_loader()
    assert len(sessions) == 40
    assert {id(s._session.get_component("data_loader")) for s in sessions} == {id(loader)}
    # boto3 appends its own data path on every Session: it is there once, in a fresh one's place.
    assert list(loader.search_paths) == list(fresh.search_paths)
    assert "cloudformation" in sessions[-1].get_available_resources()


def test_a_data_path_setting_gets_a_loader_of_its_own(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AWS_DATA_PATH", str(tmp_path))
    session = new_session(region_name="eu-west-1")
    loader = session._session.get_component("data_loader")
    assert loader is not shared_loader()
    assert loader.search_paths[0] == str(tmp_path)


def test_clients_of_two_aws_objects_are_their_own_and_keep_their_hooks() -> None:
    seen: list[str] = []
    counted = Aws(
        region="eu-west-1", hooks=(("before-call", lambda model, **_: seen.append(model.name)),)
    )
    plain = Aws(region="eu-west-1")
    with moto.mock_aws():
        plain.client("s3").list_buckets()
        counted.client("s3").list_buckets()
    assert counted.client("s3") is not plain.client("s3")
    assert seen == ["ListBuckets"]


def test_seeding_clients_are_made_once_per_aws_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from adinsights_ops.sandbox.inprocess import seed_client

    first = seed_client("ecs", "eu-west-1")
    assert seed_client("ecs", "eu-west-1") is first
    assert seed_client("ecs", "us-east-1") is not first
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another")
    other = seed_client("ecs", "eu-west-1")
    assert other is not first
    assert other._request_signer._credentials.access_key == "another"
    assert first.meta.config.retries["mode"] == "legacy"  # no retry quota carried between seeds
