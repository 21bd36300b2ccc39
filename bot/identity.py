"""Who is writing: the person's role and records, resolved once per update."""

from __future__ import annotations

from dataclasses import dataclass

from store.models import Patient, Role, StaffMember


@dataclass
class Actor:
    """The sender of an update as the handlers need them."""

    tg_user_id: int
    lang: str
    first_name: str
    staff: StaffMember | None = None
    patient: Patient | None = None

    @property
    def role(self) -> str | None:
        if self.staff is not None and self.staff.active:
            return self.staff.role
        if self.patient is not None:
            return "patient"
        return None

    def has_role(self, *roles: Role) -> bool:
        return self.staff is not None and self.staff.active and self.staff.role in roles
