"""The district's event taxonomy, so reporters and integrators can pick an event code."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import UserDep
from api.deps import PolicyDep
from api.taxonomy import Taxonomy

router = APIRouter(prefix="/api/v1/taxonomy", tags=["taxonomy"])


@router.get(
    "",
    response_model=Taxonomy,
    summary="Event classes and codes, the code of each camera rule, and each category's default.",
)
def get_taxonomy(policy: PolicyDep, _user: UserDep) -> Taxonomy:
    return policy.taxonomy
