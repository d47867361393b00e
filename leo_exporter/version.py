"""What this installation is: version, revision, build date, in exporter-toolkit's `--version` layout.

setuptools-scm writes them into `leo_exporter/_version.py` when the package is built or installed:
from the git tags and commit, or, where the build has no git metadata (the Dockerfile's context),
from the `SETUPTOOLS_SCM_PRETEND_*` variables the Dockerfile sets from its VERSION and REVISION.
A source tree that was never built reports `0.0.0+unknown`.
"""

from __future__ import annotations

import platform
import sys
from types import ModuleType

_built: ModuleType | None
try:
    from leo_exporter import _version as _built
except ImportError:  # a bare source tree: nothing was built
    _built = None

UNKNOWN = "unknown"


def _revision(node: str | None, dirty: bool) -> str:
    """setuptools-scm's node is `g<commit>` for git; the Dockerfile passes `g<REVISION>` the same way."""
    if not node:
        return UNKNOWN
    revision = node[1:] if node.startswith("g") else node
    return f"{revision}-modified" if dirty else revision


version: str = getattr(_built, "version", "0.0.0+unknown")
revision: str = _revision(getattr(_built, "revision", None), bool(getattr(_built, "dirty", False)))
branch: str = getattr(_built, "branch", None) or UNKNOWN
build_date: str = getattr(_built, "build_date", None) or UNKNOWN
python_version: str = platform.python_version()
_MACHINES = {"x86_64": "amd64", "aarch64": "arm64"}
build_platform: str = f"{sys.platform}/{_MACHINES.get(platform.machine(), platform.machine())}"


def version_text(program: str = "leo-exporter") -> str:
    """`--version`: the lines every Prometheus exporter prints (prometheus/common's version.Print)."""
    return (
        f"{program}, version {version} (branch: {branch}, revision: {revision})\n"
        f"  build date:       {build_date}\n"
        f"  python version:   {python_version}\n"
        f"  platform:         {build_platform}"
    )


def version_fields() -> str:
    """The same in one logfmt-friendly value, for the startup log line."""
    return f"(version={version}, branch={branch}, revision={revision})"


def build_context() -> str:
    """Where it was built and runs on, for the startup log line (as Prometheus' own `build_context`)."""
    return f"(python={python_version}, platform={build_platform}, date={build_date})"
