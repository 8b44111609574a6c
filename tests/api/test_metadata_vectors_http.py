"""The seed's merge vectors (``tests/vectors/metadata_merge.json``), through HTTP:
``PATCH /v1/users/{id}/metadata`` with the case's tier name, aliases included."""

from __future__ import annotations

from typing import Any

import pytest

from sessionclaims.metadata import ALIASES
from sessionclaims.stores.base import dump_metadata

from ..vector_files import METADATA_MERGE, load_json
from .helpers import Api

pytestmark = pytest.mark.anyio


def load_cases() -> list[Any]:
    cases = load_json(METADATA_MERGE)["cases"]
    assert cases, "the vector file holds no case"
    return [pytest.param(case, id=case["name"]) for case in cases]


@pytest.mark.parametrize("case", load_cases())
async def test_merge_vector(api: Api, case: dict[str, Any]) -> None:
    tier: str = case["tier"]
    canonical = ALIASES.get(tier, tier)
    created = await api.backend_call("POST", "/v1/users", json={tier: case["initial"]})
    assert created.status_code == 201, created.text
    user_id = created.json()["id"]

    response = await api.backend_call(
        "PATCH", f"/v1/users/{user_id}/metadata", json={tier: case["update"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()[canonical] == case["result"]

    stored = await api.backend.store.get_user(user_id)
    assert stored is not None
    assert getattr(stored, canonical) == case["result"]
    # The stored text is the canonical storage form of the expected result.
    assert dump_metadata(getattr(stored, canonical)) == dump_metadata(case["result"])
