"""The upload pipeline (graphsvc/uploads.py): checked by content, decoded in full, re-encoded
without any metadata, PDFs rendered to images; everything else refused, naming the field.
No database: the pipeline is pure functions of bytes."""

from __future__ import annotations

import io
import os
import warnings
import zipfile
import zlib

import pytest
from PIL import Image, ImageCms

from graphsvc import records, uploads
from graphsvc.errors import Refused

from .helpers import (
    CAMERA_MAKE,
    CAMERA_MODEL,
    IPTC_MARK,
    SECRET_TEXT,
    XMP_MARK,
    camera_exif,
    jpeg_with_exif,
    pdf_bytes,
    png_with_text,
)

LEAKS = (
    b"GPS",
    b"Exif",
    CAMERA_MAKE.encode(),
    CAMERA_MODEL.encode(),
    XMP_MARK,
    b"http://ns.adobe.com",
    IPTC_MARK,
    b"8BIM",
    SECRET_TEXT.encode(),
    b"2026:11:03",
    b"ICC_PROFILE",
)


def refused(data: bytes, code: str, field: str = "file", **kw) -> Refused:
    with pytest.raises(Refused) as caught:
        uploads.accept(data, field=field, **kw)
    assert caught.value.kind == "invalid" and caught.value.field == field, caught.value.why
    assert caught.value.code == code, f"{caught.value.code}: {caught.value.why}"
    assert caught.value.problems and caught.value.problems[0].code == code
    return caught.value


def no_metadata(clean: uploads.Clean) -> None:
    """Nothing of the source's metadata, seen by Pillow and in the bytes."""
    for mark in LEAKS:
        assert mark not in clean.data, mark
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.size == (clean.width, clean.height)
        assert not image.getexif(), dict(image.getexif())
        assert not set(image.info) & {"exif", "xmp", "icc_profile", "comment", "photoshop", "XML:com.adobe.xmp"}
        assert not getattr(image, "text", {}), image.text  # PNG text chunks
        if clean.mime == "image/jpeg":
            assert image.format == "JPEG"
            assert not getattr(image, "app", {}).keys() - {"APP0"}, image.app.keys()
            assert image.info.get("jfif") and "jfif_thumbnail" not in image.info
        else:
            assert image.format == "PNG"


# --- metadata ------------------------------------------------------------------------------------


def test_a_camera_jpeg_loses_gps_camera_dates_xmp_iptc_and_comment():
    data = jpeg_with_exif(320, 240)
    for mark in (b"GPS", b"Exif", CAMERA_MAKE.encode(), XMP_MARK, IPTC_MARK, SECRET_TEXT.encode()):
        assert mark in data, mark  # the test's photo carries all of it
    with Image.open(io.BytesIO(data)) as source:
        assert source.getexif().get_ifd(0x8825)[2] == (37.0, 39.0, 14.5)  # GPS latitude
    [clean] = uploads.accept(data)
    assert clean.mime == "image/jpeg" and (clean.width, clean.height) == (320, 240)
    no_metadata(clean)


def test_orientation_is_applied_before_the_exif_goes():
    """A 2x1 photo taken sideways (orientation 6: turn it 90° clockwise) comes back 1x2,
    and a larger one shows its left side on top."""
    [small] = uploads.accept(jpeg_with_exif(2, 1, orientation=6))
    assert (small.width, small.height) == (1, 2)
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))  # left half red
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95, exif=camera_exif(orientation=6).tobytes())
    [clean] = uploads.accept(out.getvalue())
    assert (clean.width, clean.height) == (20, 40)
    with Image.open(io.BytesIO(clean.data)) as upright:
        top, bottom = upright.getpixel((10, 5)), upright.getpixel((10, 35))
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60, (top, bottom)
    no_metadata(clean)


def test_a_png_loses_its_text_chunks_and_exif():
    data = png_with_text()
    for chunk in (b"tEXt", b"zTXt", b"iTXt", b"eXIf"):
        assert chunk in data
    [clean] = uploads.accept(data)
    assert clean.mime == "image/jpeg"  # no transparency: a photo's format
    no_metadata(clean)


def test_a_transparent_png_stays_png_with_only_pixel_chunks():
    [clean] = uploads.accept(png_with_text(alpha=True))
    assert clean.mime == "image/png"
    no_metadata(clean)
    assert uploads._png_chunks(clean.data)[2] == [b"IHDR", b"IDAT", b"IEND"]
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255


def test_an_icc_profile_is_applied_then_dropped_and_cmyk_becomes_rgb():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    out = io.BytesIO()
    Image.new("RGB", (50, 40), (10, 120, 200)).save(out, "JPEG", icc_profile=profile, exif=camera_exif().tobytes())
    [clean] = uploads.accept(out.getvalue())
    no_metadata(clean)
    cmyk = io.BytesIO()
    Image.new("CMYK", (30, 20), (0, 255, 255, 0)).save(cmyk, "JPEG", exif=camera_exif().tobytes())
    [clean] = uploads.accept(cmyk.getvalue())
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.mode == "RGB"
        red = image.getpixel((15, 10))
    assert red[0] > 200 and red[1] < 60, red
    no_metadata(clean)


def test_webp_with_exif_and_animated_images_keep_the_first_frame_only():
    out = io.BytesIO()
    Image.new("RGB", (60, 30), (0, 200, 0)).save(out, "WEBP", exif=camera_exif().tobytes(), quality=90)
    assert b"EXIF" in out.getvalue()
    [clean] = uploads.accept(out.getvalue())
    assert (clean.width, clean.height) == (60, 30)
    no_metadata(clean)
    frames = [Image.new("RGB", (30, 20), colour) for colour in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    for fmt in ("PNG", "WEBP"):
        anim = io.BytesIO()
        frames[0].save(anim, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
        [clean] = uploads.accept(anim.getvalue())
        with Image.open(io.BytesIO(clean.data)) as image:
            assert getattr(image, "n_frames", 1) == 1
            pixel = image.convert("RGB").getpixel((15, 10))
        assert pixel[0] > 200 and pixel[2] < 60, (fmt, pixel)  # the first frame (red)


def test_a_grey_and_a_16_bit_png_come_back_viewable():
    grey = io.BytesIO()
    Image.new("L", (20, 10), 90).save(grey, "PNG")
    [clean] = uploads.accept(grey.getvalue())
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.mode == "L" and abs(image.getpixel((5, 5)) - 90) <= 2
    deep = io.BytesIO()
    Image.new("I;16", (20, 10), 40000).save(deep, "PNG")
    [clean] = uploads.accept(deep.getvalue())
    with Image.open(io.BytesIO(clean.data)) as image:
        assert image.mode == "L" and abs(image.getpixel((5, 5)) - 40000 // 256) <= 2


def test_a_phone_jpeg_with_a_second_picture_after_it_is_accepted_without_it():
    """Multi-picture JPEGs (MPF: a phone's depth or gain map after the photo): the photo alone."""
    photo, extra = jpeg_with_exif(64, 48), jpeg_with_exif(16, 12)
    [clean] = uploads.accept(photo + extra)
    assert (clean.width, clean.height) == (64, 48)
    no_metadata(clean)
    [clean] = uploads.accept(photo + b"\x00" * 100)  # padding after the end
    assert clean.width == 64


# --- PDFs --------------------------------------------------------------------------------------------


def test_a_pdf_becomes_rendered_images_only():
    data = pdf_bytes(pages=3)
    assert SECRET_TEXT.encode("utf-16-be") in data or b"%PDF" in data
    pages = uploads.accept(data, allow_pdf=True)
    assert len(pages) == 3
    for page in pages:
        assert page.mime == "image/jpeg" and page.data.startswith(b"\xff\xd8\xff")
        assert b"%PDF" not in page.data and b"obj" not in page.data[:200]
        assert SECRET_TEXT.encode("utf-16-be") not in page.data
        # 300x400 points at 150 dpi
        assert (page.width, page.height) == (625, 833) or (page.width, page.height) == (625, 834)
        no_metadata(page)
    with Image.open(io.BytesIO(pages[0].data)) as first:
        assert first.getpixel((100, 60))[0] < 60  # the black box drawn on the page


def test_a_pdf_is_refused_where_only_photos_are_accepted():
    refused(pdf_bytes(1), "upload_pdf_here")
    with pytest.raises(Refused) as caught:
        uploads.clean_image(pdf_bytes(1), "photo")
    assert caught.value.code == "upload_pdf_here" and caught.value.field == "photo"


def _pdf(objects: list[bytes], trailer: bytes = b"") -> bytes:
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R ".encode() + trailer
    out += f" >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


PAGE_OBJECTS = [
    b"<< /Type /Catalog /Pages 2 0 R >>",
    b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
    b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
]


def test_a_password_protected_pdf_is_refused():
    assert len(uploads.accept(_pdf(PAGE_OBJECTS), allow_pdf=True)) == 1  # the same PDF, unprotected
    encrypt = (
        b"<< /Filter /Standard /V 1 /R 2 /O <" + os.urandom(32).hex().encode() + b"> /U <"
        b"" + os.urandom(32).hex().encode() + b"> /P -4 >>"
    )
    ids = b"/ID [<" + os.urandom(16).hex().encode() + b"> <" + os.urandom(16).hex().encode() + b">]"
    refused(_pdf([*PAGE_OBJECTS, encrypt], b"/Encrypt 4 0 R " + ids), "upload_pdf_password", allow_pdf=True)


def test_broken_and_empty_pdfs_are_refused():
    refused(b"%PDF-1.4\nnot really a pdf\n%%EOF\n", "upload_corrupt", allow_pdf=True)
    refused(pdf_bytes(1)[:-200], "upload_truncated", allow_pdf=True)  # cut before %%EOF
    empty = _pdf([b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [] /Count 0 >>"])
    with pytest.raises(Refused) as caught:  # PDFium will not open a document without pages
        uploads.accept(empty, allow_pdf=True)
    assert caught.value.code in ("upload_no_pages", "upload_corrupt")


def test_too_many_pages_are_refused():
    assert uploads.Limits().max_pages == 10
    problem = refused(pdf_bytes(11, 60, 80), "upload_too_many_pages", allow_pdf=True)
    assert "11" in problem.why and "10" in problem.why
    refused(pdf_bytes(3, 60, 80), "upload_too_many_pages", allow_pdf=True, limits=uploads.Limits(max_pages=2))


def test_a_huge_page_is_rendered_at_bounded_pixels():
    """A 200 x 200 inch page at 150 dpi would be 900 megapixels."""
    objects = [*PAGE_OBJECTS[:2], b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 14400 14400] >>"]
    [page] = uploads.accept(_pdf(objects), allow_pdf=True)
    assert page.width * page.height <= uploads.PAGE_PIXELS


# --- refusals: type, size, pixels, truncation, polyglots ---------------------------------------------


def test_type_is_decided_by_content_never_by_name():
    refused(b"MZ\x90\x00\x03\x00\x00\x00" + os.urandom(2000), "upload_type")  # a renamed .exe
    refused(b"", "upload_empty", field="receipt")
    refused(b"GIF89a" + b"\x00" * 100, "upload_type")
    refused(b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "upload_type")
    refused(b"<html><body>photo</body></html>", "upload_type")
    tiff = io.BytesIO()
    Image.new("RGB", (10, 10)).save(tiff, "TIFF")
    refused(tiff.getvalue(), "upload_type")
    assert uploads.sniff(jpeg_with_exif()) == "jpeg" and uploads.sniff(png_with_text()) == "png"
    assert uploads.sniff(pdf_bytes(1)) == "pdf"


def test_a_file_over_the_size_limit_is_refused():
    assert uploads.Limits().max_bytes == 20 * 1024 * 1024
    data = jpeg_with_exif(200, 150)
    refused(data, "upload_too_big", limits=uploads.Limits(max_bytes=len(data) - 1))
    assert uploads.accept(data, limits=uploads.Limits(max_bytes=len(data)))


def _png_bomb(width: int, height: int) -> bytes:
    """A valid PNG of width x height black pixels, small on disk (zeros compress)."""
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width)  # filter byte + one grey byte per pixel
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes((8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b"")


def test_a_decompression_bomb_is_refused_before_decoding_and_never_just_a_warning():
    bomb = _png_bomb(10_000, 10_000)  # 100 megapixels in well under a megabyte
    assert len(bomb) < 1024 * 1024
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        problem = refused(bomb, "upload_too_many_pixels")
    assert not [w for w in seen if issubclass(w.category, Image.DecompressionBombWarning)]
    assert "100" in problem.why and "50" in problem.why
    # a JPEG whose header claims 30000 x 30000 pixels: refused from the header
    data = bytearray(jpeg_with_exif(64, 48))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (30000).to_bytes(2, "big") * 2
    refused(bytes(data), "upload_too_many_pixels")
    # the limit itself
    refused(jpeg_with_exif(64, 48), "upload_too_many_pixels", limits=uploads.Limits(max_pixels=64 * 48 - 1))
    assert uploads.accept(jpeg_with_exif(64, 48), limits=uploads.Limits(max_pixels=64 * 48))


def test_truncated_images_are_refused():
    jpeg, png = jpeg_with_exif(300, 200), png_with_text(300, 200)
    for cut in (len(jpeg) // 2, len(jpeg) - 2, 40):
        refused(jpeg[:cut], "upload_truncated")
    for cut in (len(png) // 2, len(png) - 12, len(png) - 1, 20):
        refused(png[:cut], "upload_truncated")
    webp = io.BytesIO()
    Image.new("RGB", (60, 30), (0, 200, 0)).save(webp, "WEBP")
    refused(webp.getvalue()[:-10], "upload_truncated")
    # the decoder's full load: a PNG whose pixel data stops early though its chunks are whole
    whole = _png_bomb(200, 100)
    body_at = whole.index(b"IDAT") + 4
    length = int.from_bytes(whole[body_at - 8 : body_at - 4], "big")
    short = whole[body_at : body_at + length // 2]
    idat = len(short).to_bytes(4, "big") + b"IDAT" + short + zlib.crc32(b"IDAT" + short).to_bytes(4, "big")
    refused(whole[: body_at - 8] + idat + whole[body_at + length + 4 :], "upload_truncated")


def test_damaged_images_are_refused():
    png = bytearray(png_with_text(60, 40))
    idat = png.index(b"IDAT")
    png[idat + 10] ^= 0xFF  # the CRC no longer matches
    refused(bytes(png), "upload_corrupt")
    jpeg = bytearray(jpeg_with_exif(60, 40))
    dqt = jpeg.index(b"\xff\xdb")
    jpeg[dqt] = 0x00  # not a marker where one must be
    refused(bytes(jpeg), "upload_corrupt")


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return out.getvalue()


def test_polyglots_are_refused():
    jpeg, png, pdf = jpeg_with_exif(64, 48), png_with_text(), pdf_bytes(1)
    refused(jpeg + _zip(), "upload_polyglot")  # a JPEG that is a ZIP as well
    refused(jpeg + pdf, "upload_polyglot", allow_pdf=True)  # … or a PDF
    refused(png + b"after IEND", "upload_polyglot")
    refused(png + _zip(), "upload_polyglot")
    # a PDF that starts like an image
    refused(jpeg[:2] + b"\xff\xfe\x00\x10%PDF-1.4 hello" + jpeg[2:], "upload_polyglot")
    refused(pdf + _zip(), "upload_polyglot", allow_pdf=True)
    refused(pdf + jpeg, "upload_polyglot", allow_pdf=True)  # something after the PDF's end
    webp = io.BytesIO()
    Image.new("RGB", (60, 30)).save(webp, "WEBP")
    refused(webp.getvalue() + _zip(), "upload_polyglot")
    # a ZIP hidden inside the JPEG (a comment segment at its end): its directory is found near the end
    archive = _zip()
    hidden = jpeg[:-2] + b"\xff\xfe" + (len(archive) + 2).to_bytes(2, "big") + archive + b"\xff\xd9"
    refused(hidden, "upload_polyglot")


# --- limits from the environment, messages -------------------------------------------------------------


def test_limits_come_from_the_environment():
    limits = uploads.Limits.from_env(
        {"GRAPHSVC_UPLOAD_MAX_MB": "5", "GRAPHSVC_UPLOAD_MAX_MEGAPIXELS": "12.5", "GRAPHSVC_UPLOAD_MAX_PAGES": "3"}
    )
    assert limits == uploads.Limits(max_bytes=5 * 1024 * 1024, max_pixels=12_500_000, max_pages=3)
    assert uploads.Limits.from_env({}) == uploads.Limits()
    for bad in ("0", "-1", "many", "nan"):
        with pytest.raises(ValueError, match="GRAPHSVC_UPLOAD_MAX_PAGES"):
            uploads.Limits.from_env({"GRAPHSVC_UPLOAD_MAX_PAGES": bad})
    from graphsvc.config import load_settings

    settings = load_settings({"GRAPHSVC_UPLOAD_MAX_MEGAPIXELS": "0.001"})
    assert uploads.limits_of(settings).max_pixels == 1000
    refused(jpeg_with_exif(64, 48), "upload_too_many_pixels", limits=uploads.limits_of(settings))


def test_every_refusal_names_its_field_and_has_a_message():
    for code in uploads.MESSAGES:
        assert code in records.MESSAGES
        english = records.MESSAGES[code] % {"field": "receipt", "max": 1, "pixels": 2, "pages": 3}
        assert english.startswith("receipt: ")


@pytest.mark.filterwarnings("ignore:.*:UserWarning")  # Pillow's notes on the damaged EXIF it skips
def test_damaged_files_of_every_kind_are_refused_or_cleaned_never_an_error():
    """Flipped bytes and cuts in every format: a Refused("invalid") or a clean image, no
    other exception (the route's answer is 400, never 500), and what passes has no metadata."""
    import random

    webp = io.BytesIO()
    Image.new("RGB", (48, 32), (0, 200, 0)).save(webp, "WEBP", exif=camera_exif().tobytes())
    sources = [jpeg_with_exif(48, 32), png_with_text(48, 32), webp.getvalue(), pdf_bytes(1, 60, 80)]
    rng = random.Random(16)
    outcomes = {"refused": 0, "clean": 0}
    for _ in range(400):
        data = bytearray(rng.choice(sources))
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data))
            if rng.random() < 0.8:
                data[at] = rng.randrange(256)
            else:
                del data[at:]
                if not data:
                    break
        try:
            pages = uploads.accept(bytes(data), allow_pdf=True)
        except Refused as refusal:
            assert refusal.kind == "invalid" and refusal.code in uploads.MESSAGES
            outcomes["refused"] += 1
            continue
        outcomes["clean"] += 1
        for page in pages:
            no_metadata(page)
    assert outcomes["refused"] > 50 and outcomes["clean"] > 10, outcomes
