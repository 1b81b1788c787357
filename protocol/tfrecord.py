"""TFRecord framing: the file format of TF Serving's request logs and warmup files.

A TFRecord file is a sequence of records, each::

    uint64 length (little endian)
    uint32 masked CRC-32C of the 8 length bytes
    length bytes of data
    uint32 masked CRC-32C of the data

where ``masked(crc) = ((crc >> 15) | (crc << 17)) + 0xa282ead8`` (mod 2**32). This is
the uncompressed form that ``tf.data.TFRecordDataset`` and ``tf.io.TFRecordWriter``
read and write; files in it can be concatenated and stay valid. CRC-32C comes from
``google-crc32c`` (its C implementation when the wheel has one) so that TensorFlow's
runtime is not needed to write or read these files.

``frame`` encodes one record; ``read_records`` decodes a whole buffer and raises
``ValueError`` naming the byte offset on a truncated record or a checksum mismatch.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import google_crc32c

_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")
HEADER_BYTES = _LENGTH.size + _CRC.size
FOOTER_BYTES = _CRC.size


def masked_crc32c(data: bytes) -> int:
    crc = int(google_crc32c.value(data))
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + _MASK_DELTA) & 0xFFFFFFFF


def frame(record: bytes) -> bytes:
    """``record`` as one TFRecord (header, data, footer)."""
    length = _LENGTH.pack(len(record))
    return b"".join(
        (length, _CRC.pack(masked_crc32c(length)), record, _CRC.pack(masked_crc32c(record)))
    )


def read_records(data: bytes) -> Iterator[bytes]:
    """Every record in ``data``, in order; ValueError on a damaged or truncated record."""
    view = memoryview(data)
    offset = 0
    while offset < len(view):
        if len(view) - offset < HEADER_BYTES:
            raise ValueError(f"truncated TFRecord header at byte {offset}")
        length_bytes = bytes(view[offset : offset + _LENGTH.size])
        (length,) = _LENGTH.unpack(length_bytes)
        (length_crc,) = _CRC.unpack_from(view, offset + _LENGTH.size)
        if length_crc != masked_crc32c(length_bytes):
            raise ValueError(f"TFRecord length checksum mismatch at byte {offset}")
        start = offset + HEADER_BYTES
        end = start + length
        if len(view) < end + FOOTER_BYTES:
            raise ValueError(f"truncated TFRecord of {length} bytes at byte {offset}")
        record = bytes(view[start:end])
        (data_crc,) = _CRC.unpack_from(view, end)
        if data_crc != masked_crc32c(record):
            raise ValueError(f"TFRecord data checksum mismatch at byte {offset}")
        yield record
        offset = end + FOOTER_BYTES
