"""Read-only access to the customer's object storage (S3, GCS, Azure) through fsspec.

Only listing and reading: nothing here writes or deletes. Credentials come from the provider's
standard chain (for S3: `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE`, an instance
or task role; `GOOGLE_APPLICATION_CREDENTIALS` for GCS; `AZURE_STORAGE_*` for Azure) unless
keys are given as secret settings. Every failure is a `StorageError` naming the bucket, the key
and the permission that was missing.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, cast
from urllib.parse import urlsplit

from tap_profile_export.errors import SettingError, TapProfileExportError

#: The fsspec package, the tap's extra and the permissions to list / read, per URL scheme.
PROVIDERS: dict[str, tuple[str, str, str, str]] = {
    "s3": ("s3fs", "s3", "s3:ListBucket", "s3:GetObject"),
    "gs": ("gcsfs", "gcs", "storage.objects.list", "storage.objects.get"),
    "gcs": ("gcsfs", "gcs", "storage.objects.list", "storage.objects.get"),
    "az": ("adlfs", "azure", "Storage Blob Data Reader (list)", "Storage Blob Data Reader"),
    "abfs": ("adlfs", "azure", "Storage Blob Data Reader (list)", "Storage Blob Data Reader"),
}
#: Bytes fsspec fetches per read of an object (sequential reads: one request per block).
BLOCK_SIZE = 8 << 20


class StorageError(TapProfileExportError):
    """Listing or reading the bucket failed (names bucket, key and missing permission)."""


@dataclass(frozen=True)
class StoredObject:
    """One object: its key (relative to the bucket) and size in bytes."""

    key: str
    size: int


class ObjectStore:
    """One bucket (or container) opened read-only through fsspec."""

    def __init__(self, setting: str, url: str, *, endpoint_url: str | None = None,
                 options: dict[str, Any] | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in PROVIDERS or not parts.netloc:
            raise SettingError(setting, f"{url!r} is not a bucket URL (use s3://bucket, "
                                        "gs://bucket or az://container)")
        self.setting = setting
        self.scheme = parts.scheme
        self.bucket = parts.netloc
        #: Key prefix inside the bucket the URL points at ('' for the bucket itself).
        self.root = parts.path.strip("/")
        self.url = f"{self.scheme}://{self.bucket}" + (f"/{self.root}" if self.root else "")
        self._endpoint_url = endpoint_url
        self._options = dict(options or {})
        self._fs: Any = None

    @property
    def fs(self) -> Any:
        """The fsspec filesystem (made on first use: its package is an optional extra)."""
        if self._fs is None:
            package, extra, _, _ = PROVIDERS[self.scheme]
            try:
                importlib.import_module(package)
            except ImportError:
                raise SettingError(self.setting, f"{self.scheme}:// needs {package}: pip "
                                                 f"install 'tap-profile-export[{extra}]'"
                                   ) from None
            import fsspec

            options = dict(self._options)
            if self._endpoint_url:
                options.setdefault("client_kwargs", {})["endpoint_url"] = self._endpoint_url
            # A fresh instance: fsspec's instance cache would share listings between runs.
            self._fs = fsspec.filesystem(self.scheme, skip_instance_cache=True, **options)
        return self._fs

    def _path(self, key: str) -> str:
        return f"{self.bucket}/{key}".rstrip("/")

    def where(self, key: str) -> str:
        """`s3://bucket/key`, for messages."""
        return f"{self.scheme}://{self.bucket}/{key}"

    def listdir(self, key: str) -> list[str]:
        """Names of the "folders" right under `key` (empty when there is none)."""
        return [name for name, is_dir in self._ls(key) if is_dir]

    def objects(self, key: str) -> list[StoredObject]:
        """Objects right under `key`, sorted by key (empty when there is none)."""
        prefix = key.strip("/")
        return sorted((StoredObject(f"{prefix}/{name}", size) for name, size in
                       self._ls_objects(key)), key=lambda o: o.key)

    def _entries(self, key: str) -> list[dict[str, Any]]:
        _, _, list_permission, _ = PROVIDERS[self.scheme]
        try:
            return cast(list[dict[str, Any]], self.fs.ls(self._path(key), detail=True,
                                                          refresh=True))
        except FileNotFoundError:
            if not self._bucket_exists():
                raise StorageError(f"{self.where('')}: NoSuchBucket: the bucket does not exist "
                                   f"(check {self.setting})") from None
            return []
        except PermissionError as exc:
            raise StorageError(f"{self.where(key)}: AccessDenied listing it: the tap's "
                               f"credentials need {list_permission} on bucket {self.bucket} "
                               f"({_reason(exc)})") from None
        except OSError as exc:
            raise StorageError(f"{self.where(key)}: listing failed ({_reason(exc)})") from None

    def _ls(self, key: str) -> list[tuple[str, bool]]:
        return [(_name(entry), entry.get("type") == "directory") for entry in self._entries(key)]

    def _ls_objects(self, key: str) -> list[tuple[str, int]]:
        return [(_name(entry), int(entry.get("size") or 0)) for entry in self._entries(key)
                if entry.get("type") != "directory"]

    def _bucket_exists(self) -> bool:
        """Whether the bucket is there (a folder not written yet lists as not found too)."""
        try:
            self.fs.ls(self.bucket, refresh=True)
        except FileNotFoundError:
            return False
        except OSError:
            pass  # cannot tell: an empty listing stands
        return True

    def open(self, key: str) -> IO[bytes]:
        """Stream one object (read-only); errors name the key and the missing permission."""
        try:
            file = self.fs.open(self._path(key), "rb", block_size=BLOCK_SIZE,
                                cache_type="readahead")
        except (FileNotFoundError, PermissionError) as exc:
            raise self._read_error(key, exc) from None
        return cast(IO[bytes], _ObjectReader(file, lambda exc: self._read_error(key, exc)))

    def _read_error(self, key: str, exc: OSError) -> StorageError:
        _, _, _, read_permission = PROVIDERS[self.scheme]
        if isinstance(exc, FileNotFoundError):
            return StorageError(f"{self.where(key)}: NoSuchKey: the object is gone (deleted by "
                                f"a lifecycle rule or by hand?)")
        return StorageError(f"{self.where(key)}: AccessDenied reading it: the tap's "
                            f"credentials need {read_permission} on bucket {self.bucket} "
                            f"({_reason(exc)})")


class _ObjectReader(io.RawIOBase):
    """An fsspec file whose "not found" and "denied" (raised at the first read, not at open)
    become `StorageError`s; other errors (the network) pass, for the download retry."""

    def __init__(self, file: Any, error: Callable[[OSError], StorageError]) -> None:
        self._file = file
        self._error = error

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return int(self._file.seek(offset, whence))

    def tell(self) -> int:
        return int(self._file.tell())

    def readinto(self, buffer: Any) -> int:
        try:
            data = self._file.read(len(buffer))
        except (FileNotFoundError, PermissionError) as exc:
            raise self._error(exc) from None
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        self._file.close()
        super().close()


def _name(entry: dict[str, Any]) -> str:
    return str(entry["name"]).rstrip("/").rsplit("/", 1)[-1]


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__
