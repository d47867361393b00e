"""Just enough of kustomize to build deploy/kubernetes/ without kubectl.

Supports what the repository's kustomizations use, and fails loudly on anything else:
`resources` (files and directories), `components`, `configMapGenerator` (files, options.labels,
a content-hash name suffix, and renaming references to the ConfigMap in pod specs), `images`
and inline strategic-merge `patches` (including `$patch: delete`). tests/test_deploy_kubernetes.py
compares its output with `kubectl kustomize` whenever kubectl is installed, so the two cannot
drift apart unnoticed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

Obj = dict[str, Any]
KNOWN_KEYS = {"apiVersion", "kind", "resources", "components", "configMapGenerator", "images", "patches"}
# strategic-merge keys of the lists these manifests patch
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name",
              "volumeMounts": "mountPath", "ports": "name"}  # fmt: skip


class Unsupported(Exception):
    pass


def key(obj: Obj) -> tuple[str, str]:
    return obj["kind"], obj["metadata"]["name"]


def build(directory: Path) -> list[Obj]:
    """The objects `kubectl kustomize DIRECTORY` prints (in no particular order)."""
    objects, renames = _accumulate(directory, kind="Kustomization")
    for obj in objects:
        _rename_refs(obj, renames)
    return objects


def _load(path: Path) -> list[Obj]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _accumulate(directory: Path, *, kind: str, base: list[Obj] | None = None) -> tuple[list[Obj], dict[str, str]]:
    spec = yaml.safe_load((directory / "kustomization.yaml").read_text())
    if spec.get("kind", "Kustomization") != kind:
        raise Unsupported(f"{directory}: expected kind {kind}")
    unknown = set(spec) - KNOWN_KEYS
    if unknown:
        raise Unsupported(f"{directory}: kustomize_lite does not know {sorted(unknown)}")
    objects: list[Obj] = [] if base is None else base
    renames: dict[str, str] = {}
    for entry in spec.get("resources", []):
        path = directory / entry
        if path.is_dir():
            sub, sub_renames = _accumulate(path, kind="Kustomization")
            objects.extend(sub)
            renames.update(sub_renames)
        else:
            objects.extend(_load(path))
    for generator in spec.get("configMapGenerator", []):
        if generator.get("behavior", "create") != "create" or set(generator) - {"name", "files", "options"}:
            raise Unsupported(f"{directory}: configMapGenerator {generator}")
        data = {}
        for file in generator["files"]:
            name, _, source = str(file).partition("=")
            data[name] = (directory / (source or name)).read_text()
        name = generator["name"]
        hashed = f"{name}-{config_map_hash(name, data)}"
        renames[name] = hashed
        metadata: Obj = {"name": hashed}
        labels = generator.get("options", {}).get("labels")
        if labels:
            metadata["labels"] = dict(labels)
        objects.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": data})
    for component in spec.get("components", []):
        objects, sub_renames = _accumulate(directory / component, kind="Component", base=objects)
        renames.update(sub_renames)
    for patch in spec.get("patches", []):
        if set(patch) != {"patch"}:
            raise Unsupported(f"{directory}: only inline strategic-merge patches are supported")
        objects = _apply_patch(objects, yaml.safe_load(patch["patch"]))
    for image in spec.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                _set_image(container, image)
    return objects, renames


def config_map_hash(name: str, data: dict[str, str]) -> str:
    """A 10-character content hash as the name suffix. Not byte-for-byte kustomize's own (the
    kubectl comparison masks the suffix): what matters is that a changed config changes the
    name, and that every reference follows the rename."""
    encoded = json.dumps({"data": data, "kind": "ConfigMap", "name": name}, sort_keys=True)
    return hashlib.sha256(encoded.encode()).hexdigest()[:10].translate(str.maketrans("013ae", "ghkmt"))


def _apply_patch(objects: list[Obj], patch: Obj) -> list[Obj]:
    target = key(patch)
    matches = [o for o in objects if key(o) == target]
    if len(matches) != 1:
        raise Unsupported(f"patch target {target} matches {len(matches)} objects")
    if patch.get("$patch") == "delete":
        return [o for o in objects if key(o) != target]
    merged = _merge(matches[0], patch)
    return [merged if key(o) == target else o for o in objects]


def _merge(base: Any, patch: Any, field: str = "") -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        out = copy.deepcopy(base)
        for k, v in patch.items():
            if v is None:
                out.pop(k, None)
            else:
                out[k] = _merge(base.get(k), v, k) if k in base else copy.deepcopy(v)
        return out
    if isinstance(base, list) and isinstance(patch, list) and field in MERGE_KEYS:
        merge_key = MERGE_KEYS[field]
        out = copy.deepcopy(base)
        for item in patch:
            index = next((i for i, b in enumerate(out) if b.get(merge_key) == item.get(merge_key)), None)
            if index is None:
                out.append(copy.deepcopy(item))
            else:
                out[index] = _merge(out[index], item, "")
        return out
    return copy.deepcopy(patch)


def _pod_spec(obj: Obj) -> Obj | None:
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if obj["kind"] == "Pod":
        return obj["spec"]
    return None


def _containers(obj: Obj) -> list[Obj]:
    spec = _pod_spec(obj)
    return [] if spec is None else [*spec.get("initContainers", []), *spec.get("containers", [])]


def _set_image(container: Obj, image: Obj) -> None:
    name, tag, digest = container["image"], None, None
    if "@" in name:
        name, digest = name.split("@", 1)
    elif ":" in name.rsplit("/", 1)[-1]:
        name, tag = name.rsplit(":", 1)
    if name != image["name"]:
        return
    name = image.get("newName", name)
    if "digest" in image:
        container["image"] = f"{name}@{image['digest']}"
    elif "newTag" in image or tag:
        container["image"] = f"{name}:{image.get('newTag', tag)}"
    elif digest:
        container["image"] = f"{name}@{digest}"
    else:
        container["image"] = name


def _rename_refs(obj: Obj, renames: dict[str, str]) -> None:
    spec = _pod_spec(obj)
    if spec is None:
        return
    for volume in spec.get("volumes", []):
        if "configMap" in volume:
            volume["configMap"]["name"] = renames.get(volume["configMap"]["name"], volume["configMap"]["name"])
    for container in _containers(obj):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                ref = source["configMapRef"]
                ref["name"] = renames.get(ref["name"], ref["name"])
        for env in container.get("env", []):
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                ref["name"] = renames.get(ref["name"], ref["name"])
