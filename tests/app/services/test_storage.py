"""Uploaded images are recognised by their bytes, whatever the client claims."""

from __future__ import annotations

from repairgpt.services.storage import sniff_image_type


def test_image_types_are_recognised_from_their_magic_bytes() -> None:
    assert sniff_image_type(b"\xff\xd8\xff\xe0\x00\x10JFIF").content_type == "image/jpeg"  # type: ignore[union-attr]
    assert sniff_image_type(b"\x89PNG\r\n\x1a\n\x00").extension == "png"  # type: ignore[union-attr]
    assert sniff_image_type(b"GIF89a....").content_type == "image/gif"  # type: ignore[union-attr]
    assert sniff_image_type(b"RIFF\x10\x00\x00\x00WEBPVP8 ").content_type == "image/webp"  # type: ignore[union-attr]
    assert sniff_image_type(b"RIFF\x10\x00\x00\x00WAVEfmt ") is None
    assert sniff_image_type(b"%PDF-1.7") is None
    assert sniff_image_type(b"") is None
