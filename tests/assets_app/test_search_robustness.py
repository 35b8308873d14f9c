"""No query text crashes the search: it is a result page or a 400 (never a 500), on the
database under test (SQLite FTS5 or PostgreSQL tsvector/trigram)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from assets_app.models import Asset
from tests import factories as f

pytestmark = pytest.mark.django_db

_TEXT = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40),
    st.text(alphabet=st.sampled_from(list('ab%_\\*?"():- ORkind:lognamestatus:failed.#é')), max_size=40),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_TEXT)
def test_any_query_is_200_or_400(api_client_for, ws, text):
    if not Asset.objects.filter(workspace=ws).exists():  # the db persists across examples
        f.AssetFactory(workspace=ws, name="a%b_c.csv", search_text="alpha beta")
    response = api_client_for("viewer").get("/api/assets/", {"q": text, "facets": "1"})
    assert response.status_code in (200, 400), (text, response.content[:300])
    if response.status_code == 400:
        assert set(response.json()) == {"detail", "position", "token"}
