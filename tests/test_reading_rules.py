"""Reading rules added for real text, each on a real passage of the dev corpus (its URL in
tests/corpus/stance/dev.jsonl): short names, back-references, bare quote paragraphs, whose
evaluation it is, accounts of a stance, and a reporter's "must"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from shiftwatch.analysis.analyzer import Analyzer
from shiftwatch.analysis.extract.anaphora import find_short_names
from shiftwatch.analysis.positions.replay import STRONG_CONFIDENCE
from shiftwatch.records import Document, EntityKind
from shiftwatch.watchlist import load_watchlist

ROOT = Path(__file__).resolve().parents[1]


def _analyzer(name: str) -> Analyzer:
    wl = load_watchlist(ROOT / "watchlists" / f"{name}.yaml")
    return Analyzer(wl.entities(), wl.stop_phrases(), wl.demand_terms())


@pytest.fixture(scope="module")
def grain() -> Analyzer:
    return _analyzer("black-sea-grain")


@pytest.fixture(scope="module")
def nato() -> Analyzer:
    return _analyzer("russia-nato-2022")


def _doc(text: str, lang: str) -> Document:
    return Document(
        id="d",
        source_id="t",
        url="file:///d",
        canonical_url="d",
        title="",
        text=text,
        content_hash="d",
        fetched_at=datetime(2023, 7, 17, tzinfo=UTC),
        published_at=datetime(2023, 7, 17, tzinfo=UTC),
        language_hint=lang,
    )


def _found(analyzer: Analyzer, text: str, lang: str) -> dict[str, float]:
    result = analyzer.analyze(_doc(text, lang))
    return {f"{s.party_id}:{s.demand_id}:{s.stance.value}": s.confidence for s in result.stances}


def test_short_name_refers_back_to_the_agreement_named_before(grain):
    text = (
        "Russia extended the Black Sea Grain Initiative in May.\n\n"
        "The Kremlin said it would pull out of the deal."
    )
    mentions = grain.matcher.find("d", text, "en")
    short = find_short_names(text, mentions, "en")
    assert [(m.text, m.entity_id) for m in short] == [("deal", "grain-deal-continuation")]
    # "a deal" is another one; before the full name nothing refers back.
    assert not find_short_names("The deal. " + text.replace("the deal", "a deal"), mentions, "en")


def test_short_name_in_russian_skips_another_deal_named_by_an_adjective(grain):
    text = "Россия продлила зерновую сделку. Затем обсуждалась новая сделка и эта сделка."
    mentions = grain.matcher.find("d", text, "ru")
    short = find_short_names(text, mentions, "ru")
    assert [m.text for m in short] == ["сделка"]  # "эта сделка", not "новая сделка"
    assert short[0].start == text.rindex("сделка")


def test_two_agreements_of_one_kind_make_a_short_name_ambiguous(grain):
    text = "The grain deal and the ammonia deal were discussed. The deal was extended."
    mentions = [m for m in grain.matcher.find("d", text, "en") if m.kind == EntityKind.DEMAND]
    demands = {m.entity_id for m in mentions if m.text.lower().endswith("deal")}
    if len(demands) > 1:
        assert not find_short_names(text, mentions, "en")


def test_back_reference_names_the_speaker_of_the_sentence_before(nato):
    # ria.ru / izvestia style (ru-nato-003): content first, "Об этом заявил X" after.
    text = (
        "Вопрос нерасширения НАТО — ключевой для национальной безопасности РФ, дальше "
        "откладывать урегулирование этой темы нельзя. Об этом 10 января заявил замглавы МИД "
        "РФ Сергей Рябков по итогам российско-американских переговоров."
    )
    assert "russia:nato-nonenlargement:supports" in _found(nato, text, "ru")


def test_back_reference_takes_the_name_after_the_verb_not_before(nato):
    text = (
        "Требование вернуться на позиции 1997 года - это императив. Об этом по итогам "
        "переговоров РФ и США в Женеве заявил замминистра иностранных дел Сергей Рябков."
    )
    found = _found(nato, text, "ru")
    assert "russia:rollback-1997:supports" in found
    assert not any(k.startswith("usa:") for k in found)


def test_bare_quote_paragraph_continues_the_speaker_before_it(nato):
    # en-nato-020 (TASS, 14 January 2022): the lead names Lavrov, the quote paragraph follows.
    text = (
        "Russia wants legal security guarantees, Russian Foreign Minister Sergey Lavrov said "
        "at a press conference on Friday.\n\n"
        '"I will particularly note that we need precisely legally binding guarantees because '
        'the political obligations have never been fulfilled by our partners."'
    )
    assert "russia:legal-guarantees:supports" in _found(nato, text, "en")


def test_unacceptable_for_a_party_is_that_partys_stance(nato):
    # ru-nato-066: "Moscow's demands are unacceptable for the United States".
    text = "Требования Москвы о нерасширении НАТО являются для Соединенных Штатов неприемлемыми."
    found = _found(nato, text, "ru")
    assert "usa:nato-nonenlargement:opposes" in found
    assert "russia:nato-nonenlargement:opposes" not in found


def test_an_account_of_someones_consent_is_a_claim_not_a_stance(grain):
    # uk-059 (14 July 2023): Peskov commented on Erdogan's statement about Putin's consent.
    text = (
        'Росія не робила жодних заяв щодо продовження "зернової угоди". Таким чином '
        "прес-секретар російського диктатора Дмитро Пєсков прокоментував заяву президента "
        'Туреччини Реджепа Тайїпа Ердогана про згоду Володимира Путіна продовжити "зернову угоду".'
    )
    assert all(c < STRONG_CONFIDENCE for c in _found(grain, text, "uk").values())


def test_a_reporters_must_is_nobodys_stance(grain):
    # en-grain-057: the reporter explains the procedure; no party speaks.
    text = (
        "The Black Sea Grain Initiative is set to expire on March 18. Both Ukraine and Russia "
        "must sign the agreement in order for it to be renewed."
    )
    assert not _found(grain, text, "en")


def test_an_article_of_a_draft_is_the_proposers_demand_not_the_obliged_partys(nato):
    # en-nato-014 (TASS, 17 December 2021): the draft treaty Russia published, quoted.
    text = (
        "Russian Foreign Ministry published a draft agreement on guarantees of security "
        "between Russia and the United States.\n\n"
        '"The United States of America shall take measures to prevent further eastward '
        'expansion of the North Atlantic Treaty Organization," the treaty says.'
    )
    found = _found(nato, text, "en")
    assert "russia:nato-nonenlargement:supports" in found
    assert not any(k.startswith(("usa:", "nato:")) for k in found)


def test_an_article_with_no_named_proposer_is_nobodys(nato):
    text = (
        "The United States of America shall take measures to prevent further eastward "
        "expansion of the North Atlantic Treaty Organization."
    )
    assert not _found(nato, text, "en")


def test_the_cue_before_a_list_of_demands_governs_each_item(nato):
    # ru-nato-018 (December 2021 report on Russia's drafts).
    text = (
        "Москва, в частности, требует от западных партнеров юридических гарантий отказа от "
        "дальнейшего расширения НАТО на восток, от присоединения к блоку Украины и от создания "
        "военных баз в постсоветских странах."
    )
    found = _found(nato, text, "ru")
    assert {
        "russia:nato-nonenlargement:supports",
        "russia:foreign-bases-ban:supports",
    } <= set(found)


def test_an_institution_after_locative_v_is_the_speaker(grain):
    # ru-grain-026's headline form: «В МИД РФ заявили, что ...».
    att = grain.stance_model.attributor
    text = "В МИД РФ заявили, что Россия готова продлить зерновую сделку."
    sent = att.attribute(text, grain.matcher.find("d", text, "ru"))[0]
    assert [s.party_id for s in sent.speakers] == ["russia"]


def test_a_cue_that_already_has_its_object_does_not_reach_the_next_item(nato):
    # ru-nato-025 (Putin, 21 December 2021): three demands listed after a colon.
    text = (
        "«Москва не увидела адекватного ответа на три ключевых требования: недопущение "
        "расширения НАТО, отказ от размещения ударных систем вооружений вблизи российских "
        "границ и возврат военной инфраструктуры блока в Европе к состоянию 1997 года», – "
        "заявил Путин."
    )
    found = _found(nato, text, "ru")
    assert "russia:nato-nonenlargement:supports" in found
    assert "russia:strike-weapons-ban:supports" in found
    assert not any(k.endswith(":opposes") for k in found)


def test_a_short_capitals_alias_never_matches_through_lemmas(nato):
    text = "Росія не має права голосу у дискусії про майбутнє членство України в Альянсі."
    mentions = nato.matcher.find("d", text, "uk")
    assert not any(m.text.lower() == "про" for m in mentions)


def test_speaker_after_a_dash_and_verb_is_the_one_who_spoke(grain, nato):
    # uk-003 (Kuleba, RBC-Ukraine): "Росія не має права голосу ..., - заявив він."
    text = (
        "Міністр закордонних справ Дмитро Кулеба виступив у Брюсселі. Росія не має права "
        "голосу у дискусії про членство України в Альянсі, - заявив він."
    )
    att = grain.stance_model.attributor
    sents = att.attribute(text, grain.matcher.find("d", text, "uk"))
    assert [s.party_id for s in sents[-1].speakers] == ["ukraine"]
    # With a watchlist that does not know Kuleba, Russia (before the dash) is still not the
    # holder of what was said about it.
    assert not any(k.startswith("russia:") for k in _found(nato, text, "uk"))


def test_participation_verbs_are_generic(nato):
    # Any agreement-type demand: a watchlist with no cues of its own still reads them.
    from shiftwatch.records import Entity

    wl = load_watchlist(ROOT / "watchlists" / "russia-nato-2022.yaml")
    treaty = Entity(
        kind=EntityKind.DEMAND, id="treaty", name="Keep the treaty", aliases={"en": ("New START",)}
    )
    analyzer = Analyzer((*wl.entities(), treaty), wl.stop_phrases(), wl.demand_terms())
    found = _found(analyzer, "Russia suspended its participation in New START.", "en")
    assert found.keys() == {"russia:treaty:opposes"}
    found = _found(analyzer, "Washington wants to extend New START, the official said.", "en")
    assert "usa:treaty:supports" in found


def test_a_demand_inside_a_condition_stays_a_demand(grain):
    # en-grain-017 (24 May 2023).
    text = (
        "However, the Russian Foreign Ministry warned that if the raised issues, including "
        "Moscow's demand to reconnect the Russian Agricultural Bank to the SWIFT system, are not "
        "addressed within two months, the deal will be terminated."
    )
    found = _found(grain, text, "en")
    assert "russia:russian-agri-exports:supports" in found
    assert "russia:russian-agri-exports:open" not in found


def test_conditions_for_resuming_are_terms_not_support(grain):
    # ru-grain-024 (13 September 2023 headline).
    text = (
        "Глава российского государства Владимир Путин в среду назвал условия для возобновления "
        "зерновой сделки."
    )
    assert _found(grain, text, "ru").get("russia:grain-deal-continuation:open")


def test_a_negated_cue_corrected_by_the_next_takes_the_correction(grain):
    """«не вышла из ..., а приостановила»: "not A, but B" is B's stance (dev ru-grain-016);
    before this rule the negated "вышла из" read as support for the deal."""
    text = (
        "Российский диктатор владимир путин во время экстренной пресс-конференции в "
        'понедельник, 31 октября, заявил, что россия не вышла из "зерновой сделки", а '
        "приостановила свое участие в ней."
    )
    found = _found(grain, text, "ru")
    assert "russia:grain-deal-continuation:opposes" in found
    assert "russia:grain-deal-continuation:supports" not in found


def test_words_between_the_cue_and_the_demand_lean_it(grain):
    """ "lifting restrictions on [exports of Russian fertilisers]": the cue governs the
    restrictions, what the demand rules out (dev ru-grain-019)."""
    text = (
        "Постоянный представитель РФ при Организации Объединенных Наций Василий Небензя заявил "
        "о невыполнении меморандума России и ООН, который предусматривает обязательства "
        "всемирной организации по снятию ограничений на экспорт российских удобрений и "
        "сельскохозяйственной продукции на мировые рынки."
    )
    found = _found(grain, text, "ru")
    assert "russia:russian-agri-exports:supports" in found
    assert "russia:russian-agri-exports:opposes" not in found


def test_not_letting_anyone_close_the_open_door_opposes_non_enlargement(nato):
    """«не дозволимо закрити політику відчинених дверей»: closing is an `against` cue, the
    open door the demand's counter-concept (dev uk-019, Sherman via Yevropeiska Pravda)."""
    text = (
        '"Ми нікому не дозволимо закрити політику відчинених дверей НАТО, яка завжди була '
        'центральною для Альянсу", - сказала Шерман.'
    )
    found = _found(nato, text, "uk")
    assert "usa:nato-nonenlargement:opposes" in found
    assert "usa:nato-nonenlargement:supports" not in found


def test_open_to_discussing_is_open(nato):
    """«Вашингтон открыт к обсуждению вопросов размещения ракет» (dev ru-nato-068)."""
    text = "При этом Вашингтон открыт к обсуждению вопросов размещения ракет в Европе."
    assert set(_found(nato, text, "ru")) == {"usa:strike-weapons-ban:open"}


def test_the_main_concern_about_a_demand_is_the_speakers_demand(nato):
    """ "insist that our main concern about the non-expansion of NATO be legally binding"
    (dev en-nato-026, Ryabkov): both demands are the speaker's."""
    text = (
        "“We have submitted documents and insist that our main concern about the non-expansion "
        "of NATO be legally binding,” Ryabkov said."
    )
    found = _found(nato, text, "en")
    assert {"russia:nato-nonenlargement:supports", "russia:legal-guarantees:supports"} <= set(found)


def test_one_first_person_paragraph_of_a_transcript_is_not_a_comment_section():
    """A State Department briefing (dev en-nato-048): "as you've heard from the deputy, ... we
    are open to discussing" piles up comment-like voice, but one paragraph is no comment
    section; the body runs to the end."""
    from shiftwatch.analysis.text.boundaries import find_body_end

    text = (
        "Department Press Briefing – January 10, 2022\n\nMR PRICE: Good afternoon.\n\n"
        "These preliminary ideas, as you’ve heard from the deputy, included missile placement "
        "and the future of certain missile systems in Europe. We also shared that we are open "
        "to discussing ways we can set reciprocal limits on the size and scope of military "
        "exercises."
    )
    assert find_body_end(text) is None


def test_an_emphatic_repeated_never_is_one_negation(nato):
    """ "make sure that Ukraine never — never ever — becomes a member of NATO" (dev x-en-003,
    Ryabkov): the dashes set off a repetition, not a second negation."""
    text = (
        "Ryabkov said that it’s “absolutely mandatory to make sure that Ukraine never — never "
        "ever — becomes a member of NATO.”"
    )
    found = _found(nato, text, "en")
    assert "russia:ukraine-georgia-membership-ban:supports" in found
    assert "russia:ukraine-georgia-membership-ban:opposes" not in found


def test_no_grounds_for_extending_refuses_it(grain):
    """«оснований для продления зерновой сделки сейчас не усматривается» (dev x-ru-006,
    headline): "grounds for" sets terms, «не усматривается» after it refuses them."""
    text = "Песков: оснований для продления зерновой сделки сейчас не усматривается"
    assert set(_found(grain, text, "ru")) == {"russia:grain-deal-continuation:opposes"}


def test_making_efforts_is_the_subjects_own_act(grain):
    """ "Turkey is making efforts to extend the grain deal" (dev x-en-056, Cavusoglu): an act
    noun after "making" is the subject's own act, not an act someone else reports."""
    text = (
        "Turkey is making efforts to extend the grain deal expiring on March 18, Turkish "
        "Foreign Minister Mevlut Cavusoglu said on Friday."
    )
    assert "turkey:grain-deal-continuation:supports" in _found(grain, text, "en")


def test_only_they_have_the_right_to_decide_on_accession(nato):
    """«только ... НАТО и Украина имеют право принимать решения о ее вступлении в НАТО»
    (dev x-ru-034): the right to decide on accession opposes a ban on it."""
    text = (
        "Министр иностранных дел Украины Дмитрий Кулеба заявил, что только Организация "
        "Североатлантического договора и Украина имеют право принимать решения о ее "
        "вступлении в НАТО."
    )
    found = _found(nato, text, "ru")
    assert "ukraine:ukraine-georgia-membership-ban:opposes" in found
    assert "ukraine:ukraine-georgia-membership-ban:supports" not in found


def test_words_that_only_look_like_cues_are_not_cues(grain):
    """«в настоящий момент» is not «настоять» (dev ru-grain-022: Erdogan took no stance);
    «без промедления» ("without delay") negates nothing (dev ru-grain-028: Russia is ready to
    launch the pipeline)."""
    mention_only = (
        "При этом Эрдоган высказался о том, что в настоящий момент взоры всего мира направлены "
        "на зерновую инициативу."
    )
    assert _found(grain, mention_only, "ru") == {}
    ready = (
        "Россия готова без промедления запустить аммиакопровод Тольятти — Одесса, однако "
        "украинские власти уже почти год препятствуют этому под надуманными предлогами, "
        "заявила Мария Захарова."
    )
    assert "russia:ammonia-pipeline:opposes" not in _found(grain, ready, "ru")


def test_terms_set_in_the_next_sentence_make_a_stance_open(grain):
    """ "... But this will take place only after the conditions concerning Russia are
    fulfilled." sets terms on the sentence before (dev en-grain-046, Peskov; its first
    sentence's "is ready to" made a plain promise here, so that the terms have something to
    turn open)."""
    promise = "“Moscow will immediately return to the grain deal,” Peskov said."
    terms = " “But this will take place only after the conditions concerning Russia are fulfilled.”"
    assert set(_found(grain, promise, "en")) == {"russia:grain-deal-continuation:supports"}
    assert set(_found(grain, promise + terms, "en")) == {"russia:grain-deal-continuation:open"}


def test_no_grounds_across_a_relative_clause_opposes(grain):
    """x-ru-006 (ria.ru): «основания для продления зерновой сделки, срок которой истекает 17
    июля, отсутствуют» — the aside between the demand and «отсутствуют» does not cut it off;
    without the aside, «нет» / «немає» after the demand deny the grounds too (uk-035's title)."""
    ru = (
        "В Министерстве иностранных дел России ранее заявили, что основания для продления "
        "зерновой сделки, срок которой истекает 17 июля, отсутствуют."
    )
    found = _found(grain, ru, "ru")
    assert found.get("russia:grain-deal-continuation:opposes", 0) >= STRONG_CONFIDENCE
    assert "russia:grain-deal-continuation:open" not in found
    uk = "МЗС Росії заявило: підстав для продовження зернової угоди немає."
    found = _found(grain, uk, "uk")
    assert found.get("russia:grain-deal-continuation:opposes", 0) >= STRONG_CONFIDENCE
    # an aside that is not a relative clause still cuts the cue off
    aside = (
        "МЗС Росії заявило, що підстави для продовження зернової угоди, як і раніше, "
        "є, але немає часу."
    )
    assert "russia:grain-deal-continuation:opposes" not in _found(grain, aside, "uk")


def test_guarantees_that_carry_the_cue_before_them(nato):
    """x-uk-003 (inforesist.com.ua): «США повинні ... “покласти на папір” гарантії з приводу
    того, що в Україні не будуть розміщувати ударні озброєння» — what the guarantees say is
    what Russia demands; "guarantees that X" alone names what is asked, not who asks."""
    uk = (
        "Крім того, Рябков заявив, що США повинні ратифікувати і “покласти на папір” гарантії "
        "з приводу того, що в Україні не будуть розміщувати ударні озброєння."
    )
    assert _found(nato, uk, "uk").get("russia:strike-weapons-ban:supports", 0) >= 0.6
    alone = "There were guarantees that no strike weapons would be deployed in Ukraine."
    assert not _found(nato, alone, "en")


def test_a_demand_named_as_its_owners_is_the_owners_weakly(nato):
    """ru-nato-066 (ostro.org) and en-nato-101 (kyivpost.com): «Требования Москвы о
    нерасширении НАТО являются для Соединенных Штатов неприемлемыми», "will not bend to
    Russia's demands that NATO provide guarantees that Ukraine will never become a member": the
    reporter's rejection is theirs, the demand is the owner's, as a weak unit (it cannot move a
    position alone). Which way a demand "on" the named thing goes is unsaid: nothing."""
    from shiftwatch.analysis.extract.stance import OWNED_DEMAND_CONFIDENCE
    from shiftwatch.analysis.positions.replay import MIN_CONFIDENCE

    ru = (
        "Требования Москвы о нерасширении НАТО являются для Соединенных Штатов неприемлемыми. "
        "Об этом заявила заместитель госсекретаря США Венди Шерман."
    )
    found = _found(nato, ru, "ru")
    assert found.get("usa:nato-nonenlargement:opposes", 0) >= STRONG_CONFIDENCE
    assert found["russia:nato-nonenlargement:supports"] >= MIN_CONFIDENCE
    assert found["russia:nato-nonenlargement:supports"] <= OWNED_DEMAND_CONFIDENCE
    en = (
        "The U.S. unequivocally stated on Jan. 26, in a formal written response sought by "
        "Russia, that it will not bend to Russia’s demands that NATO provide guarantees that "
        "Ukraine will never become a member of the defense alliance."
    )
    found = _found(nato, en, "en")
    assert found.get("usa:ukraine-georgia-membership-ban:opposes", 0) >= STRONG_CONFIDENCE
    assert MIN_CONFIDENCE <= found["russia:ukraine-georgia-membership-ban:supports"] < 0.6
    about = "Washington dismissed Russia's demands on NATO enlargement."
    assert not any(k.startswith("russia:") for k in _found(nato, about, "en"))


def test_a_demand_read_both_ways_in_one_sentence_is_not_counted(nato):
    """ru-nato-022 (gordonua.com): «Россия потребовала ... отозвать обещание Украине о ее вступлении
    в НАТО» names the ban twice, once as «обещание Украине» (read: against the ban) and once as
    «вступлении» (read: for it). A coin flip is no evidence: the observation stays on record
    below the threshold, with the reason in its basis."""
    from shiftwatch.analysis.positions.replay import MIN_CONFIDENCE

    ru = (
        "10 декабря Россия потребовала от Североатлантического альянса официально отозвать "
        "обещание Украине о ее вступлении в НАТО."
    )
    result = nato.analyze(_doc(ru, "ru"))
    ban = [s for s in result.stances if s.demand_id == "ukraine-georgia-membership-ban"]
    assert ban and all(s.confidence < MIN_CONFIDENCE for s in ban)
    assert all("read both ways" in (s.basis or "") for s in ban)


def test_this_issue_refers_to_the_one_demand_named_just_before(nato):
    """ru-nato-035 (tatar-inform.com): «Украина не готова сегодня к вступлению в НАТО ...
    поэтому мы хотим решить этот вопрос сейчас» — «этот вопрос» is Ukraine's membership, taken
    up as an issue; with two demands named just before, it refers to neither."""
    from shiftwatch.analysis.extract.anaphora import ISSUE_WORDING, find_issue_references

    ru = (
        "«Мы слышим, что Украина не готова сегодня к вступлению в НАТО, мы знаем этот тезис. "
        "Но для нас это может быть поздно, поэтому мы хотим решить этот вопрос сейчас», — "
        "подчеркнул Владимир Путин."
    )
    result = nato.analyze(_doc(ru, "ru"))
    refs = [m for m in result.mentions if m.wording == ISSUE_WORDING]
    assert [(m.entity_id, m.text) for m in refs] == [
        ("ukraine-georgia-membership-ban", "этот вопрос")
    ]
    two = "Россия требует нерасширения НАТО и неразмещения ударных вооружений. Этот вопрос важен."
    mentions = nato.analyze(_doc(two, "ru")).mentions
    assert not find_issue_references(two, mentions, "ru")


def test_a_generic_cue_holding_a_demands_own_cue_wins(grain):
    """ru-grain-021 (kremlin quote in a news report): «Мы открыты для переговоров по этому
    вопросу» — «открыты для» is readiness (`open`), not the ammonia pipeline's own cue «открыть»
    read inside it."""
    text = (
        "«Знаю, что вы намерены поднять вопросы о зерновой сделке. Мы открыты для переговоров "
        "по этому вопросу», — заявил президент России Владимир Путин."
    )
    found = _found(grain, text, "ru")
    assert "russia:grain-deal-continuation:open" in found
    assert not any(k.endswith(":supports") for k in found)


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        (
            "Lavrov said restrictions on exports of Russian grain and fertilizer should be lifted.",
            "en",
        ),
        ("Лавров заявил, что ограничения на экспорт российского зерна должны быть сняты.", "ru"),
        (
            "Лавров заявив, що обмеження на експорт російського зерна і добрив мають бути зняті.",
            "uk",
        ),
    ],
)
def test_a_demand_as_the_subject_of_a_passive_modal(grain, text, lang):
    """The construction of x-en-020 (a Kremlin statement retold: "Restrictions on exports of
    Russian grain and fertilizer should also be lifted."): the demand is the subject of "should
    be lifted", «должны быть сняты», «мають бути зняті»; "restrictions on" before it names what
    is lifted, so lifting them supports the exports."""
    found = _found(grain, text, lang)
    assert found.get("russia:russian-agri-exports:supports", 0) >= STRONG_CONFIDENCE, found
    assert "russia:russian-agri-exports:opposes" not in found


def test_an_alias_that_names_the_undoing_leans_for_it():
    """ir-en-069 (a CBS interview retold): "It is important to us to have the sanctions
    lifted": the alias "sanctions lifted" holds what the demand rules out (sanctions) and the
    undoing of it (lifted), so it names the demand itself, not its opposite."""
    iran = _analyzer("iran-nuclear-2022")
    text = "Raisi said it is important to Iran to have the sanctions lifted."
    found = _found(iran, text, "en")
    assert found.get("iran:sanctions-lifting:supports", 0) >= STRONG_CONFIDENCE, found
    assert "iran:sanctions-lifting:opposes" not in found


def test_a_demands_own_cue_as_a_noun_names_the_act():
    """ir-en-041 (a news report): "Iran agreed to share the data if and when the United States
    lifted economic sanctions as part of a return to the nuclear deal": "a return to", the
    watchlist's own cue used as a noun, names the act, nobody's will to it."""
    from shiftwatch.analysis.positions.replay import MIN_CONFIDENCE

    iran = _analyzer("iran-nuclear-2022")
    text = (
        "In a subsequent compromise brokered by Grossi, Iran agreed to share the data if and when "
        "the United States lifted economic sanctions as part of a return to the nuclear deal."
    )
    result = iran.analyze(_doc(text, "en"))
    restoration = [s for s in result.stances if s.demand_id == "jcpoa-restoration"]
    assert all(s.confidence < MIN_CONFIDENCE for s in restoration)


def test_a_demand_inside_what_another_demand_says_is_its_content(nato):
    """ir-en-077 (iran-times.com, on a Malley interview): "Iran's renewed demand for guarantees
    that the US will never again withdraw from the JCPOA" — the withdrawal is what the
    guarantee is about, not the US's stance on the deal. ru-nato-005: a cue before the guarantees
    («заявил о необходимости юридических гарантий, что Украина и Грузия никогда не войдут в
    НАТО») still governs what they say."""
    iran = _analyzer("iran-nuclear-2022")
    en = (
        "Malley was asked about Iran’s renewed demand for guarantees that the US will never "
        "again withdraw from the JCPOA."
    )
    assert not any(k.startswith("usa:jcpoa-restoration") for k in _found(iran, en, "en"))
    ru = (
        "Замглавы МИД России Сергей Рябков снова заявил о необходимости юридических гарантий, "
        "что Украина и Грузия никогда не войдут в НАТО."
    )
    found = _found(nato, ru, "ru")
    assert found.get("russia:ukraine-georgia-membership-ban:supports", 0) >= STRONG_CONFIDENCE


def test_a_participle_after_a_demand_tells_which_it_is():
    """ir-en-050 (a report of a Chinese statement): "the United States must first lift all
    unilateral illegal sanctions imposed against Iran": the alias "lift sanctions" read across
    its modifiers, not cut off as an English compound by "imposed", and "imposed against Iran"
    says which sanctions, not that anyone imposes the lifting."""
    iran = _analyzer("iran-nuclear-2022")
    text = (
        "Wang Yi said that the United States must first lift all unilateral illegal sanctions "
        "imposed against Iran."
    )
    found = _found(iran, text, "en")
    assert found.get("china:sanctions-lifting:supports", 0) >= STRONG_CONFIDENCE, found
    assert not any(k.endswith("sanctions-lifting:opposes") for k in found)


def test_a_role_noun_belongs_to_the_party_named_right_after_it():
    """ir-ru-004 (atomic-energy.ru): «Новая администрация США намерена вернуться в СВПД» —
    «администрация» alone reads as the Kremlin's; followed by «США» it is Washington's ("the
    administration of the US" likewise)."""
    iran = _analyzer("iran-nuclear-2022")
    ru = (
        "Новая администрация США намерена вернуться в СВПД, для чего американцы, иранцы и "
        "страны-посредники (в том числе Россия) с апреля провели уже шесть раундов переговоров."
    )
    found = _found(iran, ru, "ru")
    assert "usa:jcpoa-restoration:supports" in found, found
    assert not any(k.startswith("russia:") for k in found)


def test_a_quote_after_a_quote_of_one_speaker_goes_on_with_that_speaker():
    """ir-en-069 (a CBS interview retold): "“This is a tyranny against the people of Iran,” he
    said. “It is important to us to have the sanctions lifted.”" — the second quote, in the
    same paragraph, is the same speaker's."""
    iran = _analyzer("iran-nuclear-2022")
    text = (
        "Iranian President Ebrahim Raisi spoke to CBS. “This is a tyranny against the people of "
        "Iran,” he said. “It is important to us to have the sanctions lifted.”"
    )
    assert _found(iran, text, "en").get("iran:sanctions-lifting:supports", 0) >= 0.6
