"""Onboarding: match Fusion bill-to sites with the customers a Stripe account already has.

A tenant whose Stripe account already holds its customers (entered by hand, imported, created by
another tool) must not get a second copy of each on the first sync. The matching pass decides, for
every Fusion bill-to site the ``customers`` stream would write, whether it is an existing Stripe
customer (**link**), a new one (**create**) or cannot be told (**ambiguous**), and which Stripe
customers no site claims (**left alone**). Linking writes the ledger link the stream would have
written after creating the customer, with no payload hash, so the stream's next write of the site
updates that customer with Fusion's data (and its Fusion metadata) instead of creating one.

How a site is matched, in this order; a site matched by one step is not looked at by the next:

1. a link the ledger already has (only when the caller passes the ledger's links);
2. ``settings.onboarding.links``, the operator's explicit ``{site use id: cus_…}``;
3. the Stripe metadata ``<customer_metadata_prefix>bill_to_site_use_id`` equal to the site use id;
4. each rule of ``settings.onboarding.rules``: ``email`` (the same address, ignoring case) and
   ``name_country`` (the same name after :func:`normalize_name`, and the same address country).
   A rule applies only where both the site and the customer have its fields.

A Stripe customer that is linked (steps 1–3 or an earlier rule), or carries the Fusion metadata of
another site, is no candidate for a later step. When a step finds several candidates for a site,
or one customer is a candidate of several sites, nothing is guessed: every site involved is
ambiguous, with every candidate named (:attr:`SiteMatch.reason`).

:func:`match_customers` is the pure matcher. :func:`plan_onboarding` reads Fusion and Stripe and
matches; :func:`apply_onboarding` writes the links into the ledger; :func:`rematch_sites` re-checks
sites cheaply when their ambiguous dead letters are retried. :func:`render_plan` and
:func:`plan_to_json` show a plan (``ml-connector onboard``, the ``onboarding_dry_run`` param).
"""

from __future__ import annotations

import enum
import logging
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ml_connector_provider.engine.types import (
    Action,
    DeadLetter,
    Outcome,
    RunRef,
    Skip,
    SourceRecord,
    StreamKey,
    record_from_json,
    utcnow,
)
from ml_connector_provider.integrations.fusion_stripe.mapping import customer_metadata_keys, map_customer
from ml_connector_provider.integrations.fusion_stripe.settings import FusionStripeSettings

if TYPE_CHECKING:
    from ml_connector_provider.hooks.oracle_fusion import OracleFusionHook
    from ml_connector_provider.hooks.stripe import StripeHook
    from ml_connector_provider.ledger import Ledger

log = logging.getLogger(__name__)

__all__ = [
    "AMBIGUOUS_REASON_PREFIX",
    "FusionSite",
    "MatchAction",
    "MatchRule",
    "OnboardingPlan",
    "OnboardingResult",
    "SiteMatch",
    "SiteNotSynced",
    "ambiguous_dead_letters",
    "apply_onboarding",
    "ledger_claims",
    "link_reason",
    "match_customers",
    "normalize_name",
    "plan_onboarding",
    "plan_to_json",
    "rematch_site",
    "rematch_sites",
    "render_plan",
]

SOURCE_SYSTEM = "fusion"
TARGET_SYSTEM = "stripe"
#: How the reason of an ambiguous site's dead letter starts (:attr:`SiteMatch.reason`).
AMBIGUOUS_REASON_PREFIX = "onboarding cannot tell which existing Stripe customer is"
#: Where :func:`plan_onboarding` starts reading Fusion sites: every site, whatever its age.
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


class MatchAction(enum.StrEnum):
    """What the ``customers`` stream is to do with one Fusion site."""

    LINK = "link"
    """Use the one existing Stripe customer found."""
    CREATE = "create"
    """No Stripe customer matches: create one (the stream's usual path)."""
    AMBIGUOUS = "ambiguous"
    """Several candidates, or a candidate other sites match too: dead-letter, never guess."""


class MatchRule(enum.StrEnum):
    """What decided a match."""

    LEDGER = "ledger"
    """The ledger already links the site (it is not onboarding's to change)."""
    LINKS = "links"
    """``settings.onboarding.links`` names the customer."""
    METADATA = "metadata"
    """The customer's Fusion metadata names the site."""
    EMAIL = "email"
    """The same e-mail address, ignoring case."""
    NAME_COUNTRY = "name_country"
    """The same normalized name and the same address country."""


_RULE_TEXT = {
    MatchRule.LEDGER: "an existing ledger link",
    MatchRule.LINKS: "onboarding.links",
    MatchRule.METADATA: "Fusion metadata",
    MatchRule.EMAIL: "email",
    MatchRule.NAME_COUNTRY: "name and country",
}


def normalize_name(value: str | None) -> str:
    """A name as the ``name_country`` rule compares it: Unicode NFKC, case-folded, punctuation
    removed, runs of whitespace made one space, trimmed (``"ACME,  Inc."`` → ``"acme inc"``).

    :return: ``""`` for ``None`` or a name made of punctuation only.
    """
    if not value:
        return ""
    text = unicodedata.normalize("NFKC", value).casefold()
    kept = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(kept.split())


def _email_key(value: Any) -> str:
    return str(value).strip().casefold() if value else ""


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


@dataclass(frozen=True)
class FusionSite:
    """A Fusion bill-to site the ``customers`` stream writes, with what matching looks at.

    :param record: the source record (as :func:`~.streams.customer_record` builds it).
    :param site_use_id: ``BillToSiteUseId``.
    :param account_number: ``AccountNumber``.
    :param site_number: ``BillToSiteNumber``.
    :param name: the Stripe name :func:`~.mapping.map_customer` gives the site.
    :param email: its Stripe e-mail, ``None`` without one.
    :param country: its address country (ISO 3166-1 alpha-2), ``None`` without one.
    """

    record: SourceRecord
    site_use_id: str
    account_number: str | None
    site_number: str | None
    name: str
    email: str | None
    country: str | None

    @property
    def label(self) -> str:
        """``site use 300000047112001 (account 1001, site 2001)``."""
        parts = [f"account {self.account_number}" if self.account_number else None]
        parts.append(f"site {self.site_number}" if self.site_number else None)
        where = ", ".join(p for p in parts if p)
        return f"site use {self.site_use_id}" + (f" ({where})" if where else "")


@dataclass(frozen=True)
class SiteNotSynced:
    """A Fusion site the ``customers`` stream does not write (inactive, another business unit, or a
    data problem), so onboarding leaves it out.

    :param record: the source record.
    :param reason: :func:`~.mapping.map_customer`'s reason.
    """

    record: SourceRecord
    reason: str


@dataclass(frozen=True)
class SiteMatch:
    """The verdict for one Fusion site.

    :param site: the site.
    :param action: link, create or ambiguous.
    :param customer_ids: the Stripe customer to link (one), or every candidate of an ambiguous
        site (oldest first); empty for create.
    :param rule: what matched (``None`` for create).
    :param also_matched_by: other sites (use ids) that match one of :attr:`customer_ids` too.
    :param problem: why an explicit link cannot be used, when that made the site ambiguous.
    :param metadata_key: the Stripe metadata key carrying the site use id (for the reasons).
    """

    site: FusionSite
    action: MatchAction
    customer_ids: tuple[str, ...] = ()
    rule: MatchRule | None = None
    also_matched_by: tuple[str, ...] = ()
    problem: str | None = None
    metadata_key: str = "fusion_bill_to_site_use_id"

    @property
    def site_use_id(self) -> str:
        """The Fusion site use id (the ``customers`` stream's source id)."""
        return self.site.site_use_id

    @property
    def customer_id(self) -> str | None:
        """The Stripe customer to link, ``None`` unless :attr:`action` is link."""
        return self.customer_ids[0] if self.action is MatchAction.LINK else None

    @property
    def rule_text(self) -> str:
        """The rule in words (``email``, ``name and country``…), ``""`` for create."""
        if self.rule is MatchRule.METADATA:
            return f"metadata {self.metadata_key}"
        return _RULE_TEXT[self.rule] if self.rule else ""

    @property
    def reason(self) -> str:
        """What was decided and why; for an ambiguous site, the dead-letter reason: every
        candidate, every other site involved, and how an operator settles it."""
        if self.action is MatchAction.LINK:
            return link_reason(self.customer_ids[0], self.rule_text)
        if self.action is MatchAction.CREATE:
            return "no existing Stripe customer matches; a new one is created"
        site = self.site
        what = f"{AMBIGUOUS_REASON_PREFIX} Fusion bill-to {site.label}, {site.name}"
        link = f"fusion_stripe settings.onboarding.links: {{'{site.site_use_id}': 'cus_…'}}"
        retry = "then retry this dead letter (ml-connector dead-letters retry)"
        if self.problem:
            return (
                f"{what} ({self.problem}); nothing was linked. Correct {link} in the tenant config, {retry}"
            )
        found = f"matched by {self.rule_text}: {', '.join(self.customer_ids)}"
        if self.also_matched_by:
            found += f"; Fusion site(s) {', '.join(self.also_matched_by)} match the same customer"
        return (
            f"{what} ({found}); nothing was linked. Name the right one in the tenant config ({link}), "
            f"or remove the duplicates in Stripe, {retry}"
        )


def link_reason(customer_id: str, rule_text: str) -> str:
    """The audit reason of an onboarding link:
    ``linked existing Stripe customer cus_… (matched by email)``."""
    return f"linked existing Stripe customer {customer_id} (matched by {rule_text})"


@dataclass(frozen=True)
class OnboardingPlan:
    """What onboarding decided for one tenant.

    :param matches: one verdict per Fusion site the stream writes, by site use id.
    :param left_alone: the live Stripe customers no site links or is ambiguous about.
    :param not_synced: the Fusion sites the stream does not write.
    :param customers_read: how many live Stripe customers were compared.
    """

    matches: tuple[SiteMatch, ...]
    left_alone: tuple[str, ...] = ()
    not_synced: tuple[SiteNotSynced, ...] = ()
    customers_read: int = 0

    def by_action(self, action: MatchAction) -> tuple[SiteMatch, ...]:
        """The verdicts with this action."""
        return tuple(m for m in self.matches if m.action is action)

    @property
    def links(self) -> tuple[SiteMatch, ...]:
        """The sites linked to an existing customer."""
        return self.by_action(MatchAction.LINK)

    @property
    def creates(self) -> tuple[SiteMatch, ...]:
        """The sites that get a new customer."""
        return self.by_action(MatchAction.CREATE)

    @property
    def ambiguous(self) -> tuple[SiteMatch, ...]:
        """The sites to dead-letter until an operator settles them."""
        return self.by_action(MatchAction.AMBIGUOUS)

    def match_for(self, site_use_id: str) -> SiteMatch | None:
        """The verdict of one site, ``None`` when the site is not in the plan."""
        return next((m for m in self.matches if m.site_use_id == str(site_use_id)), None)


# -- the matcher (pure) ----------------------------------------------------------------------------


def _site(record: SourceRecord, settings: FusionStripeSettings) -> FusionSite | SiteNotSynced:
    verdict = map_customer(
        record.data,
        metadata_prefix=settings.customer_metadata_prefix,
        business_units=settings.business_units,
    )
    if isinstance(verdict, Skip):
        return SiteNotSynced(record, verdict.reason)
    if isinstance(verdict, DeadLetter):
        return SiteNotSynced(record, verdict.describe())
    payload = verdict.payload
    address = payload.get("address") or {}
    return FusionSite(
        record=record,
        site_use_id=record.id,
        account_number=_text(record.data.get("AccountNumber")),
        site_number=_text(record.data.get("BillToSiteNumber")),
        name=str(payload["name"]),
        email=_text(payload.get("email")),
        country=_text(address.get("country")),
    )


def _sort_key(value: str) -> tuple[int, int | str]:
    # ASCII digits only: "²".isdigit() is true but int("²") fails; int() also fails beyond 4,300 digits.
    return (0, int(value)) if value.isascii() and value.isdigit() and len(value) <= 4000 else (1, value)


class _Matcher:
    """One matching pass; see the module docstring for the rules."""

    def __init__(
        self,
        sites: Sequence[FusionSite],
        customers: Mapping[str, Mapping[str, Any]],
        settings: FusionStripeSettings,
        linked: Mapping[str, str],
    ) -> None:
        self.sites = sites
        self.customers = customers
        self.settings = settings
        self.key = customer_metadata_keys(settings.customer_metadata_prefix)["site_use_id"]
        self.linked = linked
        self.decided: dict[str, SiteMatch] = {}
        # Stripe customer → the site it belongs to (ledger links, explicit links, matches so far).
        self.claimed: dict[str, str] = {}
        # Stripe customer → sites that found it ambiguous (it is contested by them).
        self.contested: dict[str, set[str]] = {}
        self.owner = {cid: _text((c.get("metadata") or {}).get(self.key)) for cid, c in customers.items()}
        created = {cid: int(c.get("created") or 0) for cid, c in customers.items()}
        self.order = {cid: (created[cid], cid) for cid in customers}

    def run(self) -> dict[str, SiteMatch]:
        self._ledger_links()
        self._explicit_links()
        rules = [MatchRule.METADATA, *(MatchRule(r) for r in self.settings.onboarding.rules)]
        for rule in rules:
            self._apply_rule(rule)
        for site in self.sites:
            if site.site_use_id not in self.decided:
                self._decide(site, MatchAction.CREATE)
        return self.decided

    def _decide(self, site: FusionSite, action: MatchAction, **fields: Any) -> None:
        self.decided[site.site_use_id] = SiteMatch(site, action, metadata_key=self.key, **fields)

    def _ledger_links(self) -> None:
        for site_use_id, customer_id in self.linked.items():
            self.claimed.setdefault(customer_id, site_use_id)
        for site in self.sites:
            linked = self.linked.get(site.site_use_id)
            if linked is not None:
                self._decide(site, MatchAction.LINK, customer_ids=(linked,), rule=MatchRule.LEDGER)

    def _explicit_links(self) -> None:
        links = self.settings.onboarding.links
        for site in self.sites:
            customer_id = links.get(site.site_use_id)
            if customer_id is None or site.site_use_id in self.decided:
                continue
            holder = self.claimed.get(customer_id)
            problem = None
            if holder is not None and holder != site.site_use_id:
                problem = (
                    f"onboarding.links names {customer_id}, which the ledger already links to Fusion "
                    f"site {holder}"
                )
            elif customer_id not in self.customers:
                problem = (
                    f"onboarding.links names {customer_id}, which is not a live customer of this "
                    "Stripe account (deleted, or a typo)"
                )
            if problem is not None:
                self._decide(
                    site,
                    MatchAction.AMBIGUOUS,
                    customer_ids=(customer_id,),
                    rule=MatchRule.LINKS,
                    problem=problem,
                )
                continue
            self.claimed[customer_id] = site.site_use_id
            self._decide(site, MatchAction.LINK, customer_ids=(customer_id,), rule=MatchRule.LINKS)

    def _site_value(self, rule: MatchRule, site: FusionSite) -> Any:
        if rule is MatchRule.METADATA:
            return site.site_use_id
        if rule is MatchRule.EMAIL:
            return _email_key(site.email) or None
        name = normalize_name(site.name)
        return (name, site.country.upper()) if name and site.country else None

    def _customer_value(self, rule: MatchRule, customer: Mapping[str, Any]) -> Any:
        if rule is MatchRule.METADATA:
            return _text((customer.get("metadata") or {}).get(self.key))
        if rule is MatchRule.EMAIL:
            return _email_key(customer.get("email")) or None
        name = normalize_name(customer.get("name"))
        country = _text((customer.get("address") or {}).get("country"))
        return (name, country.upper()) if name and country else None

    def _apply_rule(self, rule: MatchRule) -> None:
        index: dict[Any, list[str]] = {}
        for cid, customer in self.customers.items():
            if cid in self.claimed:
                continue
            value = self._customer_value(rule, customer)
            if value is not None:
                index.setdefault(value, []).append(cid)
        candidates: dict[str, list[str]] = {}
        for site in self.sites:
            if site.site_use_id in self.decided:
                continue
            value = self._site_value(rule, site)
            if value is None:
                continue
            found = [
                cid
                for cid in index.get(value, ())
                # A customer carrying another site's Fusion metadata belongs to that site.
                if self.owner[cid] in (None, site.site_use_id)
            ]
            if found:
                candidates[site.site_use_id] = sorted(found, key=self.order.__getitem__)
        claimants: dict[str, set[str]] = {}
        for site_use_id, found in candidates.items():
            for cid in found:
                claimants.setdefault(cid, set()).add(site_use_id)
        sites = {site.site_use_id: site for site in self.sites}
        ambiguous: list[tuple[str, list[str]]] = []
        for site_use_id, found in candidates.items():
            others = {
                other
                for cid in found
                for other in claimants[cid] | self.contested.get(cid, set())
                if other != site_use_id
            }
            if len(found) == 1 and not others:
                self.claimed[found[0]] = site_use_id
                self._decide(sites[site_use_id], MatchAction.LINK, customer_ids=(found[0],), rule=rule)
            else:
                ambiguous.append((site_use_id, found))
                self._decide(
                    sites[site_use_id],
                    MatchAction.AMBIGUOUS,
                    customer_ids=tuple(found),
                    rule=rule,
                    also_matched_by=tuple(sorted(others, key=_sort_key)),
                )
        for site_use_id, found in ambiguous:
            for cid in found:
                self.contested.setdefault(cid, set()).add(site_use_id)


def _live(customers: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    live: dict[str, Mapping[str, Any]] = {}
    for customer in customers:
        if customer.get("deleted") or not customer.get("id"):
            continue
        live[str(customer["id"])] = customer
    return live


def _latest(records: Iterable[SourceRecord]) -> list[SourceRecord]:
    latest: dict[str, SourceRecord] = {}
    for record in records:
        seen = latest.get(record.id)
        if seen is None or (record.changed_at, record.version) >= (seen.changed_at, seen.version):
            latest[record.id] = record
    return [latest[i] for i in sorted(latest, key=_sort_key)]


def match_customers(
    sites: Iterable[SourceRecord],
    customers: Iterable[Mapping[str, Any]],
    settings: FusionStripeSettings,
    *,
    linked: Mapping[str, str] | None = None,
) -> OnboardingPlan:
    """Match Fusion bill-to sites with existing Stripe customers (pure; no I/O).

    :param sites: the Fusion sites as source records (``receivablesCustomerAccountSiteActivities``
        rows, as the ``customers`` stream reads them); each is mapped with
        :func:`~.mapping.map_customer`, and the ones it would not write go to
        :attr:`OnboardingPlan.not_synced`. A site read twice counts once, in its latest version.
    :param customers: the Stripe account's customers as the API returns them; deleted ones are
        ignored.
    :param settings: the tenant's settings (metadata prefix, business units, ``onboarding``).
    :param linked: links the ledger already has, site use id → Stripe customer id: those sites are
        linked as they are, and those customers are no candidate for any other site.
    :return: one verdict per site written by the stream, sorted by site use id.
    """
    synced: list[FusionSite] = []
    not_synced: list[SiteNotSynced] = []
    for record in _latest(sites):
        site = _site(record, settings)
        if isinstance(site, FusionSite):
            synced.append(site)
        else:
            not_synced.append(site)
    live = _live(customers)
    decided = _Matcher(synced, live, settings, {str(k): str(v) for k, v in (linked or {}).items()}).run()
    matches = tuple(decided[site.site_use_id] for site in synced)
    involved = {cid for m in matches if m.action is not MatchAction.CREATE for cid in m.customer_ids}
    left_alone = tuple(cid for cid in live if cid not in involved)
    return OnboardingPlan(
        matches=matches, left_alone=left_alone, not_synced=tuple(not_synced), customers_read=len(live)
    )


# -- reading, applying, re-checking (I/O through hooks) --------------------------------------------


def plan_onboarding(
    fusion_hook: OracleFusionHook,
    stripe_hook: StripeHook,
    settings: FusionStripeSettings,
    *,
    ledger: Ledger | None = None,
    key: StreamKey | None = None,
    read_sites_for_empty_account: bool = True,
) -> OnboardingPlan:
    """Read every Fusion bill-to site and the Stripe account's customers, and match them.

    Fusion is read like the ``customers`` stream reads it (``iter_changed`` on
    ``receivablesCustomerAccountSiteActivities`` by ``LastUpdateDate`` and ``BillToSiteUseId``),
    over all time; Stripe's customers are listed once, 100 a page (lists are strongly consistent
    and never show deleted customers). Nothing is written anywhere.

    :param fusion_hook: the tenant's Fusion hook.
    :param stripe_hook: the tenant's Stripe hook.
    :param settings: the tenant's ``fusion_stripe`` settings.
    :param ledger: when given (with ``key``), the links it already has for these sites are kept
        and their customers are no candidate for another site.
    :param key: the ``customers`` stream's key.
    :param read_sites_for_empty_account: with ``False``, a Stripe account without customers gives
        an empty plan without reading Fusion (every site is simply created; the stream's first
        sync of a new account costs one Stripe list and keeps no plan in memory).
    """
    # The stream module builds the records; imported here, as the stream may import this module.
    from ml_connector_provider.integrations.fusion_stripe.streams import (
        CUSTOMER_KEY,
        CUSTOMER_RESOURCE,
        customer_record,
    )

    if (ledger is None) != (key is None):
        raise ValueError("give both ledger and key, or neither")
    customers = list(stripe_hook.iter_customers())
    if not customers and not read_sites_for_empty_account:
        log.info("Onboarding: the Stripe account has no customers; nothing to match")
        return OnboardingPlan(matches=())
    until = utcnow() + timedelta(days=1)
    records = [
        customer_record(row, fusion_hook)
        for page in fusion_hook.iter_changed(
            CUSTOMER_RESOURCE, key_attr=CUSTOMER_KEY, since=_BEGINNING, until=until
        )
        for row in page
    ]
    linked: dict[str, str] = {}
    if ledger is not None and key is not None:
        found = ledger.get_links(key, [r.id for r in records])
        linked = {source_id: link.target_id for source_id, link in found.items()}
    plan = match_customers(records, customers, settings, linked=linked)
    log.info(
        "Onboarding plan: %d Fusion site(s) to link, %d to create, %d ambiguous; %d of %d Stripe "
        "customer(s) left alone",
        len(plan.links),
        len(plan.creates),
        len(plan.ambiguous),
        len(plan.left_alone),
        plan.customers_read,
    )
    return plan


@dataclass(frozen=True)
class OnboardingResult:
    """What :func:`apply_onboarding` did.

    :param linked: the sites whose link it wrote.
    :param kept: the sites the ledger had linked already (to the customer shown), left as they were.
    :param ambiguous: the plan's ambiguous sites, for the caller to dead-letter with
        :attr:`SiteMatch.reason`.
    """

    linked: tuple[SiteMatch, ...]
    kept: tuple[tuple[SiteMatch, str], ...]
    ambiguous: tuple[SiteMatch, ...]


def apply_onboarding(plan: OnboardingPlan, ledger: Ledger, key: StreamKey, run: RunRef) -> OnboardingResult:
    """Write the plan's links into the ledger, in one transaction.

    Each linked site gets a ``skipped`` outcome carrying the Stripe customer id and the reason
    (:func:`link_reason`) through :meth:`~ml_connector_provider.ledger.Ledger.commit_batch`: the
    link is written without a payload hash, so the stream's next write of the site updates the
    customer with Fusion's data and metadata (after which later runs match by metadata), and an
    audit row records the decision. A site the ledger already links is left as it is. Ambiguous
    sites are not linked; they are returned for the caller to dead-letter.

    :param plan: from :func:`plan_onboarding` or :func:`match_customers`.
    :param ledger: the ledger.
    :param key: the ``customers`` stream's key (tenant, ``fusion_stripe``, ``customers``).
    :param run: the run the audit rows belong to.
    """
    candidates = [m for m in plan.links if m.rule is not MatchRule.LEDGER]
    existing = ledger.get_links(key, [m.site_use_id for m in candidates])
    outcomes: list[Outcome] = []
    linked: list[SiteMatch] = []
    kept: list[tuple[SiteMatch, str]] = []
    for match in candidates:
        link = existing.get(match.site_use_id)
        if link is not None:
            kept.append((match, link.target_id))
            continue
        outcomes.append(
            Outcome(
                record=match.site.record,
                action=Action.SKIPPED,
                source_system=SOURCE_SYSTEM,
                target_system=TARGET_SYSTEM,
                target_id=match.customer_id,
                reason=match.reason,
                payload_hash=None,
            )
        )
        linked.append(match)
    kept.extend((m, m.customer_ids[0]) for m in plan.links if m.rule is MatchRule.LEDGER)
    ledger.commit_batch(key, run, outcomes)
    if outcomes:
        log.info("%s: onboarding linked %d Fusion site(s) to existing Stripe customers", key, len(outcomes))
    return OnboardingResult(linked=tuple(linked), kept=tuple(kept), ambiguous=plan.ambiguous)


def ledger_claims(ledger: Ledger, key: StreamKey) -> Callable[[str], str | None]:
    """For :func:`rematch_sites`: the site use id the ledger links to a Stripe customer in this
    stream (``None`` when none does)."""

    def claimed_by(customer_id: str) -> str | None:
        for link in ledger.links_for_target(TARGET_SYSTEM, customer_id):
            if link.key == key:
                return link.source_id
        return None

    return claimed_by


def _record(site: SourceRecord | Mapping[str, Any]) -> SourceRecord:
    if isinstance(site, SourceRecord):
        return site
    from ml_connector_provider.hooks.oracle_fusion.query import parse_timestamp

    changed = site.get("LastUpdateDate")
    label = " ".join(
        str(site[k]) for k in ("AccountNumber", "BillToSiteNumber", "CustomerName") if site.get(k)
    )
    return SourceRecord(
        id=str(site["BillToSiteUseId"]),
        version=str(changed or ""),
        changed_at=parse_timestamp(changed) if changed else _BEGINNING,
        data=site,
        label=label or None,
    )


def _search_customers(stripe_hook: StripeHook, field: str, value: str) -> list[dict[str, Any]]:
    """Live customers whose ``field`` (``name``, ``email``) is ``value``: Stripe's search (an exact
    match ignoring case, eventually consistent), each hit retrieved by id (see
    :meth:`~ml_connector_provider.hooks.stripe.StripeHook.search_customers`)."""
    from ml_connector_provider.hooks.stripe import search_literal

    return stripe_hook.search_customers(f"{field}:{search_literal(value)}")


def ambiguous_dead_letters(ledger: Ledger, key: StreamKey, *, limit: int = 10_000) -> list[SourceRecord]:
    """The sites of the stream's open dead letters that onboarding found ambiguous (their reason
    starts with :data:`AMBIGUOUS_REASON_PREFIX`), as stored with the dead letters: the
    ``competing`` sites of :func:`rematch_sites`."""
    rows = ledger.list_dead_letters(
        tenant=key.tenant, integration=key.integration, stream=key.stream, status="open", limit=limit
    )
    return [record_from_json(r.record) for r in rows if r.reason.startswith(AMBIGUOUS_REASON_PREFIX)]


def _candidates(
    stripe_hook: StripeHook, site: FusionSite, settings: FusionStripeSettings
) -> list[dict[str, Any]]:
    """The Stripe customers :func:`rematch_sites` compares one site with (see there)."""
    explicit = settings.onboarding.links.get(site.site_use_id)
    if explicit is not None:
        found = stripe_hook.retrieve_customer(explicit)
        return [found] if found else []
    key = customer_metadata_keys(settings.customer_metadata_prefix)["site_use_id"]
    tagged = stripe_hook.find_customer_by_metadata(key, site.site_use_id)
    customers = [tagged] if tagged else []
    rules = settings.onboarding.rules
    if "email" in rules and site.email:
        for address in dict.fromkeys([site.email, site.email.lower()]):
            customers.extend(stripe_hook.iter_customers(email=address))
        customers.extend(_search_customers(stripe_hook, "email", site.email))
    if "name_country" in rules and site.country:
        customers.extend(_search_customers(stripe_hook, "name", site.name))
    return customers


def rematch_sites(
    sites: Iterable[SourceRecord | Mapping[str, Any]],
    stripe_hook: StripeHook,
    settings: FusionStripeSettings,
    *,
    claimed_by: Callable[[str], str | None] | None = None,
    competing: Iterable[SourceRecord | Mapping[str, Any]] = (),
) -> dict[str, SiteMatch]:
    """Match some sites again, for the retry of their ambiguous dead letters, without listing the
    whole Stripe account.

    Each site's candidates come from cheap reads; then the sites, the ``competing`` sites and all
    those candidates go through :func:`match_customers`, with the rules of the full pass:

    * the customer ``settings.onboarding.links`` names, retrieved by id (strongly consistent);
    * otherwise, with the ``email`` rule, the customers listed with the site's e-mail address as
      given and lowercased (``GET /v1/customers?email=``: Stripe's exact, case-sensitive filter;
      strongly consistent), plus those Stripe's search finds with that address in another case;
      the customer carrying the site's Fusion metadata; and, with the ``name_country`` rule, the
      customers named like the site. Search is eventually consistent (a customer created or
      changed in the last minute or so may be missing) and compares whole values ignoring case
      only: a name differing in punctuation or spacing, which the full pass matches, is not found
      here. Settle such sites with ``onboarding.links``, which is read by id.

    The full pass saw every site; a retry sees only the sites it is given. A customer that two
    sites matched stays ambiguous only if the other site is in view: pass the other open ambiguous
    dead letters as ``competing`` (:func:`ambiguous_dead_letters`), or the first site retried
    would take the customer.

    :param sites: the Fusion sites to decide: source records, or their
        ``receivablesCustomerAccountSiteActivities`` rows. Sites the stream does not write
        (inactive, another business unit, invalid data) are left out of the answer.
    :param stripe_hook: the tenant's Stripe hook.
    :param settings: the tenant's ``fusion_stripe`` settings (re-read, so a link the operator
        added since counts).
    :param claimed_by: the site use id that already owns a Stripe customer (see
        :func:`ledger_claims`; add the sites linked earlier in the same batch); such customers
        are no candidate for another site.
    :param competing: other sites that may match the same customers; they are matched too, so a
        customer they also match is not handed to one of ``sites``, but their verdicts are not
        returned. A site in both keeps the ``sites`` version.
    :return: a verdict per site use id of ``sites``.
    :raises ~ml_connector_provider.hooks.stripe.StripeRecordError: Stripe refused a search for a
        site's data.
    """
    records = {r.id: r for r in map(_record, sites)}
    others = [r for r in map(_record, competing) if r.id not in records]
    pool: dict[str, dict[str, Any]] = {}
    for record in records.values():
        facts = _site(record, settings)
        if isinstance(facts, SiteNotSynced):
            continue
        for customer in _candidates(stripe_hook, facts, settings):
            if customer and not customer.get("deleted"):
                pool.setdefault(str(customer["id"]), customer)
    linked: dict[str, str] = {}
    if claimed_by is not None:
        for customer_id in pool:
            owner = claimed_by(customer_id)
            if owner is not None:
                linked.setdefault(owner, customer_id)
    plan = match_customers([*others, *records.values()], pool.values(), settings, linked=linked)
    return {m.site_use_id: m for m in plan.matches if m.site_use_id in records}


def rematch_site(
    site: SourceRecord | Mapping[str, Any],
    stripe_hook: StripeHook,
    settings: FusionStripeSettings,
    *,
    claimed_by: Callable[[str], str | None] | None = None,
    competing: Iterable[SourceRecord | Mapping[str, Any]] = (),
) -> SiteMatch:
    """:func:`rematch_sites` for one site.

    :return: the site's verdict, as in :attr:`OnboardingPlan.matches`.
    :raises ValueError: the stream does not write this site (inactive, another business unit,
        or invalid data): there is nothing to match.
    """
    record = _record(site)
    facts = _site(record, settings)
    if isinstance(facts, SiteNotSynced):
        raise ValueError(f"Fusion site {record.id} is not synced to Stripe: {facts.reason}")
    return rematch_sites([record], stripe_hook, settings, claimed_by=claimed_by, competing=competing)[
        record.id
    ]


# -- showing a plan --------------------------------------------------------------------------------

_COLUMNS = ("site_use_id", "account", "site", "name", "action", "stripe", "rule")


def _site_row(match: SiteMatch) -> dict[str, str]:
    site = match.site
    return {
        "site_use_id": site.site_use_id,
        "account": site.account_number or "",
        "site": site.site_number or "",
        "name": site.name,
        "action": match.action.value,
        "stripe": ", ".join(match.customer_ids),
        "rule": match.rule.value if match.rule else "",
    }


def _table(rows: Sequence[Mapping[str, str]], columns: Sequence[str]) -> list[str]:
    if not rows:
        return ["(none)"]
    cells = [[row[c] if len(row[c]) <= 60 else row[c][:57] + "..." for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(columns)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip() for r in cells)
    return lines


def render_plan(plan: OnboardingPlan, *, verbose: bool = False) -> str:
    """The plan as plain text: one row per Fusion site (use id, account and site number, name,
    action, Stripe id(s), rule), the counts, the reason of every ambiguous site, and with
    ``verbose`` the ids of the Stripe customers left alone and the sites not synced."""
    lines = _table([_site_row(m) for m in plan.matches], _COLUMNS)
    lines.append("")
    lines.append(
        f"{len(plan.links)} to link, {len(plan.creates)} to create, {len(plan.ambiguous)} ambiguous; "
        f"{len(plan.left_alone)} of {plan.customers_read} Stripe customer(s) left alone; "
        f"{len(plan.not_synced)} Fusion site(s) not synced (inactive, other business unit or invalid)"
    )
    if plan.ambiguous:
        lines.append("")
        lines.append("Ambiguous (dead-lettered by the customers stream until settled):")
        lines.extend(f"- {m.reason}" for m in plan.ambiguous)
    if verbose:
        lines.append("")
        lines.append(f"Stripe customers left alone: {', '.join(plan.left_alone) or '(none)'}")
        if plan.not_synced:
            lines.append("Fusion sites not synced:")
            lines.extend(f"- {s.record.id}: {s.reason}" for s in plan.not_synced)
    return "\n".join(lines) + "\n"


def plan_to_json(plan: OnboardingPlan, *, verbose: bool = False) -> dict[str, Any]:
    """The plan as JSON-ready data: ``summary`` (counts), ``sites`` (one entry per Fusion site
    with its action, Stripe ids, rule and reason) and ``left_alone`` (the count, and the ids with
    ``verbose``; ``not_synced`` is listed with ``verbose`` too)."""
    document: dict[str, Any] = {
        "summary": {
            "link": len(plan.links),
            "create": len(plan.creates),
            "ambiguous": len(plan.ambiguous),
            "left_alone": len(plan.left_alone),
            "stripe_customers": plan.customers_read,
            "not_synced": len(plan.not_synced),
        },
        "sites": [
            {
                "site_use_id": m.site_use_id,
                "account_number": m.site.account_number,
                "site_number": m.site.site_number,
                "name": m.site.name,
                "action": m.action.value,
                "stripe_ids": list(m.customer_ids),
                "rule": m.rule.value if m.rule else None,
                "reason": m.reason,
            }
            for m in plan.matches
        ],
        "left_alone": {"count": len(plan.left_alone)},
    }
    if verbose:
        document["left_alone"]["ids"] = list(plan.left_alone)
        document["not_synced"] = [{"site_use_id": s.record.id, "reason": s.reason} for s in plan.not_synced]
    return document
