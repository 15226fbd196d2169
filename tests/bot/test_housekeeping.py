"""The hourly housekeeping job: what it forgets, and what it must keep."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from bot.jobs import UPLOAD_RETENTION, housekeeping
from bot.settings import Settings
from frameworks.loader import load_directory
from storage.db import transaction
from storage.framework_uploads import find_upload, keep_upload
from storage.tables import FrameworkUpload
from tests.conftest import FIXED_NOW, Database

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


async def _upload(database: Database, *, sent_days_ago: int) -> str:
    framework = load_directory().frameworks["place-partnership-maturity"]
    async with transaction(database.sessions) as session:
        return await keep_upload(
            session,
            tenant_id=TENANT,
            uploaded_by="lead-aad-id",
            filename="our framework.xlsx",
            framework=framework,
            now=FIXED_NOW - timedelta(days=sent_days_ago),
            lifetime=timedelta(days=1),
        )


async def test_workbooks_expired_over_a_month_ago_are_forgotten_and_recent_ones_kept(
    database: Database,
) -> None:
    long_gone = await _upload(database, sent_days_ago=UPLOAD_RETENTION.days + 2)
    lately_expired = await _upload(database, sent_days_ago=3)
    waiting = await _upload(database, sent_days_ago=0)

    settings = Settings(database_url=database.url, _env_file=None)
    await housekeeping(database.sessions, lambda: FIXED_NOW, settings)

    async with transaction(database.sessions) as session:
        assert await find_upload(session, token=long_gone, tenant_id=TENANT) is None
        assert await find_upload(session, token=lately_expired, tenant_id=TENANT) is not None  # "expired"
        assert await find_upload(session, token=waiting, tenant_id=TENANT) is not None
        left = (await session.execute(sa.select(sa.func.count()).select_from(FrameworkUpload))).scalar_one()
    assert left == 2
