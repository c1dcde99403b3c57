"""The docs stay true to the code: every setting is documented, every documented setting exists."""

import re

from workbench.config import REPO_ROOT, Settings


def test_settings_table_matches_the_settings_class() -> None:
    text = (REPO_ROOT / "docs" / "settings.md").read_text()
    documented = set(re.findall(r"`WORKBENCH_([A-Z_]+)`", text))
    assert documented == {name.upper() for name in Settings.model_fields}


def test_readme_starts_with_the_two_commands() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    head = readme[: readme.index("\n## ", readme.index("scripts/test"))]
    assert "scripts/up" in head and "scripts/test" in head
    assert (REPO_ROOT / ".ci" / "run").read_text().count("scripts/test") == 1
