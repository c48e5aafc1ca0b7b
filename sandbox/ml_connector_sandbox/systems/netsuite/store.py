"""Record types, reference resolution, validation and balances of the NetSuite stand-in.

Shapes follow contract B4: references are ``{"id": "614"}`` on input and
``{"links", "id", "refName"}`` on output, ids are strings, sublists are ``{"items": [...]}``.
Field names are matched case-insensitively on input (B4: UNCONFIRMED, lenient); custom fields
(``custbody_``, ``custentity_``, ``custitem_``, ``custcol_`` …) are accepted and stored as sent.
Every function here runs with the state lock held by its caller.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from ml_connector_sandbox.systems.netsuite.errors import NetSuiteError

__all__ = [
    "CURRENCY_DECIMALS",
    "ITEM_TYPES",
    "RECORD_TYPES",
    "TRANSACTION_TYPES",
    "RecordType",
    "balances",
    "canonical_type",
    "prepare",
    "render",
]


@dataclass(frozen=True)
class RecordType:
    """One REST record type (B3/B4)."""

    name: str
    family: str
    """Id sequence it shares: ``entity``, ``item``, ``transaction``, or its own name."""
    fields: tuple[str, ...]
    references: dict[str, str]
    """Body field → the family or type its ``{"id"}`` must exist in."""
    sublists: dict[str, tuple[str, ...]]
    """Sublist field → its line fields."""
    line_references: dict[str, str]
    suiteql_type: str | None = None
    """``transaction.type`` in SuiteQL, or the item's ``itemtype``."""
    writable: bool = True


_LINE_FIELDS = (
    "item",
    "quantity",
    "rate",
    "amount",
    "description",
    "price",
    "location",
    "department",
    "class",
)
_APPLY_FIELDS = ("doc", "apply", "amount", "line")
_COMMON = ("externalId", "isInactive")

_ITEM_FIELDS = (
    *_COMMON,
    "itemId",
    "displayName",
    "salesDescription",
    "description",
    "incomeAccount",
    "subsidiary",
    "basePrice",
)


def _item(name: str, itemtype: str) -> RecordType:
    # B4 "Items": record ids inventoryItem, nonInventorySaleItem, … serviceSaleItem, discountItem.
    return RecordType(name, "item", _ITEM_FIELDS, {"incomeAccount": "account"}, {}, {}, itemtype)


RECORD_TYPES: dict[str, RecordType] = {
    t.name.lower(): t
    for t in (
        RecordType(
            "subsidiary",
            "subsidiary",
            ("name", "currency", "country"),
            {"currency": "currency"},
            {},
            {},
            writable=False,
        ),
        RecordType(
            "currency", "currency", ("name", "symbol", "currencyPrecision"), {}, {}, {}, writable=False
        ),
        RecordType("account", "account", ("acctName", "acctNumber", "acctType"), {}, {}, {}, writable=False),
        RecordType(
            "customer",
            "entity",
            (
                *_COMMON,
                "entityId",
                "companyName",
                "isPerson",
                "firstName",
                "lastName",
                "email",
                "phone",
                "subsidiary",
                "currency",
                "terms",
                "addressBook",
                "comments",
            ),
            {"subsidiary": "subsidiary", "currency": "currency"},
            {"addressBook": ("addressBookAddress", "defaultBilling", "defaultShipping", "label")},
            {},
        ),
        _item("inventoryItem", "InvtPart"),
        _item("nonInventorySaleItem", "NonInvtPart"),
        _item("nonInventoryResaleItem", "NonInvtPart"),
        _item("serviceSaleItem", "Service"),
        _item("serviceResaleItem", "Service"),
        _item("discountItem", "Discount"),
        RecordType(
            "invoice",
            "transaction",
            (
                *_COMMON,
                "entity",
                "subsidiary",
                "currency",
                "tranDate",
                "dueDate",
                "otherRefNum",
                "memo",
                "item",
                "terms",
                "postingPeriod",
                "location",
                "department",
                "class",
                "tranId",
                "exchangeRate",
            ),
            {"entity": "customer", "subsidiary": "subsidiary", "currency": "currency"},
            {"item": _LINE_FIELDS},
            {"item": "item"},
            "CustInvc",
        ),
        RecordType(
            "customerPayment",
            "transaction",
            (
                *_COMMON,
                "customer",
                "account",
                "apply",
                "currency",
                "payment",
                "memo",
                "tranDate",
                "subsidiary",
                "toBeEmailed",
                "undepFunds",
                "paymentMethod",
                "checkNum",
                "tranId",
                "exchangeRate",
            ),
            {
                "customer": "customer",
                "account": "account",
                "currency": "currency",
                "subsidiary": "subsidiary",
            },
            {"apply": _APPLY_FIELDS},
            {"doc": "invoice"},
            "CustPymt",
        ),
        RecordType(
            "creditMemo",
            "transaction",
            (
                *_COMMON,
                "entity",
                "subsidiary",
                "currency",
                "tranDate",
                "memo",
                "item",
                "apply",
                "createdFrom",
                "otherRefNum",
                "tranId",
                "exchangeRate",
            ),
            {
                "entity": "customer",
                "subsidiary": "subsidiary",
                "currency": "currency",
                "createdFrom": "invoice",
            },
            {"item": _LINE_FIELDS, "apply": _APPLY_FIELDS},
            {"item": "item", "doc": "invoice"},
            "CustCred",
        ),
        RecordType(
            "customerRefund",
            "transaction",
            (
                *_COMMON,
                "customer",
                "account",
                "apply",
                "currency",
                "memo",
                "tranDate",
                "subsidiary",
                "paymentMethod",
                "tranId",
                "exchangeRate",
            ),
            {
                "customer": "customer",
                "account": "account",
                "currency": "currency",
                "subsidiary": "subsidiary",
            },
            {"apply": _APPLY_FIELDS},
            {"doc": "creditMemo"},
            "CustRfnd",
        ),
    )
}
"""Record types by lower-case name (B1: type ids in paths are matched case-insensitively)."""

ITEM_TYPES = tuple(name for name, t in RECORD_TYPES.items() if t.family == "item")
TRANSACTION_TYPES = tuple(name for name, t in RECORD_TYPES.items() if t.family == "transaction")

CURRENCY_DECIMALS: dict[str, int] = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KRW": 0}
"""Minor-unit digits per currency (the seeded currencies' ``currencyPrecision``)."""

_CUSTOM_PREFIXES = ("custbody_", "custentity_", "custitem_", "custcol_", "custrecord_", "custevent_")


def canonical_type(name: str) -> RecordType | None:
    """The record type of a path segment, case-insensitively (B1)."""
    return RECORD_TYPES.get(name.lower())


def is_custom(field: str) -> bool:
    """Whether ``field`` is a custom field id (``custbody_…``, ``custentity_…``, ``custitem_…``, ``custcol_…``)."""
    return field.lower().startswith(_CUSTOM_PREFIXES)


def _canonical_field(record_type: RecordType, field: str, allowed: tuple[str, ...]) -> str | None:
    lowered = field.lower()
    for known in allowed:
        if known.lower() == lowered:
            return known
    return None


def _bad(code: str, detail: str, path: str | None = None, status: int = 400) -> NetSuiteError:
    return NetSuiteError(status, code, detail, path=path)


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _bad("INVALID_CONTENT", f"Invalid value for {path}: a number is required.", path)
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise _bad("INVALID_CONTENT", f"Invalid value for {path}: {value!r} is not a number.", path) from exc
    if not number.is_finite():
        raise _bad("INVALID_CONTENT", f"Invalid value for {path}: {value!r} is not a number.", path)
    return number


def _lookup(db: dict[str, Any], target: str, ref_id: str) -> tuple[str, dict[str, Any]] | None:
    """``(type, record)`` of id ``ref_id`` in a family (``item``) or a type (``invoice``)."""
    records: dict[str, dict[str, dict[str, Any]]] = db["records"]
    for type_name, rtype in RECORD_TYPES.items():
        if type_name == target.lower() or rtype.family == target:
            found = records.get(type_name, {}).get(ref_id)
            if found is not None:
                return type_name, found
    return None


def _find_external(db: dict[str, Any], target: str, external_id: str) -> str | None:
    records: dict[str, dict[str, dict[str, Any]]] = db["records"]
    for type_name, rtype in RECORD_TYPES.items():
        if type_name == target.lower() or rtype.family == target:
            for rid, record in records.get(type_name, {}).items():
                if record.get("externalId") == external_id:
                    return rid
    return None


def _reference(db: dict[str, Any], target: str, value: Any, path: str, field: str) -> str:
    """Resolve ``{"id"}`` (B4), ``{"externalId"}`` or ``{"refName"}`` (B4: UNCONFIRMED, lenient)."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        value = {"id": str(value)}
    if not isinstance(value, dict):
        raise _bad(
            "INVALID_CONTENT",
            f'Invalid value for {path}: a reference object {{"id": ...}} is required.',
            path,
        )
    ref_id: str | None = None
    if value.get("id") is not None:
        ref_id = str(value["id"])
        if _lookup(db, target, ref_id) is None:
            ref_id = None
    elif value.get("externalId") is not None:
        ref_id = _find_external(db, target, str(value["externalId"]))
    elif value.get("refName") is not None:
        wanted = str(value["refName"])
        for type_name, rtype in RECORD_TYPES.items():
            if type_name == target.lower() or rtype.family == target:
                for rid, record in db["records"].get(type_name, {}).items():
                    if ref_name(type_name, record) == wanted:
                        ref_id = rid
    shown = value.get("id", value.get("externalId", value.get("refName")))
    if ref_id is None:
        raise _bad(
            "INVALID_KEY_OR_REF",
            f"Invalid Field Value {shown} for the following field: {field.lower()}",
            path,
        )
    return ref_id


def ref_name(type_name: str, record: dict[str, Any]) -> str:
    """The ``refName`` a reference to ``record`` shows (B4)."""
    for key in ("companyName", "entityId", "itemId", "name", "symbol", "acctName"):
        if record.get(key):
            return str(record[key])
    if record.get("tranId"):
        label = RECORD_TYPES[type_name].name
        return f"{label[0].upper()}{label[1:]} #{record['tranId']}"
    return str(record.get("id", ""))


def prepare(
    db: dict[str, Any],
    rtype: RecordType,
    body: Any,
    *,
    existing: dict[str, Any] | None,
    validation: str,
    allowed_currencies: list[str],
) -> dict[str, Any]:
    """Normalise and validate a create/update body; returns the new stored record (without id).

    ``existing`` is merged under the body (an update, B3 PATCH and ``eid:`` upsert on an existing
    record); a sublist given in the body replaces the stored one (UNCONFIRMED: NetSuite's
    ``replace`` query parameter is not modelled).
    """
    if not isinstance(body, dict):
        raise _bad("INVALID_CONTENT", "The request body must be a JSON object.")
    record: dict[str, Any] = copy.deepcopy(existing) if existing else {}
    for raw_field, value in body.items():
        if raw_field in ("links", "id"):
            if raw_field == "id":
                raise _bad("INVALID_CONTENT", "The request body must not contain the internal id.", "id")
            continue
        if is_custom(raw_field):
            record[raw_field.lower()] = copy.deepcopy(value)
            continue
        field = _canonical_field(rtype, raw_field, rtype.fields)
        if field is None:
            if validation == "error":
                raise _bad(
                    "NONEXISTENT_FIELD",
                    f"Invalid field name {raw_field} on record {rtype.name}.",
                    raw_field,
                )
            continue
        if field in rtype.references and value is not None:
            ref = _reference(db, rtype.references[field], value, field, field)
            if field == "currency":
                symbol = db["records"]["currency"][ref]["symbol"]
                if symbol not in allowed_currencies:
                    raise _bad(
                        "INVALID_KEY_OR_REF",
                        f"Invalid Field Value {ref} for the following field: currency",
                        field,
                    )
            record[field] = {"id": ref}
        elif field in rtype.sublists:
            record[field] = {"items": _lines(db, rtype, field, value)}
        else:
            record[field] = copy.deepcopy(value)
    return record


def _lines(db: dict[str, Any], rtype: RecordType, sublist: str, value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, dict) or not isinstance(value.get("items"), list):
        raise _bad("INVALID_CONTENT", f'Invalid value for {sublist}: expected {{"items": [...]}}.', sublist)
    lines: list[dict[str, Any]] = []
    for index, raw in enumerate(value["items"]):
        path = f"{sublist}.items[{index}]"
        if not isinstance(raw, dict):
            raise _bad("INVALID_CONTENT", f"Invalid value for {path}: a line object is required.", path)
        line: dict[str, Any] = {}
        for raw_field, field_value in raw.items():
            if is_custom(raw_field):
                line[raw_field.lower()] = copy.deepcopy(field_value)
                continue
            field = _canonical_field(rtype, raw_field, rtype.sublists[sublist])
            if field is None:
                continue
            target = rtype.line_references.get(field)
            if target is not None and field_value is not None:
                line[field] = {"id": _reference(db, target, field_value, f"{path}.{field}", field)}
            elif field in ("quantity", "rate", "amount"):
                line[field] = _decimal(field_value, f"{path}.{field}")
            else:
                line[field] = copy.deepcopy(field_value)
        lines.append(line)
    return lines


def _money(value: Decimal, currency: str, path: str) -> Decimal:
    """Amounts must fit the currency's minor units (UNCONFIRMED: NetSuite may round instead)."""
    decimals = CURRENCY_DECIMALS.get(currency, 2)
    if value != value.quantize(Decimal(1).scaleb(-decimals)):
        raise _bad(
            "INVALID_CONTENT",
            f"Invalid value for {path}: {value} has more than {decimals} decimal places for {currency}.",
            path,
        )
    return value


def currency_of(db: dict[str, Any], record: dict[str, Any]) -> str:
    """The record's currency symbol (its ``currency``, else its customer's, else USD)."""
    ref = record.get("currency")
    if ref is None:
        customer_ref = record.get("entity") or record.get("customer")
        if customer_ref is not None:
            customer = db["records"]["customer"].get(customer_ref["id"], {})
            ref = customer.get("currency")
    if ref is None:
        return "USD"
    return str(db["records"]["currency"][ref["id"]]["symbol"])


def line_amount(line: dict[str, Any]) -> Decimal:
    """A line's amount: ``amount``, else ``quantity × rate`` (quantity 1 by default)."""
    if line.get("amount") is not None:
        return Decimal(line["amount"])
    return Decimal(line.get("quantity", 1)) * Decimal(line.get("rate", 0))


def transaction_total(rtype: RecordType, record: dict[str, Any]) -> Decimal:
    """What a transaction is worth: the sum of its lines, ``payment``, or the refunded credits."""
    if rtype.name == "customerPayment":
        return Decimal(str(record.get("payment", 0)))
    if "item" in rtype.sublists:
        return sum((line_amount(line) for line in record.get("item", {}).get("items", [])), Decimal(0))
    return sum(
        (
            Decimal(str(a.get("amount", 0)))
            for a in record.get("apply", {}).get("items", [])
            if a.get("apply", True)
        ),
        Decimal(0),
    )


def _applications(record: dict[str, Any]) -> list[tuple[str, Decimal]]:
    return [
        (a["doc"]["id"], Decimal(str(a.get("amount", 0))))
        for a in record.get("apply", {}).get("items", [])
        if a.get("apply", True) and a.get("doc")
    ]


def balances(db: dict[str, Any], *, skip: tuple[str, str] | None = None) -> dict[str, Decimal]:
    """Applied amount per transaction id: what payments and credits applied to each invoice, and
    what refunds drew on each credit memo (``skip``: ignore one ``(type, id)``, the record being
    replaced)."""
    applied: dict[str, Decimal] = {}
    for type_name in ("customerpayment", "creditmemo", "customerrefund"):
        for rid, record in db["records"][type_name].items():
            if skip == (type_name, rid):
                continue
            for doc, amount in _applications(record):
                applied[doc] = applied.get(doc, Decimal(0)) + amount
    return applied


def transactions_of(db: dict[str, Any], customer_id: str) -> int:
    """How many transactions name ``customer_id`` as their entity or customer."""
    count = 0
    for type_name in TRANSACTION_TYPES:
        for record in db["records"][type_name].values():
            party = record.get("entity") or record.get("customer") or {}
            count += party.get("id") == customer_id
    return count


def check_transaction(
    db: dict[str, Any], rtype: RecordType, record: dict[str, Any], *, record_id: str | None
) -> None:
    """The checks an account makes on transactions (UNCONFIRMED wording, codes from B8).

    Required header references, positive amounts in the currency's minor units, a non-negative
    total, and applications that do not exceed what is open on the target document.
    """
    party = "entity" if "entity" in rtype.references else "customer"
    if record.get(party) is None:
        raise _bad("USER_ERROR", f"Please enter value(s) for: {party.capitalize()}", party)
    currency = currency_of(db, record)
    for sublist in ("item",):
        if sublist in rtype.sublists:
            lines = record.get(sublist, {}).get("items", [])
            if not lines:
                raise _bad(
                    "USER_ERROR", "You must enter at least one line item for this transaction.", "item"
                )
            for index, line in enumerate(lines):
                path = f"item.items[{index}]"
                if line.get("item") is None:
                    raise _bad("USER_ERROR", f"Please enter value(s) for: Item ({path})", f"{path}.item")
                if line.get("amount") is not None:
                    _money(Decimal(line["amount"]), currency, f"{path}.amount")
                if line.get("quantity") is not None and Decimal(line["quantity"]) <= 0:
                    raise _bad(
                        "INVALID_CONTENT",
                        f"Invalid value for {path}.quantity: must be positive.",
                        f"{path}.quantity",
                    )
    total = transaction_total(rtype, record)
    if rtype.name == "customerPayment":
        if record.get("payment") is None:
            raise _bad("USER_ERROR", "Please enter value(s) for: Payment Amount", "payment")
        _money(_decimal(record["payment"], "payment"), currency, "payment")
        if total <= 0:
            raise _bad(
                "INVALID_CONTENT",
                "Invalid value for payment: the payment amount must be positive.",
                "payment",
            )
    elif total < 0:
        raise _bad("USER_ERROR", f"The total of this {rtype.name} cannot be negative ({total}).")

    applied_elsewhere = balances(db, skip=(rtype.name.lower(), record_id) if record_id else None)
    target_type = rtype.line_references.get("doc")
    if "apply" in rtype.sublists and target_type:
        party_id = record[party]["id"]
        applied_here = Decimal(0)
        for index, (doc, amount) in enumerate(_applications(record)):
            path = f"apply.items[{index}]"
            target = db["records"][target_type.lower()].get(doc)
            if target is None:
                raise _bad(
                    "INVALID_KEY_OR_REF",
                    f"Invalid Field Value {doc} for the following field: doc",
                    f"{path}.doc",
                )
            target_party = (target.get("entity") or target.get("customer") or {}).get("id")
            if target_party != party_id:
                raise _bad("USER_ERROR", f"{target_type} {doc} belongs to another customer.", f"{path}.doc")
            if currency_of(db, target) != currency:
                raise _bad(
                    "USER_ERROR",
                    f"{target_type} {doc} is in {currency_of(db, target)}, not {currency}.",
                    f"{path}.doc",
                )
            _money(amount, currency, f"{path}.amount")
            if amount <= 0:
                raise _bad(
                    "INVALID_CONTENT", f"Invalid value for {path}.amount: must be positive.", f"{path}.amount"
                )
            target_total = transaction_total(RECORD_TYPES[target_type.lower()], target)
            open_amount = target_total - applied_elsewhere.get(doc, Decimal(0))
            if amount > open_amount:
                raise _bad(
                    "USER_ERROR",
                    f"The amount applied to {target_type} {doc} ({amount}) exceeds its open amount ({open_amount}).",
                    f"{path}.amount",
                )
            applied_here += amount
        if rtype.name != "customerRefund" and applied_here > total:
            raise _bad(
                "USER_ERROR", f"The amounts applied ({applied_here}) exceed the total ({total}).", "apply"
            )
    if record_id is not None:
        # An update must not leave documents applied beyond their new total.
        mine = balances(db).get(record_id, Decimal(0))
        if mine > total and rtype.name in ("invoice", "creditMemo"):
            raise _bad(
                "USER_ERROR", f"{rtype.name} {record_id} has {mine} applied, more than its new total {total}."
            )


def render(
    db: dict[str, Any],
    type_name: str,
    record: dict[str, Any],
    base: str,
    *,
    expand: bool,
) -> dict[str, Any]:
    """The GET representation (B3/B4): ``links``, string ids, references with ``refName``,
    sublists as links unless ``expandSubResources=true``; transactions carry ``total``,
    ``amountRemaining`` (invoices, credit memos) or ``applied``/``unapplied`` (payments) and a
    ``status``."""
    rtype = RECORD_TYPES[type_name]
    self_url = f"{base}/services/rest/record/v1/{type_name}/{record['id']}"
    out: dict[str, Any] = {"links": [{"rel": "self", "href": self_url}]}
    for key, value in record.items():
        if key in rtype.references and isinstance(value, dict):
            out[key] = _render_ref(db, rtype.references[key], value["id"], base)
        elif key in rtype.sublists:
            links = [{"rel": "self", "href": f"{self_url}/{key}"}]
            if expand:
                items = [_render_line(db, rtype, line, base) for line in value.get("items", [])]
                out[key] = {"links": links, "items": items, "totalResults": len(items)}
            else:
                out[key] = {"links": links}
        else:
            out[key] = value
    if rtype.family == "transaction":
        applied = balances(db)
        total = transaction_total(rtype, record)
        out["total"] = float(total)
        if type_name in ("invoice", "creditmemo"):
            remaining = total - applied.get(record["id"], Decimal(0))
            out["amountRemaining"] = float(remaining)
            closed = "Paid In Full" if type_name == "invoice" else "Fully Applied"
            out["status"] = {
                "id": "B" if remaining == 0 else "A",
                "refName": closed if remaining == 0 else "Open",
            }
        elif type_name == "customerpayment":
            used = sum((a for _, a in _applications(record)), Decimal(0))
            out["applied"] = float(used)
            out["unapplied"] = float(total - used)
    return out


def _render_ref(db: dict[str, Any], target: str, ref_id: str, base: str) -> dict[str, Any]:
    found = _lookup(db, target, ref_id)
    if found is None:
        return {"id": ref_id}
    type_name, record = found
    return {
        "links": [{"rel": "self", "href": f"{base}/services/rest/record/v1/{type_name}/{ref_id}"}],
        "id": ref_id,
        "refName": ref_name(type_name, record),
    }


def _render_line(db: dict[str, Any], rtype: RecordType, line: dict[str, Any], base: str) -> dict[str, Any]:
    out: dict[str, Any] = {"links": []}
    for key, value in line.items():
        target = rtype.line_references.get(key)
        if target is not None and isinstance(value, dict):
            out[key] = _render_ref(db, target, value["id"], base)
        elif isinstance(value, Decimal):
            out[key] = float(value)
        else:
            out[key] = value
    return out
