"""Fixtures for the pipeline's tests: a real S3 API (moto's server on 127.0.0.1) for bucket scans."""

import pytest


@pytest.fixture(scope="module")
def s3_endpoint():
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is a test dependency")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_ENDPOINT_URL", f"http://{host}:{port}")
        patch.setenv("AWS_ACCESS_KEY_ID", "testing")
        patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def bucket(s3_endpoint, request):
    boto3 = pytest.importorskip("boto3")
    name = f"uploads-{request.node.name.lower().replace('_', '-')[:40]}"
    client = boto3.client("s3")
    client.create_bucket(Bucket=name)
    return client, name
