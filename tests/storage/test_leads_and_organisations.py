"""Who is who: leads by AAD object id (settings and grants), and which organisation people answer for."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from storage.db import transaction
from storage.leads import (
    ConfiguredLead,
    LastLead,
    LeadSource,
    grant_lead,
    is_lead,
    list_leads,
    revoke_lead,
)
from storage.organisations import (
    InvalidDomain,
    SharedDomain,
    assign_from_domains,
    candidate_domains,
    clear_own_organisation,
    ensure_organisation,
    list_domains,
    map_domain,
    organisation_for_email,
    person_organisation,
    set_own_organisation,
    set_person_organisation,
    unmap_domain,
)
from storage.people import upsert_person
from storage.privacy import erase_person
from storage.tables import LeadGrant, Organisation, OrganisationSource, Person
from tests.conftest import Database

SETTINGS_LEAD = "0c5a2f4e-1111-4a4a-9c9c-000000000001"
"""As an admin might type it into LEAD_USER_IDS: upper case, with spaces."""
CONFIGURED = [f"  {SETTINGS_LEAD.upper()} "]


async def _person(db: Database, now: datetime, handle: str, *, name: str, email: str | None = None) -> Person:
    async with transaction(db.sessions) as session:
        return await upsert_person(
            session,
            teams_user_id=f"29:{handle}",
            aad_object_id=f"aad-{handle}",
            name=name,
            email=email,
            tenant_id="t1",
            now=now,
        )


async def _organisation_of(db: Database, person: Person) -> tuple[str | None, OrganisationSource | None]:
    async with transaction(db.sessions) as session:
        organisation, source = await person_organisation(session, person.id or 0)
    return (organisation.name if organisation else None), source


# Leads ----------------------------------------------------------------------------------------------


async def test_leads_named_in_settings_are_leads_without_any_grant(database: Database) -> None:
    async with transaction(database.sessions) as session:
        assert await is_lead(session, SETTINGS_LEAD, configured=CONFIGURED)
        assert not await is_lead(session, "aad-someone-else", configured=CONFIGURED)
        assert not await is_lead(session, None, configured=CONFIGURED)
        assert not await is_lead(session, "", configured=["", " "])
        assert (await session.execute(sa.select(sa.func.count()).select_from(LeadGrant))).scalar_one() == 0


async def test_a_lead_makes_a_partner_a_lead_and_granting_again_changes_nothing(
    database: Database, now: datetime
) -> None:
    chair = await _person(database, now, "chair", name="Priya Shah")
    await _person(database, now, "amina", name="Amina Khan")
    async with transaction(database.sessions) as session:
        assert not await is_lead(session, "aad-amina", configured=CONFIGURED)
        assert await grant_lead(
            session, "aad-amina", now=now, configured=CONFIGURED, name="Amina Khan", granted_by_id=chair.id
        )
    async with transaction(database.sessions) as session:
        assert await is_lead(session, "aad-amina", configured=CONFIGURED)
        assert not await grant_lead(session, "aad-amina", now=now, configured=CONFIGURED, granted_by_id=None)
        leads = await list_leads(session, configured=CONFIGURED)
    amina = next(lead for lead in leads if lead.aad_object_id == "aad-amina")
    assert (amina.name, amina.source, amina.granted_by, amina.granted_at) == (
        "Amina Khan",
        LeadSource.GRANTED,
        "Priya Shah",
        now,
    )


async def test_two_people_with_the_same_name_are_told_apart_by_their_aad_ids(
    database: Database, now: datetime
) -> None:
    await _person(database, now, "sam-north", name="Sam Patel", email="sam.patel@north.nhs.uk")
    await _person(database, now, "sam-borough", name="Sam Patel", email="sam.patel@borough.gov.uk")
    async with transaction(database.sessions) as session:
        await grant_lead(session, "aad-sam-north", now=now, configured=CONFIGURED, name="Sam Patel")
    async with transaction(database.sessions) as session:
        assert await is_lead(session, "aad-sam-north", configured=CONFIGURED)
        assert not await is_lead(session, "aad-sam-borough", configured=CONFIGURED)
        assert [lead.aad_object_id for lead in await list_leads(session, configured=[])] == ["aad-sam-north"]


async def test_granting_a_lead_from_settings_stores_nothing(database: Database, now: datetime) -> None:
    async with transaction(database.sessions) as session:
        assert not await grant_lead(session, SETTINGS_LEAD, now=now, configured=CONFIGURED)
        assert (await session.execute(sa.select(sa.func.count()).select_from(LeadGrant))).scalar_one() == 0


async def test_revoking_a_lead_from_settings_is_refused_and_they_stay_a_lead(
    database: Database, now: datetime
) -> None:
    async with transaction(database.sessions) as session:
        await grant_lead(session, "aad-amina", now=now, configured=CONFIGURED)
        with pytest.raises(ConfiguredLead) as refused:
            await revoke_lead(session, SETTINGS_LEAD.upper(), configured=CONFIGURED, name="Priya Shah")
        assert refused.value.message == (
            "Priya Shah is a lead by the bot's settings (LEAD_USER_IDS), so only whoever runs the bot can "
            "change that."
        )
        assert await is_lead(session, SETTINGS_LEAD, configured=CONFIGURED)


async def test_a_revoked_lead_is_no_longer_a_lead(database: Database, now: datetime) -> None:
    async with transaction(database.sessions) as session:
        await grant_lead(session, "aad-amina", now=now, configured=CONFIGURED)
    async with transaction(database.sessions) as session:
        assert await revoke_lead(session, "aad-amina", configured=CONFIGURED)
    async with transaction(database.sessions) as session:
        assert not await is_lead(session, "aad-amina", configured=CONFIGURED)
        assert not await revoke_lead(session, "aad-amina", configured=CONFIGURED)
        assert not await revoke_lead(session, "aad-never-a-lead", configured=CONFIGURED)


async def test_the_last_lead_cannot_be_revoked_but_may_step_down_once_there_is_another(
    database: Database, now: datetime
) -> None:
    async with transaction(database.sessions) as session:
        await grant_lead(session, "aad-amina", now=now, configured=[])
        with pytest.raises(LastLead) as refused:
            await revoke_lead(session, "aad-amina", configured=[], name="Amina Khan")
        assert "Grant someone else first" in refused.value.message
        assert await is_lead(session, "aad-amina", configured=[])
        await grant_lead(session, "aad-ben", now=now, configured=[])
        assert await revoke_lead(session, "aad-amina", configured=[])
        assert not await is_lead(session, "aad-amina", configured=[])
        assert await is_lead(session, "aad-ben", configured=[])


async def test_the_lead_list_has_settings_and_granted_leads_by_name(
    database: Database, now: datetime
) -> None:
    async with transaction(database.sessions) as session:
        await upsert_person(
            session, teams_user_id="29:priya", aad_object_id=SETTINGS_LEAD, name="Priya Shah", now=now
        )
        await grant_lead(session, "aad-zoe", now=now, configured=CONFIGURED, name="Zoe Adams")
        await grant_lead(session, "aad-ben", now=now, configured=CONFIGURED, name="Ben Okafor")
        await grant_lead(session, "aad-nameless", now=now, configured=CONFIGURED)
        leads = await list_leads(session, configured=CONFIGURED)
    assert [(lead.name, lead.source) for lead in leads] == [
        ("Ben Okafor", LeadSource.GRANTED),
        ("Priya Shah", LeadSource.SETTINGS),
        ("Zoe Adams", LeadSource.GRANTED),
        (None, LeadSource.GRANTED),
    ]


async def test_erasing_a_granter_keeps_the_grant_but_not_who_made_it(
    database: Database, now: datetime
) -> None:
    chair = await _person(database, now, "chair", name="Priya Shah")
    await _person(database, now, "amina", name="Amina Khan")
    async with transaction(database.sessions) as session:
        await grant_lead(session, "aad-amina", now=now, configured=[], granted_by_id=chair.id)
        await grant_lead(session, "aad-chair", now=now, configured=[])
    async with transaction(database.sessions) as session:
        await erase_person(session, "aad-chair", now=now)
    async with transaction(database.sessions) as session:
        leads = await list_leads(session, configured=[])
    assert [(lead.aad_object_id, lead.granted_by) for lead in leads] == [("aad-amina", None)]


# Organisations --------------------------------------------------------------------------------------


async def test_a_lead_maps_a_domain_and_the_people_already_known_there_are_assigned(
    database: Database, now: datetime
) -> None:
    amina = await _person(database, now, "amina", name="Amina Khan", email="Amina.Khan@ANYTOWN-TRUST.nhs.uk")
    dev = await _person(database, now, "dev", name="Dev Rao", email="dev.rao@borough.gov.uk")
    async with transaction(database.sessions) as session:
        mapped = await map_domain(session, " @Anytown-Trust.NHS.uk. ", "Anytown NHS Trust", now=now)
    assert (mapped.domain, mapped.organisation.name, mapped.created_organisation) == (
        "anytown-trust.nhs.uk",
        "Anytown NHS Trust",
        True,
    )
    assert (mapped.people_assigned, mapped.previous_organisation) == (1, None)
    assert await _organisation_of(database, amina) == ("Anytown NHS Trust", OrganisationSource.DOMAIN)
    assert await _organisation_of(database, dev) == (None, None)
    async with transaction(database.sessions) as session:
        found = await organisation_for_email(session, "someone.new@anytown-trust.nhs.uk")
        assert found is not None
        assert found.name == "Anytown NHS Trust"
        assert await organisation_for_email(session, "someone@elsewhere.nhs.uk") is None
        assert await organisation_for_email(session, "not an address") is None


@pytest.mark.parametrize(
    "domain", ["nhs.net", "gmail.com", "outlook.com", "hotmail.com", "NHS.uk", "@nhs.net"]
)
async def test_shared_domains_are_refused_and_people_there_are_told_to_say_their_organisation(
    database: Database, now: datetime, domain: str
) -> None:
    async with transaction(database.sessions) as session:
        with pytest.raises(SharedDomain) as refused:
            await map_domain(session, domain, "Anytown NHS Trust", now=now)
        assert "my organisation" in refused.value.message
        assert refused.value.domain in refused.value.message
        assert await list_domains(session) == []
        assert (await session.execute(sa.select(sa.func.count()).select_from(Organisation))).scalar_one() == 0


async def test_text_that_is_not_a_domain_is_refused(database: Database, now: datetime) -> None:
    async with transaction(database.sessions) as session:
        for text in ("amina@anytown-trust.nhs.uk", "anytown trust", "localhost", ""):
            with pytest.raises(InvalidDomain):
                await map_domain(session, text, "Anytown NHS Trust", now=now)


async def test_an_address_below_a_mapped_domain_takes_the_most_specific_mapping(
    database: Database, now: datetime
) -> None:
    assert candidate_domains("ward7.anytown-trust.nhs.uk") == [
        "ward7.anytown-trust.nhs.uk",
        "anytown-trust.nhs.uk",
        "nhs.uk",
    ]
    async with transaction(database.sessions) as session:
        await map_domain(session, "anytown-trust.nhs.uk", "Anytown NHS Trust", now=now)
        await map_domain(session, "community.anytown-trust.nhs.uk", "Anytown Community Services", now=now)
        ward = await organisation_for_email(session, "a@ward7.anytown-trust.nhs.uk")
        community = await organisation_for_email(session, "b@district.community.anytown-trust.nhs.uk")
        lookalike = await organisation_for_email(session, "c@notanytown-trust.nhs.uk")
    assert ward is not None
    assert ward.name == "Anytown NHS Trust"
    assert community is not None
    assert community.name == "Anytown Community Services"
    assert lookalike is None


async def test_organisation_names_match_ignoring_case_and_spacing(database: Database, now: datetime) -> None:
    amina = await _person(database, now, "amina", name="Amina Khan", email="amina@nhs.net")
    async with transaction(database.sessions) as session:
        first = await map_domain(session, "anytown-trust.nhs.uk", "Anytown NHS Trust", now=now)
        second = await map_domain(session, "anytown.nhs.uk", "  anytown   nhs TRUST ", now=now)
        own = await set_own_organisation(session, amina.id or 0, "ANYTOWN NHS TRUST", now=now)
        ensured = await ensure_organisation(session, "anytown nhs trust")
        domains = await list_domains(session)
    assert second.created_organisation is False
    assert first.organisation.id == second.organisation.id == own.id == ensured.id
    assert own.name == "Anytown NHS Trust"
    assert [(mapping.domain, mapping.organisation_name) for mapping in domains] == [
        ("anytown-trust.nhs.uk", "Anytown NHS Trust"),
        ("anytown.nhs.uk", "Anytown NHS Trust"),
    ]


async def test_a_self_declared_organisation_is_never_overwritten_by_a_domain_mapping(
    database: Database, now: datetime
) -> None:
    amina = await _person(database, now, "amina", name="Amina Khan", email="amina@anytown-trust.nhs.uk")
    async with transaction(database.sessions) as session:
        await set_own_organisation(session, amina.id or 0, "Anytown Hospice", now=now)
        mapped = await map_domain(session, "anytown-trust.nhs.uk", "Anytown NHS Trust", now=now)
        assert mapped.people_assigned == 0
        assert await assign_from_domains(session, [amina.id or 0]) == 0
        await map_domain(session, "anytown-trust.nhs.uk", "Anytown Health", now=now)
        await unmap_domain(session, "anytown-trust.nhs.uk")
    assert await _organisation_of(database, amina) == ("Anytown Hospice", OrganisationSource.SELF)
    async with transaction(database.sessions) as session:
        await map_domain(session, "anytown-trust.nhs.uk", "Anytown NHS Trust", now=now)
        restored = await clear_own_organisation(session, amina.id or 0)
    assert restored is not None
    assert restored.name == "Anytown NHS Trust"
    assert await _organisation_of(database, amina) == ("Anytown NHS Trust", OrganisationSource.DOMAIN)


async def test_people_on_a_shared_domain_stay_unassigned_until_they_say_who_they_work_for(
    database: Database, now: datetime
) -> None:
    chen = await _person(database, now, "chen", name="Chen Li", email="chen.li@nhs.net")
    async with transaction(database.sessions) as session:
        await map_domain(session, "anytown-trust.nhs.uk", "Anytown NHS Trust", now=now)
        assert await assign_from_domains(session, [chen.id or 0]) == 0
    assert await _organisation_of(database, chen) == (None, None)
    async with transaction(database.sessions) as session:
        await set_own_organisation(session, chen.id or 0, "Anytown GP Federation", now=now)
    assert await _organisation_of(database, chen) == ("Anytown GP Federation", OrganisationSource.SELF)


async def test_remapping_moves_people_and_unmapping_falls_back_to_the_parent_domain_or_unassigned(
    database: Database, now: datetime
) -> None:
    ward = await _person(database, now, "ward", name="Wendy Ward", email="wendy@ward7.anytown-trust.nhs.uk")
    main = await _person(database, now, "main", name="Mo Main", email="mo@anytown-trust.nhs.uk")
    async with transaction(database.sessions) as session:
        await map_domain(session, "anytown-trust.nhs.uk", "Anytown NHS Trust", now=now)
        await map_domain(session, "ward7.anytown-trust.nhs.uk", "Ward 7 Partnership", now=now)
    assert await _organisation_of(database, ward) == ("Ward 7 Partnership", OrganisationSource.DOMAIN)
    async with transaction(database.sessions) as session:
        remapped = await map_domain(
            session, "anytown-trust.nhs.uk", "Anytown and District NHS Trust", now=now
        )
    assert (remapped.previous_organisation, remapped.people_assigned) == ("Anytown NHS Trust", 1)
    assert await _organisation_of(database, main) == (
        "Anytown and District NHS Trust",
        OrganisationSource.DOMAIN,
    )
    async with transaction(database.sessions) as session:
        assert await unmap_domain(session, "ward7.anytown-trust.nhs.uk")
    assert await _organisation_of(database, ward) == (
        "Anytown and District NHS Trust",
        OrganisationSource.DOMAIN,
    )
    async with transaction(database.sessions) as session:
        assert await unmap_domain(session, "ANYTOWN-TRUST.nhs.uk")
        assert not await unmap_domain(session, "anytown-trust.nhs.uk")
    assert await _organisation_of(database, ward) == (None, None)
    assert await _organisation_of(database, main) == (None, None)


async def test_an_organisation_set_before_sources_were_recorded_is_replaced_by_a_mapping_but_never_cleared(
    database: Database, now: datetime
) -> None:
    dev = await _person(database, now, "dev", name="Dev Rao", email="dev@borough.gov.uk")
    async with transaction(database.sessions) as session:
        council = await ensure_organisation(session, "Borough Council")
        person = await session.get(Person, dev.id)
        assert person is not None
        await set_person_organisation(session, person, council)
    async with transaction(database.sessions) as session:
        await map_domain(session, "elsewhere.gov.uk", "Elsewhere Council", now=now)
        await unmap_domain(session, "elsewhere.gov.uk")
    assert await _organisation_of(database, dev) == ("Borough Council", None)
    async with transaction(database.sessions) as session:
        await map_domain(session, "borough.gov.uk", "Borough Council", now=now)
    assert await _organisation_of(database, dev) == ("Borough Council", OrganisationSource.DOMAIN)
