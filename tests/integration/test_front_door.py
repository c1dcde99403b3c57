"""The front door: Host headers (DNS rebinding), CORS, security headers, and imports a cross-site form cannot
send blind."""

from __future__ import annotations

from fastapi.testclient import TestClient

from api.main import create_app
from tests.conftest import AUTH
from tests.integration.api_support import create_survey
from workbench.config import Settings


def test_only_trusted_host_headers_are_answered(offline_settings: Settings) -> None:
    with TestClient(create_app(offline_settings), headers=AUTH) as client:
        assert client.get("/health/live").status_code == 200
        rebound = client.get("/api/v1/surveys", headers={"host": "evil.example"})
        assert rebound.status_code == 400 and "Invalid host header" in rebound.text
        assert client.get("/api/v1/surveys", headers={"host": "localhost:8000"}).status_code == 200
    public = offline_settings.model_copy(update={"public_base_url": "https://reports.acme.example"})
    with TestClient(create_app(public), headers=AUTH) as client:
        assert client.get("/health/live", headers={"host": "reports.acme.example"}).status_code == 200


def test_security_headers_everywhere_and_no_cors_by_default(offline_settings: Settings) -> None:
    with TestClient(create_app(offline_settings), headers=AUTH) as client:
        for path in ("/api/v1/surveys", "/api/v1/reports/00000000-0000-0000-0000-000000000000", "/health/live"):
            r = client.get(path, headers={"origin": "https://evil.example"})
            assert r.headers["x-content-type-options"] == "nosniff" and r.headers["x-frame-options"] == "DENY"
            assert r.headers["referrer-policy"] == "no-referrer"
            assert r.headers["content-security-policy"].startswith("default-src 'none'")
            assert "access-control-allow-origin" not in r.headers  # a page elsewhere cannot read the answer
        assert "content-security-policy" not in client.get("/docs").headers  # Swagger UI loads its own assets
    allowed = offline_settings.model_copy(update={"cors_origins": ["https://dash.acme.example"]})
    with TestClient(create_app(allowed), headers=AUTH) as client:
        r = client.get("/api/v1/surveys", headers={"origin": "https://dash.acme.example"})
        assert r.headers["access-control-allow-origin"] == "https://dash.acme.example"
        other = client.get("/api/v1/surveys", headers={"origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_imports_a_cross_site_form_could_send_are_refused(client: TestClient) -> None:
    survey_id = create_survey(client)
    body = "respondent_id,started_at,nps\nr1,2026-01-01T00:00:00Z,9\n"
    for media in ("text/plain", "application/x-www-form-urlencoded"):
        r = client.post(f"/api/v1/surveys/{survey_id}/responses", content=body, headers={"content-type": media})
        assert r.status_code == 415 and "must be text/csv or application/json" in r.json()["detail"]
    assert client.get(f"/api/v1/surveys/{survey_id}").json()["response_count"] == 0
    ok = client.post(f"/api/v1/surveys/{survey_id}/responses", content=body, headers={"content-type": "text/csv"})
    assert ok.status_code == 201
