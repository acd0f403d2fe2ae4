"""The watchlist schema: who and what a deployment tracks, in every language it reads.

Everything topic-specific lives in a watchlist YAML file; the code knows only this shape.
Aliases map a language code to surface forms. A trailing `*` on an alias marks a stem that
may take a short inflectional ending (`Рябков*` matches Рябкова, Рябковым).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shiftwatch.analysis.text.yaml_safe import load_yaml
from shiftwatch.errors import ConfigError
from shiftwatch.localfiles import FileRefused, read_regular_file
from shiftwatch.records import DemandTerms, Entity, EntityKind

Aliases = dict[str, list[str]]
_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]*$"
MAX_WATCHLIST_BYTES = 5_000_000  # large multilingual watchlists are a few hundred KB
MAX_WATCHLIST_NODES = 500_000  # YAML nodes after alias expansion (alias bombs refused)


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID_PATTERN)
    name: str
    aliases: Aliases = Field(default_factory=dict)

    @field_validator("aliases")
    @classmethod
    def _no_blank_aliases(cls, value: Aliases) -> Aliases:
        for lang, forms in value.items():
            if any(not form.strip() or form.strip() == "*" for form in forms):
                raise ValueError(f"blank alias under language {lang!r}")
        return value


class PartyEntry(_Entry):
    """A side that holds positions; its aliases also speak for it ("Moscow", "the Kremlin")."""


class ActorEntry(_Entry):
    """A person or office; `party: null` marks a commentator who speaks for no party."""

    party: str | None = None
    roles: Aliases = Field(default_factory=dict)  # role nouns that point back to this actor


class DemandCues(BaseModel):
    """A demand's own stance phrases per language, matched on lemmas (base forms suffice):
    `favour` supports the demand ("extend" an agreement), `against` opposes it ("walk away
    from"), `open` is conditional or ready to talk ("consider extending")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    favour: Aliases = Field(default_factory=dict)
    against: Aliases = Field(default_factory=dict)
    open: Aliases = Field(default_factory=dict)


class DemandEntry(_Entry):
    """A tracked demand. `opposite` names its counter-concept (the "open door"); `forbids`
    the words in its aliases that name what it rules out ("expansion": objecting to it
    supports the demand); `neutral` aliases that only name its topic; `cues` its own stance
    phrases."""

    opposite: Aliases = Field(default_factory=dict)
    forbids: Aliases = Field(default_factory=dict)
    neutral: Aliases = Field(default_factory=dict)
    cues: DemandCues = Field(default_factory=DemandCues)

    def terms(self) -> DemandTerms:
        """Return the demand's leaning words as the analysis core takes them."""
        return DemandTerms(
            forbids=_merged(self.forbids),
            opposite=_merged(self.opposite),
            neutral=_merged(self.neutral),
            cues=tuple(
                (kind, lang, phrase)
                for kind in ("favour", "against", "open")
                for lang, phrases in getattr(self.cues, kind).items()
                for phrase in phrases
            ),
        )


def _merged(per_lang: Aliases) -> tuple[str, ...]:
    return tuple(form for forms in per_lang.values() for form in forms)


class VenueEntry(_Entry):
    """A place or format where positions are put."""


class Watchlist(BaseModel):
    """A whole watchlist file; a key it does not declare is an error, not silence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    languages: list[str] = Field(default_factory=lambda: ["en"])
    parties: list[PartyEntry] = Field(default_factory=list)
    actors: list[ActorEntry] = Field(default_factory=list)
    demands: list[DemandEntry] = Field(default_factory=list)
    venues: list[VenueEntry] = Field(default_factory=list)
    # Phrases that contain an alias but name something else ("deputy foreign minister"):
    # they consume their words and yield no mention.
    ignore: Aliases = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_references(self) -> Watchlist:
        party_ids = {p.id for p in self.parties}
        for actor in self.actors:
            if actor.party is not None and actor.party not in party_ids:
                raise ValueError(f"actor {actor.id!r} names unknown party {actor.party!r}")
        seen: set[tuple[str, str]] = set()
        for kind, entry in self.entries():
            if (kind, entry.id) in seen:
                raise ValueError(f"duplicate {kind} id {entry.id!r}")
            seen.add((kind, entry.id))
        if not self.parties or not self.demands:
            raise ValueError("a watchlist needs at least one party and one demand")
        return self

    def entries(self) -> Iterator[tuple[str, _Entry]]:
        for kind, group in (
            ("party", self.parties),
            ("actor", self.actors),
            ("demand", self.demands),
            ("venue", self.venues),
        ):
            for entry in group:
                yield kind, entry

    def entities(self) -> list[Entity]:
        """Return every entry as a plain `Entity`, the form the analysis core takes."""
        out = []
        for kind, entry in self.entries():
            aliases = {lang: tuple(forms) for lang, forms in entry.aliases.items()}
            if isinstance(entry, ActorEntry):
                for lang, forms in entry.roles.items():
                    aliases[lang] = aliases.get(lang, ()) + tuple(forms)
            party = entry.party if isinstance(entry, ActorEntry) else None
            opposite = entry.opposite if isinstance(entry, DemandEntry) else {}
            out.append(
                Entity(
                    kind=EntityKind(kind),
                    id=entry.id,
                    name=entry.name,
                    party=party,
                    aliases=aliases,
                    opposite={lang: tuple(forms) for lang, forms in opposite.items()},
                )
            )
        return out

    def stop_phrases(self) -> list[str]:
        """Return every `ignore` phrase, all languages together."""
        return [form for forms in self.ignore.values() for form in forms]

    def demand_terms(self) -> dict[str, DemandTerms]:
        """Return each demand's leaning words and own cues, by demand id."""
        return {d.id: d.terms() for d in self.demands}


def load_watchlist(path: str | Path) -> Watchlist:
    """Return the validated watchlist at `path`; any problem is one ConfigError line."""
    path = Path(path)
    if not os.path.lexists(path):
        raise ConfigError(f"watchlist not found: {path}")
    try:  # a regular file of bounded size (not /dev/zero, a FIFO or /proc), aliases bounded
        body = read_regular_file(path, max_bytes=MAX_WATCHLIST_BYTES, follow_links=True)
        data = load_yaml(body.decode("utf-8"), max_nodes=MAX_WATCHLIST_NODES)
    except FileRefused as exc:
        raise ConfigError(f"watchlist {path} is not read: {exc.detail}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError) as exc:
        raise ConfigError(f"watchlist {path} is not readable YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"watchlist {path} must be a mapping with name, parties, actors, ...")
    try:
        return Watchlist.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"watchlist {path}: {where}: {first['msg']}") from None


def watchlist_problems(path: str | Path) -> list[str]:
    """Return every problem of the watchlist at `path`, one `FILE:LINE: where: message` line
    each (empty: it loads). For `shiftwatch watchlist check`: all problems at once, where
    `load_watchlist` stops at the first."""
    path = Path(path)
    try:
        load_watchlist(path)
    except ConfigError as exc:
        first = str(exc)
    else:
        return []
    try:
        text = read_regular_file(path, max_bytes=MAX_WATCHLIST_BYTES, follow_links=True).decode()
        data = load_yaml(text, max_nodes=MAX_WATCHLIST_NODES)
        Watchlist.model_validate(data)
    except ValidationError as exc:
        root = yaml.compose(text)
        return [
            f"{path}:{_line_of(root, e['loc'])}: {'.'.join(map(str, e['loc'])) or '(top)'}: "
            f"{e['msg']}"
            for e in exc.errors()
        ]
    except Exception:  # unreadable, not YAML, not a mapping: the loader's one line says it
        return [first]
    return [first]


def _line_of(node: yaml.Node | None, loc: tuple[object, ...]) -> int:
    """Return the 1-based line of the YAML node a validation error's location points to."""
    line = node.start_mark.line + 1 if node is not None else 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if match is None:
                return line
            line, node = match[0].start_mark.line + 1, match[1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line
