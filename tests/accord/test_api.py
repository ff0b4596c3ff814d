def test_the_openapi_schema_is_served_and_names_bearer_auth(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An Accord API token: acc_…",
    }
    assert "/api/v1/assets" in schema["paths"] and "/api/v1/tokens/issue" in schema["paths"]


def test_the_interactive_docs_load_nothing_from_a_cdn(client, db):
    page = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in page
    assert "cdn." not in page and "unpkg" not in page and "jsdelivr" not in page


def test_an_unknown_api_url_answers_in_the_error_shape(client, db):
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "/api/docs/" in response.json()["error"]["message"]


def test_every_response_carries_a_request_id(client, db):
    assert len(client.get("/healthz")["X-Request-ID"]) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="gw-123")["X-Request-ID"] == "gw-123"
    assert client.get("/healthz", HTTP_X_REQUEST_ID="bad id\n")["X-Request-ID"] != "bad id\n"
