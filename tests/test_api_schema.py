"""Schemathesis generates requests from /openapi.json against the live server; none may end
in a server error (5xx) or a response that contradicts the schema."""

import subprocess
import sys
from pathlib import Path

from .conftest import LiveServer


def test_schemathesis_finds_no_server_error(live_server: LiveServer) -> None:
    st = Path(sys.executable).parent / "st"
    result = subprocess.run(
        [str(st), "run", f"{live_server.url}/openapi.json", "--checks",
         "not_a_server_error,status_code_conformance,response_schema_conformance",
         "--max-examples", "25", "--workers", "1", "--seed", "7", "--no-color"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
