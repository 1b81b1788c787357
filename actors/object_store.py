"""Model versions in S3-compatible object storage: the source behind ``s3://bucket/prefix``.

The path poller consults this source for every model whose ``base_path`` is an
``s3://`` URL; local folders never come here. ``scan(model)`` does what a local scan
does, against the store, and hands back local folders the loaders can open:

1. One listing of every object under ``prefix/`` (paginated ``ListObjectsV2``). The first
   path segment after the prefix is the version folder; non-numeric ones are ignored, as
   on disk.
2. The half-copy rule, the object-store equivalent of the local one: a version counts once
   it holds its platform's artifact (``saved_model.pb``, ``model.onnx``, ... directly in the
   version folder) and its listing (every key, size and ETag) is unchanged between two
   consecutive polls. So that existing exports load at once, a version whose newest
   object is older than ``settle_seconds`` (by the store's ``LastModified``) counts on
   first sight. An uploader that writes the artifact last is always safe.
3. The model's version policy picks the wanted versions among the complete ones.
4. A wanted version not yet cached is downloaded into a temporary folder beside its final
   place and renamed into place once every object arrived, so a loader never sees half
   a version. A failed download is the same situation as an unreadable store.
5. Cached versions that are no longer wanted (deleted from the store, or pushed out by the
   policy) are deleted from the cache. A version already loaded keeps serving until the
   version manager unloads it: the loaders read the files at load time.

The cache is a private folder created (lazily) under ``cache_dir`` and removed by
``close()``, so several servers (``--workers``) can share one ``--model_cache_dir``; it is
not reused across restarts. Inside it: ``<sha1 of base_path>/<version>``.

A store that cannot be reached, a missing bucket, denied access or a failed download
answer ``send=False``: the poller sends nothing and loaded versions keep serving. A prefix
with no version at all (bucket present) answers an empty set, which unloads the model,
like an empty local folder. The poller logs each situation once when it begins.

Credentials, endpoint and region come from the standard AWS environment variables and
files (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``,
``AWS_REGION``/``AWS_DEFAULT_REGION``, ``~/.aws``), read by boto3. Every method blocks
(network and disk): the poller calls ``scan`` from a worker thread, one at a time.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from actors.version_policy import aspired_versions, version_number
from config.model_config import ModelSettings
from servables.version_folder import PLATFORM_FILES

log = logging.getLogger(__name__)

SCHEME = "s3://"
Listing = tuple[tuple[str, int, str], ...]  # (key relative to the version folder, size, ETag)
State = Literal["ok", "missing", "unreadable", "empty", "waiting"]


def is_object_store_url(base_path: str) -> bool:
    return base_path.startswith(SCHEME)


@dataclasses.dataclass(frozen=True, slots=True)
class S3Url:
    bucket: str
    prefix: str  # "" or ending in "/"

    @classmethod
    def parse(cls, url: str) -> S3Url:
        """``s3://bucket/some/prefix`` -> S3Url("bucket", "some/prefix/"); ValueError if malformed."""
        if not is_object_store_url(url):
            raise ValueError(f"'{url}' is not an s3:// URL")
        bucket, _, prefix = url[len(SCHEME) :].partition("/")
        if not bucket:
            raise ValueError(f"'{url}' names no bucket (expected s3://bucket/prefix)")
        prefix = prefix.strip("/")
        return cls(bucket, prefix + "/" if prefix else "")


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class StoreScan:
    """What one scan found. ``send`` False: send nothing, keep what is loaded."""

    state: State
    detail: str = ""
    send: bool = True
    versions: Mapping[int, str] = dataclasses.field(default_factory=dict)  # version -> local dir


@dataclasses.dataclass(slots=True)
class _Version:
    folder: str  # as the store spells it: "00000123" keeps its zeros
    listing: list[tuple[str, int, str]]
    newest: float  # newest LastModified, seconds since the epoch


def default_client() -> Any:
    """An S3 client configured by the standard AWS environment and files."""
    import boto3  # boto3 is slow to import; only servers with an s3:// model pay for it
    from botocore.config import Config

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    # Few retries and bounded timeouts: a dead store must not hold the poller for minutes.
    config = Config(
        connect_timeout=5, read_timeout=30, retries={"max_attempts": 2, "mode": "standard"}
    )
    return boto3.session.Session().client("s3", region_name=region, config=config)


class ObjectStoreSource:
    """Lists, downloads and frees the versions of ``s3://`` base paths (blocking calls)."""

    def __init__(
        self,
        *,
        cache_dir: str | None = None,
        settle_seconds: float = 2.0,
        clock: Callable[[], float] = time.time,
        client_factory: Callable[[], Any] = default_client,
    ) -> None:
        self._parent = cache_dir or tempfile.gettempdir()
        self._settle_seconds = settle_seconds
        self._clock = clock  # wall clock: compared with the store's LastModified
        self._client_factory = client_factory
        self._client: Any = None
        self._root: str | None = None
        self._lock = threading.Lock()  # close() may run while a scan is in its thread
        self._seen: dict[tuple[str, int], Listing] = {}  # (base path, version) -> last listing
        self._cached: dict[str, set[int]] = {}  # base path -> versions in the cache
        self._pending = False

    @property
    def root(self) -> str | None:
        """The private cache folder, once created."""
        return self._root

    def pending(self) -> bool:
        """True while some version was seen in the store but is not yet complete."""
        return self._pending

    def cache_path(self, base_path: str, version: int) -> str:
        return os.path.join(self._model_dir(base_path), str(version))

    def scan(self, model: ModelSettings) -> StoreScan:
        url = S3Url.parse(model.base_path)
        try:
            objects = self._list(url)
        except Exception as error:  # noqa: BLE001 - every store failure keeps loaded versions
            return self._failure(error)
        versions = _group(url, objects)
        present = {v: entry for v, entry in versions.items() if self._complete(model, v, entry)}
        self._forget_seen(model.base_path, versions)
        self._pending = any(key not in self._cached_keys() for key in self._seen)
        if not present:
            if versions:
                return StoreScan(state="waiting", detail="no complete version yet", send=False)
            self._free(model.base_path, keep=())
            return StoreScan(state="empty", detail="no versions found")
        wanted = aspired_versions(model.version_policy, present)
        try:
            for version in wanted:
                self._download(url, model.base_path, version, versions[version])
        except Exception as error:  # noqa: BLE001 - a failed download keeps loaded versions
            return self._failure(error, doing="download")
        self._free(model.base_path, keep=wanted)
        return StoreScan(
            state="ok",
            detail="found versions",
            versions={v: self.cache_path(model.base_path, v) for v in wanted},
        )

    def retain(self, base_paths: Iterable[str]) -> None:
        """Free the cache of every base path not in ``base_paths`` (models left the config)."""
        keep = set(base_paths)
        for base_path in list(self._cached):
            if base_path not in keep:
                self._free(base_path, keep=())
                del self._cached[base_path]
        self._seen = {key: value for key, value in self._seen.items() if key[0] in keep}

    def close(self) -> None:
        """Remove the private cache folder (at server stop; loaded versions are in memory)."""
        with self._lock:
            if self._root is not None:
                shutil.rmtree(self._root, ignore_errors=True)
                self._root = None
            self._cached.clear()

    # --- the store ---------------------------------------------------------------------

    def _s3(self) -> Any:
        if self._client is None:
            self._client = self._client_factory()
        return self._client

    def _list(self, url: S3Url) -> list[dict[str, Any]]:
        paginator = self._s3().get_paginator("list_objects_v2")
        objects: list[dict[str, Any]] = []
        for page in paginator.paginate(Bucket=url.bucket, Prefix=url.prefix):
            objects.extend(page.get("Contents", ()))
        return objects

    def _failure(self, error: Exception, doing: str = "list") -> StoreScan:
        code = _error_code(error)
        if code == "NoSuchBucket":
            return StoreScan(state="missing", detail="bucket does not exist", send=False)
        reason = f"{type(error).__name__}: {error}"
        return StoreScan(state="unreadable", detail=f"cannot {doing} ({reason})", send=False)

    # --- the half-copy rule ------------------------------------------------------------

    def _complete(self, model: ModelSettings, version: int, entry: _Version) -> bool:
        key = (model.base_path, version)
        if version in self._cached.get(model.base_path, ()):
            return True
        names = {relative for relative, _, _ in entry.listing}
        if not any(name in names for name in PLATFORM_FILES.get(model.platform, ())):
            self._seen.pop(key, None)
            return False
        listing = tuple(sorted(entry.listing))
        previous = self._seen.get(key)
        self._seen[key] = listing
        settled = self._clock() - entry.newest >= self._settle_seconds
        return listing == previous or (previous is None and settled)

    def _forget_seen(self, base_path: str, versions: Mapping[int, _Version]) -> None:
        for key in [k for k in self._seen if k[0] == base_path and k[1] not in versions]:
            del self._seen[key]

    def _cached_keys(self) -> set[tuple[str, int]]:
        return {(path, v) for path, cached in self._cached.items() for v in cached}

    # --- the cache ---------------------------------------------------------------------

    def _model_dir(self, base_path: str) -> str:
        with self._lock:
            if self._root is None:
                os.makedirs(self._parent, exist_ok=True)
                self._root = tempfile.mkdtemp(prefix="aioserving-cache-", dir=self._parent)
                log.info("object-store model cache: %s", self._root)
            root = self._root
        digest = hashlib.sha1(base_path.encode(), usedforsecurity=False).hexdigest()[:16]
        return os.path.join(root, digest)

    def _download(self, url: S3Url, base_path: str, version: int, entry: _Version) -> None:
        cached = self._cached.setdefault(base_path, set())
        if version in cached:
            return
        final = self.cache_path(base_path, version)
        partial = os.path.join(os.path.dirname(final), f".partial-{version}-{uuid.uuid4().hex}")
        os.makedirs(partial)
        started = time.monotonic()
        try:
            folder = f"{url.prefix}{entry.folder}/"
            for relative, _size, _etag in entry.listing:
                target = os.path.normpath(os.path.join(partial, relative))
                if not target.startswith(partial + os.sep):
                    log.warning("skipping object %s%s: it leaves its folder", folder, relative)
                    continue
                os.makedirs(os.path.dirname(target), exist_ok=True)
                self._s3().download_file(url.bucket, folder + relative, target)
            shutil.rmtree(final, ignore_errors=True)
            os.rename(partial, final)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        cached.add(version)
        size = sum(size for _, size, _ in entry.listing)
        log.info(
            "downloaded %s%s version %d (%d objects, %d bytes) in %.2fs",
            SCHEME,
            f"{url.bucket}/{url.prefix}",
            version,
            len(entry.listing),
            size,
            time.monotonic() - started,
        )

    def _free(self, base_path: str, keep: Iterable[int]) -> None:
        cached = self._cached.get(base_path)
        if not cached:
            return
        for version in sorted(cached - set(keep)):
            shutil.rmtree(self.cache_path(base_path, version), ignore_errors=True)
            cached.discard(version)
            log.info("freed the cache of %s version %d", base_path, version)


def _group(url: S3Url, objects: Iterable[Mapping[str, Any]]) -> dict[int, _Version]:
    """Objects under the prefix, grouped by numeric version folder (others ignored)."""
    versions: dict[int, _Version] = {}
    for item in objects:
        key = str(item["Key"])
        folder, _, relative = key[len(url.prefix) :].partition("/")
        version = version_number(folder)
        if version is None or not relative or relative.endswith("/"):
            continue  # not a version folder, or a folder marker
        entry = versions.setdefault(version, _Version(folder=folder, listing=[], newest=0.0))
        entry.listing.append((relative, int(item.get("Size", 0)), str(item.get("ETag", ""))))
        modified = item.get("LastModified")
        if modified is not None:
            entry.newest = max(entry.newest, modified.timestamp())
    return versions


def _error_code(error: BaseException) -> str:
    """botocore's ``ClientError`` code (``NoSuchBucket``, ``AccessDenied``), else ""."""
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""
