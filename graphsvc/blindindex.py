"""The normalised forms behind the blind indexes of identity fields (graphsvc/crypto.py
``Keyring.blind_index``; duplicate scoring in graphsvc/dedupe.py).

Identity is encrypted with a fresh nonce every time, so two equal phones never look equal
in the store. Beside each encrypted value a ``(:Person)`` keeps a keyed hash of the
value's normalised form (``phone_bi``, ``name_bi``, ``name_rev_bi``, ``address_bi``):
equal forms give equal hashes under one key, and without the key a hash tells nothing
(a phone number has few enough digits to be guessed from a plain hash; not from a keyed
one). Matching compares hashes only: nothing is decrypted for it.

The forms:

phone
    digits only (NFKC first: full-width digits are digits), the Korean country code
    turned into the national prefix: ``+82 10-1234-5678``, ``0082 10 1234 5678``,
    ``010-1234-5678``, ``(010) 1234 5678``, ``01012345678`` are all ``01012345678``;
    ``+82 2 123 4567`` and ``02-123-4567`` are ``021234567``. Fewer than 8 digits: no
    index (not a phone number one could call).
name
    NFKC (composed Hangul, full-width Latin folded), case folded, everything that is not
    a letter or a digit removed (spaces, dots, hyphens, middle dots): ``김 영희`` and
    ``김영희`` are one, as are ``Kim Young-hee`` and ``KIM YOUNGHEE``. A surname alone
    (``김``, ``남궁``, ``Kim``) or a single character has no index: in Korea a surname
    says almost nothing (one person in five is a 김). A name written in two parts also
    has its parts swapped (``name_rev_bi``: ``영희 김`` is found as ``김영희``), the
    reverse-order rule of Go.Data's person duplicates.
address
    NFKC, case folded, only letters and digits kept (``서울 노원구 상계로 12, 101동`` and
    ``서울노원구상계로12 101동`` are one). Fewer than 4 characters: no index.
"""

from __future__ import annotations

import re
import unicodedata

#: kind → the Person property of its blind index (the name also has ``name_rev_bi``)
PROPERTIES = {"phone": "phone_bi", "name": "name_bi", "address": "address_bi"}
#: the encrypted identity field that each kind is computed from
FIELDS = {"phone": "phone", "name": "legal_name", "address": "address"}

MIN_PHONE_DIGITS = 8
MIN_ADDRESS_CHARS = 4

# Surnames that a name made of nothing else would be (Hangul, the common romanisations).
SURNAMES = frozenset(
    "김 이 리 박 최 정 강 조 윤 장 임 림 한 오 서 신 권 황 안 송 류 유 전 홍 고 문 양 손 배 백 허 남 심 노 "
    "하 곽 성 차 주 우 구 민 진 나 지 엄 변 채 원 천 방 공 현 함 염 여 추 도 소 석 선 설 마 길 연 위 표 명 "
    "기 반 왕 금 옥 육 인 맹 제 모 탁 국 어 은 편 용 예 경 봉 사 부 가 복 태 목 형 피 두 감 음 빈 동 온 호 "
    "범 좌 시 라 계 변 승 갈 견 남궁 황보 제갈 선우 독고 사공 서문 동방 "
    "kim gim lee yi rhee ri park pak bak choi choe chung jung jeong chong kang gang cho jo yoon yun "
    "jang chang lim im rim han oh o seo suh shin sin kwon gwon hwang ahn an song ryu yu yoo jeon jun "
    "chun hong ko go koh moon mun yang son sohn bae bai baek baik paik heo huh hur nam noh roh no ha "
    "kwak gwak sung seong cha joo ju woo u koo gu min jin na ji".split()
)

_NOT_WORD = re.compile(r"[\W_]+")
_SPACES = re.compile(r"\s+")


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def phone(value: str) -> str | None:
    """The digits of a phone number with the Korean national prefix; None if too short.

    >>> phone("+82 10 1234 5678"), phone("(010) 1234 5678"), phone("０１０-１２３４-５６７８")
    ('01012345678', '01012345678', '01012345678')
    >>> phone("+82 2 123 4567"), phone("0082-2-123-4567"), phone("02-123-4567"), phone("010-1")
    ('021234567', '021234567', '021234567', None)
    """
    text = _fold(value).strip()
    digits = "".join(c for c in text if c.isdigit())
    international = text.startswith("+") or digits.startswith("00")
    digits = digits.lstrip("0") if digits.startswith("00") else digits
    if international:
        if not digits.startswith("82"):
            return digits if len(digits) >= MIN_PHONE_DIGITS else None  # another country's, as written
        digits = "0" + digits[2:].lstrip("0")  # +82 10 …, and +82 010 … as people write it
    return digits if len(digits) >= MIN_PHONE_DIGITS else None


def name_parts(value: str) -> list[str]:
    """The parts of a name as written (split at spaces), each folded to letters and digits."""
    parts = (_NOT_WORD.sub("", p) for p in _SPACES.split(_fold(value)))
    return [p for p in parts if p]


def name(value: str) -> str | None:
    """A full name's form; None for a surname alone or a single character.

    >>> name("김 영희"), name("Kim Young-hee"), name("김"), name("남궁"), name(" KIM ")
    ('김영희', 'kimyounghee', None, None, None)
    """
    form = "".join(name_parts(value))
    if len(form) < 2 or form in SURNAMES:
        return None
    return form


def name_reversed(value: str) -> str | None:
    """The form of a two-part name with its parts swapped (``영희 김`` → ``김영희``); None
    for a name of one part or of more than two."""
    parts = name_parts(value)
    if len(parts) != 2 or name(value) is None:
        return None
    return parts[1] + parts[0]


def address(value: str) -> str | None:
    """An address's form: folded, letters and digits only; None if too short.

    >>> address("서울 노원구 상계로 12, 101동") == address("서울노원구 상계로12 101동")
    True
    """
    form = _NOT_WORD.sub("", _fold(value))
    return form if len(form) >= MIN_ADDRESS_CHARS else None


_FORMS = {"phone": phone, "name": name, "address": address}


def normalise(kind: str, value: str | None) -> str | None:
    """The normalised form of ``value`` as a ``kind``; None for an empty value (never a match)."""
    if value is None or not isinstance(value, str) or not value.strip():
        return None
    return _FORMS[kind](value)
