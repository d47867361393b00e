"""What the front costs at rest (issue #25, front memory): its processes do not load httpx's
command-line tool (rich, click's help, pygments), about 5.5 MB of resident memory that every
process paid for a tool it never runs. Measured figures are in docs/reliability.md."""

from __future__ import annotations

import subprocess
import sys

from tests.processes import ROOT


def test_the_command_does_not_load_httpx_cli_and_httpx_still_works() -> None:
    code = (
        "import sys\n"
        "from leo_exporter.launch import skip_httpx_cli\n"
        "skip_httpx_cli()\n"
        "import httpx, leo_exporter.cli, leo_exporter.front\n"
        "assert httpx.AsyncClient and httpx.Response(200, text='ok').text == 'ok'\n"
        "print(sorted(m for m in ('rich', 'pygments', 'httpx._main') if sys.modules.get(m) is not None))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
