"""The shipped image, Compose and Kubernetes files keep the exporter read-only (no lifecycle or
admin API), as the command line does by default."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from leo_exporter.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
FLAGS = ("--web.enable-lifecycle", "--web.enable-admin-api")


def test_the_command_line_is_read_only_by_default() -> None:
    args = build_parser().parse_args([])
    assert args.lifecycle is False and args.admin_api is False
    args = build_parser().parse_args(list(FLAGS))
    assert args.lifecycle is True and args.admin_api is True


def exporter_arguments() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith(("ENTRYPOINT", "CMD")):
            found[f"Dockerfile {line.split()[0]}"] = json.loads(line.split(None, 1)[1])
    compose = yaml.safe_load((ROOT / "deploy" / "compose" / "compose.yaml").read_text())
    for name, service in compose["services"].items():
        if "leo-exporter" in str(service.get("image", "")):
            found[f"compose {name}"] = [*service.get("command", []), *service.get("entrypoint", [])]
    for path in (ROOT / "deploy" / "kubernetes").rglob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            spec = (doc or {}).get("spec", {}).get("template", {}).get("spec", {})
            for container in spec.get("containers", []):
                if "leo-exporter" in container.get("image", ""):
                    found[f"{path.relative_to(ROOT)} {container['name']}"] = [
                        *container.get("args", []),
                        *container.get("command", []),
                    ]
    return found


def test_shipped_files_start_the_exporter_read_only() -> None:
    found = exporter_arguments()
    assert any(k.startswith("Dockerfile") for k in found) and any(k.startswith("compose") for k in found)
    assert sum(k.startswith("deploy/kubernetes") for k in found) >= 2  # the Deployment and the StatefulSet
    for where, arguments in found.items():
        assert not [a for a in arguments if a.split("=", 1)[0] in FLAGS], where
