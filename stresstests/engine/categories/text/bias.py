"""Bias and fairness on text (RIME's NLP bias tests, §2.10): swap the words that name a group for the words of
another group and watch the prediction.

Each test samples `sample_size` evaluation rows (RIME: 20) whose text mentions a source term, replaces every source
term by its counterpart (gendered terms pair by pair; names and countries with a random target per row, the same
target for each occurrence in a row), and measures like a text transformation: the share of rows whose original
class loses `prob_change_threshold` of probability or flips, the average change, and with labels the accuracy on the
sample before and after the swap (the gap a group would see). The word lists ship in `wordlists/` and a run
overrides them per test: `individual_tests_config[<key>] = {"source": [...], "target": [...]}`.

`case_invariant` matches terms in any case. It is on for gendered terms (he, HER) and off for names and countries,
many of which are also ordinary words ("mark the date", "say grace", "a hanging chad"): those match as written or,
for a lower-case term, capitalised ("He" at the start of a sentence).
Gendered swaps keep the grammar: feminine "her" becomes "his" before a word it owns ("her book") and "him"
otherwise ("gave it to her"), "his" alone becomes "hers", and a neutral "they" takes the plural verb ("they are").
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import ClassVar

import numpy as np

from stresstests.engine.vocabulary import TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
from stresstests.engine.base import Context, SkipTest, register
from stresstests.engine.errors import ConfigError
from stresstests.engine.categories.text.perturbation import match_case, wordlist
from stresstests.engine.categories.text.transformations import BASE_PARAMS, TextTransformation


class TextSwap(TextTransformation):
    category = TEST_CATEGORY_TYPE_BIAS_AND_FAIRNESS
    default_params: ClassVar[dict] = {**BASE_PARAMS, "source": None, "target": None, "case_invariant": False}
    paired: ClassVar[bool] = False       # source[i] -> target[i] (terms) rather than a random target (names)
    lists: ClassVar[tuple[str, str, str]]  # (word list file, source key, target key)

    def terms(self, params: dict) -> tuple[list[str], list[str]]:
        name, source_key, target_key = self.lists
        source = params.get("source") or wordlist(name)[source_key]
        target = params.get("target") or wordlist(name)[target_key]
        if not isinstance(source, list) or not isinstance(target, list) or not source or not target or not all(
                isinstance(term, str) and term.strip() for term in [*source, *target]):
            raise ConfigError(f"{self.key}: `source` and `target` must be non-empty lists of words.")
        if self.paired and len(source) != len(target):
            raise ConfigError(f"{self.key}: `source` and `target` pair up word by word, so they need the same "
                              f"length ({len(source)} source words, {len(target)} target words).")
        return source, target

    def pattern(self, params: dict) -> re.Pattern:
        source, _ = self.terms(params)
        return _term_pattern(tuple(source), bool(params.get("case_invariant", self.default_params["case_invariant"])))

    def eligible(self, ctx: Context, feature: str, params: dict) -> np.ndarray:
        pattern = self.pattern(params)
        column = ctx.evaluation[feature]
        found = column.map(lambda v: isinstance(v, str) and pattern.search(v) is not None).to_numpy(dtype=bool)
        if not found.any():
            source, _ = self.terms(params)
            shown = ", ".join(source[:8]) + (f" and {len(source) - 8} more" if len(source) > 8 else "")
            how = "in any case" if params.get("case_invariant", self.default_params["case_invariant"]) else \
                "as written or capitalised"
            raise SkipTest(f"No evaluation text of {feature} mentions any of the terms this test swaps ({shown}; "
                           f"matched as whole words, {how}).")
        return found

    def perturb(self, text: str, rng: np.random.Generator, params: dict) -> str:
        source, target = self.terms(params)
        mapping: dict[str, str] = {}          # found term (lower case) -> its replacement, fixed for the whole text
        if self.paired:
            for old, new in zip(source, target):
                mapping.setdefault(old.lower(), new)   # the first pairing wins ("her" -> "him" before "his")

        def swap(match: re.Match) -> str:
            found = match.group().lower()
            if self.paired:
                new = _pronoun(found, mapping[found], match.string[match.end():])
            else:
                if found not in mapping:
                    options = [t for t in target if t.lower() != found] or target
                    mapping[found] = options[int(rng.integers(len(options)))]
                new = mapping[found]
            return match_case(new, match.group())
        swapped = self.pattern(params).sub(swap, text)
        return _they_agree(swapped, text) if self.paired else swapped


# Words after "her" that show it is an object, not a possessive ("gave it to her and", "told her that").
_NOT_OWNED = frozenset("""a an the and or but nor so yet for to of in on at by from with about into onto over under up
down out off away back again too also as than that this these those if when while because though although until
before after since is was are were be been has had have will would can could should may might must do does did not
never always just only even still then there here now today tonight tomorrow yesterday soon later home very really
what which who whom whose where why how all both each every some any no more most much many such own""".split())


def _pronoun(found: str, new: str, after: str) -> str:
    """The replacement of a gendered term, fixed by what follows it: her -> his / him, his -> her / hers."""
    following = re.match(r"\s*([^\W\d_]+)", after)
    owns = following is not None and following.group(1).lower() not in _NOT_OWNED
    if found == "her" and new in ("him", "his"):
        return "his" if owns else "him"
    if found == "her" and new in ("them", "their"):
        return "their" if owns else "them"
    if found == "his" and new in ("her", "their") and not owns:
        return new + "s"
    return new


_THEY_VERBS = {"is": "are", "was": "were", "has": "have", "does": "do", "isn't": "aren't", "wasn't": "weren't",
               "hasn't": "haven't", "doesn't": "don't", "'s": "'re"}
_THEY_VERB = re.compile(r"(?<!\w)(they)(\s+is|\s+was|\s+has|\s+does|\s+isn't|\s+wasn't|\s+hasn't|\s+doesn't|'s)(?!\w)",
                        re.IGNORECASE)


def _they_agree(swapped: str, original: str) -> str:
    """ "they is" -> "they are" where the swap made "they" (the original's own "they is", if any, stays)."""
    if _THEY_VERB.search(original):
        return swapped

    def fix(match: re.Match) -> str:
        verb = match.group(2)
        space = verb[:len(verb) - len(verb.lstrip())]
        return match.group(1) + space + match_case(_THEY_VERBS[verb.strip().lower()], verb.strip())
    return _THEY_VERB.sub(fix, swapped)


@lru_cache(maxsize=64)
def _term_pattern(terms: tuple[str, ...], case_invariant: bool) -> re.Pattern:
    """Any of `terms` as a whole word (longest first, so "South Sudan" wins over "Sudan"); case-sensitive, a
    lower-case term also matches capitalised ("he" and "He", "Paul" but not "paul")."""
    if not case_invariant:
        terms = (*terms, *(t[:1].upper() + t[1:] for t in terms if t[:1].islower()))
    alternatives = "|".join(re.escape(term) for term in sorted(set(terms), key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE if case_invariant else 0)


def _swap(key: str, name: str, lists: tuple[str, str, str], change: str, description: str, why: str,
          paired: bool = False) -> type[TextSwap]:
    cls = type(name.replace(" ", "").replace("-", ""), (TextSwap,), {
        "key": key, "name": name, "lists": lists, "change": change, "paired": paired, "description": description,
        "why_it_matters": why, "__module__": __name__,
        # Gendered terms are unambiguous in any case (HE, Her); names and countries are also ordinary words.
        "default_params": {**TextSwap.default_params, "case_invariant": paired},
    })
    return register(cls)


_GENDER_WHY = ("A text about a woman and the same text about a man should get the same answer; a gap is gender "
               "bias that reaches every decision the model makes.")
_NAME_WHY = ("Names stand in for gender and ethnicity; a model that answers differently for the same text with "
             "another name discriminates, even if it never sees a protected attribute.")
_COUNTRY_WHY = "Where a person or a business comes from should not change how the same text is judged."
SWAPS = [
    _swap("text_swap_masc_to_fem", "Swap Masculine to Feminine Terms", ("gendered_terms", "masculine", "feminine"),
          "given feminine terms for masculine ones", "Replaces masculine terms (he, his, man, father, ...) with "
          "their feminine counterparts.", _GENDER_WHY, paired=True),
    _swap("text_swap_fem_to_masc", "Swap Feminine to Masculine Terms", ("gendered_terms", "feminine", "masculine"),
          "given masculine terms for feminine ones", "Replaces feminine terms (she, her, woman, mother, ...) with "
          "their masculine counterparts.", _GENDER_WHY, paired=True),
    _swap("text_swap_masc_to_plural", "Swap Masculine to Neutral Terms",
          ("gendered_terms", "masculine", "masculine_plural"), "given neutral terms for masculine ones",
          "Replaces masculine terms with gender-neutral ones (he becomes they, man becomes person).", _GENDER_WHY,
          paired=True),
    _swap("text_swap_fem_to_plural", "Swap Feminine to Neutral Terms",
          ("gendered_terms", "feminine", "feminine_plural"), "given neutral terms for feminine ones",
          "Replaces feminine terms with gender-neutral ones (she becomes they, woman becomes person).", _GENDER_WHY,
          paired=True),
    _swap("text_swap_masc_name_to_fem_name", "Swap Masculine to Feminine Names", ("names", "masculine", "feminine"),
          "given feminine names for masculine ones", "Replaces masculine first names with feminine first names.",
          _NAME_WHY),
    _swap("text_swap_fem_name_to_masc_name", "Swap Feminine to Masculine Names", ("names", "feminine", "masculine"),
          "given masculine names for feminine ones", "Replaces feminine first names with masculine first names.",
          _NAME_WHY),
    _swap("text_swap_maj_name_to_min_name", "Swap Majority to Minority Names", ("names", "majority", "minority"),
          "given minority-group names for majority-group ones", "Replaces first names frequent in the majority "
          "group with names frequent in minority groups (shipped lists; edit them for your population).",
          _NAME_WHY),
    _swap("text_swap_min_name_to_maj_name", "Swap Minority to Majority Names", ("names", "minority", "majority"),
          "given majority-group names for minority-group ones", "Replaces first names frequent in minority groups "
          "with names frequent in the majority group.", _NAME_WHY),
    _swap("text_swap_high_country_to_low_country", "Swap High- to Low-Income Countries",
          ("countries", "high_income", "low_income"), "given low-income countries for high-income ones",
          "Replaces names of high-income countries with names of low-income countries (World Bank groups).",
          _COUNTRY_WHY),
    _swap("text_swap_low_country_to_high_country", "Swap Low- to High-Income Countries",
          ("countries", "low_income", "high_income"), "given high-income countries for low-income ones",
          "Replaces names of low-income countries with names of high-income countries (World Bank groups).",
          _COUNTRY_WHY),
]
