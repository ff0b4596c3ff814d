"""The layers in pyproject.toml hold, and import-linter would notice if they did not: each forbidden edge, added to
a copy of the code, breaks its contract."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(where: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=where, capture_output=True, text=True, check=False)


@pytest.fixture
def copy_of_the_code(tmp_path):
    for package in ("governance", "charters", "accounts", "audit"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_the_code_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "forbidden_import", "contract"),
    [
        ("governance/vault/artefacts.py", "import governance.exits.services", "The vault knows nothing of exits"),
        ("governance/models/vault.py", "import governance.models.exits", "The vault knows nothing of exits"),
        ("governance/vault/selectors.py", "from governance.models import ExitItem", "The vault knows nothing of exits"),
        ("governance/outbox/services.py", "import governance.grants.services", "The outbox knows no domain"),
        ("governance/decisions/limits.py", "import governance.reviews.services", "Decisions and the policy"),
        ("governance/policy/index.py", "import governance.incidents.services", "Decisions and the policy"),
        ("audit/trail.py", "import accounts.models", "Apps are layers"),
        ("charters/services/assets.py", "import governance.models", "Apps are layers"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(copy_of_the_code, module, forbidden_import, contract):
    source = copy_of_the_code / module
    source.write_text(source.read_text() + f"\n{forbidden_import}  # added by the test\n")
    result = lint_imports(copy_of_the_code)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in " ".join(broken.split())
