"""--web.config.file: TLS, client certificates and basic auth, with certificates made by the test."""

from __future__ import annotations

import ssl
import subprocess
import sys
import time
from pathlib import Path

import bcrypt
import httpx
import pytest
import trustme
import yaml

from tests.processes import ROOT, run_module, wait_for

pytestmark = pytest.mark.e2e


def hashed(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1, and a client certificate, all from trustme."""
    root = tmp_path_factory.mktemp("pki")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    client = ca.issue_cert("prometheus@example.test")
    files = {
        "ca": root / "ca.pem",
        "cert": root / "server.pem",
        "key": root / "server.key",
        "client": root / "client.pem",
    }
    ca.cert_pem.write_to_path(files["ca"])
    server.cert_chain_pems[0].write_to_path(files["cert"])
    server.private_key_pem.write_to_path(files["key"])
    client.private_key_and_cert_chain_pem.write_to_path(files["client"])
    other = trustme.CA().issue_cert("intruder@example.test")  # signed by a CA the server does not trust
    files["intruder"] = root / "intruder.pem"
    other.private_key_and_cert_chain_pem.write_to_path(files["intruder"])
    return files


def client_context(pki: dict[str, Path], cert: str | None = None, max_version: ssl.TLSVersion | None = None):
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    if cert:
        context.load_cert_chain(str(pki[cert]))
    if max_version:
        context.maximum_version = max_version
    return context


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def test_basic_auth_over_tls_and_reload_of_users(tmp_path: Path, pki: dict[str, Path]) -> None:
    web = write(
        tmp_path / "web.yml",
        {
            "tls_server_config": {"cert_file": str(pki["cert"]), "key_file": str(pki["key"]), "min_version": "TLS12"},
            "basic_auth_users": {"prometheus": hashed("s3cret-pass")},
        },
    )
    with run_module(["--web.config.file", str(web)], tmp_path / "exporter.log") as exporter:
        url = exporter.url.replace("http://", "https://")
        verify = client_context(pki)
        wait_for(f"{url}/healthz", exporter, verify=verify)  # open to all: probes carry no credentials
        assert httpx.get(f"{url}/metrics", verify=verify).status_code == 401
        assert httpx.get(f"{url}/metrics", verify=verify).headers["www-authenticate"].startswith("Basic")
        assert httpx.get(f"{url}/metrics", verify=verify, auth=("prometheus", "wrong")).status_code == 401
        assert httpx.get(f"{url}/metrics", verify=verify, auth=("nobody", "s3cret-pass")).status_code == 401
        ok = httpx.get(f"{url}/metrics", verify=verify, auth=("prometheus", "s3cret-pass"))
        assert ok.status_code == 200
        for path in ("/", "/readyz", "/api/jobs", "/terminals.csv"):
            assert httpx.get(f"{url}{path}", verify=verify).status_code == 401, path
        assert httpx.post(f"{url}/-/reload", verify=verify).status_code == 401
        with pytest.raises(httpx.HTTPError):  # plain HTTP on the TLS port gets no answer
            httpx.get(f"{exporter.url}/metrics", timeout=5)

        # a new user in the file works without a restart (re-read on change)
        data = yaml.safe_load(web.read_text())
        data["basic_auth_users"]["grafana"] = hashed("another-pass")
        time.sleep(1.1)
        write(web, data)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if httpx.get(f"{url}/metrics", verify=verify, auth=("grafana", "another-pass")).status_code == 200:
                break
            time.sleep(0.3)
        else:
            pytest.fail("the new user was not picked up")
    assert "s3cret-pass" not in exporter.log()


def test_mutual_tls_required(tmp_path: Path, pki: dict[str, Path]) -> None:
    web = write(
        tmp_path / "web.yml",
        {
            "tls_server_config": {
                "cert_file": str(pki["cert"]),
                "key_file": str(pki["key"]),
                "client_auth_type": "RequireAndVerifyClientCert",
                "client_ca_file": str(pki["ca"]),
                "min_version": "TLS13",
            }
        },
    )
    with run_module(["--web.config.file", str(web)], tmp_path / "exporter.log") as exporter:
        url = exporter.url.replace("http://", "https://")
        wait_for(f"{url}/healthz", exporter, verify=client_context(pki, "client"))
        assert httpx.get(f"{url}/metrics", verify=client_context(pki, "client")).status_code in (200, 503)
        for context in (client_context(pki), client_context(pki, "intruder")):
            with pytest.raises(httpx.HTTPError):  # no certificate, or one from an unknown CA: no handshake
                httpx.get(f"{url}/metrics", verify=context, timeout=5)
        with pytest.raises(httpx.HTTPError):  # below min_version
            httpx.get(f"{url}/metrics", verify=client_context(pki, "client", ssl.TLSVersion.TLSv1_2), timeout=5)


@pytest.mark.parametrize(
    ("web", "message"),
    [
        ({"basic_auth_users": {"a": "plaintext-password"}}, "basic_auth_users.a: not a bcrypt hash"),
        ({"tls_server_config": {"cert_file": "/nonexistent.pem", "key_file": "/nonexistent.key"}}, "no such file"),
        ({"tls_server_cofig": {}}, "tls_server_cofig: unknown key"),
        (
            {"tls_server_config": {"cert_file": "x", "key_file": "y", "client_auth_type": "Sometimes"}},
            "client_auth_type",
        ),
    ],
)
def test_bad_web_config_is_a_clear_error_and_exit_2(tmp_path: Path, web: dict, message: str) -> None:
    path = write(tmp_path / "web.yml", web)
    result = subprocess.run(
        [sys.executable, "-m", "leo_exporter", "--web.config.file", str(path), "--web.listen-address", "127.0.0.1:0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "plaintext-password" not in result.stderr
