"""Kubernetes resource quantities (`100m`, `4Gi`, `1e3`), parsed exactly as the API server does.

The scheduler adds and compares requests, and the node manager writes capacities, so values are
exact fractions: `0.1 + 0.2` CPUs must fit in `300m`.
"""

import re
from fractions import Fraction

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)$"
)


def parse_quantity(value: str | int | float) -> Fraction:
    """`"250m"` -> 1/4; raises ValueError for what the API server would reject."""
    if isinstance(value, int | float):
        return Fraction(value)
    match = _QUANTITY.match(value.strip())
    if not match:
        raise ValueError(f"quantities must match the regular expression, got {value!r}")
    number, exponent, suffix = match.groups()
    amount = Fraction(number)
    if exponent:
        return amount * Fraction(10) ** int(exponent[1:])
    if suffix in _BINARY:
        return amount * _BINARY[suffix]
    return amount * _DECIMAL[suffix or ""]


def format_cpu(cores: Fraction) -> str:
    """Whole cores as `"4"`, otherwise millicores as `"3920m"` (as the kubelet reports them)."""
    if cores.denominator == 1:
        return str(cores.numerator)
    return f"{int(cores * 1000)}m"


def format_bytes(amount: Fraction) -> str:
    """Memory and storage in `Ki`, as node status shows them."""
    return f"{int(amount) // 1024}Ki"
