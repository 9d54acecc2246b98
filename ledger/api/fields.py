"""Marshmallow fields for the ledger's value formats (design.md §2, "Value formats")."""

from __future__ import annotations

import re
from datetime import date
from enum import StrEnum
from typing import Any, cast

from marshmallow import Schema, ValidationError, fields, validate

from ledger.domain.timefmt import format_instant, parse_instant
from ledger.settings import Settings

ID_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"


class Pattern(validate.Regexp):
    """The whole value matches the pattern: `re.match` with `$` would also take a value that
    ends in a newline, which the same pattern in the OpenAPI document refuses."""

    def __call__(self, value: Any) -> Any:
        regex = cast("re.Pattern[str]", self.regex)  # compiled from a str here
        if not isinstance(value, str) or regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


# ISO 4217 active codes.
CURRENCIES = frozenset(
    [
        "AED",
        "AFN",
        "ALL",
        "AMD",
        "ANG",
        "AOA",
        "ARS",
        "AUD",
        "AWG",
        "AZN",
        "BAM",
        "BBD",
        "BDT",
        "BGN",
        "BHD",
        "BIF",
        "BMD",
        "BND",
        "BOB",
        "BRL",
        "BSD",
        "BTN",
        "BWP",
        "BYN",
        "BZD",
        "CAD",
        "CDF",
        "CHF",
        "CLP",
        "CNY",
        "COP",
        "CRC",
        "CUP",
        "CVE",
        "CZK",
        "DJF",
        "DKK",
        "DOP",
        "DZD",
        "EGP",
        "ERN",
        "ETB",
        "EUR",
        "FJD",
        "FKP",
        "GBP",
        "GEL",
        "GHS",
        "GIP",
        "GMD",
        "GNF",
        "GTQ",
        "GYD",
        "HKD",
        "HNL",
        "HTG",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "IQD",
        "IRR",
        "ISK",
        "JMD",
        "JOD",
        "JPY",
        "KES",
        "KGS",
        "KHR",
        "KMF",
        "KPW",
        "KRW",
        "KWD",
        "KYD",
        "KZT",
        "LAK",
        "LBP",
        "LKR",
        "LRD",
        "LSL",
        "LYD",
        "MAD",
        "MDL",
        "MGA",
        "MKD",
        "MMK",
        "MNT",
        "MOP",
        "MRU",
        "MUR",
        "MVR",
        "MWK",
        "MXN",
        "MYR",
        "MZN",
        "NAD",
        "NGN",
        "NIO",
        "NOK",
        "NPR",
        "NZD",
        "OMR",
        "PAB",
        "PEN",
        "PGK",
        "PHP",
        "PKR",
        "PLN",
        "PYG",
        "QAR",
        "RON",
        "RSD",
        "RUB",
        "RWF",
        "SAR",
        "SBD",
        "SCR",
        "SDG",
        "SEK",
        "SGD",
        "SHP",
        "SLE",
        "SOS",
        "SRD",
        "SSP",
        "STN",
        "SVC",
        "SYP",
        "SZL",
        "THB",
        "TJS",
        "TMT",
        "TND",
        "TOP",
        "TRY",
        "TTD",
        "TWD",
        "TZS",
        "UAH",
        "UGX",
        "USD",
        "UYU",
        "UZS",
        "VED",
        "VES",
        "VND",
        "VUV",
        "WST",
        "XAF",
        "XCD",
        "XCG",
        "XOF",
        "XPF",
        "YER",
        "ZAR",
        "ZMW",
        "ZWG",
    ]
)
AMOUNT = re.compile(r"^\d{1,15}(\.\d{1,6})?$")


class Id(fields.String):
    """A client-chosen id: 1–100 letters, digits, '-', '_', '.', ':'."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=Pattern(
                ID_PATTERN,
                error="Use 1–100 letters, digits, '-', '_', '.' or ':' for an id.",
            ),
            metadata={"pattern": ID_PATTERN, "example": "partner-1"},
            **kwargs,
        )


class Text(fields.String):
    """Free text of bounded length, never empty."""

    def __init__(self, max_length: int = 10_000, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(min=1, max=max_length), **kwargs)


class Choice(fields.String):
    """One value of a closed vocabulary."""

    def __init__(self, vocabulary: type[StrEnum], **kwargs: Any) -> None:
        self.choices = [member.value for member in vocabulary]
        super().__init__(
            validate=validate.OneOf(self.choices, error="Must be one of: {choices}."),
            metadata={"enum": self.choices},
            **kwargs,
        )


class IsoDate(fields.String):
    """A calendar date, `2025-06-30`, kept as that string."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"format": "date", "example": "2025-06-30"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            if len(text) != 10:
                raise ValueError
            return date.fromisoformat(text).isoformat()
        except ValueError:
            raise ValidationError("Use a date like 2025-06-30.") from None


class Instant(fields.String):
    """An RFC 3339 date-time with offset, normalised to fixed-precision UTC."""

    def __init__(self, **kwargs: Any) -> None:
        documented = {"format": "date-time", "example": "2025-03-01T09:00:00Z"}
        super().__init__(metadata={**documented, **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|z|[+-]\d\d:\d\d)", text):
            raise ValidationError(
                "Use an RFC 3339 date-time with offset, like 2025-03-01T09:00:00Z."
            )
        try:
            return format_instant(parse_instant(_trim_fraction(text)))
        except ValueError:
            raise ValidationError("This date-time does not exist; check the date.") from None
        except OverflowError:
            raise ValidationError("This date-time is outside years 0001 to 9999 in UTC.") from None


def _trim_fraction(text: str) -> str:
    """Python parses at most microseconds: drop finer digits (RFC 3339 allows nanoseconds)."""
    match = re.fullmatch(r"(.*\.\d{6})\d*(.*)", text)
    return f"{match.group(1)}{match.group(2)}" if match else text


class Amount(fields.String):
    """A non-negative decimal string such as "2500.00", kept exact."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(metadata={"pattern": AMOUNT.pattern, "example": "2500.00"}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if not AMOUNT.match(text):
            raise ValidationError(
                'Use a decimal string like "2500.00" (no sign, up to 6 decimals).'
            )
        return text


class Currency(fields.String):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=validate.OneOf(CURRENCIES, error="Use an ISO 4217 currency code like EUR."),
            metadata={"example": "EUR", "pattern": "^[A-Z]{3}$"},
            **kwargs,
        )


class MoneySchema(Schema):
    amount = Amount(required=True)
    currency = Currency(required=True)


class PageLimit(fields.Integer):
    """How many items a page holds. The maximum is the configured page_limit_max, which
    `limit_of` enforces (400 above it); the document states its default."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            validate=validate.Range(min=1),
            metadata={"maximum": Settings.page_limit_max},
            **kwargs,
        )


class ServerOwned(fields.Field[Any]):
    """A field that only the ledger sets: present in a body, it is an error. Documented with
    `not: {}`, a schema no value matches, so that the OpenAPI document forbids it too."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(
            metadata={"not": {}, "description": "Set by the ledger; leave it out."}, **kwargs
        )

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        raise ValidationError(f"'{attr}' is set by the ledger, not by clients; remove it.")


class StrictBoolean(fields.Boolean):
    """true or false, and nothing that merely looks like them ("yes", 1)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Use true or false.")
        return value
