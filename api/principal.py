"""Who a caller is: the roles, and the authenticated principal that routes and rules check."""

from __future__ import annotations

from dataclasses import dataclass

from api.models import User

ROLES = ("admin", "operator", "camera_owner", "grid_worker", "handler")

# What an API token may do, chosen when it is issued. Only `worker` reads camera credentials.
TOKEN_SCOPES: dict[str, str] = {
    "worker": "watch cameras: the camera feed with credentials, leases, health, live pictures,"
    " custom-model weights",
    "incidents:write": "report incidents and their clips",
    "open311": "post Open311 service requests and follow the ones it posted",
}
# The workers' shared token (GRIDWATCH_WORKER_TOKEN) is a camera worker's: it has every scope.
ALL_SCOPES = frozenset(TOKEN_SCOPES)


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user with a role, or a system with an API token (role
    "worker", whatever its scopes)."""

    role: str  # one of ROLES, or "worker"
    name: str
    user: User | None = None
    scopes: frozenset[str] = frozenset()  # a token's TOKEN_SCOPES; users have none

    @property
    def actor(self) -> str:
        """How the caller appears in audit trails."""
        return f"{'worker' if self.role == 'worker' else 'user'}:{self.name}"
