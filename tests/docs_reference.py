"""docs/cli_reference.py, importable from the tests (docs/ is no package)."""

import importlib.util
from pathlib import Path

_path = Path(__file__).resolve().parent.parent / "docs" / "cli_reference.py"
_spec = importlib.util.spec_from_file_location("cli_reference", _path)
assert _spec is not None and _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
reference = _module.reference
