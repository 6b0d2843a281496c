"""PayPal Payouts adapter: `PayPalClient` / `get_client()`, typed results and errors.

The fake server lives in `fake.py` (not imported here: it is for tests and the demo).
"""

from .client import BatchLookup, PayPalClient, get_client
from .errors import (
    DuplicateBatchError,
    ErrorDetail,
    PayPalAuthError,
    PayPalError,
    PayPalNotFound,
    PayPalUnavailable,
    PayPalValidationError,
)
from .types import BatchResult, ItemError, ItemResult, PayoutItem, parse_amount

__all__ = [
    "BatchLookup",
    "BatchResult",
    "DuplicateBatchError",
    "ErrorDetail",
    "ItemError",
    "ItemResult",
    "PayPalAuthError",
    "PayPalClient",
    "PayPalError",
    "PayPalNotFound",
    "PayPalUnavailable",
    "PayPalValidationError",
    "PayoutItem",
    "get_client",
    "parse_amount",
]
