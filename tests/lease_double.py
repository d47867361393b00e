"""A test double of the Kubernetes API's Lease resource (`coordination.k8s.io/v1`), over loopback.

Only what leader election uses, with the API server's own rules: optimistic concurrency on
`metadata.resourceVersion` (a PUT naming an older version is 409 Conflict, a PUT naming none is
422 Invalid: Leases allow no unconditional update), 409 AlreadyExists on a second create, 404
NotFound as a `Status` object, strict field validation (an unknown field is 400), MicroTime
timestamps normalised to microseconds, empty fields omitted. The server never computes
`leaseTransitions`: the clients do, as with the real API.

Each client authenticates with its own bearer token (a pod's service account token), which is how
the double can "partition" one replica: its requests are held unanswered until it heals.
`tests/test_ha_leases.py` checks the shapes against the official client's V1Lease model.
"""

from __future__ import annotations

import datetime
import itertools
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import orjson
import uvicorn
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import free_port

GROUP = "coordination.k8s.io"
PREFIX = f"/apis/{GROUP}/v1/namespaces/{{namespace}}/leases"
# The Lease schema, as the API documents it (checked against kubernetes_asyncio's models in the tests).
LEASE_FIELDS = {"apiVersion", "kind", "metadata", "spec"}
SPEC_FIELDS = {
    "acquireTime",
    "holderIdentity",
    "leaseDurationSeconds",
    "leaseTransitions",
    "preferredHolder",
    "renewTime",
    "strategy",
}
MICROTIME_FIELDS = {"acquireTime", "renewTime"}
WRITABLE_METADATA = {"name", "namespace", "resourceVersion", "labels", "annotations", "uid", "generateName"}


def microtime(text: str) -> str:
    """Parse an RFC 3339 time as the API server does and write it back as a MicroTime."""
    parsed = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError("no time zone")
    return parsed.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status(code: int, reason: str, message: str, name: str = "") -> Response:
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name, "group": GROUP, "kind": "leases"},
        "code": code,
    }
    return Response(orjson.dumps(body), status_code=code, media_type="application/json")


class Invalid(Exception):
    def __init__(self, code: int, reason: str, message: str) -> None:
        super().__init__(message)
        self.code, self.reason, self.message = code, reason, message


@dataclass
class Change:
    """One accepted write: which lease, who wrote it, the holder it names and when."""

    name: str
    client: str
    holder: str
    at: float


@dataclass
class LeaseDouble:
    tokens: dict[str, str]  # bearer token -> client name (a replica)
    leases: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    partitioned: set[str] = field(default_factory=set)  # client names whose requests go unanswered
    changes: list[Change] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1000))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---- the app
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route(PREFIX, self._collection, methods=["GET", "POST"]),
                Route(PREFIX + "/{name}", self._item, methods=["GET", "PUT"]),
            ]
        )

    async def _client(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        client = self.tokens.get(token.strip()) if scheme.lower() == "bearer" else None
        if client is not None:
            with self._lock:
                self.requests[client] = self.requests.get(client, 0) + 1
            while True:  # a partition: the request is not answered while it lasts (a set, no event)
                if client not in self.partitioned:
                    break
                await anyio.sleep(0.05)
        return client

    async def _collection(self, request: Request) -> Response:
        if await self._client(request) is None:
            return status(401, "Unauthorized", "Unauthorized")
        namespace = request.path_params["namespace"]
        if request.method == "GET":
            with self._lock:
                items = [lease for (ns, _), lease in sorted(self.leases.items()) if ns == namespace]
            body = {"kind": "LeaseList", "apiVersion": f"{GROUP}/v1", "metadata": {}, "items": items}
            return Response(orjson.dumps(body), media_type="application/json")
        try:
            body = self._valid_body(await request.body(), namespace)
            name = body["metadata"].get("name", "")
            if not name:
                raise Invalid(422, "Invalid", "Lease.coordination.k8s.io is invalid: metadata.name: Required value")
            with self._lock:
                if (namespace, name) in self.leases:
                    raise Invalid(409, "AlreadyExists", f'leases.{GROUP} "{name}" already exists')
                stored = self._store(namespace, name, body, None, self.tokens_of(request))
        except Invalid as bad:
            return status(bad.code, bad.reason, bad.message, body_name(request))
        return Response(orjson.dumps(stored), status_code=201, media_type="application/json")

    async def _item(self, request: Request) -> Response:
        if await self._client(request) is None:
            return status(401, "Unauthorized", "Unauthorized")
        namespace, name = request.path_params["namespace"], request.path_params["name"]
        if request.method == "GET":
            with self._lock:
                lease = self.leases.get((namespace, name))
            if lease is None:
                return status(404, "NotFound", f'leases.{GROUP} "{name}" not found', name)
            return Response(orjson.dumps(lease), media_type="application/json")
        try:
            body = self._valid_body(await request.body(), namespace)
            meta = body["metadata"]
            if meta.get("name") != name:
                raise Invalid(
                    400, "BadRequest", f"the name of the object ({meta.get('name')}) does not match the name on the URL"
                )
            with self._lock:
                current = self.leases.get((namespace, name))
                if current is None:
                    raise Invalid(404, "NotFound", f'leases.{GROUP} "{name}" not found')
                version = meta.get("resourceVersion")
                if not version:
                    raise Invalid(
                        422,
                        "Invalid",
                        f'Lease.{GROUP} "{name}" is invalid: metadata.resourceVersion: Invalid value: 0x0: '
                        "must be specified for an update",
                    )
                if version != current["metadata"]["resourceVersion"]:
                    raise Invalid(
                        409,
                        "Conflict",
                        f'Operation cannot be fulfilled on leases.{GROUP} "{name}": the object has been '
                        "modified; please apply your changes to the latest version and try again",
                    )
                stored = self._store(namespace, name, body, current, self.tokens_of(request))
        except Invalid as bad:
            return status(bad.code, bad.reason, bad.message, name)
        return Response(orjson.dumps(stored), media_type="application/json")

    def tokens_of(self, request: Request) -> str:
        return self.tokens.get(request.headers.get("authorization", "").partition(" ")[2].strip(), "")

    def _valid_body(self, raw: bytes, namespace: str) -> dict[str, Any]:
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise Invalid(400, "BadRequest", "the body of the request was in an unknown format") from None
        if not isinstance(body, dict):
            raise Invalid(400, "BadRequest", "the body of the request was in an unknown format")
        unknown = sorted(set(body) - LEASE_FIELDS) + [
            f"spec.{k}" for k in sorted(set(body.get("spec") or {}) - SPEC_FIELDS)
        ]
        if unknown:
            raise Invalid(400, "BadRequest", f"strict decoding error: unknown field {', '.join(map(repr, unknown))}")
        if body.get("kind", "Lease") != "Lease" or body.get("apiVersion", f"{GROUP}/v1") != f"{GROUP}/v1":
            raise Invalid(400, "BadRequest", "the API version in the data does not match the expected API version")
        meta = body.setdefault("metadata", {})
        if meta.get("namespace", namespace) != namespace:
            raise Invalid(400, "BadRequest", "the namespace of the provided object does not match the namespace sent")
        spec = {k: v for k, v in (body.get("spec") or {}).items() if v is not None}
        for key in MICROTIME_FIELDS & set(spec):
            try:
                spec[key] = microtime(spec[key])
            except (TypeError, ValueError):
                raise Invalid(422, "Invalid", f"spec.{key}: Invalid value: {spec[key]!r}: not a MicroTime") from None
        for key in ("leaseDurationSeconds", "leaseTransitions"):
            value = spec.get(key)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise Invalid(400, "BadRequest", f"spec.{key}: expected an integer")
        if spec.get("leaseDurationSeconds", 1) <= 0:
            raise Invalid(422, "Invalid", "spec.leaseDurationSeconds: Invalid value: must be greater than 0")
        if spec.get("leaseTransitions", 0) < 0:
            raise Invalid(422, "Invalid", "spec.leaseTransitions: Invalid value: must be greater than or equal to 0")
        body["spec"] = spec
        return body

    def _store(
        self, namespace: str, name: str, body: dict[str, Any], current: dict[str, Any] | None, client: str
    ) -> dict[str, Any]:
        meta = {k: v for k, v in body["metadata"].items() if k in WRITABLE_METADATA and v not in (None, {}, "")}
        if current is None:
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        else:
            meta["uid"] = current["metadata"]["uid"]
            meta["creationTimestamp"] = current["metadata"]["creationTimestamp"]
        meta.update(name=name, namespace=namespace, resourceVersion=str(next(self._versions)))
        stored = {"kind": "Lease", "apiVersion": f"{GROUP}/v1", "metadata": meta, "spec": body["spec"]}
        self.leases[(namespace, name)] = stored
        holder = body["spec"].get("holderIdentity", "")
        self.changes.append(Change(name, client, holder, datetime.datetime.now(datetime.UTC).timestamp()))
        return stored

    # ---- what tests look at
    def holder(self, name: str, namespace: str = "leo") -> str:
        with self._lock:
            lease = self.leases.get((namespace, name))
        return "" if lease is None else lease["spec"].get("holderIdentity", "")

    def kubeconfig(self, path: Path, url: str, token: str) -> Path:
        """A kubeconfig that reaches this double as the client of `token`."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "double", "cluster": {"server": url}}],
            "users": [{"name": "replica", "user": {"token": token}}],
            "contexts": [{"name": "double", "context": {"cluster": "double", "user": "replica", "namespace": "leo"}}],
            "current-context": "double",
        }
        path.write_text(yaml.safe_dump(config))
        return path


def body_name(request: Request) -> str:
    return str(request.path_params.get("name", ""))


@contextmanager
def serve(double: LeaseDouble) -> Iterator[str]:
    """Serve the double on a free loopback port in a thread; yields its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(double.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the Lease double did not start")
        threading.Event().wait(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        double.partitioned.clear()
        server.should_exit = True
        thread.join(10)
