"""Journal sources and categories of the Fusion stand-in, read-only, as the REST lists of values.

Sources: Oracle's REST reference "Get a journal source"
(``GET /fscmRestApi/resources/11.13.18.05/journalSourcesLOV/{JeSourceName}``, path key
``JeSourceName``, "the name that uniquely identifies the source of the journal entry") and "Get a
journal category" (``GET …/journalCategoriesLOV/{JeCategoryName}``). The key names are
documented; the other attributes (``UserJeSourceName``, ``UserJeCategoryName``, ``Description``)
follow the GL_JE_SOURCES/GL_JE_CATEGORIES columns and are UNCONFIRMED. The seed lists the stand-in's
defined sources and categories (:data:`~.gl.JOURNAL_SOURCES`, :data:`~.gl.JOURNAL_CATEGORIES`),
each under the same internal and user name; a ``configure_gl(sources=…)`` change does not
reach these lists.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ml_connector_sandbox.systems.fusion.adf import READ_ONLY, AdfResource, attr
from ml_connector_sandbox.systems.fusion.gl import JOURNAL_CATEGORIES, JOURNAL_SOURCES

__all__ = ["JOURNAL_CATEGORIES_RESOURCE", "JOURNAL_SOURCES_RESOURCE"]


def _rows(names: tuple[str, ...], key: str, user_key: str) -> list[dict[str, Any]]:
    return [{key: name, user_key: name, "Description": f"{name} journals"} for name in names]


def seed_journal_sources(now: datetime) -> list[dict[str, Any]]:
    """One row per journal source the stand-in's Journal Import accepts."""
    return _rows(JOURNAL_SOURCES, "JeSourceName", "UserJeSourceName")


def seed_journal_categories(now: datetime) -> list[dict[str, Any]]:
    """One row per journal category the stand-in's Journal Import accepts."""
    return _rows(JOURNAL_CATEGORIES, "JeCategoryName", "UserJeCategoryName")


JOURNAL_SOURCES_RESOURCE = AdfResource(
    name="journalSourcesLOV",
    key="JeSourceName",
    title="Journal Sources List of Values",
    attributes=(
        attr("JeSourceName", description="Documented key: the source's unique name."),
        attr("UserJeSourceName", description="UNCONFIRMED name: the name shown to users."),
        attr("Description", description="UNCONFIRMED name."),
    ),
    operations=READ_ONLY,
    seed=seed_journal_sources,
)

JOURNAL_CATEGORIES_RESOURCE = AdfResource(
    name="journalCategoriesLOV",
    key="JeCategoryName",
    title="Journal Categories List of Values",
    attributes=(
        attr("JeCategoryName", description="Documented key: the category's unique name."),
        attr("UserJeCategoryName", description="UNCONFIRMED name: the name shown to users."),
        attr("Description", description="UNCONFIRMED name."),
    ),
    operations=READ_ONLY,
    seed=seed_journal_categories,
)
