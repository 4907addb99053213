"""Small helpers between Python values and WIT values as `wasmtime.component` sees them.

`wasmtime.component` (wasmtime-py 50) maps WIT values as follows:

* a record is a `Record` whose attributes are the WIT field names, in
  kebab-case (so `getattr(r, "contact-no")`);
* an enum is its case name as a `str`;
* an option is `None` or the value;
* a variant is a `Variant(tag, payload)` when its cases cannot be told apart
  by Python type ("tagged"), else the bare payload.

The last rule is ambiguous for `result<option<T>, error>`: an option accepts
every Python object, so an error `Variant` would be lowered as `ok(some(...))`
and fail. The host has several such imports (`storage.get`,
`storage.get-secret`, `crm.email-interaction-template`, `scheduler.status`),
so `tag_all_results()` makes every `result` tagged: host functions return
`ok(x)` / `err(e)` and exports' results come back as `Variant("ok"|"err", x)`.
"""

from __future__ import annotations

from typing import Any, Iterable

from wasmtime.component import Record, ResultType, Variant


def tag_all_results() -> None:
    """Makes every WIT `result` a tagged `Variant("ok"|"err", payload)`.

    wasmtime-py decides per type whether a variant is tagged; for results
    whose ok type holds an option it picks "untagged" and can then never
    lower an error. Tagging all results removes the ambiguity both ways.
    """
    ResultType._tagged = lambda self: True  # type: ignore[method-assign]


def rec(**fields: Any) -> Record:
    """A WIT record from Python keyword names (`contact_no` -> `contact-no`)."""
    r = Record()
    for name, value in fields.items():
        setattr(r, name.replace("_", "-"), value)
    return r


def field(r: Any, name: str) -> Any:
    """A record field by its Python name (`contact_no`) or WIT name (`contact-no`)."""
    return getattr(r, name.replace("_", "-"))


def to_dict(r: Any) -> Any:
    """A WIT value as plain Python data (records to dicts with snake_case keys)."""
    if isinstance(r, Record):
        return {k.replace("-", "_"): to_dict(v) for k, v in vars(r).items()}
    if isinstance(r, Variant):
        return {"tag": r.tag, "payload": to_dict(r.payload)}
    if isinstance(r, list):
        return [to_dict(x) for x in r]
    if isinstance(r, tuple):
        return tuple(to_dict(x) for x in r)
    return r


def ok(value: Any = None) -> Variant:
    """`ok(value)` of a WIT result (`ok()` for `result<_, E>`)."""
    return Variant("ok", value)


def err(value: Any) -> Variant:
    """`err(value)` of a WIT result."""
    return Variant("err", value)


class HostError(Exception):
    """A failure a host function answers as the WIT `error` variant.

    `kind` is one of `denied`, `not-found`, `invalid`, `unavailable`,
    `conflict`, `internal`; the text never holds a secret.
    """

    KINDS = ("denied", "not-found", "invalid", "unavailable", "conflict", "internal")

    def __init__(self, kind: str, message: str) -> None:
        if kind not in self.KINDS:
            raise ValueError(f"not a WIT error kind: {kind}")
        super().__init__(f"{kind}: {message}")
        self.kind = kind
        self.message = message

    def wit(self) -> Variant:
        """The WIT `error` value."""
        return Variant(self.kind, self.message)


def unwrap(result: Any) -> Any:
    """The ok payload of a tagged export result; raises `ExportError` on `err`."""
    if isinstance(result, Variant) and result.tag in ("ok", "err"):
        if result.tag == "err":
            raise ExportError(result.payload)
        return result.payload
    return result


class ExportError(Exception):
    """An export (`setup.*`, `processing.*`) answered `err(...)`."""

    def __init__(self, payload: Any) -> None:
        self.payload = payload
        super().__init__(describe(payload))


def describe(payload: Any) -> str:
    """A short text for a WIT error payload (`setup-error`, `run-error`...)."""
    if isinstance(payload, Variant):
        if payload.payload is None:
            return payload.tag
        if isinstance(payload.payload, list):
            inner = "; ".join(
                f"{field(x, 'field')}: {field(x, 'message')}" if isinstance(x, Record) else str(x)
                for x in payload.payload
            )
            return f"{payload.tag}: {inner}"
        return f"{payload.tag}: {payload.payload}"
    return str(payload)


def strings(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """A list of string pairs as WIT `list<tuple<string, string>>`."""
    return [(str(k), str(v)) for k, v in pairs]
