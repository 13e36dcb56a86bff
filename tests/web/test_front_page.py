"""The app answers: the front page shows portfolio totals in Chinese, and no household list."""
import os

from arrears.models import Unit


def test_front_page_shows_totals_in_chinese(client, cli, examples_dir):
    for kind in ("units", "charges", "payments"):
        assert cli("import", kind, os.path.join(examples_dir, f"{kind}.csv")).exit_code == 0
    response = client.get("/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "欠费总额" in page and "示例花园" in page
    # No public list of households in arrears (SPEC §9): no unit number appears.
    for unit in Unit.query.all():
        assert unit.number not in page


def test_health_and_not_found(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "页面不存在" in response.get_data(as_text=True)


def test_uninitialised_database_is_a_clear_page_not_a_500(tmp_path):
    from arrears import create_app
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                      "ARREARS_DATA_DIR": str(tmp_path), "TESTING": False})
    response = app.test_client().get("/")
    assert response.status_code == 503
    assert "init-db" in response.get_data(as_text=True)
