"""What the engine needs to know about one patient and one session.

Kept apart from the protocol model: the protocol is the clinic's data (loaded
once), the context is the patient's (built per check-in by the caller from the
database). Flows never reads the database itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

#: Region tags of clinical.md. TRUNK: neck, shoulder girdle, chest wall,
#: thoracic, lumbar at or above L1 (pneumothorax screen, Q5). LOWER: lumbar
#: below L1, gluteal, piriformis, hamstring, hip flexor (cauda equina screen, Q6).
TRUNK = "TRUNK"
LOWER = "LOWER"
REGION_TAGS: frozenset[str] = frozenset({TRUNK, LOWER})

#: Facts about the patient a condition may test (`{ patient = "..." }`).
#: has_activities: the patient chose 1–3 activities at enrollment (Q7).
#: leg_symptoms: staff recorded buttock or leg symptoms at enrollment (Q6 even
#: when no LOWER region was needled, e.g. lumbar needling above L1 with sciatica).
#: logged_nothing_this_week: the patient logged no exercise done in the week before the
#: check-in fell due (the weekly adherence question Q9 is asked only then; otherwise
#: adherence comes from the logs).
LOGGED_NOTHING = "logged_nothing_this_week"
PATIENT_FACTS: frozenset[str] = frozenset({"has_activities", "leg_symptoms", LOGGED_NOTHING})


@dataclass(frozen=True)
class PatientContext:
    """The patient-and-session facts that decide which questions are asked.

    region_tags: the tags of the check-in's own session.
    earlier: answers already given in this session's check-ins, keyed by
    (check-in key, question ref key) — e.g. ("h48", "Q1") → 4. Answers are the
    stored ints (see flows.answers). Excluded from hashing because a mapping is
    not hashable; a context is compared by value, never used as a dict key.
    """

    region_tags: frozenset[str]
    baseline: int
    activities: tuple[str, ...] = ()
    earlier: Mapping[tuple[str, str], int] = field(default_factory=dict, hash=False)
    leg_symptoms: bool = False
    #: hours from the end of the latest session that needled a region of each tag to the
    #: moment the check-in is asked (its due time), over ALL the patient's sessions: what
    #: `{ region = "TRUNK", within_hours = 72 }` reads. Filled only for check-ins whose
    #: conditions need it (CheckinDef.looks_at_recent_sessions).
    recent_tags: Mapping[str, float] = field(default_factory=dict, hash=False)
    #: the days with an exercise logged done in the 7 days before the check-in fell due
    #: (logs made by then): what `{ patient = "logged_nothing_this_week" }` reads. Filled
    #: only for check-ins whose conditions need it (CheckinDef.looks_at_exercise_logs).
    logged_exercise_days_this_week: int = 0

    def has(self, fact: str) -> bool:
        """Whether a patient fact (PATIENT_FACTS) holds."""
        if fact == "has_activities":
            return bool(self.activities)
        if fact == "leg_symptoms":
            return self.leg_symptoms
        if fact == LOGGED_NOTHING:
            return self.logged_exercise_days_this_week == 0
        raise ValueError(f"unknown patient fact {fact!r}")
