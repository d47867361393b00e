"""Secrets are redacted in every encoding they take on the wire: plain, URL-encoded, Base64 of
`id:secret`, JSON-escaped; a token endpoint that echoes the form body leaks none of them."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import quote, quote_plus

import httpx
import pytest
import respx

from leo_exporter.app import Exporter
from leo_exporter.logs import REDACTED, JsonFormatter, LogfmtFormatter, Redactor
from leo_exporter.providers import parse_config
from leo_exporter.status import views

SECRET = 'p@ss/w0rd+ "quoted" \\ é&x=1'
FORMS = {
    "plain": SECRET,
    "url-encoded": quote(SECRET, safe=""),
    "form-encoded": quote_plus(SECRET, safe=""),
    "json-escaped": json.dumps(SECRET)[1:-1],
    "json-escaped, not ASCII-only": json.dumps(SECRET, ensure_ascii=False)[1:-1],
    "basic auth": base64.b64encode(f"cid:{SECRET}".encode()).decode(),
}


@pytest.mark.parametrize("form", list(FORMS))
def test_every_encoding_of_a_secret_is_redacted(form: str) -> None:
    redact = Redactor()
    account = parse_config(
        {
            "accounts": [
                {"provider": "oneweb", "name": "ow", "client_id": "cid", "client_secret": SECRET, "api_url": "http://x"}
            ]
        }
    ).accounts[0]
    redact.add(*account.secrets())
    text = f"the provider said: {FORMS[form]} (end)"
    assert redact(text) == f"the provider said: {REDACTED} (end)"


@pytest.mark.anyio
async def test_a_token_endpoint_echoing_the_form_body_leaks_the_secret_nowhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = parse_config(
        {
            "accounts": [
                {
                    "provider": "starlink",
                    "name": "north",
                    "client_id": "cid",
                    "client_secret": SECRET,
                    "api_url": "https://sl.test/api/public/v2",
                    "auth_url": "https://sl.test/token",
                }
            ]
        }
    )
    exporter = Exporter(config)
    job = exporter.scheduler.jobs["north/account"]
    caplog.set_level(logging.DEBUG)
    with respx.mock() as mock:
        mock.post("https://sl.test/token").mock(
            side_effect=lambda request: httpx.Response(
                400, json={"error": "invalid_client", "error_description": f"bad form {request.content.decode()}"}
            )
        )
        ok, _ = await exporter.scheduler.run_once(job)
    await exporter.aclose()
    assert not ok
    assert "client_secret=<redacted>" in job.status.last_error  # the echo arrived, redacted
    outputs = {
        "last error": job.status.last_error,
        "api/jobs": json.dumps(views.job_view(job.status)),
        "logfmt": "\n".join(LogfmtFormatter().format(r) for r in caplog.records),
        "json log": "\n".join(JsonFormatter().format(r) for r in caplog.records),
    }
    for where, text in outputs.items():
        for form, value in FORMS.items():
            assert value not in text, (where, form)
