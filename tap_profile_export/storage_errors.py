"""What an fsspec error from object storage means, in one line that names the bucket.

s3fs turns S3's answers into bare `OSError`s (`PermissionError("Access Denied")`) and keeps the
botocore error, which knows the operation and S3's error code, as the cause. No import of
s3fs or botocore here: the attributes are read where they exist.
"""

from __future__ import annotations

from urllib.parse import urlsplit

S3_SCHEMES = frozenset({"s3", "s3a"})
#: S3 error codes that mean "these credentials may not" (HeadBucket answers a bare 403).
DENIED = frozenset({"AccessDenied", "403", "Forbidden"})


def s3_failure(exc: BaseException) -> tuple[str, str] | None:
    """(error code, operation) of the S3 call behind `exc`, if an S3 call failed."""
    for error in (exc, exc.__cause__, exc.__context__):
        operation = getattr(error, "operation_name", None)
        response = getattr(error, "response", None)
        if operation and isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code") or "error")
            return code, str(operation)
    return None


def describe(url: str, exc: BaseException) -> str:
    """`<url>: AccessDenied on PutObject (bucket b)`, or the error as fsspec raised it."""
    parts = urlsplit(url)
    failure = s3_failure(exc) if parts.scheme in S3_SCHEMES else None
    if failure:
        code, operation = failure
        return f"{url}: {code} on {operation} (bucket {parts.netloc})"
    return f"{url}: {type(exc).__name__}: {exc}"


def s3_write_permissions(root: str) -> str:
    """The IAM permissions writing files under the S3 URL `root` needs, as a sentence."""
    parts = urlsplit(root)
    folder = parts.path.strip("/")
    objects = f"arn:aws:s3:::{parts.netloc}/{folder + '/' if folder else ''}*"
    return (f"the credentials in use need s3:PutObject on {objects} and s3:ListBucket on "
            f"arn:aws:s3:::{parts.netloc} (s3fs checks the bucket with HeadBucket before "
            f"writing and tries CreateBucket when it cannot see it: a missing bucket and one "
            f"the credentials may not list look the same)")


def write_failure(url: str, root: str, exc: BaseException) -> str:
    """Why writing `url` (under `root`) failed; for an S3 denial, what the credentials need."""
    message = describe(url, exc)
    failure = s3_failure(exc)
    denied = isinstance(exc, PermissionError) or (failure is not None and failure[0] in DENIED)
    if denied and urlsplit(root).scheme in S3_SCHEMES:
        message += f"; {s3_write_permissions(root)}"
    return message
