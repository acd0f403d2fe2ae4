"""An analyst's corrections, applied to observations before the timeline is replayed.

Pure: the caller loads the verdicts (stored reviews, shift reviews already turned into the
ids of the observations that made the shift) and passes them in as `{observation id:
Correction}`; replaying with the same corrections gives the same timeline, however often.

- `rejected`, `not_a_stance`, `wrong_holder`, `false_shift`: the observation never counts;
- `wrong_stance`: it counts with the stance the analyst gave, as confirmed;
- `confirmed`: it counts as strong, whatever its confidence, translation or reporting.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace

from shiftwatch.records import Correction, ReviewVerdict, StanceObservation

VOID = frozenset(
    {
        ReviewVerdict.REJECTED,
        ReviewVerdict.NOT_A_STANCE,
        ReviewVerdict.WRONG_HOLDER,
        ReviewVerdict.FALSE_SHIFT,
    }
)
OBSERVATION_PREFIX = "st-"


def observation_id(obs: StanceObservation) -> str:
    """Return an observation's stable short id (its stored unique key hashed: the same
    sentence, holder and demand in every run and after re-analysis, whatever stance)."""
    return observation_id_of(
        obs.document_id, obs.evidence_start, obs.party_id, obs.actor_id, obs.demand_id
    )


def observation_id_of(
    document_id: str, evidence_start: int, party_id: str, actor_id: str | None, demand_id: str
) -> str:
    """Return the stable id of the observation with this key (see `observation_id`)."""
    raw = "\x1f".join((document_id, str(evidence_start), party_id, actor_id or "", demand_id))
    return OBSERVATION_PREFIX + hashlib.sha256(raw.encode("utf-8")).hexdigest()[:12]


def apply_corrections(
    observations: Iterable[StanceObservation], corrections: Mapping[str, Correction]
) -> list[StanceObservation]:
    """Return the observations as the analyst's verdicts leave them (voided ones dropped)."""
    if not corrections:
        return list(observations)
    out = []
    for obs in observations:
        found = corrections.get(observation_id(obs))
        if found is None:
            out.append(obs)
        elif found.verdict is ReviewVerdict.CONFIRMED:
            out.append(replace(obs, review=str(found.verdict)))
        elif found.verdict is ReviewVerdict.WRONG_STANCE and found.stance is not None:
            out.append(replace(obs, stance=found.stance, review=str(found.verdict)))
        elif found.verdict not in VOID:
            out.append(obs)
    return out


def reviewed_strong(obs: StanceObservation) -> bool:
    """Return True when an analyst vouched for the observation (confirmed or re-stanced)."""
    return obs.review in (ReviewVerdict.CONFIRMED, ReviewVerdict.WRONG_STANCE)
