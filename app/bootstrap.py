"""First-run helpers: an administrator account and a demo branch (``queuehall createadmin``,
``queuehall demo``, and the two-command setup in the README)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from app.auth import Role, hash_password
from app.db import models
from app.db.store import Store
from app.hall import business_day

DEMO_BRANCH = "demo"
DEMO_SERVICES = (
    ("A", "个人业务", "Personal banking", 20.0, 4.0, ["身份证", "银行卡"]),
    ("B", "对公业务", "Business banking", 30.0, 8.0, ["营业执照", "公章", "经办人身份证"]),
    ("C", "理财咨询", "Wealth advice", None, 10.0, ["身份证"]),
)
DEMO_COUNTERS = (
    (1, "1号窗口", [["A"], ["B"]], 2),
    (2, "2号窗口", [["A"], ["C"]], 1),
    (3, "3号窗口", [["B"], ["A"]], None),
    (4, "4号窗口 (VIP)", [["C"], ["A", "B"]], None),
)


class UserExists(Exception):
    """That username is taken."""


async def create_user(
    store: Store,
    username: str,
    password: str,
    role: Role,
    branch_id: str | None,
    display_name: str = "",
) -> models.StaffUser:
    async with store.sessions() as session, session.begin():
        taken = await session.scalar(
            select(models.StaffUser.id).where(models.StaffUser.username == username)
        )
        if taken is not None:
            raise UserExists(f"The username {username!r} is taken.")
        user = models.StaffUser(
            username=username,
            password_hash=hash_password(password),
            role=role.value,
            branch_id=branch_id,
            display_name=display_name or username,
            active=True,
            failed_logins=0,
            token_version=0,
            created_at=time.time(),
        )
        session.add(user)
    return user


@dataclass(frozen=True)
class DemoAccounts:
    branch: str
    manager: tuple[str, str]
    clerk: tuple[str, str]


async def seed_demo(store: Store, *, timezone: str = "Asia/Shanghai") -> DemoAccounts | None:
    """Create the demo branch with services, counters, a manager and a clerk. Returns None when
    it exists already (the command is safe to run twice)."""
    now = time.time()
    async with store.sessions() as session, session.begin():
        if await session.get(models.Branch, DEMO_BRANCH) is not None:
            return None
        session.add(
            models.Branch(
                id=DEMO_BRANCH,
                name="示范网点 Demo branch",
                timezone=timezone,
                business_day=business_day(timezone, now),
                created_at=now,
            )
        )
        await session.flush()
        session.add(
            models.Policy(
                branch_id=DEMO_BRANCH,
                head_start_seconds={"vip": 300.0, "care": 600.0, "appointment": 900.0},
                strict_priority=False,
                missed_grace_seconds=1800.0,
                missed_reinsert_places=3,
                missed_max_returns=1,
                auto_miss_after_recalls=None,
                appointment_early_seconds=3600.0,
                appointment_late_seconds=900.0,
                appointment_late_action="walk_in",
                almost_turn_ahead=3,
                updated_at=now,
            )
        )
        for code, name, name_en, sla, mean, materials in DEMO_SERVICES:
            session.add(
                models.Service(
                    branch_id=DEMO_BRANCH,
                    code=code,
                    name=name,
                    name_en=name_en,
                    sla_minutes=sla,
                    mean_service_minutes=mean,
                    materials=materials,
                )
            )
        for number, name, tiers, backup in DEMO_COUNTERS:
            session.add(
                models.Counter(
                    branch_id=DEMO_BRANCH,
                    number=number,
                    name=name,
                    tiers=tiers,
                    backup=backup,
                    state="closed",
                )
            )
    manager = ("demo-manager", secrets.token_urlsafe(9))
    clerk = ("demo-clerk", secrets.token_urlsafe(9))
    await create_user(store, *manager, Role.MANAGER, DEMO_BRANCH, "值班经理")
    await create_user(store, *clerk, Role.CLERK, DEMO_BRANCH, "窗口柜员")
    return DemoAccounts(DEMO_BRANCH, manager, clerk)
