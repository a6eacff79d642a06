"""Synthetic children as different agencies record them, with the errors real records have.

For measuring linkage (``bench/linkage.py``) and for demos: every child is recorded by two
agencies, the second with realistic differences (a typing error, another transliteration,
first name and surname swapped, day and month swapped, a missing or changed postcode, no sex
recorded), and some children have a twin: same surname, birth date, postcode and often sex,
another first name, and never the same child. Deterministic for a seed.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from schemas.linkage import Identity

FIRST_NAMES = {
    "F": [
        "Amelia",
        "Olivia",
        "Isla",
        "Ava",
        "Mia",
        "Ffion",
        "Seren",
        "Megan",
        "Cerys",
        "Nia",
        "Fatima",
        "Aisha",
        "Maryam",
        "Zainab",
        "Hana",
        "Amina",
        "Leila",
        "Yasmin",
        "Sara",
        "Noor",
        "Linh",
        "Thu",
        "Mai",
        "Hoa",
        "Lan",
        "Ngoc",
        "Anh",
        "Trang",
        "Elira",
        "Besa",
        "Arta",
        "Drita",
        "Teuta",
        "Luljeta",
        "Senait",
        "Helen",
        "Selam",
        "Rahel",
        "Feven",
        "Ana",
        "Maria",
        "Elena",
        "Ioana",
        "Andreea",
        "Zofia",
        "Julia",
        "Natalia",
        "Oksana",
        "Daria",
        "Priya",
        "Ananya",
        "Shreya",
        "Aaliyah",
        "Chloe",
        "Grace",
        "Lily",
        "Evie",
        "Ruby",
        "Poppy",
        "Sophie",
        "Erin",
        "Alys",
        "Lowri",
        "Eira",
        "Mali",
        "Efa",
    ],
    "M": [
        "Oliver",
        "Noah",
        "George",
        "Arthur",
        "Leo",
        "Dylan",
        "Rhys",
        "Osian",
        "Gethin",
        "Ioan",
        "Mohammed",
        "Ahmed",
        "Yusuf",
        "Omar",
        "Ali",
        "Hassan",
        "Hussein",
        "Ibrahim",
        "Khalid",
        "Mustafa",
        "Minh",
        "Duc",
        "Tuan",
        "Huy",
        "Nam",
        "Quang",
        "Thanh",
        "Long",
        "Arben",
        "Besnik",
        "Dritan",
        "Ermal",
        "Gentian",
        "Klodian",
        "Dawit",
        "Yonas",
        "Samuel",
        "Tesfay",
        "Robel",
        "Andrei",
        "Mihai",
        "Ion",
        "Jakub",
        "Piotr",
        "Tomasz",
        "Oleksandr",
        "Dmytro",
        "Arjun",
        "Rohan",
        "Aryan",
        "Jack",
        "Harry",
        "Charlie",
        "Jacob",
        "Thomas",
        "Freddie",
        "Alfie",
        "Finley",
        "Evan",
        "Cai",
        "Tomos",
        "Elis",
        "Macsen",
        "Jac",
        "Aled",
    ],
}
SURNAMES = [
    "Jones",
    "Williams",
    "Davies",
    "Evans",
    "Thomas",
    "Roberts",
    "Lewis",
    "Hughes",
    "Morgan",
    "Griffiths",
    "Edwards",
    "Owen",
    "Price",
    "Pritchard",
    "Rees",
    "Jenkins",
    "Phillips",
    "Powell",
    "Smith",
    "Taylor",
    "Brown",
    "Wilson",
    "Walker",
    "Wright",
    "Green",
    "Hall",
    "Wood",
    "Clarke",
    "Khan",
    "Ahmed",
    "Hussain",
    "Ali",
    "Rahman",
    "Abdullah",
    "Hassan",
    "Mahmoud",
    "Haddad",
    "Nasser",
    "Saleh",
    "Osman",
    "Nguyen",
    "Tran",
    "Le",
    "Pham",
    "Hoang",
    "Phan",
    "Vu",
    "Dang",
    "Bui",
    "Do",
    "Hoxha",
    "Krasniqi",
    "Gashi",
    "Berisha",
    "Shala",
    "Morina",
    "Kelmendi",
    "Leka",
    "Tesfaye",
    "Gebremedhin",
    "Haile",
    "Kidane",
    "Berhane",
    "Tekle",
    "Woldemariam",
    "Popescu",
    "Ionescu",
    "Popa",
    "Dumitru",
    "Stan",
    "Nowak",
    "Kowalski",
    "Wisniewski",
    "Kaminski",
    "Shevchenko",
    "Kovalenko",
    "Bondarenko",
    "Patel",
    "Sharma",
    "Singh",
    "Kaur",
    "Gupta",
    "Begum",
    "Uddin",
    "Miah",
    "Chowdhury",
    "Islam",
    "Mensah",
    "Owusu",
    "Okafor",
    "Adeyemi",
]
#: Other spellings of the same name, as different agencies transliterate it.
VARIANTS = {
    "Mohammed": ["Muhammad", "Mohamed", "Mohamad", "Mohammad"],
    "Ahmed": ["Ahmad", "Ahmet"],
    "Yusuf": ["Youssef", "Yousef", "Yusif"],
    "Omar": ["Umar", "Omer"],
    "Hussein": ["Husain", "Hussain"],
    "Hassan": ["Hasan"],
    "Ibrahim": ["Ebrahim", "Ibraheem"],
    "Khalid": ["Khaled"],
    "Mustafa": ["Mostafa", "Moustafa"],
    "Fatima": ["Fatimah", "Fatma"],
    "Aisha": ["Ayesha", "Aysha", "Aishah"],
    "Maryam": ["Mariam", "Miriam"],
    "Zainab": ["Zaynab", "Zeinab"],
    "Amina": ["Aminah", "Ameena"],
    "Leila": ["Layla", "Laila"],
    "Yasmin": ["Yasmine", "Jasmin"],
    "Noor": ["Nur", "Nour"],
    "Dawit": ["Dawid", "Dauit"],
    "Yonas": ["Yonis", "Jonas"],
    "Tesfay": ["Tesfaye"],
    "Oleksandr": ["Aleksandr", "Alexandr", "Oleksander"],
    "Dmytro": ["Dmitri", "Dmitriy"],
    "Oksana": ["Oxana"],
    "Natalia": ["Nataliya", "Natalya"],
    "Daria": ["Darya", "Dariya"],
    "Khan": ["Kahn"],
    "Hussain": ["Hussein", "Husain"],
    "Rahman": ["Rehman"],
    "Abdullah": ["Abdulla", "Abdallah"],
    "Mahmoud": ["Mahmud", "Mehmood"],
    "Saleh": ["Salih"],
    "Osman": ["Usman", "Othman"],
    "Nguyen": ["Nguyễn", "Ngyuen"],
    "Tran": ["Trần"],
    "Pham": ["Phạm"],
    "Hoang": ["Hoàng"],
    "Tesfaye": ["Tesfay"],
    "Gebremedhin": ["Gebremedhn", "Gebre Medhin"],
    "Woldemariam": ["Wolde Mariam", "Woldemaryam"],
    "Shevchenko": ["Shevchenco"],
    "Chowdhury": ["Choudhury", "Chowdhry"],
    "Begum": ["Begom"],
}
DISTRICTS = [f"CF{n}" for n in (3, 5, 10, 11, 14, 23, 24, 62, 63, 64)] + [
    f"{area}{n}" for area, ns in (("SA", (1, 2, 5, 6, 11, 15)), ("NP", (10, 19, 20, 44)),
                                  ("LL", (11, 13, 57)), ("SY", (23,)), ("LD", (1,)))
    for n in ns
]  # fmt: skip
#: How often the second agency's record differs, per kind of difference.
ERRORS = {
    "typo": 0.25,
    "transliteration": 0.15,
    "reordered": 0.08,
    "day_month_swap": 0.08,
    "postcode_missing": 0.15,
    "postcode_changed": 0.10,
    "sex_missing": 0.05,
    "surname_dropped_part": 0.03,
}
TWINS = 0.02


@dataclass(frozen=True)
class Record:
    """One agency's record of one child: ``child`` is the truth the linkage must find."""

    record_id: str
    child: int
    agency: str
    identity: Identity


def children(count: int, seed: int = 1) -> Iterator[Record]:
    """Two records of each of ``count`` children (and of their twins, who are children too)."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    today = dt.date(2026, 11, 1)
    n = 0
    while n < count:
        truth = _child(rng, today)
        twins = [truth]
        if rng.random() < TWINS and n + 1 < count:
            sex = truth.sex if rng.random() < 0.5 else ("F" if truth.sex == "M" else "M")
            other = _first_name(rng, sex, avoid=truth.first_names)
            twins.append(replace(truth, first_names=other, sex=sex))
        for identity in twins:
            yield Record(f"r{n}-a", n, "school", identity)
            yield Record(f"r{n}-b", n, rng.choice(["health", "police", "border_force"]),
                         _as_recorded(rng, identity))  # fmt: skip
            n += 1


def _child(rng: random.Random, today: dt.date) -> Identity:
    sex = rng.choice("FM")
    first = _first_name(rng, sex)
    if rng.random() < 0.15:  # a middle name
        first = f"{first} {_first_name(rng, sex, avoid=first)}"
    surname = rng.choice(SURNAMES)
    if rng.random() < 0.05:
        surname = f"{surname} {rng.choice(SURNAMES)}"
    born = today - dt.timedelta(days=rng.randrange(4 * 365, 18 * 365))
    return Identity(first, surname, born, sex, rng.choice(DISTRICTS))


def _first_name(rng: random.Random, sex: str | None, avoid: str = "") -> str:
    while True:
        name = rng.choice(FIRST_NAMES[sex or "F"])
        if name not in avoid.split():
            return name


def _as_recorded(rng: random.Random, truth: Identity) -> Identity:
    """``truth`` as a second agency recorded it."""
    record = truth
    if rng.random() < ERRORS["transliteration"]:
        record = replace(
            record,
            first_names=_respell(rng, record.first_names),
            surname=_respell(rng, record.surname),
        )
    if rng.random() < ERRORS["typo"]:
        if rng.random() < 0.6:
            record = replace(record, first_names=_typo(rng, record.first_names))
        else:
            record = replace(record, surname=_typo(rng, record.surname))
    if rng.random() < ERRORS["reordered"]:
        record = replace(record, first_names=record.surname, surname=record.first_names)
    if rng.random() < ERRORS["surname_dropped_part"] and " " in record.surname:
        record = replace(record, surname=record.surname.split()[0])
    born = record.date_of_birth
    if born is not None and born.day <= 12 and rng.random() < ERRORS["day_month_swap"]:
        record = replace(record, date_of_birth=born.replace(month=born.day, day=born.month))
    if rng.random() < ERRORS["postcode_missing"]:
        record = replace(record, postcode_district=None)
    elif rng.random() < ERRORS["postcode_changed"]:
        record = replace(record, postcode_district=rng.choice(DISTRICTS))
    if rng.random() < ERRORS["sex_missing"]:
        record = replace(record, sex=None)
    return record


def _respell(rng: random.Random, names: str) -> str:
    return " ".join(
        rng.choice(VARIANTS[part]) if part in VARIANTS else part for part in names.split()
    )


def _typo(rng: random.Random, names: str) -> str:
    parts = names.split()
    at = rng.randrange(len(parts))
    word = parts[at]
    if len(word) < 3:
        return names
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["substitute", "delete", "insert", "transpose"])
    letter = rng.choice("abcdefghijklmnopqrstuvwxyz")
    if kind == "substitute":
        word = word[:i] + letter + word[i + 1 :]
    elif kind == "delete":
        word = word[:i] + word[i + 1 :]
    elif kind == "insert":
        word = word[:i] + letter + word[i:]
    else:
        word = word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    parts[at] = word
    return " ".join(parts)
