"""Where a report's resources are served: the one place the URL layout is spelled.

The API's routes serve these paths (a test checks each against the app's router); the worker and the CLI use
them with `Settings.base_url` to print absolute links.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass

API_PREFIX = "/api/v1"


@dataclass(frozen=True)
class ReportLinks:
    status: str
    report: str
    page: str
    pdf: str
    notebooks: str  # append "/<component>.ipynb"

    @classmethod
    def of(cls, report_id: uuid.UUID | str, base: str = "") -> ReportLinks:
        api = f"{base}{API_PREFIX}/reports/{report_id}"
        return cls(status=f"{api}/status", report=api, page=f"{base}/reports/{report_id}", pdf=f"{api}/pdf",
                   notebooks=f"{api}/notebooks")

    def notebook(self, component: str) -> str:
        return f"{self.notebooks}/{component}.ipynb"

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
