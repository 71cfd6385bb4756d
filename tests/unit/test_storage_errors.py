"""Storage errors in one line: the S3 call and code behind s3fs's bare `OSError`, and the
permissions a BATCH root needs."""

from __future__ import annotations

from typing import Any

from tap_profile_export import storage_errors


class FakeClientError(Exception):
    """What botocore's `ClientError` carries (no botocore import in the tap's error path)."""

    def __init__(self, code: str, operation: str) -> None:
        super().__init__(code)
        self.response: dict[str, Any] = {"Error": {"Code": code}}
        self.operation_name = operation


def s3fs_error(code: str, operation: str) -> PermissionError:
    try:
        raise PermissionError("Access Denied") from FakeClientError(code, operation)
    except PermissionError as exc:
        return exc


def test_an_s3_denial_names_call_code_bucket_and_the_permissions_needed() -> None:
    message = storage_errors.write_failure("s3://b/runs/x/f.json.gz", "s3://b/runs/x",
                                           s3fs_error("AccessDenied", "PutObject"))
    assert message.startswith("s3://b/runs/x/f.json.gz: AccessDenied on PutObject (bucket b); ")
    assert "s3:PutObject on arn:aws:s3:::b/runs/x/*" in message
    assert "s3:ListBucket on arn:aws:s3:::b " in message


def test_a_bucket_root_needs_put_on_every_key() -> None:
    assert "s3:PutObject on arn:aws:s3:::b/* " in storage_errors.s3_write_permissions("s3://b")


def test_other_stores_and_other_errors_are_described_as_raised() -> None:
    assert storage_errors.write_failure("gs://b/f", "gs://b", PermissionError("403 Forbidden")) \
        == "gs://b/f: PermissionError: 403 Forbidden"
    assert storage_errors.write_failure(
        "s3://b/f", "s3://b", FileNotFoundError("The specified bucket does not exist")) \
        == "s3://b/f: FileNotFoundError: The specified bucket does not exist"
