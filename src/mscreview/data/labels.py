"""How a study is named in figures and tables: "Surname Year" (a review cites studies by first author
and year), derived from ``studies.study_id`` and, where it agrees with the id, the first author as the
citation spells it.

- ``vanVelthoven2010a`` -> ``van Velthoven 2010a`` (lower-case particles are split off);
- ``LiuYS2012`` -> ``Liu YS 2012`` (initials that tell two authors apart stay, as in the id);
- ``TapiaBustos2021`` with citation ``Tapia-Bustos A, ...`` -> ``Tapia-Bustos 2021`` (the citation's
  spelling, hyphens and diacritics included, when it folds to the id's author part);
- ids that name no author (the citation says authors were not seen, e.g. ``ASC-HIE-LPS-2013``) keep a
  short label from the id with the year if known: ``ASC-HIE-LPS 2013``.

Nothing here reads files: pass ``studies`` as loaded by :func:`mscreview.data.tables.load`.
"""
from __future__ import annotations

import re
import unicodedata

__all__ = ["study_label", "study_labels"]

#: FirstAuthor (optionally a lower-case particle, optionally 1-3 capital initials) + year + a/b suffix.
_AUTHOR_YEAR = re.compile(r"^(?P<particle>[a-z]+)?(?P<surname>[A-Z][a-z]+(?:[A-Z][a-z]+)*)(?P<initials>[A-Z]{1,3})?"
                          r"(?P<year>(?:19|20)\d\d)(?P<suffix>[a-z]?)$")
_YEAR = re.compile(r"[-_ ]?((?:19|20)\d\d)(?![0-9])")
#: Phrases of ``studies.citation`` that say the report's authors are not known.
_NO_AUTHOR = re.compile(r"authors?\b[^.\]]*\bnot (?:seen|shown)|first author[^.\]]*not seen", re.I)


def _fold(text: str) -> str:
    """Lower-case ASCII letters only: ``"Tapia-Bustos"`` -> ``"tapiabustos"``, ``"Boyalı"`` -> ``"boyali"``."""
    text = text.replace("ı", "i").replace("ł", "l").replace("ø", "o")
    norm = unicodedata.normalize("NFKD", text)
    return re.sub(r"[^a-z]", "", norm.encode("ascii", "ignore").decode().lower())


def _first_author(citation) -> str | None:
    """Surname of the first author as the citation prints it (``"van Velthoven CTJ, ..."`` -> ``"van Velthoven"``)."""
    if not isinstance(citation, str) or not citation.strip() or citation.lstrip().startswith("["):
        return None
    head = re.split(r",| et al| \(|;", citation.strip(), maxsplit=1)[0].strip()
    words = head.split()
    # drop trailing initials ("CTJ", "A", "SÇ"): upper-case words of at most 3 letters
    while len(words) > 1 and len(words[-1]) <= 3 and words[-1].isupper():
        words.pop()
    return " ".join(words) or None


def _year_text(year) -> str | None:
    try:
        y = int(float(year))
    except (TypeError, ValueError):
        return None
    return str(y)


def study_label(study_id: str, studies=None) -> str:
    """Display label of a study: "Surname Year" where the id is FirstAuthor+Year, else a short label.

    Parameters
    ----------
    study_id : str
        ``studies.study_id``.
    studies : DataFrame, optional
        ``data/studies.csv`` as loaded; its ``citation`` (spelling of the surname, and whether the
        authors are known) and ``year`` are used when the study is in it.

    Returns
    -------
    str
        e.g. ``"van Velthoven 2010a"``, ``"Liu YS 2012"``, ``"ASC-HIE-LPS 2013"``, ``"Cameron n.d."``.
    """
    sid = str(study_id)
    citation, year = None, None
    if studies is not None and len(studies) and "study_id" in studies:
        hit = studies[studies["study_id"] == sid]
        if len(hit):
            citation = hit["citation"].iloc[0] if "citation" in hit else None
            year = _year_text(hit["year"].iloc[0]) if "year" in hit else None
    no_author = isinstance(citation, str) and bool(_NO_AUTHOR.search(citation))
    m = _AUTHOR_YEAR.match(sid)
    if m and not no_author:
        parsed = " ".join(p for p in (m["particle"], m["surname"], m["initials"]) if p)
        cited = _first_author(citation)
        # the citation's spelling (hyphen, diacritics, particle) when it is the same name as the id's
        if cited and _fold(cited) == _fold(m["particle"] or "") + _fold(m["surname"]) and not m["initials"] \
                and (" " in cited or "-" in cited or not m["particle"]):
            parsed = cited
        return f"{parsed} {m['year']}{m['suffix']}"
    if not no_author and re.fullmatch(r"[A-Z][a-z]+", sid):
        cited = _first_author(citation)
        name = cited if cited and _fold(cited) == _fold(sid) else sid
        return f"{name} {year}" if year else f"{name} n.d."
    # no readable author: the id without its year, then the year
    ym = _YEAR.search(sid)
    if ym:
        stem = (sid[:ym.start()] + sid[ym.end():]).strip("-_ ")
        return f"{stem} {ym.group(1)}"
    return f"{sid} {year}" if year else sid


def study_labels(studies, study_ids=None) -> dict[str, str]:
    """``{study_id: label}`` for ``study_ids`` (default every study); labels that would coincide for two
    different studies fall back to their ids, so a label always names one study."""
    ids = list(dict.fromkeys(studies["study_id"] if study_ids is None else study_ids))
    # collisions are checked among every study, so a subset gets the same labels as the whole
    out = {s: study_label(s, studies) for s in dict.fromkeys([*studies["study_id"], *ids])}
    seen: dict[str, list[str]] = {}
    for s, lab in out.items():
        seen.setdefault(lab, []).append(s)
    for lab, group in seen.items():
        if len(group) > 1:
            for s in group:
                out[s] = s
    return {s: out[s] for s in ids}
