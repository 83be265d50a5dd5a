"""The district's departments, so a person dispatching an event can pick one."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from api.auth import UserDep
from api.deps import SessionDep
from api.models import Department
from api.schemas import DepartmentPublic

router = APIRouter(prefix="/api/v1/departments", tags=["departments"])


@router.get("", response_model=list[DepartmentPublic], summary="Departments that handle events.")
def list_departments(session: SessionDep, _user: UserDep) -> list[DepartmentPublic]:
    departments = session.scalars(select(Department).order_by(Department.id)).all()
    return [DepartmentPublic(id=d.id, name=d.name, grid_id=d.grid_id) for d in departments]
