"""The project's own promises: CITATION.cff is valid, every subpackage is installed, the CLI answers at once."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib

import jsonschema
import yaml

from conftest import REPO


def test_citation_cff_is_valid_against_the_1_2_0_schema():
    schema = json.loads((REPO / "tests" / "data" / "cff-1.2.0.schema.json").read_text())
    citation = yaml.safe_load((REPO / "CITATION.cff").read_text())
    jsonschema.validate(citation, schema)  # raises with the offending field
    assert citation["cff-version"] == "1.2.0"
    assert "AutoAL" in citation["preferred-citation"]["title"]
    assert any("ALScope" in ref["title"] for ref in citation["references"])


def test_every_subpackage_is_listed_in_pyproject():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "alscope_autoal").rglob("__init__.py")}
    on_disk |= {"alscope_autoal.cli." + ".".join(p.parent.relative_to(REPO / "cli").parts)
                for p in (REPO / "cli").rglob("__init__.py") if p.parent != REPO / "cli"}
    assert on_disk | {"alscope_autoal.cli"} <= listed, sorted(on_disk - listed)
    assert config["package-dir"]["alscope_autoal.cli"] == "cli"


def test_help_is_instant_because_torch_is_imported_lazily():
    code = "import sys; import alscope_autoal.cli.app; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_results_folder_is_kept_with_only_its_readme():
    ignored = (REPO / ".gitignore").read_text().splitlines()
    assert "results/*" in ignored and "!results/README.md" in ignored
    assert (REPO / "results" / "README.md").is_file()
