"""A real S3 API on loopback: moto's server with IAM enforced, for Braze exports to the
customer's bucket, BATCH files and Meltano's state backend.

Every request is signed with the access key of an IAM user and checked against that user's
policy, as AWS does: a user without `s3:GetObject` gets `AccessDenied` for real. The store is
started by the sandbox on first use (`Sandbox.s3`), one per process (`S3Store.shared`).
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

REGION = "us-east-1"
#: The bucket the sandbox's Braze account exports to, and the one for BATCH files and state.
BRAZE_BUCKET = "braze-exports"
WAREHOUSE_BUCKET = "warehouse-batch"
STATE_BUCKET = "meltano-state"
BUCKETS = (BRAZE_BUCKET, WAREHOUSE_BUCKET, STATE_BUCKET)
_SHARED: S3Store | None = None
_SHARED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Credentials:
    """One IAM user's access key (moto's: not a secret anywhere)."""

    user: str
    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        """The standard AWS variables for this key (what s3fs, boto3 and Meltano read)."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id,
                "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
                "AWS_DEFAULT_REGION": REGION}


def _policy(*statements: tuple[list[str], list[str]]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": actions, "Resource": resources}
        for given in statements for actions, resources in _for_moto(*given)]})


def _policy_for_moto(document: str) -> str:
    """An AWS policy document as moto needs it to read it as AWS does: each statement as it
    is, followed by `_for_moto`'s extra statements for its actions (same effect and
    conditions, no Sid)."""
    policy = json.loads(document)
    given = policy["Statement"]
    statements = []
    for statement in given if isinstance(given, list) else [given]:
        statements.append(statement)
        base = {k: v for k, v in statement.items() if k != "Sid"}
        for actions, resources in _for_moto(_as_list(statement.get("Action", [])),
                                            _as_list(statement.get("Resource", [])))[1:]:
            statements.append({**base, "Action": actions, "Resource": resources})
    return json.dumps({**policy, "Statement": statements})


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


#: IAM action (what AWS checks) → the names moto checks instead (HeadBucket: every version;
#: the others: 5.2.6, which checks them under their operation's name).
MOTO_OPERATIONS: dict[str, tuple[str, ...]] = {
    "s3:ListBucket": ("s3:HeadBucket", "s3:ListObjectsV2", "s3:ListObjects"),
    "s3:PutObject": ("s3:CreateMultipartUpload", "s3:UploadPart",
                     "s3:CompleteMultipartUpload"),
}


def _for_moto(actions: list[str], resources: list[str]) -> list[tuple[list[str], list[str]]]:
    """One statement as AWS reads it, plus what moto needs to read it the same way.

    - AWS authorizes HeadBucket with `s3:ListBucket` (its API reference, "Permissions"); moto
      checks an action `s3:HeadBucket`, which IAM does not have. s3fs probes a bucket with
      HeadBucket before it writes (and tries CreateBucket when the probe fails).
    - AWS authorizes DeleteObjects with `s3:DeleteObject` on each object; moto checks the whole
      request against the bucket's ARN first, then denies every key. Meltano's S3 state
      backend deletes its lock object with DeleteObjects (HTTP 200 either way: a lock left
      behind would go unnoticed).
    - moto 5.2.6 checks some requests under their operation's name instead of the IAM action
      AWS uses (`MOTO_OPERATIONS`); DeleteObjects it checks as `s3:DeleteObjects` on the
      bucket (5.2.5: `s3:DeleteObject`).
    """
    extra: list[tuple[list[str], list[str]]] = []
    operations = [op for action in actions for op in MOTO_OPERATIONS.get(action, ())]
    if operations:
        extra.append((operations, resources))
    if "s3:DeleteObject" in actions:
        extra.append((["s3:DeleteObject", "s3:DeleteObjects"],
                      [r.removesuffix("/*") for r in resources]))
    return [(actions, resources), *extra]


def _bucket(name: str) -> list[str]:
    return [f"arn:aws:s3:::{name}"]


def _objects(name: str) -> list[str]:
    return [f"arn:aws:s3:::{name}/*"]


#: The IAM users of the store and what each may do.
POLICIES: dict[str, str] = {
    # Braze's own writer: puts export files into the customer's bucket.
    "braze": _policy((["s3:PutObject"], _objects(BRAZE_BUCKET)),
                     (["s3:ListBucket"], _bucket(BRAZE_BUCKET))),
    # The tap: read-only on the Braze bucket (the README's policy), read-write on the BATCH
    # bucket (the SDK writes files there as multipart uploads; the tap aborts an unfinished one).
    "tap": _policy((["s3:ListBucket"], _bucket(BRAZE_BUCKET)),
                   (["s3:GetObject"], _objects(BRAZE_BUCKET)),
                   (["s3:ListBucket"], _bucket(WAREHOUSE_BUCKET)),
                   (["s3:GetObject", "s3:PutObject", "s3:AbortMultipartUpload"],
                    _objects(WAREHOUSE_BUCKET))),
    # A tap whose role may list the bucket but not read objects.
    "lister": _policy((["s3:ListBucket"], _bucket(BRAZE_BUCKET))),
    # Meltano's state backend.
    "meltano": _policy((["s3:ListBucket"], _bucket(STATE_BUCKET)),
                       (["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                        _objects(STATE_BUCKET))),
    # The tests' and the demo's view of everything (to check what landed).
    "admin": _policy((["*"], ["*"])),
}


class S3Store:
    """moto's S3 server on loopback, its buckets and IAM users, IAM enforced.

    One running store per process: moto keeps its state in the process, and `start` resets it.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.endpoint_url = ""
        self.users: dict[str, Credentials] = {}
        self._lock = threading.Lock()

    @classmethod
    def shared(cls, host: str = "127.0.0.1", port: int = 0) -> S3Store:
        """The process's store, emptied. moto keeps its buckets, users and the IAM switch per
        process, not per server, so one process has one store; each sandbox resets it."""
        global _SHARED
        with _SHARED_LOCK:
            if _SHARED is None:
                _SHARED = cls(host, port)
                _SHARED.start()
            else:
                _SHARED.reset()
            return _SHARED

    def start(self) -> S3Store:
        """Start the server, then `reset` it."""
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint_url = f"http://{host}:{port}"
        return self.reset()

    def reset(self) -> S3Store:
        """Empty buckets, fresh IAM users and keys, then enforce IAM. moto's backends and its
        auth switch are global to the process: this starts from nothing, unauthenticated until
        set up."""
        self._moto_api("reset-auth", b"inf")
        self._moto_api("reset")
        setup = {"aws_access_key_id": "setup", "aws_secret_access_key": "setup"}
        iam = self._client("iam", **setup)
        self.users = {}
        for name, policy in POLICIES.items():
            iam.create_user(UserName=name)
            iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy",
                                PolicyDocument=policy)
            key = iam.create_access_key(UserName=name)["AccessKey"]
            self.users[name] = Credentials(name, key["AccessKeyId"], key["SecretAccessKey"])
        s3 = self._client("s3", **setup)
        for bucket in BUCKETS:
            s3.create_bucket(Bucket=bucket)
        # From now on every request needs a valid key and a policy that allows it.
        self._moto_api("reset-auth", b"0")
        return self

    def add_user(self, name: str, policy: str) -> Credentials:
        """A new IAM user with `policy` (a JSON policy document) and an access key."""
        admin = self.users["admin"]
        iam = self._client("iam", aws_access_key_id=admin.access_key_id,
                           aws_secret_access_key=admin.secret_access_key)
        iam.create_user(UserName=name)
        iam.put_user_policy(UserName=name, PolicyName=f"{name}-policy",
                            PolicyDocument=_policy_for_moto(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        self.users[name] = Credentials(name, key["AccessKeyId"], key["SecretAccessKey"])
        return self.users[name]

    def _moto_api(self, action: str, data: bytes = b"") -> None:
        requests.post(f"{self.endpoint_url}/moto-api/{action}", data=data,
                      timeout=10).raise_for_status()

    def stop(self) -> None:
        """Stop the server."""
        self._server.stop()

    def __enter__(self) -> S3Store:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _client(self, service: str, **keys: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint_url, region_name=REGION,
                            **keys)

    def client(self, user: str = "admin") -> Any:
        """A boto3 S3 client signed with `user`'s key."""
        creds = self.users[user]
        with self._lock:  # boto3's client factory is not thread-safe
            return self._client("s3", aws_access_key_id=creds.access_key_id,
                                aws_secret_access_key=creds.secret_access_key)

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key under `prefix` (as the admin sees them)."""
        paginator = self.client().get_paginator("list_objects_v2")
        return [item["Key"] for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
                for item in page.get("Contents", [])]

    def env(self, user: str = "tap") -> dict[str, str]:
        """Environment for a process acting as `user` against this store."""
        return {**self.users[user].env(), "AWS_ENDPOINT_URL_S3": self.endpoint_url}
