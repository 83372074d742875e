"""Uploaded files (visit photos, receipts) checked by their content and made harmless before
anything keeps them: the one way in for files (issue 16 §4).

* ``sniff``: the type from the magic bytes, never the name or the declared type: JPEG, PNG,
  WebP or PDF; anything else is refused.
* The structure is walked before any decoder sees it: a JPEG must end at its end-of-image
  marker, a PNG at IEND (every chunk's CRC checked), a WebP at its RIFF size, a PDF at its
  last ``%%EOF``. Data after the end (a ZIP, a PDF, a video appended: a polyglot), a PDF
  header inside an image, a ZIP directory at the end of any file, or a truncated file is
  refused. The dimensions come from the header: a decompression bomb is refused before any
  pixel is decoded (never a warning).
* ``clean_image``: decoded in full (Pillow, ``load()``: a truncated file fails here too),
  the orientation applied (``ImageOps.exif_transpose``), colours converted to sRGB when the
  file carries an ICC profile, then the pixels alone copied into a new image and encoded
  again: JPEG (quality 85), or PNG when the image really uses transparency. Nothing of the
  file's metadata survives: EXIF (GPS, camera, dates), its thumbnail, XMP, IPTC, ICC,
  comments, PNG text chunks. Of an animated image only the first frame is kept. The output
  is checked once more (only the segments/chunks an encoder of pixels writes).
* ``accept``: an image gives one ``Clean``; a PDF (when the caller allows PDFs) is rendered
  page by page (pypdfium2, 150 dpi, bounded pixels) and each page goes the same way; the
  PDF's bytes are never kept. A PDF that needs a password, or cannot be read, is refused.

Limits (``Limits``): 20 MB per file, 50 megapixels, 10 PDF pages by default;
``GRAPHSVC_UPLOAD_MAX_MB``, ``GRAPHSVC_UPLOAD_MAX_MEGAPIXELS`` and
``GRAPHSVC_UPLOAD_MAX_PAGES`` change them. Every refusal is
``errors.Refused("invalid", english, field=…)`` carrying a ``records.Problem`` whose message
(``MESSAGES``) has a Korean translation.

>>> sniff(b"MZ\\x90\\x00 an exe renamed photo.jpg")
Traceback (most recent call last):
...
graphsvc.errors.Refused: file: the file is not a JPEG, PNG, WebP image or PDF
"""

from __future__ import annotations

import io
import math
import re
import threading
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from struct import error as struct_error
from typing import Any

from PIL import Image, ImageCms, ImageFile, ImageOps

from . import records
from .errors import Refused
from .model import N_

MB = 1024 * 1024

KINDS = ("jpeg", "png", "webp", "pdf")
IMAGE_KINDS = ("jpeg", "png", "webp")
_PIL_FORMAT = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}

JPEG_QUALITY = 85
PAGE_DPI = 150
PAGE_PIXELS = 8_000_000  # a rendered PDF page: A4 at 150 dpi is 2.2 megapixels

MESSAGES: dict[str, str] = {
    "upload_empty": N_("%(field)s: the file is empty"),
    "upload_type": N_("%(field)s: the file is not a JPEG, PNG, WebP image or PDF"),
    "upload_pdf_here": N_("%(field)s: a PDF is not accepted here; send a photo (JPEG, PNG or WebP)"),
    "upload_too_big": N_("%(field)s: the file is larger than %(max)s MB"),
    "upload_too_many_pixels": N_(
        "%(field)s: the image has %(pixels)s megapixels; at most %(max)s megapixels are accepted"
    ),
    "upload_truncated": N_("%(field)s: the file is incomplete (cut off); send it again"),
    "upload_corrupt": N_("%(field)s: the file is damaged and cannot be read"),
    "upload_polyglot": N_(
        "%(field)s: the file carries other data besides the image or PDF (something appended or hidden "
        "in it); save it again as a plain photo or PDF"
    ),
    "upload_too_many_pages": N_("%(field)s: the PDF has %(pages)s pages; at most %(max)s are accepted"),
    "upload_no_pages": N_("%(field)s: the PDF has no pages"),
    "upload_pdf_password": N_("%(field)s: the PDF is protected by a password; send it without one"),
}
records.MESSAGES.update(MESSAGES)  # the web layer words a refusal's Problem from there


@dataclass(frozen=True)
class Clean:
    """A re-encoded image: orientation applied, no metadata. ``mime`` is "image/jpeg" or
    "image/png"."""

    data: bytes
    mime: str
    width: int
    height: int


@dataclass(frozen=True)
class Limits:
    """How big an upload may be: bytes per file, pixels per image, pages per PDF."""

    max_bytes: int = 20 * MB
    max_pixels: int = 50_000_000
    max_pages: int = 10

    @classmethod
    def from_env(cls, env: Mapping[str, str] | tuple[tuple[str, str], ...]) -> Limits:
        """The limits ``GRAPHSVC_UPLOAD_MAX_MB``, ``…_MAX_MEGAPIXELS``, ``…_MAX_PAGES`` set
        (``config.Settings.upload_env``); ValueError naming the variable when one is not a
        positive number."""
        values = dict(env)
        default = cls()

        def number(name: str, fallback: float) -> float:
            text = values.get(name, "")
            if not text.strip():
                return fallback
            try:
                value = float(text)
            except ValueError:
                value = -1.0
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number, not {text!r}")
            return value

        return cls(
            max_bytes=int(number("GRAPHSVC_UPLOAD_MAX_MB", default.max_bytes / MB) * MB),
            max_pixels=int(number("GRAPHSVC_UPLOAD_MAX_MEGAPIXELS", default.max_pixels / 1e6) * 1e6),
            max_pages=max(1, int(number("GRAPHSVC_UPLOAD_MAX_PAGES", default.max_pages))),
        )


def limits_of(settings: Any) -> Limits:
    """The upload limits of ``settings`` (config.Settings)."""
    return Limits.from_env(getattr(settings, "upload_env", ()))


def current_limits() -> Limits:
    """The limits the environment sets (for callers without settings at hand)."""
    from .config import load_settings

    return limits_of(load_settings())


def _refuse(field: str, code: str, **values: Any) -> Refused:
    problem = records.Problem(field, code, dict(values))  # web/guard.py adds the field
    return Refused("invalid", problem.english(), field=field, code=code, problems=(problem,))


# --- the type and the structure ------------------------------------------------------------------


def sniff(data: bytes, field: str = "file") -> str:
    """ "jpeg" | "png" | "webp" | "pdf", from the first bytes only; else Refused."""
    if not data:
        raise _refuse(field, "upload_empty")
    head = bytes(data[:16])
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    raise _refuse(field, "upload_type")


class _Bad(Exception):
    """The structure walk failed: ``code`` is a MESSAGES id."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


# A marker inside entropy-coded data: 0xFF followed by neither a stuffed 0x00 nor a restart marker.
_JPEG_MARKER = re.compile(rb"\xff(?=[^\x00\xd0-\xd7])")
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_walk(data: bytes | memoryview, start: int = 0) -> tuple[int, int, int, list[int]]:
    """(end, width, height, markers) of the JPEG that begins at ``start``: ``end`` is just past
    its end-of-image marker."""
    view = memoryview(data)
    n = len(view)
    if bytes(view[start : start + 2]) != b"\xff\xd8":
        raise _Bad("upload_corrupt")
    pos = start + 2
    width = height = 0
    markers: list[int] = []
    while True:
        if pos >= n:
            raise _Bad("upload_truncated")
        if view[pos] != 0xFF:
            raise _Bad("upload_corrupt")
        while pos < n and view[pos] == 0xFF:
            pos += 1
        if pos >= n:
            raise _Bad("upload_truncated")
        marker = view[pos]
        pos += 1
        markers.append(marker)
        if marker == 0xD9:
            if not width or not height:
                raise _Bad("upload_corrupt")
            return pos, width, height, markers
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if marker == 0x00 or marker == 0xD8:
            raise _Bad("upload_corrupt")
        if pos + 2 > n:
            raise _Bad("upload_truncated")
        length = (view[pos] << 8) | view[pos + 1]
        if length < 2:
            raise _Bad("upload_corrupt")
        end = pos + length
        if end > n:
            raise _Bad("upload_truncated")
        if marker in _SOF:
            if length < 8:
                raise _Bad("upload_corrupt")
            height = (view[pos + 3] << 8) | view[pos + 4]
            width = (view[pos + 5] << 8) | view[pos + 6]
        pos = end
        if marker == 0xDA:  # start of scan: entropy-coded data up to the next marker
            found = _JPEG_MARKER.search(data, pos)
            if found is None:
                raise _Bad("upload_truncated")
            pos = found.start()


def _padding(rest: bytes | memoryview) -> bool:
    return not bytes(rest).strip(b"\x00\xff")


def _jpeg_check(data: bytes) -> tuple[int, int]:
    end, width, height, _ = _jpeg_walk(data)
    # after the image: padding, or the further images of a multi-picture file (MPF: a phone's
    # depth map or HDR gain map), which are dropped with everything else; nothing else
    while end < len(data):
        nxt = data.find(b"\xff\xd8", end)
        if nxt < 0:
            if _padding(memoryview(data)[end:]):
                break
            raise _Bad("upload_polyglot")
        if not _padding(memoryview(data)[end:nxt]):
            raise _Bad("upload_polyglot")
        try:
            end = _jpeg_walk(data, nxt)[0]
        except _Bad:
            raise _Bad("upload_polyglot") from None
    return width, height


_PNG_SIG = b"\x89PNG\r\n\x1a\n"


def _png_chunks(data: bytes | memoryview) -> tuple[int, int, list[bytes]]:
    """(width, height, chunk types) of a PNG, every CRC checked; nothing may follow IEND."""
    view = memoryview(data)
    n = len(view)
    pos = len(_PNG_SIG)
    types: list[bytes] = []
    width = height = 0
    while True:
        if pos + 12 > n:
            raise _Bad("upload_truncated")
        length = int.from_bytes(view[pos : pos + 4], "big")
        kind = bytes(view[pos + 4 : pos + 8])
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise _Bad("upload_corrupt")
        end = pos + 12 + length
        if end > n:
            raise _Bad("upload_truncated")
        if zlib.crc32(view[pos + 4 : pos + 8 + length]) != int.from_bytes(view[end - 4 : end], "big"):
            raise _Bad("upload_corrupt")
        if not types:
            if kind != b"IHDR" or length != 13:
                raise _Bad("upload_corrupt")
            width = int.from_bytes(view[pos + 8 : pos + 12], "big")
            height = int.from_bytes(view[pos + 12 : pos + 16], "big")
        types.append(kind)
        pos = end
        if kind == b"IEND":
            break
    if pos != n:
        raise _Bad("upload_polyglot")
    if not width or not height:
        raise _Bad("upload_corrupt")
    return width, height, types


def _webp_check(data: bytes) -> tuple[int, int]:
    n = len(data)
    if n < 30:
        raise _Bad("upload_truncated")
    size = int.from_bytes(data[4:8], "little")
    expected = 8 + size
    if n < expected:
        raise _Bad("upload_truncated")
    if n > expected + (expected & 1):
        raise _Bad("upload_polyglot")
    chunk = data[12:16]
    body = data[20:]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(body[4:7], "little")
        height = 1 + int.from_bytes(body[7:10], "little")
    elif chunk == b"VP8 ":
        if body[3:6] != b"\x9d\x01\x2a":
            raise _Bad("upload_corrupt")
        width = int.from_bytes(body[6:8], "little") & 0x3FFF
        height = int.from_bytes(body[8:10], "little") & 0x3FFF
    elif chunk == b"VP8L":
        if body[0] != 0x2F:
            raise _Bad("upload_corrupt")
        bits = int.from_bytes(body[1:5], "little")
        width = 1 + (bits & 0x3FFF)
        height = 1 + ((bits >> 14) & 0x3FFF)
    else:
        raise _Bad("upload_corrupt")
    return width, height


def _pdf_check(data: bytes) -> None:
    tail = data.rfind(b"%%EOF")
    if tail < 0:
        raise _Bad("upload_truncated")
    if bytes(data[tail + 5 :]).strip(b"\x00\t\n\f\r "):
        raise _Bad("upload_polyglot")


def _structure(data: bytes, kind: str) -> tuple[int, int]:
    """Walk ``data`` (of ``kind``): (width, height) of an image, (0, 0) for a PDF."""
    # a ZIP's end-of-directory record near the end: a file that is a ZIP archive as well
    if b"PK\x05\x06" in data[-(65535 + 22) :]:
        raise _Bad("upload_polyglot")
    if kind == "pdf":
        _pdf_check(data)
        return 0, 0
    # a PDF reader finds "%PDF-" anywhere in the first kilobyte (and some, anywhere)
    if b"%PDF-" in data:
        raise _Bad("upload_polyglot")
    if kind == "jpeg":
        return _jpeg_check(data)
    if kind == "png":
        width, height, _ = _png_chunks(data)
        return width, height
    return _webp_check(data)


# --- decoding and encoding ---------------------------------------------------------------------

_SRGB = ImageCms.createProfile("sRGB")


def _short(number: float) -> str:
    return f"{number:.1f}".removesuffix(".0")


def _megapixels(pixels: int) -> str:
    return _short(pixels / 1e6)


def _check_pixels(width: int, height: int, limits: Limits, field: str) -> None:
    if width * height > limits.max_pixels:
        raise _refuse(
            field,
            "upload_too_many_pixels",
            pixels=_megapixels(width * height),
            max=_megapixels(limits.max_pixels),
        )


def _check_size(data: bytes, limits: Limits, field: str) -> None:
    if len(data) > limits.max_bytes:
        raise _refuse(field, "upload_too_big", max=_short(limits.max_bytes / MB))


def _decode(data: bytes, kind: str, limits: Limits, field: str) -> Image.Image:
    """The first frame of the image, decoded in full, its orientation applied; Refused when
    anything about it is wrong."""
    try:
        width, height = _structure(data, kind)
    except _Bad as bad:
        raise _refuse(field, bad.code) from None
    _check_pixels(width, height, limits, field)
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a process-wide switch nobody may turn on here
        raise RuntimeError("PIL.ImageFile.LOAD_TRUNCATED_IMAGES is on: truncated uploads would pass")
    try:
        with Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[kind]]) as opened:
            _check_pixels(opened.width, opened.height, limits, field)
            opened.seek(0)
            opened.load()
            icc = opened.info.get("icc_profile")
            # turned upright when the EXIF says so (a copy); else the decoded frame as it is
            turned = opened.getexif().get(0x0112, 1) != 1
            upright = ImageOps.exif_transpose(opened) if turned else opened
            pixels = _pixels(upright, icc)  # inside the block: a closed image has no pixels
    except Refused:
        raise
    except Image.DecompressionBombError:
        raise _refuse(field, "upload_too_many_pixels", pixels="?", max=_megapixels(limits.max_pixels)) from None
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001  (fail closed: whatever a decoder raised, nothing is kept)
        truncated = "truncated" in str(exc) or isinstance(exc, (EOFError, struct_error))
        raise _refuse(field, "upload_truncated" if truncated else "upload_corrupt") from None
    return pixels


def _uses_alpha(image: Image.Image) -> bool:
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        low = image.convert("RGBA").getchannel("A").getextrema()[0]
        return isinstance(low, (int, float)) and low < 255
    return False


def _pixels(image: Image.Image, icc: bytes | None) -> Image.Image:
    """A new image of the pixels alone (RGB, L or RGBA), in sRGB: no info, no profile."""
    alpha = _uses_alpha(image)
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        image = image.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    elif image.mode == "F":
        image = image.convert("L")
    target = "RGBA" if alpha else ("L" if image.mode in ("1", "L") else "RGB")
    converted = None
    if icc and image.mode in ("RGB", "RGBA", "CMYK"):
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                image if image.mode != "RGBA" or alpha else image.convert("RGB"),
                source,
                _SRGB,
                outputMode=target if target != "L" else "RGB",
            )
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None  # a broken profile: its colours are lost, not its secrecy
    if converted is None:
        converted = image.convert(target) if image.mode != target else image
    if converted.mode != target:
        converted = converted.convert(target)
    # the pixels into a new image: nothing of the file's info (exif, xmp, icc, text) follows
    fresh = Image.new(target, converted.size, None)  # uninitialised: paste fills every pixel
    fresh.paste(converted)
    return fresh


# Only what an encoder of bare pixels writes may be in the output.
_JPEG_OUT = frozenset({0xD8, 0xE0, 0xDB, 0xC0, 0xC2, 0xC4, 0xDA, 0xDD, 0xD9} | set(range(0xD0, 0xD8)))
_PNG_OUT = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})


def _encode(image: Image.Image) -> Clean:
    out = io.BytesIO()
    extra: set[str]
    if image.mode == "RGBA":
        image.save(out, "PNG", compress_level=6)
        mime = "image/png"
        data = out.getvalue()
        extra = {kind.decode("latin-1") for kind in set(_png_chunks(data)[2]) - _PNG_OUT}
    else:
        image.save(out, "JPEG", quality=JPEG_QUALITY)
        mime = "image/jpeg"
        data = out.getvalue()
        extra = {f"marker {m:02X}" for m in set(_jpeg_walk(data)[3]) - _JPEG_OUT}
        # APP0 must be the bare JFIF header Pillow writes (no thumbnail)
        if data[6:11] != b"JFIF\x00" or int.from_bytes(data[4:6], "big") != 16:
            extra.add("APP0")
    if extra:  # an encoder that wrote metadata: never store it
        raise RuntimeError(f"the re-encoded image carries unexpected blocks {sorted(extra)}")
    return Clean(data=data, mime=mime, width=image.width, height=image.height)


def clean_image(data: bytes, field: str = "file", *, limits: Limits | None = None) -> Clean:
    """The image in ``data`` (JPEG, PNG, WebP) decoded and re-encoded without metadata,
    orientation applied; Refused for anything else (a PDF too: see ``accept``)."""
    limits = limits or current_limits()
    data = data if isinstance(data, bytes) else bytes(data)
    _check_size(data, limits, field)
    kind = sniff(data, field)
    if kind == "pdf":
        raise _refuse(field, "upload_pdf_here")
    return _encode(_decode(data, kind, limits, field))


# --- PDF ------------------------------------------------------------------------------------------

# PDFium is not thread-safe: one document at a time in this process.
_PDFIUM = threading.Lock()


def _render_pdf(data: bytes, limits: Limits, field: str) -> list[Image.Image]:
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    try:
        _structure(data, "pdf")
    except _Bad as bad:
        raise _refuse(field, bad.code) from None
    pages: list[Image.Image] = []
    with _PDFIUM:
        try:
            document = pdfium.PdfDocument(data)
        except Exception as exc:  # noqa: BLE001  (PdfiumError, or whatever the input made it raise)
            password = getattr(exc, "err_code", None) in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY)
            raise _refuse(field, "upload_pdf_password" if password else "upload_corrupt") from None
        try:
            count = len(document)
            if count == 0:
                raise _refuse(field, "upload_no_pages")
            if count > limits.max_pages:
                raise _refuse(field, "upload_too_many_pages", pages=count, max=limits.max_pages)
            budget = min(PAGE_PIXELS, limits.max_pixels)
            for index in range(count):
                page = document[index]
                try:
                    width, height = page.get_size()
                    if not (width > 0 and height > 0):
                        raise _refuse(field, "upload_corrupt")
                    scale = PAGE_DPI / 72
                    pixels = width * height * scale * scale
                    if pixels > budget:
                        scale *= math.sqrt(budget / pixels)
                        while math.ceil(width * scale) * math.ceil(height * scale) > budget:
                            scale *= 0.999  # PDFium rounds up
                    bitmap = page.render(scale=scale)
                    try:
                        pages.append(bitmap.to_pil().convert("RGB"))
                    finally:
                        bitmap.close()
                except Refused:
                    raise
                except Exception:  # noqa: BLE001  (fail closed)
                    raise _refuse(field, "upload_corrupt") from None
                finally:
                    page.close()
        finally:
            document.close()
    return [_pixels(page, None) for page in pages]


def accept(data: bytes, *, field: str = "file", allow_pdf: bool = False, limits: Limits | None = None) -> list[Clean]:
    """What to store of an upload: one Clean for an image; one per page for a PDF (when
    ``allow_pdf``), rendered to an image, the PDF itself dropped. Refused ("invalid",
    naming ``field``) for anything else, too big, damaged or two things at once."""
    limits = limits or current_limits()
    data = data if isinstance(data, bytes) else bytes(data)
    _check_size(data, limits, field)
    kind = sniff(data, field)
    if kind == "pdf":
        if not allow_pdf:
            raise _refuse(field, "upload_pdf_here")
        return [_encode(page) for page in _render_pdf(data, limits, field)]
    return [_encode(_decode(data, kind, limits, field))]
