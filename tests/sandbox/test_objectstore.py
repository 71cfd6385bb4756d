"""The sandbox's S3 API authorizes as AWS does where moto reads IAM otherwise (HeadBucket,
DeleteObjects), and two stores in one process each start from nothing."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from sandbox.objectstore import STATE_BUCKET, WAREHOUSE_BUCKET, S3Store


def test_iam_is_read_as_aws_reads_it() -> None:
    with S3Store() as store:
        tap, meltano = store.client("tap"), store.client("meltano")
        tap.head_bucket(Bucket=WAREHOUSE_BUCKET)  # s3:ListBucket allows HeadBucket
        with pytest.raises(ClientError, match="403"):
            meltano.head_bucket(Bucket=WAREHOUSE_BUCKET)
        meltano.put_object(Bucket=STATE_BUCKET, Key="id/lock", Body=b"1")
        # DeleteObjects answers 200 either way: only its Errors tell a refusal.
        answer = meltano.delete_objects(Bucket=STATE_BUCKET,
                                        Delete={"Objects": [{"Key": "id/lock"}]})
        assert not answer.get("Errors") and store.keys(STATE_BUCKET) == []
        store.client().put_object(Bucket=WAREHOUSE_BUCKET, Key="x", Body=b"1")
        answer = meltano.delete_objects(Bucket=WAREHOUSE_BUCKET,
                                        Delete={"Objects": [{"Key": "x"}]})
        assert answer["Errors"][0]["Code"] == "AccessDenied"


def test_a_second_store_in_the_process_starts_fresh() -> None:
    for _ in range(2):
        with S3Store() as store:
            assert store.keys(WAREHOUSE_BUCKET) == []
            store.client("tap").put_object(Bucket=WAREHOUSE_BUCKET, Key="k", Body=b"1")
