"""Clinical scales used in the ITB clinic, stored and validated.

- Modified Ashworth Scale (MAS) per muscle group: 0, 1, 1+, 2, 3, 4. 1+ sits between 1 and 2
  and is stored as its own grade, never as the text "1.5".
- Tardieu, the published scale: the quality of the muscle reaction 0-5 and the angles R1
  (catch on a fast stretch) and R2 (passive range on a slow stretch), signed from the joint's
  zero position; R2 - R1 is the dynamic component (see :class:`Tardieu` for the sources).
- GMFCS (gross motor function) levels I-V.
- Goal Attainment Scaling (GAS): each goal scored -2..+2 with a weight, summarised as a T score.

Source: ``shared/domain.md``, "Scales used in clinic" and "The drug label rules" (screening).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Any

from itb.domain.errors import InvalidInput, Violation, is_number

#: a screening trial is positive when the average MAS of the tested muscles drops by at least this
#: (domain.md, "Screening": "a drop of at least 1 point in the average Modified Ashworth score")
MAS_RESPONSE_MIN_DROP = 1.0
#: GAS: the assumed correlation between goal scores (domain.md: ρ = 0.3, Kiresuk's convention)
GAS_RHO = 0.3
#: a goal's weight: small whole numbers (importance x difficulty), at most the form's 100; at least a
#: tenth (a weight near 0 makes the T score's denominator 0)
GAS_MIN_WEIGHT = 0.1
GAS_MAX_WEIGHT = 100.0
#: Tardieu R1 and R2 are signed angles from the joint's zero position (the muscle's position of
#: minimal stretch, e.g. the ankle at neutral): negative is short of it (ankle dorsiflexion -10 deg
#: is 10 deg of plantar flexion). A goniometer read from the zero position turns at most half a
#: circle either way, so anything beyond +/-180 deg is not a joint angle but a typing error.
MIN_ANGLE_DEG = -180.0
MAX_ANGLE_DEG = 180.0

# -- Modified Ashworth Scale ------------------------------------------------------------------


class MAS(StrEnum):
    """A Modified Ashworth grade. Ordered 0 < 1 < 1+ < 2 < 3 < 4 (compare grades, or use ``ordinal``)."""

    ZERO = "0"
    ONE = "1"
    ONE_PLUS = "1+"
    TWO = "2"
    THREE = "3"
    FOUR = "4"

    @property
    def ordinal(self) -> int:
        """The rank of the grade, 0 (grade 0) to 5 (grade 4); 1+ is 2."""
        return _MAS_ORDINAL[self]

    @property
    def points(self) -> float:
        """The conventional number for averaging: 0, 1, 1.5, 2, 3, 4 (1+ counts 1.5)."""
        return _MAS_POINTS[self]

    def __lt__(self, other: object) -> bool:
        if isinstance(other, MAS):
            return self.ordinal < other.ordinal
        return NotImplemented

    def __le__(self, other: object) -> bool:
        if isinstance(other, MAS):
            return self.ordinal <= other.ordinal
        return NotImplemented

    def __gt__(self, other: object) -> bool:
        if isinstance(other, MAS):
            return self.ordinal > other.ordinal
        return NotImplemented

    def __ge__(self, other: object) -> bool:
        if isinstance(other, MAS):
            return self.ordinal >= other.ordinal
        return NotImplemented


_MAS_ORDINAL: dict[MAS, int] = {grade: rank for rank, grade in enumerate(MAS)}
#: the conventional numeric values for averaging MAS grades, 1+ as 1.5
_MAS_POINTS: dict[MAS, float] = {
    MAS.ZERO: 0.0,
    MAS.ONE: 1.0,
    MAS.ONE_PLUS: 1.5,
    MAS.TWO: 2.0,
    MAS.THREE: 3.0,
    MAS.FOUR: 4.0,
}
_MAS_BY_TEXT: dict[str, MAS] = {grade.value: grade for grade in MAS}
_MAS_RULE = "must be a Modified Ashworth grade: 0, 1, 1+, 2, 3 or 4 (1+ is its own grade, not 1.5)"


def _mas_violation(value: object, field: str) -> tuple[MAS | None, Violation | None]:
    if isinstance(value, MAS):
        return value, None
    if type(value) is str:
        grade = _MAS_BY_TEXT.get(value.strip())
        if grade is not None:
            return grade, None
    elif type(value) is int and 0 <= value <= 4:
        return _MAS_BY_TEXT[str(value)], None
    return None, Violation(field, f"{_MAS_RULE}, got {value!r}")


def parse_mas(value: object, field: str) -> MAS:
    """A MAS grade from a grade, its text ("1+", surrounding spaces allowed) or a whole number 0-4.

    Anything else (1.5, "1.5", 5, 2.0, True) raises ``InvalidInput`` naming ``field``.
    """
    grade, bad = _mas_violation(value, field)
    if bad is not None:
        raise InvalidInput([bad])
    return grade  # type: ignore[return-value]


def _parse_all(grades: Iterable[object], field: str) -> list[MAS]:
    parsed: list[MAS] = []
    problems: list[Violation] = []
    for i, value in enumerate(grades):
        grade, bad = _mas_violation(value, f"{field}[{i}]")
        if bad is not None:
            problems.append(bad)
        else:
            parsed.append(grade)  # type: ignore[arg-type]
    if not parsed and not problems:
        problems.append(Violation(field, "needs at least one grade"))
    if problems:
        raise InvalidInput(problems)
    return parsed


def mean_mas(grades: Iterable[MAS | str | int], field: str = "grades") -> float:
    """The average grade over muscle groups, counting 0, 1, 1.5, 2, 3, 4 (1+ as 1.5, the convention).

    Every grade is checked (``parse_mas``); all the bad ones are reported at once as
    ``field[index]``. No grade at all is refused.
    """
    parsed = _parse_all(grades, field)
    return sum(g.points for g in parsed) / len(parsed)


def mas_response(
    before: Iterable[MAS | str | int],
    after: Iterable[MAS | str | int],
    min_drop: float = MAS_RESPONSE_MIN_DROP,
) -> bool:
    """Whether a screening dose worked: the average MAS of the tested muscles dropped by at least ``min_drop``.

    ``before`` and ``after`` grade the same muscles in the same order, so they must be as long.
    """
    problems: list[Violation] = []
    parsed: dict[str, list[MAS]] = {}
    for name, grades in (("before", before), ("after", after)):
        try:
            parsed[name] = _parse_all(grades, name)
        except InvalidInput as e:
            problems.extend(e.violations)
    if not (is_number(min_drop) and min_drop > 0):
        problems.append(Violation("min_drop", f"must be a number > 0, got {min_drop!r}"))
    if not problems and len(parsed["before"]) != len(parsed["after"]):
        problems.append(
            Violation(
                "after",
                f"must grade the same muscles as before ({len(parsed['before'])}), got {len(parsed['after'])}",
            )
        )
    if problems:
        raise InvalidInput(problems)
    drop = mean_mas(parsed["before"]) - mean_mas(parsed["after"])
    return drop >= min_drop or math.isclose(drop, min_drop, rel_tol=1e-9, abs_tol=1e-9)


# -- Tardieu -----------------------------------------------------------------------------------

#: The quality of the muscle reaction to a fast stretch, graded 0 to 5 in the published Tardieu scale
#: (Tardieu's 1954 method as formalised by Held and Pierrot-Deseilligny; history in Gracies et al.,
#: Front. Neurol. 2023;14:1108535, "Brief history"). Wording as in the scale's scoring sheet,
#: reproduced in the physiobase.com thread "Measuring spasticity" ("Scoring", grades 0-5, "5 Joint is
#: immovable"). Some forms stop at 4 (e.g. the DSS page citing Barnes and Johnson, Upper Motor
#: Neurone Syndrome and Spasticity, 2008): the published scale has 5 (domain.md, "Scales used in
#: clinic"). The letter for it varies: X in forms that write "X/Y" (grade/angle), Y in Gracies's.
TARDIEU_QUALITY: dict[int, str] = {
    0: "no resistance throughout the passive movement",
    1: "slight resistance throughout the passive movement, no clear catch at a precise angle",
    2: "clear catch at a precise angle, interrupting the passive movement, then release",
    3: "fatigable clonus at a precise angle (less than 10 s while the pressure is kept on)",
    4: "infatigable clonus at a precise angle (more than 10 s while the pressure is kept on)",
    5: "joint immobile",
}
TARDIEU_MAX_QUALITY = max(TARDIEU_QUALITY)
_TARDIEU_FIELDS = ("quality", "r1_deg", "r2_deg")


@dataclass(frozen=True, slots=True)
class Tardieu:
    """One Tardieu measurement of a muscle group (the published scale, as used in clinic).

    - ``quality``: the quality of the muscle reaction, a whole number 0 to 5
      (:data:`TARDIEU_QUALITY`; 5 is a joint that cannot be moved).
    - ``r1_deg``: R1, the angle of the catch on a fast stretch (V3, as fast as possible);
      ``r2_deg``: R2, the passive range on a slow stretch (V1). Boyd and Graham 1999 (Eur. J.
      Neurol. 6 Suppl 4) named them R1 and R2; R1, R2 and R2 - R1 are read the same way in
      Ansari et al., Brain Inj. 2008, 22:1007 and Choi et al., Gait Posture 2018, 64:255.
    - Both are signed degrees from the joint's zero position, Tardieu's "position of minimal
      stretch" of the muscle (Gracies et al., Front. Neurol. 2023, "Brief history"), increasing in
      the direction the stretch moves the joint. A joint that stops short of zero has a negative
      angle: a knee catching at -70 deg and released to -50 deg of extension (the hamstrings
      example in the scale's scoring instructions, reproduced in the physiobase.com forum thread
      "Measuring spasticity") is R1 = -70, R2 = -50; an ankle catching at 10 deg of
      plantar flexion with dorsiflexion to +5 deg is R1 = -10, R2 = +5. Bounds:
      :data:`MIN_ANGLE_DEG` .. :data:`MAX_ANGLE_DEG`.
    - R1 <= R2 on that signed scale: the fast stretch is stopped by the catch somewhere within the
      range the slow stretch reaches, never beyond it; R1 = R2 when there is no dynamic part
      (a catch at the end of range, or a joint that does not move). Record angles that shrink as
      the muscle lengthens (a popliteal angle) with their sign turned, so larger is more stretch.
    """

    quality: int
    r1_deg: float
    r2_deg: float

    def __post_init__(self) -> None:
        problems: list[Violation] = []
        if type(self.quality) is not int or not 0 <= self.quality <= TARDIEU_MAX_QUALITY:
            problems.append(
                Violation(
                    "tardieu.quality",
                    f"must be a whole number 0 to {TARDIEU_MAX_QUALITY} (the quality of the muscle reaction), "
                    f"got {self.quality!r}",
                )
            )
        angles_ok = True
        for name in ("r1_deg", "r2_deg"):
            value = getattr(self, name)
            if not (is_number(value) and MIN_ANGLE_DEG <= value <= MAX_ANGLE_DEG):
                angles_ok = False
                problems.append(
                    Violation(
                        f"tardieu.{name}",
                        f"must be an angle from {MIN_ANGLE_DEG:g} to {MAX_ANGLE_DEG:g} degrees from the joint's "
                        f"zero position (negative: short of it), got {value!r}",
                    )
                )
        if angles_ok and self.r1_deg > self.r2_deg:
            problems.append(
                Violation(
                    "tardieu.r1_deg",
                    f"must be <= R2 (the catch comes within the full range, angles signed in the direction of "
                    f"the stretch), got R1 {self.r1_deg:g} > R2 {self.r2_deg:g}",
                )
            )
        if problems:
            raise InvalidInput(problems)

    @property
    def spasticity_angle(self) -> float:
        """R2 - R1 in degrees: the dynamic component of the tightness (0 when the catch is at the end of range)."""
        return self.r2_deg - self.r1_deg

    @property
    def dynamic_component_deg(self) -> float:
        """R2 - R1 in degrees, the name the Modified Tardieu papers use (same as ``spasticity_angle``)."""
        return self.spasticity_angle

    @property
    def reaction(self) -> str:
        """The quality of the muscle reaction in words (:data:`TARDIEU_QUALITY`)."""
        return TARDIEU_QUALITY[self.quality]

    def record(self) -> dict[str, Any]:
        """The stored form: quality, R1, R2 and the dynamic component R2 - R1."""
        return {
            "quality": self.quality,
            "r1_deg": self.r1_deg,
            "r2_deg": self.r2_deg,
            "dynamic_component_deg": self.dynamic_component_deg,
        }


def parse_tardieu(value: object, field: str) -> Tardieu:
    """A Tardieu measurement from ``{quality, r1_deg, r2_deg}``; every problem names ``field.<key>``.

    Unknown keys are refused (a misspelt angle would otherwise be silently dropped);
    ``dynamic_component_deg`` is accepted and ignored, being computed again from R1 and R2.
    """
    if not isinstance(value, dict):
        raise InvalidInput([Violation(field, "must be {quality, r1_deg, r2_deg}")])
    problems = [
        Violation(f"{field}.{key}", "unknown field: a Tardieu measurement has quality, r1_deg and r2_deg")
        for key in value
        if key not in _TARDIEU_FIELDS and key != "dynamic_component_deg"
    ]
    problems += [Violation(f"{field}.{key}", "is required") for key in _TARDIEU_FIELDS if key not in value]
    measurement: Tardieu | None = None
    try:
        measurement = Tardieu(value.get("quality"), value.get("r1_deg"), value.get("r2_deg"))  # type: ignore[arg-type]
    except InvalidInput as exc:
        named = {v.field for v in problems}  # a missing value is said once, as "is required"
        for v in exc.violations:
            where = field + v.field.removeprefix("tardieu")
            if where not in named:
                problems.append(Violation(where, v.rule))
    if problems or measurement is None:
        raise InvalidInput(problems)
    return measurement


# -- GMFCS -------------------------------------------------------------------------------------


class GMFCS(IntEnum):
    """Gross Motor Function Classification System level, I (most able) to V."""

    I = 1  # noqa: E741 - the level's own name
    II = 2
    III = 3
    IV = 4
    V = 5

    @property
    def roman(self) -> str:
        return self.name


_GMFCS_RULE = "must be a GMFCS level: I, II, III, IV or V (or 1 to 5)"


def parse_gmfcs(value: object, field: str) -> GMFCS:
    """A GMFCS level from "I".."V" (any case, spaces allowed), "1".."5" or a whole number 1..5."""
    if isinstance(value, GMFCS):
        return value
    if type(value) is str:
        text = value.strip().upper()
        if text in GMFCS.__members__:
            return GMFCS[text]
        if text in ("1", "2", "3", "4", "5"):
            return GMFCS(int(text))
    elif type(value) is int and 1 <= value <= 5:
        return GMFCS(value)
    raise InvalidInput([Violation(field, f"{_GMFCS_RULE}, got {value!r}")])


# -- Goal Attainment Scaling -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Goal:
    """One goal: -2 (much less than expected) .. 0 (expected outcome) .. +2 (much more), with a weight > 0."""

    description: str
    weight: float
    score: int

    def __post_init__(self) -> None:
        problems: list[Violation] = []
        if type(self.description) is not str or not self.description.strip():
            problems.append(Violation("goal.description", "must be a text describing the goal"))
        if not (is_number(self.weight) and GAS_MIN_WEIGHT <= self.weight <= GAS_MAX_WEIGHT):
            rule = f"must be a number from {GAS_MIN_WEIGHT:g} to {GAS_MAX_WEIGHT:g}, got {self.weight!r}"
            problems.append(Violation("goal.weight", rule))
        if type(self.score) is not int or not -2 <= self.score <= 2:
            problems.append(Violation("goal.score", f"must be a whole number -2 to +2, got {self.score!r}"))
        if problems:
            raise InvalidInput(problems)


def gas_t_score(goals: Iterable[Goal], rho: float = GAS_RHO) -> float:
    """The GAS T score: 50 + 10·Σwx / √((1−ρ)Σw² + ρ(Σw)²) (domain.md; Kiresuk and Sherman).

    50 means every goal was met as expected; a single goal gives 50 + 10·x whatever ρ and weight.
    """
    goals = list(goals)
    problems: list[Violation] = []
    if not goals:
        problems.append(Violation("goals", "needs at least one goal"))
    for i, goal in enumerate(goals):
        if not isinstance(goal, Goal):
            problems.append(Violation(f"goals[{i}]", f"must be a Goal, got {goal!r}"))
    if not (is_number(rho) and 0 <= rho < 1):
        problems.append(Violation("rho", f"must be a number >= 0 and < 1, got {rho!r}"))
    if problems:
        raise InvalidInput(problems)
    sum_wx = sum(g.weight * g.score for g in goals)
    sum_w = sum(g.weight for g in goals)
    sum_w2 = sum(g.weight * g.weight for g in goals)
    return 50 + 10 * sum_wx / math.sqrt((1 - rho) * sum_w2 + rho * sum_w * sum_w)


ASSESSMENT_KINDS = ("mas", "tardieu", "gmfcs", "pain", "gas")
#: the fields of each scale's data whose names are fixed (mas and tardieu name muscle groups), and a goal's
_DATA_FIELDS = {"gmfcs": ("level",), "pain": ("score", "during"), "gas": ("goals",)}
_GOAL_FIELDS = ("description", "weight", "score")


def _unknown_fields(kind: str, data: dict) -> list[Violation]:
    """A field the scale does not have (it would be stored unread), and a pain's ``during`` that is not text."""
    allowed = _DATA_FIELDS.get(kind)
    found = (
        []
        if allowed is None
        else [
            Violation(f"data.{k}", f"unknown field (the fields are: {', '.join(allowed)})")
            for k in data
            if k not in allowed
        ]
    )
    goals = data.get("goals") if kind == "gas" else None
    for i, goal in enumerate(goals if isinstance(goals, list) else ()):
        unknown = [k for k in goal if k not in _GOAL_FIELDS] if isinstance(goal, dict) else []
        found += [
            Violation(f"data.goals[{i}].{k}", "unknown field (a goal has description, weight, score)") for k in unknown
        ]
    if kind == "pain" and type(data.get("during", "")) is not str:
        found.append(Violation("data.during", "must be text: when the pain comes"))
    return found


def assessment_record(kind: str, data: dict) -> dict:
    """A clinical assessment checked and put in the form it is stored in: ``mas`` {muscle: grade},
    ``tardieu`` {muscle: {quality 0-5, r1_deg, r2_deg, dynamic_component_deg = R2 - R1}} (signed
    angles, see :class:`Tardieu`), ``gmfcs`` {level}, ``pain`` {score 0-10, during},
    or ``gas`` {goals: [{description, weight, score}]} (with its T-score). Raises InvalidInput."""
    errs: list[Violation] = _unknown_fields(kind, data) if isinstance(data, dict) else []
    stored: dict[str, Any] = {}
    try:
        if kind == "mas":
            stored = {k: str(parse_mas(v, f"data.{k}")) for k, v in data.items()}
            if not stored:
                errs.append(Violation("data", "grade at least one muscle group"))
        elif kind == "tardieu":
            for muscle, t in data.items():
                try:
                    stored[muscle] = parse_tardieu(t, f"data.{muscle}").record()
                except InvalidInput as exc:
                    errs.extend(exc.violations)
            if not stored and not errs:
                errs.append(Violation("data", "measure at least one muscle group"))
        elif kind == "gmfcs":
            stored = {"level": int(parse_gmfcs(data.get("level"), "data.level"))}
        elif kind == "pain":
            level = data.get("score")
            if type(level) is not int or not 0 <= level <= 10:
                errs.append(Violation("data.score", "must be a whole number 0-10 (0 no pain, 10 worst pain)"))
            else:
                stored = {"score": level, "during": str(data.get("during", ""))[:200]}
        elif kind == "gas":
            goals = [Goal(g.get("description"), g.get("weight"), g.get("score")) for g in data.get("goals", [])]
            if not goals:
                errs.append(Violation("data.goals", "at least one goal is required"))
            else:
                stored = {"goals": data["goals"], "t_score": gas_t_score(goals)}
        else:
            errs.append(Violation("kind", f"must be one of {', '.join(ASSESSMENT_KINDS)}"))
    except InvalidInput as exc:
        errs.extend(exc.violations)
    except (TypeError, AttributeError, ValueError) as exc:
        errs.append(Violation("data", f"not a {kind} assessment ({exc})"))
    if errs:
        raise InvalidInput(errs)
    return stored
