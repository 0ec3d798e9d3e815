"""Demo sign-in accounts: one password per demo database, generated on first start, printed at
start and kept in ``<data_dir>/demo-users.txt`` (mode 0600) so that ``--keep`` reuses it.

Accounts (user id = the staff twin, so ward and care team come from the demo hospital):
``admin``; ``ICU-nurse-1`` and ``MED-nurse-1`` (their wards); ``ICU-physician-1`` (ICU and its
care team); ``ops`` (operations: occupancy under pseudonyms, no clinical detail); ``trainee``;
``educator`` (training cases from the records of both wards, de-identified).
"""

from __future__ import annotations

import os
from pathlib import Path

from medtwin.runtime import Runtime
from medtwin.security.passwords import new_secret
from medtwin.security.principal import Role
from medtwin.security.service import security_for

DEMO_USERS = (
    ("admin", Role.ADMIN, "Administrator"),
    ("ICU-nurse-1", Role.NURSE, "Nurse ICU 1"),
    ("MED-nurse-1", Role.NURSE, "Nurse MED 1"),
    ("ICU-physician-1", Role.PHYSICIAN, "Physician ICU 1"),
    ("RC-nurse-1", Role.NURSE, "Remote-care nurse 1"),  # remote care (issue 8): the home patients' care team
    ("GP-1", Role.PHYSICIAN, "Family doctor 1"),
    ("ops", Role.OPERATIONS, "Operations manager"),
    ("trainee", Role.TRAINEE, "Trainee"),
    ("educator", Role.EDUCATOR, "Educator"),  # builds training cases from both wards' records
)


def demo_users(rt: Runtime, data_dir: Path) -> str:
    """Create the demo accounts (if missing); returns the demo password."""
    path = data_dir / "demo-users.txt"
    if path.exists():
        password = path.read_text().split("password:", 1)[-1].strip()
    else:
        password = "demo-" + new_secret(9)
        data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(
                "medtwin demo accounts: "
                + ", ".join(u for u, _r, _n in DEMO_USERS)
                + f"\npassword: {password}\n"
            )
    acc = security_for(rt).accounts
    for uid, role, name in DEMO_USERS:
        if acc.get_user(uid) is None:
            acc.add_user(
                uid, role, password, name=name, wards=["ICU", "MED"] if role is Role.EDUCATOR else None
            )
    return password
