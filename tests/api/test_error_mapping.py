"""The organization errors map to the statuses and codes docs/http-api.md pins (the one
place: ``sessionclaims.api._errors.response_for``)."""

from __future__ import annotations

import json

import pytest

from sessionclaims import (
    AlreadyMember,
    MembershipNotFound,
    NotAMember,
    OrganizationNotFound,
    SessionClaimsError,
    SlugTaken,
)
from sessionclaims.api._errors import response_for


@pytest.mark.parametrize(
    ("exc", "status", "code", "meta"),
    [
        (OrganizationNotFound("org_1"), 404, "resource_not_found", {"resource": "organization"}),
        (
            MembershipNotFound("org_1", "user_1"),
            404,
            "resource_not_found",
            {"resource": "membership"},
        ),
        (NotAMember("org_1", "user_1"), 403, "not_a_member", {"param": "organization_id"}),
        (SlugTaken("acme"), 409, "conflict", {"param": "slug"}),
        (SlugTaken(), 409, "conflict", {"param": "slug"}),
        (AlreadyMember("org_1", "user_1"), 409, "conflict", {"param": "user_id"}),
        (AlreadyMember(), 409, "conflict", {"param": "user_id"}),
    ],
)
def test_organization_errors_map_to_their_answers(
    exc: SessionClaimsError, status: int, code: str, meta: dict[str, str]
) -> None:
    response = response_for(exc, method="POST")
    assert response.status_code == status
    (error,) = json.loads(bytes(response.body))["errors"]
    assert (error["code"], error["meta"]) == (code, meta)
    assert error["message"]
