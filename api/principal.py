"""Who a caller is: the roles, and the authenticated principal that routes and rules check."""

from __future__ import annotations

from dataclasses import dataclass

from api.models import User

ROLES = ("admin", "operator", "camera_owner", "grid_worker", "handler")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user with a role, or a worker."""

    role: str  # one of ROLES, or "worker"
    name: str
    user: User | None = None

    @property
    def actor(self) -> str:
        """How the caller appears in audit trails."""
        return f"{'worker' if self.role == 'worker' else 'user'}:{self.name}"
