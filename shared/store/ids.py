"""What Firestore can hold as a document id, checked once for paths, bodies and push messages alike."""

from __future__ import annotations

import re
from typing import TypeGuard

MAX_ID_BYTES = 1500
_RESERVED = re.compile(r"__.*__", re.DOTALL)


def is_storable_id(value: object) -> TypeGuard[str]:
    """Firestore refuses ids that are empty, contain '/', are '.' or '..', match __.*__ or exceed 1,500 bytes;
    asking it for one is an error, so such an id is treated as one that names nothing."""
    if not isinstance(value, str) or not value or "/" in value or value in (".", "..") or _RESERVED.fullmatch(value):
        return False
    try:
        return len(value.encode("utf-8")) <= MAX_ID_BYTES
    except UnicodeEncodeError:  # a lone surrogate, which no stored id can be
        return False
