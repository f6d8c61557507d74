"""Pictures as JPEG, for a network that takes nothing else (Instagram: "JPEG is the only
image format supported", IG User Media reference, image specifications).

Pillow does the work.  A copy is written beside the picture, in a folder named
``instagram-jpeg`` (its name carries a hash of the original, so an edited picture gets a new
copy and a web cache never serves the old one), because Instagram fetches pictures from the
council's website (``media_base_url``) rather than taking an upload.

What cannot be converted faithfully is refused by validate, with the fix:
- animated pictures (a JPEG has one frame: the animation would silently be lost);
- CMYK pictures that are not already JPEG (Pillow converts CMYK without a colour profile,
  so print colours would shift);
- pictures Pillow cannot read, or too many pixels to decode safely (decompression bombs);
- a JPEG that would still be over the network's size limit.
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import posixpath
import tempfile

from .model import Media

FOLDER = "instagram-jpeg"
QUALITY = 90
JPEG_MIME = "image/jpeg"


def needs_converting(media: Media) -> bool:
    return media.kind == "image" and media.mime != JPEG_MIME


def jpeg_bytes(media: Media) -> bytes:
    """The picture as a baseline RGB JPEG; ValueError with the reason when it cannot be."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(media.path) as picture:
            if getattr(picture, "is_animated", False):
                raise ValueError(f"{media.rel} is animated ({picture.n_frames} frames) and a JPEG has one frame: "
                                 "export the frame you want as a JPEG, or post it as a video")
            if picture.mode == "CMYK":
                raise ValueError(f"{media.rel} uses CMYK (print) colours, which change when converted: "
                                 "export it as an RGB JPEG")
            picture = ImageOps.exif_transpose(picture)        # the way up a phone took it
            if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
                # A JPEG has no transparency: put the picture on white, as most viewers show it.
                rgba = picture.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                picture = flat
            out = io.BytesIO()
            # No EXIF is copied: a phone photo's location is not published by accident.
            picture.convert("RGB").save(out, "JPEG", quality=QUALITY)
            return out.getvalue()
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise ValueError(f"{media.rel} cannot be read as a picture to convert it to JPEG ({exc}): "
                         "export it as a JPEG") from None


def jpeg_copy(media: Media) -> Media:
    """The JPEG copy of ``media`` on disk (written once), as a Media with the same alt text."""
    source = media.path.read_bytes()
    name = f"{media.path.stem}-{hashlib.sha256(source).hexdigest()[:10]}.jpg"
    target = media.path.parent / FOLDER / name
    if not target.exists():
        data = jpeg_bytes(media)
        target.parent.mkdir(exist_ok=True)
        # Written under a temporary name and renamed: the web server never serves half a file.
        handle, temporary = tempfile.mkstemp(dir=target.parent, suffix=".part")
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        os.chmod(temporary, 0o644)          # the website serves it
        os.replace(temporary, target)
    rel = posixpath.join(posixpath.dirname(media.rel), FOLDER, name)
    return dataclasses.replace(media, path=target, rel=rel, mime=JPEG_MIME, size=target.stat().st_size)
