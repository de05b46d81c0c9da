from __future__ import annotations

import re

import pytest

from git_flowctl.model import ids
from git_flowctl.model.errors import FlowError, NotFoundError


@pytest.mark.parametrize(("title", "limit", "slug"), [
    ("Add OAuth login", 20, "add-oauth-login"),
    ("Résumé parsing for café users", 20, "resume-parsing-for"),
    ("Billing dashboard für Kunden", 40, "billing-dashboard-fur-kunden"),
    ("Billing dashboard für Kunden", 20, "billing-dashboard"),
    # + and / vanish rather than becoming hyphens; the cut keeps whole words that fit exactly
    ("Django+React platform with account management", 20, "djangoreact-platform"),
    ("snake_case_title here", 20, "snake-case-title"),
    ("  --Lots   of -- space--  ", 20, "lots-of-space"),
    ("Supercalifragilisticexpialidocious", 20, "supercalifragilistic"),
    ("ÆØÅ ñ", 20, "a-n"),  # Æ and Ø have no ASCII decomposition; Å and ñ do
])
def test_slugify(title: str, limit: int, slug: str) -> None:
    assert ids.slugify(title, limit) == slug


def test_empty_slug_gets_three_random_characters() -> None:
    slug = ids.slugify("!!! ???")
    assert re.fullmatch(r"[a-z0-9]{3}", slug)


def test_parse_ids() -> None:
    task = ids.parse_id("fn-12-add-auth.3")
    assert task is not None and task.epic_number == 12 and task.task_number == 3
    assert task.slug == "add-auth" and task.epic_id == "fn-12-add-auth"
    epic = ids.parse_id("fn-2")
    assert epic is not None and not epic.is_task and epic.slug is None
    assert ids.parse_id("fn-1-x.2") is not None
    assert ids.parse_id("nonsense") is None
    assert ids.parse_id("fn-1-Bad") is None
    assert ids.epic_of("fn-1-add-auth.2") == "fn-1-add-auth"


def test_numeric_sort_order() -> None:
    names = ["fn-1-a.10", "fn-1-a.9", "fn-10-b", "fn-2-c.1"]
    assert sorted(names, key=ids.id_sort_key) == ["fn-1-a.9", "fn-1-a.10", "fn-2-c.1", "fn-10-b"]


KNOWN = ["fn-1-add-oauth-login", "fn-1-add-oauth-login.1", "fn-1-add-oauth-login.2",
         "fn-1-add-oauth-login.10", "fn-2-billing"]


def test_resolve_exact_and_short_forms() -> None:
    assert ids.resolve("fn-1", KNOWN) == "fn-1-add-oauth-login"
    assert ids.resolve("fn-1.2", KNOWN) == "fn-1-add-oauth-login.2"
    assert ids.resolve("fn-1.1", KNOWN) == "fn-1-add-oauth-login.1"  # never .10
    assert ids.resolve("fn-1-add-oauth-login.10", KNOWN) == "fn-1-add-oauth-login.10"


def test_resolve_unknown_is_an_error_with_candidates() -> None:
    with pytest.raises(NotFoundError) as caught:
        ids.resolve("fn-9", KNOWN)
    assert "fn-9" in caught.value.message
    with pytest.raises(NotFoundError) as close:
        ids.resolve("fn-1-add-oauth-logn.2", KNOWN)
    assert "fn-1-add-oauth-login.2" in (close.value.hint or "")


def test_resolve_ambiguous_lists_candidates() -> None:
    known = ["fn-3-alpha", "fn-3-beta", "fn-3-alpha.1", "fn-3-beta.1"]
    with pytest.raises(FlowError) as caught:
        ids.resolve("fn-3.1", known)
    assert "fn-3-alpha.1" in caught.value.message and "fn-3-beta.1" in caught.value.message
    assert caught.value.details["candidates"] == ["fn-3-alpha.1", "fn-3-beta.1"]
    assert ids.resolve("fn-3-beta.1", known) == "fn-3-beta.1"
