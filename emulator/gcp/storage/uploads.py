"""The wire formats of object uploads and downloads: multipart bodies, ranges and checksums.

google-cloud-storage uploads small objects as one `multipart/related` request (JSON metadata,
then the bytes) and large ones as a resumable session (PUT chunks with `Content-Range`),
sending its checksum in the metadata or in `X-Goog-Hash`. A mismatch is a 400, as on GCS.
"""

import json
import re
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

from emulator.core.errors import invalid_argument
from emulator.gcp.storage.model import crc32c, md5

_CONTENT_RANGE = re.compile(r"^bytes (?:(?P<first>\d+)-(?P<last>\d+)|\*)/(?P<total>\d+|\*)$")
_RANGE = re.compile(r"^bytes=(?P<first>\d*)-(?P<last>\d*)$")


@dataclass
class ResumableUpload:
    bucket: str
    metadata: dict[str, Any]
    preconditions: dict[str, str]
    data: bytes = b""
    total: int | None = None

    def dump(self) -> dict[str, Any]:
        return {**self.__dict__, "data": self.data.hex()}

    @classmethod
    def load(cls, state: dict[str, Any]) -> "ResumableUpload":
        return cls(**{**state, "data": bytes.fromhex(state["data"])})


@dataclass(frozen=True)
class Chunk:
    """One PUT of a resumable session; `first` is None for a status query (`bytes */N`)."""

    first: int | None
    total: int | None
    data: bytes = field(repr=False)


def parse_multipart_related(body: bytes, content_type: str) -> tuple[dict[str, Any], bytes, str]:
    """(metadata, data, data content type) of a multipart upload."""
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary")
    if not isinstance(boundary, str):
        raise invalid_argument("Multipart upload without a boundary.")
    parts = [
        part for part in body.split(b"--" + boundary.encode())[1:] if not part.startswith(b"--")
    ]
    if len(parts) != 2:
        raise invalid_argument("A multipart upload has a metadata part and a media part.")
    (_, metadata_bytes), (media_headers, data) = (_split_part(part) for part in parts)
    try:
        metadata = json.loads(metadata_bytes or b"{}")
    except ValueError:
        raise invalid_argument("Invalid JSON in the metadata part of the upload.") from None
    if not isinstance(metadata, dict):
        raise invalid_argument("The metadata part of the upload must be a JSON object.")
    part_type = re.search(rb"(?im)^content-type:\s*(.+?)\s*$", media_headers)
    return metadata, data, part_type.group(1).decode() if part_type else ""


def _split_part(part: bytes) -> tuple[bytes, bytes]:
    headers, _, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
    return headers, content.removesuffix(b"\r\n")


def parse_chunk(content_range: str | None, data: bytes) -> Chunk:
    if not content_range:
        return Chunk(first=0, total=len(data), data=data)  # the whole object in one PUT
    match = _CONTENT_RANGE.match(content_range.strip())
    if match is None:
        raise invalid_argument(f"Invalid Content-Range: {content_range}")
    total = None if match["total"] == "*" else int(match["total"])
    if match["first"] is None:
        return Chunk(first=None, total=total, data=b"")
    first, last = int(match["first"]), int(match["last"])
    if last - first + 1 != len(data):
        raise invalid_argument("Content-Range does not match the length of the body.")
    return Chunk(first=first, total=total, data=data)


def verify_checksums(data: bytes, *, crc32c_value: str | None, md5_value: str | None) -> None:
    if crc32c_value and crc32c_value != crc32c(data):
        raise invalid_argument(
            f'Provided CRC32C "{crc32c_value}" doesn\'t match calculated CRC32C "{crc32c(data)}".'
        )
    if md5_value and md5_value != md5(data):
        raise invalid_argument(
            f'Provided MD5 hash "{md5_value}" doesn\'t match calculated MD5 hash "{md5(data)}".'
        )


def goog_hash(header: str | None) -> dict[str, str]:
    """`X-Goog-Hash: crc32c=...,md5=...` as a dict."""
    pairs = (item.strip().partition("=") for item in (header or "").split(","))
    return {name: value for name, _, value in pairs if value}


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The (first, last) bytes a `Range: bytes=a-b` header asks for; None for the whole object."""
    match = _RANGE.match((header or "").strip())
    if match is None or not (match["first"] or match["last"]):
        return None
    if not match["first"]:
        return max(size - int(match["last"]), 0), size - 1
    last = int(match["last"]) if match["last"] else size - 1
    return int(match["first"]), min(last, size - 1)
