"""The palaestrAI bridge's tests run in their own environment (palaestrAI pins gymnasium 1.0).

``make test`` runs them there (see docs/bridges/palaestrai.md); an environment without
palaestrAI does not collect them, and says so at the end of the session.
"""

from __future__ import annotations

import importlib.util

HAS_PALAESTRAI = importlib.util.find_spec("palaestrai") is not None
collect_ignore_glob = [] if HAS_PALAESTRAI else ["test_palaestrai*.py"]


def pytest_terminal_summary(terminalreporter) -> None:
    if not HAS_PALAESTRAI:
        terminalreporter.write_line(
            "tests/adapters/test_palaestrai*.py not collected: palaestrai is not installed "
            "here; `make test` runs them in .venv-palaestrai"
        )
