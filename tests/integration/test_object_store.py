"""Models in S3-compatible object storage: a real server polling a real S3 server on loopback.

The store is moto's standalone server (``ThreadedMotoServer``) bound to an ephemeral port
in this process; the server under test reaches it through the standard AWS environment
variables and boto3. One round trip, step by step: v1 uploaded and served; v2 half
uploaded (no artifact yet) and not loaded; v2 completed and swapped in, v1's cache freed;
every version deleted and the model unloaded with its cache empty; v3 uploaded; the store
stopped, the situation logged once, and v3 still answering.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from tests.integration.server_process import ServerProcess, run_server_expecting_failure

BUCKET = "models"
PREFIX = "team/half_plus_two"
PREDICT = "/v1/models/default:predict"


@pytest.fixture(scope="module")
def store() -> Iterator[tuple[ThreadedMotoServer, Any, str]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    environment = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_REGION": "us-east-1",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in environment.items():
            patch.setenv(name, value)  # read by boto3 here and in the server process
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        try:
            yield server, client, endpoint
        finally:
            server.stop()  # idempotent enough: the last test may have stopped it already


def upload(client: Any, model: Path, version: int, *, skip: tuple[str, ...] = ()) -> None:
    for file in sorted(model.rglob("*")):
        relative = file.relative_to(model).as_posix()
        if file.is_file() and relative not in skip:
            client.upload_file(str(file), BUCKET, f"{PREFIX}/{version}/{relative}")


def delete(client: Any, version: int) -> None:
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{version}/")
    for item in listed.get("Contents", ()):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])


def available(server: ServerProcess) -> set[int]:
    """Versions in state AVAILABLE (unloaded ones stay listed as END, as in TF Serving)."""
    status, body = server.http("GET", "/v1/models/default")
    if status != 200:
        return set()
    return {int(v["version"]) for v in body["model_version_status"] if v["state"] == "AVAILABLE"}


def cached_versions(cache_parent: Path) -> set[str]:
    """Version folders in the server's private cache (``<parent>/aioserving-cache-*/<hash>/N``)."""
    return {p.name for p in cache_parent.glob("aioserving-cache-*/*/*") if p.is_dir()}


def test_s3_round_trip_with_swap_unload_and_unreachable_store(
    store: tuple[ThreadedMotoServer, Any, str], testdata: Path, tmp_path: Path
) -> None:
    moto, client, _endpoint = store
    model = testdata / "saved_model_half_plus_two_cpu" / "00000123"
    cache = tmp_path / "cache"
    upload(client, model, 1)
    server = ServerProcess(
        [
            f"--model_base_path=s3://{BUCKET}/{PREFIX}",
            f"--model_cache_dir={cache}",
            "--file_system_poll_wait_seconds=1",
        ],
        tmp_path,
    )
    try:
        server.wait_until(lambda: available(server) == {1}, what="v1 served")
        assert server.http("POST", PREDICT, {"instances": [1.0, 2.0]}) == (
            200,
            {"predictions": [2.5, 3.0]},
        )
        assert cached_versions(cache) == {"1"}

        # Half uploaded: everything but the artifact. Never loaded, however long it waits.
        upload(client, model, 2, skip=("saved_model.pb",))
        time.sleep(2.5)
        assert available(server) == {1}
        assert cached_versions(cache) == {"1"}

        upload(client, model, 2)
        server.wait_until(lambda: available(server) == {2}, what="swap to v2")
        server.wait_until(lambda: cached_versions(cache) == {"2"}, what="v1's cache freed")
        status, body = server.http(
            "POST", "/v1/models/default/versions/2:predict", {"instances": [5.0]}
        )
        assert (status, body) == (200, {"predictions": [4.5]})

        delete(client, 1)
        delete(client, 2)
        server.wait_until(lambda: available(server) == set(), what="unload of every version")
        server.wait_until(lambda: cached_versions(cache) == set(), what="cache freed")
        assert server.http("POST", PREDICT, {"instances": [1.0]})[0] == 404

        upload(client, model, 3)
        server.wait_until(lambda: available(server) == {3}, what="v3 served")
        moto.stop()
        server.wait_until(lambda: "cannot list" in server.log(), what="unreachable store logged")
        time.sleep(3)  # several more failed polls
        assert server.log().count("cannot list") == 1, server.log()[-3000:]
        assert server.http("POST", PREDICT, {"instances": [1.0]}) == (200, {"predictions": [2.5]})
        assert available(server) == {3}
    finally:
        assert server.stop() == 0
    assert not list(cache.glob("aioserving-cache-*")), "the private cache outlived the server"


def test_other_schemes_are_refused_at_start_up() -> None:
    finished = run_server_expecting_failure(["--model_base_path=gs://bucket/m"])
    assert finished.returncode == 1
    assert "base path 'gs://bucket/m' is not supported" in finished.stderr
