"""Swagger UI and ReDoc render from local assets: no CDN, so they work offline."""

import re

import pytest


@pytest.mark.parametrize(
    ("page", "assets"),
    [
        ("/docs", ["swagger-ui-bundle.js", "swagger-ui.css"]),
        ("/redoc", ["redoc.standalone.js"]),
    ],
)
def test_docs_pages_use_only_local_assets(client, page, assets):
    response = client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert "/openapi.json" in html
    # Nothing on the page is fetched from another host.
    assert not re.search(r"""(src|href)\s*=\s*["']https?://""", html)
    assert "cdn" not in html.lower()
    assert "fonts.googleapis" not in html
    for asset in assets:
        url = re.search(rf"""["'](/[^"']*{re.escape(asset)})["']""", html).group(1)
        served = client.get(url)
        assert served.status_code == 200, url
        assert len(served.content) > 10_000, url


def test_swagger_oauth2_redirect_page(client):
    assert client.get("/docs/oauth2-redirect").status_code == 200


def test_openapi_json_is_served(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.json()["info"]["title"] == "HipFix API"
