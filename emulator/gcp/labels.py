"""Google Cloud's label rules, which every API that takes labels enforces (each in its own words).

Keys start with a lowercase letter; keys and values hold at most 63 lowercase letters, digits,
`_` or `-` (values may be empty); a resource has at most 64 labels.
"""

import re

MAX_LABELS = 64
_KEY = re.compile(r"[a-z][a-z0-9_-]{0,62}")
_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def valid_label_key(key: str) -> bool:
    return _KEY.fullmatch(key) is not None


def valid_label_value(value: str) -> bool:
    return _VALUE.fullmatch(value) is not None
