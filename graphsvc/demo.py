"""A deterministic generator of a realistic demo referral network.

The generative model, in a few lines:

* Households are created one after another; each gets a "joined" day, drawn so that
  the network grows (faster and faster) over the last six years before ``as_of``.
  Household *i* can only be introduced by a person of an earlier household, so the
  introduction graph is a forest and dates never decrease down a chain.
* The first ``max(1, min(10, N))`` households are seeds: their heads have no introducer.
  About 3% of later households also have none ("introducer unknown").
* Every other household's head is introduced by one earlier person: with probability
  one half a uniformly random person (biased toward household heads), otherwise the
  introducer of a random earlier introduction (preferential attachment). This gives a
  heavy-tailed fan-out, a few very large trees and chains several links deep.
* A household usually stays in its introducer's district (80%; 60% when that district
  is already crowded), else it moves to another district of a weighted list of places
  where many defectors live, favouring districts that lag behind their weight. Seeds
  sit in the big communities (노원, 양천, 안산 ...).
* Households have 1-4 members (mostly 1-2); only the head is introduced. Names, phones
  and addresses are fake; code names are Korean nature-word pseudonyms, made unique.
* Users are an admin, one coordinator per three districts and visitors (about a third
  of them defectors from the network) who together cover every district in use.
* About 40% of households were never visited; the others had 1-4 visits in the last
  two years, each by a visitor responsible for the household's district.

Everything is drawn from one ``random.Random(seed)``, so the same
``(households, seed, as_of)`` always gives the same tables.
"""

from __future__ import annotations

import bisect
import datetime
import math
import random
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .csvio import TABLES, write_table
from .model import HOUSEHOLD_STATUS, RELATION, ROLE, VISIT_OUTCOME, Actor, Vocabulary

if TYPE_CHECKING:
    from .crypto import Keyring
    from .db import Database
    from .importer import Report

__all__ = ["DISTRICTS", "generate", "summary"]

# --------------------------------------------------------------------------- vocabulary

# (district, relative weight): districts with large defector communities.
_DISTRICT_WEIGHTS: tuple[tuple[str, int], ...] = (
    ("서울 노원구", 15),
    ("서울 양천구", 13),
    ("서울 강서구", 8),
    ("서울 구로구", 6),
    ("서울 송파구", 4),
    ("경기 안산시", 13),
    ("경기 시흥시", 7),
    ("경기 화성시", 6),
    ("경기 김포시", 5),
    ("경기 부천시", 6),
    ("경기 수원시", 5),
    ("경기 평택시", 4),
)
DISTRICTS: tuple[str, ...] = tuple(d for d, _ in _DISTRICT_WEIGHTS)

_ROADS: dict[str, tuple[str, ...]] = {
    "서울 노원구": ("상계로", "동일로", "노원로", "한글비석로", "공릉로", "중계로"),
    "서울 양천구": ("목동로", "신월로", "오목로", "신정로", "국회대로"),
    "서울 강서구": ("화곡로", "공항대로", "강서로", "등촌로", "양천로"),
    "서울 구로구": ("구로중앙로", "경인로", "디지털로", "오리로", "개봉로"),
    "서울 송파구": ("송파대로", "올림픽로", "백제고분로", "오금로", "마천로"),
    "경기 안산시": ("원곡로", "중앙대로", "광덕대로", "선부광장로", "고잔로"),
    "경기 시흥시": ("정왕대로", "시흥대로", "희망공원로", "옥구천동로", "은행로"),
    "경기 화성시": ("병점중앙로", "동탄대로", "향남로", "봉담로", "남양로"),
    "경기 김포시": ("김포대로", "사우중로", "풍무로", "김포한강로", "양촌로"),
    "경기 부천시": ("부천로", "소사로", "길주로", "중동로", "경인로"),
    "경기 수원시": ("매산로", "권광로", "경수대로", "수성로", "정조로"),
    "경기 평택시": ("평택로", "안중로", "서정로", "중앙로", "경기대로"),
}

_SURNAMES = (
    "김",
    "이",
    "박",
    "최",
    "정",
    "강",
    "조",
    "윤",
    "장",
    "임",
    "한",
    "오",
    "서",
    "신",
    "권",
    "황",
    "안",
    "송",
    "류",
    "홍",
)
_SURNAME_WEIGHTS = (21, 15, 9, 5, 5, 3, 3, 3, 3, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1)
_GIVEN_SYLLABLES = (
    "영",
    "순",
    "미",
    "정",
    "희",
    "숙",
    "옥",
    "경",
    "혜",
    "선",
    "은",
    "지",
    "현",
    "수",
    "민",
    "진",
    "화",
    "금",
    "춘",
    "명",
    "철",
    "성",
    "호",
    "광",
    "남",
    "일",
    "향",
    "란",
    "련",
    "실",
    "주",
    "연",
    "아",
    "윤",
    "서",
    "하",
)

# Code names: a modifier-like word followed by a noun-like word, e.g. 들+국화, 새벽+별.
_CODE_PREFIXES = tuple(
    dict.fromkeys(
        (
            "푸른",
            "작은",
            "맑은",
            "고운",
            "밝은",
            "새",
            "큰",
            "하얀",
            "붉은",
            "노란",
            "깊은",
            "높은",
            "너른",
            "고요한",
            "따스한",
            "향긋한",
            "싱그러운",
            "어린",
            "든든한",
            "포근한",
            "환한",
            "빛나는",
            "참",
            "들",
            "산",
            "강",
            "봄",
            "여름",
            "가을",
            "겨울",
            "새벽",
            "아침",
            "저녁",
            "한",
            "은행",
            "별빛",
            "달빛",
            "햇살",
            "바람",
            "이슬",
            "구름",
            "하늘",
            "바다",
            "시냇",
            "솔",
            "들녘",
            "언덕",
            "숲속",
            "샘골",
            "꽃",
            "아기",
            "첫",
            "늘",
            "참된",
            "착한",
            "기쁜",
            "고마운",
            "반가운",
            "소담한",
            "은빛",
            "금빛",
            "초록",
            "연분홍",
            "보랏빛",
            "잔잔한",
            "해맑은",
            "풋",
            "옹달",
        )
    )
)
_CODE_NOUNS = tuple(
    dict.fromkeys(
        (
            "국화",
            "별",
            "나무",
            "솔",
            "샘",
            "꽃",
            "달",
            "해",
            "빛",
            "바람",
            "구름",
            "이슬",
            "물결",
            "들꽃",
            "진달래",
            "개나리",
            "민들레",
            "소나무",
            "버들",
            "잎새",
            "열매",
            "씨앗",
            "새싹",
            "마루",
            "누리",
            "보리",
            "꾀꼬리",
            "제비",
            "종달새",
            "사슴",
            "노루",
            "시내",
            "여울",
            "호수",
            "샘물",
            "오솔길",
            "등불",
            "촛불",
            "노을",
            "무지개",
            "언덕",
            "바위",
            "조약돌",
            "은하",
            "목련",
            "동백",
            "매화",
            "난초",
            "대나무",
            "갈대",
            "억새",
            "봉우리",
            "비둘기",
            "나비",
            "꽃잎",
            "햇살",
            "들판",
            "냇물",
            "바다",
            "하늘",
            "이삭",
            "고개",
            "느티나무",
            "살구",
            "앵두",
            "연꽃",
            "산새",
            "풀잎",
        )
    )
)

_MATERIALS = ("bible", "hymnal", "tract", "rice", "ramen", "clothes")

_NOTES_MET = (
    "아이들이 학교에 잘 적응하고 있음",
    "건강이 좋지 않아 병원 안내가 필요함",
    "일자리를 구해서 바쁘게 지내고 있음",
    "북한에 있는 가족 소식을 기다리고 있음",
    "성경공부에 관심을 보임",
    "다음 달에 다시 방문하기로 함",
    "하나원 동기 모임에 나가고 있음",
    "말투 때문에 직장에서 어려움을 겪고 있음",
    "주일 예배에 함께 가기로 함",
    "반갑게 맞아 주시고 차를 대접해 주심",
    "이웃 가정을 소개해 주겠다고 함",
    "기도 제목을 함께 나눔",
)
_NOTES_NOT_HOME = ("부재중이라 문 앞에 메모를 남김", "전화로 다음 방문 일정을 잡기로 함")
_NOTES_REFUSED = ("방문을 원하지 않는다고 하심",)
_NOTES_MOVED = ("다른 지역으로 이사 간 것으로 확인됨",)
_NOTES_BY_OUTCOME = {
    "met": _NOTES_MET,
    "not_home": _NOTES_NOT_HOME,
    "refused": _NOTES_REFUSED,
    "moved": _NOTES_MOVED,
}
_NOTES_OTHER = _NOTES_NOT_HOME + _NOTES_MET[:6]

# Model parameters.
_MAX_SEEDS = 10
_UNKNOWN_INTRODUCER = 0.03
_UNIFORM_INTRODUCER = 0.5  # else: preferential attachment
_HEAD_BIAS = 0.75  # in the uniform branch, chance to pick among heads only
_SAME_DISTRICT = 0.8
_SAME_CROWDED = 0.6  # ... when the district already has 1.5 times its share
# Seeds sit in the big communities, so that the largest trees usually do too.
_SEED_DISTRICTS = (0, 1, 5, 2, 0, 1, 5, 6, 3, 9)
_GROWTH_DAYS = 6 * 365 + 1  # the network grows over about six years
_GROWTH_SHAPE = 0.6  # < 1: more households joined recently than long ago
_VISIT_DAYS = 2 * 365
_NEWCOMER_SHARE = 0.15
_NEVER_VISITED = {"active": 0.37, "moved": 0.45, "closed": 0.6, "do_not_visit": 1.0}


def _weights(vocab: Vocabulary, weights: Mapping[str, float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """The vocabulary's values with their weights (values not mentioned weigh nothing)."""
    unknown = [v for v in weights if v not in vocab.values]
    if unknown:
        raise ValueError(f"not a {vocab.field}: {unknown}")
    return vocab.values, tuple(float(weights.get(v, 0)) for v in vocab.values)


def _role(value: str) -> str:
    if value not in ROLE.values:
        raise ValueError(f"not a role: {value}")
    return value


_ADMIN, _COORDINATOR, _VISITOR = _role("admin"), _role("coordinator"), _role("visitor")
_STATUS = _weights(HOUSEHOLD_STATUS, {"active": 92, "moved": 3.5, "closed": 2.5, "do_not_visit": 2})
_RELATION_SAME = _weights(RELATION, {"family": 38, "friend": 34, "neighbour": 21, "other": 7})
_RELATION_AWAY = _weights(RELATION, {"family": 52, "friend": 36, "neighbour": 4, "other": 8})
_OUTCOME = _weights(VISIT_OUTCOME, {"met": 74, "not_home": 17, "refused": 5, "moved": 2, "other": 2})


_T = TypeVar("_T")


class _Pick(Generic[_T]):
    """A weighted choice with precomputed cumulative weights (one ``random()`` per draw)."""

    __slots__ = ("items", "cum", "total")

    def __init__(self, items: Sequence[_T], weights: Sequence[float]):
        self.items = tuple(items)
        total, cum = 0.0, []
        for w in weights:
            total += w
            cum.append(total)
        if not self.items or total <= 0:
            raise ValueError("nothing to pick from")
        self.cum, self.total = cum, total

    def __call__(self, rng: random.Random) -> _T:
        return self.items[bisect.bisect_right(self.cum, rng.random() * self.total)]


# ------------------------------------------------------------------------------ generate


def generate(households: int, seed: int = 1, as_of: datetime.date | None = None) -> dict[str, list[dict[str, str]]]:
    """Generate a demo network of ``households`` households, as rows of the CSV tables.

    Returns ``{"users": [...], "households": [...], "people": [...], "introductions": [...],
    "visits": [...]}``; every row has exactly the table's columns, with string values
    (ISO dates, empty strings for missing optional values). ``as_of`` is "today" for the
    data (default: today); nothing is dated after it. Deterministic in its arguments.
    """
    n = int(households)
    if n < 0:
        raise ValueError("households must be >= 0")
    if as_of is None:
        as_of = datetime.date.today()
    rng = random.Random(seed)
    end = as_of.toordinal()
    start = end - _GROWTH_DAYS
    iso_cache: dict[int, str] = {}

    def iso(day: int | None) -> str:
        if day is None:
            return ""
        text = iso_cache.get(day)
        if text is None:
            text = iso_cache[day] = datetime.date.fromordinal(day).isoformat()
        return text

    n_districts = len(DISTRICTS)
    weight_sum = sum(w for _, w in _DISTRICT_WEIGHTS)
    target = [w / weight_sum for _, w in _DISTRICT_WEIGHTS]
    district_count = [0] * n_districts

    def rebalance(placed: int, avoid: int) -> int:
        """A district other than ``avoid``, by target weight plus how far it lags behind."""
        weights = [
            0.0 if d == avoid else target[d] * (1 + placed) * 0.25 + max(0.0, target[d] * placed - district_count[d])
            for d in range(n_districts)
        ]
        return _Pick(range(n_districts), weights)(rng)

    pick_size = _Pick((1, 2, 3, 4), (45, 30, 17, 8))
    pick_status = _Pick(*_STATUS)
    pick_rel_same = _Pick(*_RELATION_SAME)
    pick_rel_away = _Pick(*_RELATION_AWAY)
    pick_surname = _Pick(_SURNAMES, _SURNAME_WEIGHTS)

    # ---- households, people and introductions (people are ints 0.., households 0..)
    joined = sorted(rng.random() ** _GROWTH_SHAPE for _ in range(n))
    h_joined = [start + min(_GROWTH_DAYS, int(x * (_GROWTH_DAYS + 1))) for x in joined]
    h_district: list[int] = []
    h_head: list[int] = []  # first person of the household (people are contiguous)
    h_size: list[int] = []
    p_household: list[int] = []
    heads: list[int] = []
    introducers: list[int] = []  # one entry per introduction: preferential attachment pool
    intros: list[tuple[int, int, int | None, str]] = []
    n_seeds = max(1, min(_MAX_SEEDS, n)) if n else 0

    for i in range(n):
        introducer = None
        if i >= n_seeds and rng.random() >= _UNKNOWN_INTRODUCER:
            if introducers and rng.random() >= _UNIFORM_INTRODUCER:
                introducer = introducers[rng.randrange(len(introducers))]
            elif rng.random() < _HEAD_BIAS:
                introducer = heads[rng.randrange(len(heads))]
            else:
                introducer = rng.randrange(len(p_household))
        if i < n_seeds:
            district = _SEED_DISTRICTS[i % len(_SEED_DISTRICTS)]
        elif introducer is None:
            district = rebalance(i, -1)
        else:
            district = h_district[p_household[introducer]]
            stay = _SAME_DISTRICT if district_count[district] <= 1.5 * target[district] * i else _SAME_CROWDED
            if rng.random() >= stay:
                district = rebalance(i, district)
        district_count[district] += 1
        head = len(p_household)
        size = pick_size(rng)
        p_household.extend([i] * size)
        h_district.append(district)
        h_head.append(head)
        h_size.append(size)
        heads.append(head)
        if introducer is not None:
            introducers.append(introducer)
            same = h_district[p_household[introducer]] == district
            relation = (pick_rel_same if same else pick_rel_away)(rng)
            day = None if rng.random() < 0.02 else h_joined[i]
            intros.append((introducer, head, day, relation))

    n_people = len(p_household)

    # ---- household attributes: status, arrival
    h_status = [pick_status(rng) for _ in range(n)]
    recent = end - 365
    n_recent = sum(1 for d in h_joined if d > recent)
    p_newcomer = min(1.0, _NEWCOMER_SHARE * n / n_recent) if n_recent else 0.0
    arrival_floor = min(datetime.date(1998, 1, 1).toordinal(), start - 365)
    arrival_mode = datetime.date(2009, 6, 1).toordinal()
    h_arrival: list[int | None] = []
    for i in range(n):
        j = h_joined[i]
        if rng.random() < 0.01:
            h_arrival.append(None)
        elif j > recent and rng.random() < p_newcomer:
            h_arrival.append(rng.randint(recent + 1, j))  # a newcomer, introduced soon after arriving
        else:
            hi = recent if rng.random() < 0.05 else min(j, recent)
            lo = min(arrival_floor, hi)
            mode = min(max(arrival_mode, lo), hi)
            h_arrival.append(int(rng.triangular(lo, hi, mode)))

    # ---- people: code names, legal names, phones, addresses
    code_used: dict[str, int] = {}
    n_prefix, n_noun = len(_CODE_PREFIXES), len(_CODE_NOUNS)
    p_code: list[str] = []
    for _ in range(n_people):
        base = _CODE_PREFIXES[rng.randrange(n_prefix)] + _CODE_NOUNS[rng.randrange(n_noun)]
        count = code_used.get(base, 0) + 1
        code_used[base] = count
        p_code.append(base if count == 1 else f"{base}-{count}")

    n_syll = len(_GIVEN_SYLLABLES)
    h_address: list[str] = []
    for i in range(n):
        if rng.random() < 0.04:
            h_address.append("")
            continue
        place = DISTRICTS[h_district[i]]
        roads = _ROADS[place]
        road = roads[rng.randrange(len(roads))]
        kind = rng.random()
        if kind < 0.65:  # apartment block (often public rental housing)
            dong = rng.randint(101, 118) if rng.random() < 0.7 else rng.randint(1, 15)
            ho = rng.randint(1, 20) * 100 + rng.randint(1, 6)
            h_address.append(f"{place} {road} {rng.randint(1, 400)}, {dong}동 {ho}호")
        elif kind < 0.9:  # multi-family villa on a side street
            ho = rng.randint(1, 4) * 100 + rng.randint(1, 4)
            h_address.append(f"{place} {road}{rng.randint(1, 60)}길 {rng.randint(1, 120)}, {ho}호")
        else:
            h_address.append(f"{place} {road} {rng.randint(1, 400)}")

    people_rows: list[dict[str, str]] = []
    pw = max(6, len(str(n_people)))
    hw = max(6, len(str(n)))
    h_ids = [f"h-{i + 1:0{hw}d}" for i in range(n)]
    p_ids = [f"p-{p + 1:0{pw}d}" for p in range(n_people)]
    for p in range(n_people):
        i = p_household[p]
        name = pick_surname(rng) + _GIVEN_SYLLABLES[rng.randrange(n_syll)] + _GIVEN_SYLLABLES[rng.randrange(n_syll)]
        phone = "" if rng.random() < 0.1 else f"010-{rng.randint(2000, 9999)}-{rng.randint(0, 9999):04d}"
        people_rows.append(
            {
                "id": p_ids[p],
                "code_name": p_code[p],
                "household_id": h_ids[i],
                "legal_name": name,
                "phone": phone,
                "address": h_address[i],
            }
        )

    cw = len(str(n)) if n else 1
    household_rows = [
        {
            "id": h_ids[i],
            "code": f"H-{i + 1:0{cw}d}",
            "district": DISTRICTS[h_district[i]],
            "arrived_on": iso(h_arrival[i]),
            "status": h_status[i],
        }
        for i in range(n)
    ]
    introduction_rows = [
        {"introducer_id": p_ids[a], "introduced_id": p_ids[b], "introduced_on": iso(day), "relation": rel}
        for a, b, day, rel in intros
    ]

    # ---- users: admin, coordinators, visitors covering every district in use
    households_in = [0] * n_districts
    for d in h_district:
        households_in[d] += 1
    used = [d for d in range(n_districts) if households_in[d]] or list(range(n_districts))
    user_rows: list[dict[str, str]] = [{"username": "admin", "role": _ADMIN, "districts": "", "person_id": ""}]
    for c in range(math.ceil(n_districts / 3)):
        user_rows.append(
            {
                "username": f"coord{c + 1}",
                "role": _COORDINATOR,
                "districts": ";".join(DISTRICTS[c * 3 : c * 3 + 3]),
                "person_id": "",
            }
        )

    n_visitors = max(4, min(800, n // 150))
    pick_busy = _Pick(used, [households_in[d] or 1 for d in used])
    v_districts: list[list[int]] = [[] for _ in range(n_visitors)]
    # Coverage first (a visitor gets more than two districts only when there are too few visitors).
    for k, d in enumerate(used):
        v_districts[k % n_visitors].append(d)
    for ds in v_districts:
        if not ds:
            ds.append(pick_busy(rng))
        if len(ds) == 1 and len(used) > 1 and rng.random() < 0.35:
            other = pick_busy(rng)
            while other == ds[0]:
                other = pick_busy(rng)
            ds.append(other)

    # About a third of the visitors are defectors themselves: link them to a person,
    # preferably the head of an active household in their own district.
    heads_in: list[list[int]] = [[] for _ in range(n_districts)]
    for i in range(n):
        if h_status[i] == "active":
            heads_in[h_district[i]].append(h_head[i])
    v_person: list[int | None] = [None] * n_visitors
    taken: set[int] = set()
    for v in sorted(rng.sample(range(n_visitors), min(n_people, round(n_visitors / 3)))):
        pool = heads_in[v_districts[v][0]]
        chosen = None
        for _ in range(20):
            if pool:
                cand = pool[rng.randrange(len(pool))]
                if cand not in taken:
                    chosen = cand
                    break
        if chosen is None:
            for _ in range(200):
                cand = rng.randrange(n_people)
                if cand not in taken:
                    chosen = cand
                    break
        if chosen is not None:
            taken.add(chosen)
            v_person[v] = chosen

    v_names = [f"visitor{v + 1}" for v in range(n_visitors)]
    for v in range(n_visitors):
        user_rows.append(
            {
                "username": v_names[v],
                "role": _VISITOR,
                "districts": ";".join(DISTRICTS[d] for d in v_districts[v]),
                "person_id": "" if (person := v_person[v]) is None else p_ids[person],
            }
        )
    covering: list[list[int]] = [[] for _ in range(n_districts)]
    for v in range(n_visitors):
        for d in v_districts[v]:
            covering[d].append(v)

    # ---- visits
    pick_count = _Pick((1, 2, 3, 4), (40, 30, 20, 10))
    pick_outcome = _Pick(*_OUTCOME)
    pick_n_items = _Pick((1, 2, 3), (60, 30, 10))
    pick_qty = _Pick((1, 2, 3), (70, 20, 10))
    visit_floor = end - _VISIT_DAYS
    raw_visits: list[tuple[int, int, int, int, str, str, str]] = []
    for i in range(n):
        status = h_status[i]
        if rng.random() < _NEVER_VISITED.get(status, 0.4):
            continue
        lo = max(visit_floor, h_joined[i])
        hi = end
        if status == "closed":  # visited before the case was closed, not lately
            hi = lo + (end - lo) // 2
        k = min(pick_count(rng), hi - lo + 1)
        days = sorted(rng.sample(range(lo, hi + 1), k))
        pool = covering[h_district[i]]
        visitor = pool[rng.randrange(len(pool))]
        for seq, day in enumerate(days):
            if seq and rng.random() >= 0.7:
                visitor = pool[rng.randrange(len(pool))]
            outcome = pick_outcome(rng)
            if status == "moved" and seq == k - 1 and rng.random() < 0.6:
                outcome = "moved"
            materials = ""
            if outcome == "met" and rng.random() >= 0.45:
                items = rng.sample(range(len(_MATERIALS)), pick_n_items(rng))
                materials = ";".join(f"{_MATERIALS[m]}:{pick_qty(rng)}" for m in sorted(items))
            notes = ""
            if rng.random() >= 0.5:
                choices = _NOTES_BY_OUTCOME.get(outcome, _NOTES_OTHER)
                notes = choices[rng.randrange(len(choices))]
            raw_visits.append((day, i, seq, visitor, outcome, materials, notes))
    raw_visits.sort(key=lambda r: (r[0], r[1], r[2]))
    vw = max(6, len(str(len(raw_visits))))
    visit_rows = [
        {
            "id": f"v-{k + 1:0{vw}d}",
            "household_id": h_ids[i],
            "visitor": v_names[visitor],
            "visited_on": iso(day),
            "outcome": outcome,
            "materials": materials,
            "notes": notes,
        }
        for k, (day, i, _seq, visitor, outcome, materials, notes) in enumerate(raw_visits)
    ]

    # ---- issue-5 fields, from a generator of their own so that adding them left every
    # table above as it was: visitors' gender (most visitors are women), households that
    # only women may visit, and follow-up dates set at some visits.
    extra = random.Random(f"{seed}:extras")
    for row in user_rows:
        row["gender"] = ("f" if extra.random() < 0.75 else "m") if row["role"] == _VISITOR else ""
    for row in household_rows:
        row["women_only"] = "true" if extra.random() < 0.25 else ""
    for row in visit_rows:
        follow = ""
        if row["outcome"] in ("met", "not_home") and extra.random() < 0.5:
            follow = iso(datetime.date.fromisoformat(row["visited_on"]).toordinal() + extra.randint(14, 120))
        row["follow_up_on"] = follow

    tables = {
        "users": user_rows,
        "households": household_rows,
        "people": people_rows,
        "introductions": introduction_rows,
        "visits": visit_rows,
    }
    return tables


def summary(tables: Mapping[str, Sequence[Mapping[str, str]]]) -> dict[str, int]:
    """Row counts per table plus ``never_visited``: households without any visit."""
    counts = {name: len(tables.get(name, ())) for name in TABLES}
    visited = {row["household_id"] for row in tables.get("visits", ())}
    counts["never_visited"] = sum(1 for row in tables.get("households", ()) if row["id"] not in visited)
    return counts


def write(tables: Mapping[str, Sequence[Mapping[str, str]]], folder: Path) -> None:
    """The demo's tables as the CSV files of an import (``graphsvc demo --out``)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in TABLES.items():
        write_table(folder / table.filename, table, tables[name])


def load(
    db: Database, tables: Mapping[str, Sequence[Mapping[str, str]]], keyring: Keyring, actor: Actor, **options: Any
) -> Report:
    """Import the demo's tables as ``graphsvc import`` would (through CSV files in a folder
    of their own, removed afterwards); ``options`` go to ``importer.import_folder``. The
    demo's random phones and common names repeat by chance: duplicates are allowed."""
    from .importer import import_folder  # the importer is not needed to generate a demo

    options.setdefault("allow_duplicates", True)
    with tempfile.TemporaryDirectory(prefix="graphsvc-demo-") as tmp:
        write(tables, Path(tmp))
        return import_folder(db, Path(tmp), keyring, actor, **options)
