"""The app answers: the overview shows portfolio totals in Chinese, only after login."""
import os


def test_overview_shows_totals_in_chinese(client, cli, login, examples_dir):
    for kind in ("units", "charges", "payments"):
        assert cli("import", kind, os.path.join(examples_dir, f"{kind}.csv")).exit_code == 0
    login("clerk")
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "欠费总额" in page and "示例花园" in page
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_bootstrap_is_served_by_the_app_itself(client, login):
    login("clerk")
    page = client.get("/").get_data(as_text=True)
    assert "cdn.jsdelivr.net" not in page and "/bootstrap/static/css/bootstrap.min.css" in page
    assert client.get("/bootstrap/static/css/bootstrap.min.css").status_code == 200


def test_health_and_not_found(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_uninitialised_database_is_a_clear_page_not_a_500(tmp_path):
    from arrears import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                      "ARREARS_DATA_DIR": str(tmp_path), "TESTING": False, "SESSION_COOKIE_SECURE": False})
    response = app.test_client().get("/login")
    assert response.status_code in (200, 503)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert "init-db" in response.get_data(as_text=True)
