import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_landing_page_renders_in_chromium(page):
    response = page.goto("/")
    assert response is not None and response.status == 200
    assert "KanGrow" in page.title()
