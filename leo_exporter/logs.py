"""Logging in logfmt or JSON, with secrets redacted from every line as a last line of defence."""

from __future__ import annotations

import base64
import json
import logging
import sys
import time
from typing import Any
from urllib.parse import quote, quote_plus

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "color_message"}
REDACTED = "<redacted>"


def encodings(secret: str) -> set[str]:
    """The forms a secret takes on the wire and in our own output: as is, URL-encoded (a token
    endpoint that echoes the form body), JSON-escaped (a JSON log line, an echoed JSON body)."""
    forms = {
        secret,
        quote(secret, safe=""),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    forms |= {form.replace("%", "%25") for form in set(forms) if "%" in form}  # encoded twice
    return forms


def basic_credentials(user: str, secret: str) -> str:
    """Base64 of `user:secret`, as an HTTP Basic Authorization header carries it."""
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


class Redactor:
    """Holds every secret value the config brought in, in each of its encodings; replaces them
    wherever they appear (longest first, so an encoding is not half-replaced by a shorter one)."""

    def __init__(self) -> None:
        self.secrets: set[str] = set()
        self._ordered: list[str] = []

    def add(self, *values: str) -> None:
        for value in values:
            if value and len(value) >= 4:
                self.secrets.update(form for form in encodings(value) if len(form) >= 4)
        self._ordered = sorted(self.secrets, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


REDACT = Redactor()


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
        "level": record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    fields.update((k, v) for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_"))
    if record.exc_info and record.exc_info[1] is not None:
        exc = record.exc_info[1]
        fields["error"] = f"{type(exc).__name__}: {exc}"
    return fields


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' ="\n\t'):
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    return text


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = " ".join(f"{k}={_logfmt_value(v)}" for k, v in _fields(record).items())
        return REDACT(line)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return REDACT(json.dumps(_fields(record), default=str))


def setup_logging(level: str = "info", fmt: str = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, root.level))
