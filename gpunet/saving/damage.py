"""Telling a cut-off file from other damage, with the size it has and the size it should have.

A half-written or half-downloaded file is the most common bad file (pitfall 5). HDF5 records
its own length in the superblock; a zip's local headers give the size of each member, and its
index sits at the very end. Both are read here without h5py or zipfile, so that the message can
say "truncated: the file has N bytes, ... says M bytes" instead of a raw library error.
"""
import io
import struct

HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
ZIP_MEMBER = b"PK\x03\x04"
HEAD_BYTES = 64  # enough for every HDF5 superblock version's end-of-file address (8-byte offsets)
_SUPERBLOCK_MIN = 48  # version 2/3 superblock with 8-byte offsets: the smallest HDF5 header gpunet writes


def signature_prefix(head):
    """"hdf5" or "zip" when ``head`` (shorter than the signature) is the start of one, else None."""
    if head and len(head) < len(HDF5_SIGNATURE) and HDF5_SIGNATURE.startswith(head):
        return "hdf5"
    if head and len(head) < len(ZIP_MEMBER) and ZIP_MEMBER.startswith(head):
        return "zip"
    return None


def truncated_signature(kind, size):
    if kind == "hdf5":
        return (f"truncated: the file has {size} bytes, the HDF5 header it begins needs at least "
                f"{_SUPERBLOCK_MIN} bytes")
    return f"truncated: the file has {size} bytes, the zip member header it begins needs at least 30 bytes"


def hdf5_size(head):
    """``(size, needed)`` from an HDF5 file's first bytes: ``size`` is the length its superblock records
    (None when unknown) and ``needed`` how many bytes must be read to know it (None for unknown versions)."""
    if len(head) < 10:
        return None, _SUPERBLOCK_MIN
    version = head[8]
    if version in (0, 1):
        if len(head) < 14:
            return None, _SUPERBLOCK_MIN
        width, base_at = head[13], 24 + (4 if version == 1 else 0)
    elif version in (2, 3):
        width, base_at = head[9], 12
    else:
        return None, None
    if width not in (2, 4, 8):
        return None, None
    eof_at = base_at + 2 * width
    if len(head) < eof_at + width:
        return None, eof_at + width
    base = int.from_bytes(head[base_at:base_at + width], "little")
    return base + int.from_bytes(head[eof_at:eof_at + width], "little"), eof_at + width


def hdf5_truncation(head, size):
    """A "truncated: ..." sentence when an HDF5 file is shorter than its header says, else None."""
    expected, needed = hdf5_size(head)
    if expected is not None and size < expected:
        return f"truncated: the file has {size} bytes, its HDF5 header says {expected} bytes"
    if expected is None and needed is not None and size < needed:
        return (f"truncated: the file has {size} bytes, its HDF5 header (superblock) alone needs at least "
                f"{needed} bytes")
    return None


def zip_truncation(fileobj):
    """A "truncated: ..." sentence when a zip archive is shorter than its members need, else None.

    Walks the local member headers from the start: the members' data, their index entries and
    the end record give the least size a whole archive can have."""
    try:
        start = fileobj.seek(0, io.SEEK_SET)
        size = fileobj.seek(0, io.SEEK_END) - start
        pos, index = 0, 22  # the end-of-archive record
        while True:
            fileobj.seek(start + pos)
            header = fileobj.read(30)
            if len(header) < 30 or not header.startswith(ZIP_MEMBER):
                if header and ZIP_MEMBER.startswith(header[:4]) and len(header) < 30:
                    return (f"truncated: the file has {size} bytes, the zip member header at byte {pos} "
                            f"needs at least {pos + 30} bytes")
                break
            flags, = struct.unpack("<H", header[6:8])
            compressed, = struct.unpack("<I", header[18:22])
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            if flags & 0x08:
                return None  # sizes follow the data: unknown here
            if compressed == 0xFFFFFFFF:
                compressed = _zip64_size(fileobj.read(name_len + extra_len)[name_len:])
                if compressed is None:
                    return None
            pos += 30 + name_len + extra_len + compressed
            index += 46 + name_len
            if pos > size:
                break
        needed = pos + index if pos <= size else pos
        if size < needed:
            return (f"truncated: the file has {size} bytes, its zip members and index need at least "
                    f"{needed} bytes")
    except (OSError, ValueError, struct.error):
        return None
    return None


def _zip64_size(extra):
    while len(extra) >= 4:
        tag, length = struct.unpack("<HH", extra[:4])
        if tag == 1 and length >= 16:
            return struct.unpack("<Q", extra[12:20])[0]
        extra = extra[4 + length:]
    return None
