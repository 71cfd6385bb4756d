"""`python -m sandbox --s3-port`: the S3 API starts with the vendor sandbox and its endpoint
and users' keys are printed as one `s3={json}` line, which the demo script reads."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import boto3
import pytest
from botocore.exceptions import ClientError

from sandbox.objectstore import STATE_BUCKET, WAREHOUSE_BUCKET


def test_s3_port_starts_the_store_and_prints_endpoint_and_users() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "--api-port", "0",
                             "--download-port", "0", "--s3-port", "0"],
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stderr is not None
        lines = []
        for line in proc.stderr:
            lines.append(line)
            if line.startswith("sandbox api="):
                break
        s3 = json.loads(next(line for line in lines if line.startswith("s3="))[3:])
        assert {"tap", "meltano", "admin"} <= set(s3["users"])
        meltano = boto3.client("s3", endpoint_url=s3["endpoint_url"],
                               aws_access_key_id=s3["users"]["meltano"]["AWS_ACCESS_KEY_ID"],
                               aws_secret_access_key=s3["users"]["meltano"]["AWS_SECRET_ACCESS_KEY"],
                               region_name=s3["users"]["meltano"]["AWS_DEFAULT_REGION"])
        meltano.put_object(Bucket=STATE_BUCKET, Key="probe", Body=b"{}")
        with pytest.raises(ClientError, match="AccessDenied"):  # IAM is enforced
            meltano.put_object(Bucket=WAREHOUSE_BUCKET, Key="probe", Body=b"{}")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
