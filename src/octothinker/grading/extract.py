"""Final-answer extraction from model text: boxed, "the answer is", ``####``, letters, last number.

Every function here does bounded work: only the tail of a response is scanned, at most a few
boxes are examined, and the regular expressions are linear (no nested quantifiers).
"""

from __future__ import annotations

import re

from octothinker.grading.normalize import normalize, parse_number

KINDS = ("math", "gsm", "mc")
MAX_TEXT = 65536  # characters of the response tail that are scanned
MAX_BOXES = 8  # boxes tried from the end before giving up
MAX_BOX_LEN = 4096  # longest boxed content accepted
PHRASE_TAIL = 4096  # characters scanned for "the answer is" style phrases

_BOX_TOKENS = ("\\boxed", "\\fbox")
_NUMBER = re.compile(r"(?:(?<![\w)\]}.])-)?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|(?:(?<![\w)\]}.])-)?\.\d+")
_CALC = re.compile(r"<<[^<>\n]{0,400}>>")
_ANSWER_IS = re.compile(
    r"(?:(?:final answer|the answer)\s*(?:is|:|=|would be|will be)|answer\s*(?:is|:|=))\s*:?\s*([^\n]{1,400})",
    re.IGNORECASE,
)
_HASHES = re.compile(r"####\s*([^\n]{1,400})")
_MC_AFTER_ANSWER = re.compile(
    r"answer\s*(?:is|:|=|would be|will be|choice is|option is)?\s*:?\s*(?:option|choice)?\s*"
    r"[\(\[\{$]?\s*(?:\\text\{|\\textbf\{|\\mathrm\{)?\s*\(?([A-Ja-j])(?![A-Za-z])",
    re.IGNORECASE,
)
_MC_OPTION = re.compile(r"(?:option|choice|ans)\s*[-:=]?\s*[\(\[]?\s*([A-Ja-j])(?![A-Za-z])", re.IGNORECASE)
_MC_LAST_TOKEN = re.compile(r"(?:^|[\s(\[])([A-Ea-e])\s*[)\]]?\s*[.\"']*\s*$")
_MC_CONCLUDES = re.compile(r"(?:\b(?:is|be|so|hence|thus|therefore|answer|option|choice)|[.:=,(\[])\s*$", re.IGNORECASE)
_MC_OWN_LINE = re.compile(r"^\s*\**[\(\[]?\s*[A-Ea-e]\s*[)\].]?\**\s*$")  # a last line that is the letter alone
_MC_PAREN = re.compile(r"\(([A-J])\)")
_MC_LINE = re.compile(r"(?m)^\s*\**([A-J])[.):]\**(?:\s|$)")
_MC_BARE = re.compile(r"^\s*[\(\[\{]?\s*(?:\\text\{|\\textbf\{|\\mathrm\{)?\s*\(?([A-Ja-j])\)?\s*\}?\s*[\)\]\}]?\s*[.:)]?(?:\s|$)")


def _scan_braced(text: str, start: int) -> tuple[str, int] | None:
    """Content of the brace group opening at ``text[start] == "{"`` and its end; None if unbalanced."""
    depth = 0
    i = start
    limit = min(len(text), start + MAX_BOX_LEN + 2)
    while i < limit:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return text[start + 1 : i], i
        i += 1
    return None


def _box_content(text: str, pos: int, token: str) -> str | None:
    """Content of the box command found at ``pos``: ``\\boxed{...}`` or ``\\boxed 5``."""
    j = pos + len(token)
    if j < len(text) and text[j].isalpha():
        return None  # e.g. \boxedfoo is another command
    while j < len(text) and text[j] == " ":
        j += 1
    if j < len(text) and text[j] == "{":
        got = _scan_braced(text, j)
        return None if got is None else got[0]
    if j > pos + len(token):  # "\boxed 5" form: one token up to space or $
        m = re.match(r"[^\s$]{1,200}", text[j:])
        return m.group(0) if m else None
    return None


def last_boxed(text: str) -> str | None:
    """Content of the last well-formed ``\\boxed{}`` / ``\\fbox{}`` (nested braces kept)."""
    end = len(text)
    for _ in range(MAX_BOXES):
        best, token = -1, ""
        for t in _BOX_TOKENS:
            p = text.rfind(t, 0, end)
            if p > best:
                best, token = p, t
        if best < 0:
            return None
        content = _box_content(text, best, token)
        if content is not None:
            return content.strip()
        end = best
    return None


def _clean_phrase(s: str) -> str:
    """Trim a phrase answer: stop at the sentence end, drop math delimiters and a final period."""
    s = s.strip()
    m = re.search(r"\.\s|\. *$|\bI hope\b", s)
    if m and not re.match(r"\d", s[m.start() + 1 : m.start() + 2]):
        s = s[: m.start()]
    s = s.strip().strip("$").strip()
    if s.startswith("\\(") and s.endswith("\\)"):
        s = s[2:-2]
    return s.rstrip(".").strip()


def _last_match(pattern: re.Pattern[str], text: str) -> re.Match[str] | None:
    last = None
    for last in pattern.finditer(text):
        pass
    return last


def last_number(text: str) -> str | None:
    """Last number in ``text`` (thousands separators removed), or None."""
    m = _last_match(_NUMBER, text)
    return None if m is None else m.group(0).replace(",", "")


def _number_of(cand: str) -> str | None:
    """A phrase answer as a number: the whole of it when it is one, else its last number."""
    norm = normalize(cand)
    if parse_number(norm) is not None:
        return norm
    return last_number(cand)


def result_number(text: str) -> str | None:
    """Result of the final worked line: after its last ``>>`` calculator tag or ``=``, else its last number."""
    lines = [ln for ln in text.splitlines() if _NUMBER.search(_CALC.sub("", ln))]
    if not lines:
        return None
    line = lines[-1]
    cut = line.rfind(">>")
    if cut >= 0:
        m = _NUMBER.search(line, cut + 2)
        if m:
            return m.group(0).replace(",", "")
    line = _CALC.sub("", line)
    cut = line.rfind("=")
    if cut >= 0:
        m = _NUMBER.search(line, cut + 1)
        if m:
            return m.group(0).replace(",", "")
    return last_number(line)


def _phrase_answer(tail: str) -> str | None:
    m = _last_match(_ANSWER_IS, tail)
    if m is None:
        return None
    inner = m.group(1)
    for _ in range(3):  # "Final Answer: The final answer is X" nests one phrase in another
        nested = _last_match(_ANSWER_IS, inner)
        if nested is None:
            break
        inner = nested.group(1)
    boxed = last_boxed(inner)
    return boxed if boxed is not None else (_clean_phrase(inner) or None)


def mc_letter(text: str) -> str | None:
    """Upper-case option letter named in ``text`` ("(B)", "answer is b", "B." at a line start)."""
    tail = text[-PHRASE_TAIL:]
    boxed = last_boxed(tail)
    if boxed is not None:
        m = _MC_BARE.match(boxed)
        if m:
            return m.group(1).upper()
    m = _MC_BARE.match(tail)
    if m and len(tail.strip()) <= 12:
        return m.group(1).upper()
    end = tail[-64:]
    last = _MC_LAST_TOKEN.search(end)  # a lone letter closing the text is the final word...
    stated = [x for x in (_last_match(_MC_AFTER_ANSWER, tail), _last_match(_MC_OPTION, tail)) if x]
    if last and (not stated or _MC_OWN_LINE.match(tail.rstrip().rsplit("\n", 1)[-1])
                 or _MC_CONCLUDES.search(end[: last.start(1)])):
        return last.group(1).upper()  # ...unless it ends prose after an explicit "answer: X" ("... of light c.")
    if stated:
        return max(stated, key=lambda x: x.end()).group(1).upper()
    for pattern in (_MC_PAREN, _MC_LINE):
        m = _last_match(pattern, tail)
        if m:
            return m.group(1).upper()
    return None


def extract_answer(text: str, kind: str = "math") -> str | None:
    """The final answer string in ``text`` for ``kind`` ("math", "gsm" or "mc"); None if there is none."""
    if not isinstance(text, str) or kind not in KINDS:
        return None
    text = text[-MAX_TEXT:]
    if kind == "mc":
        return mc_letter(text)
    if kind == "gsm":
        tail = _CALC.sub("", text[-PHRASE_TAIL:])
        m = _last_match(_HASHES, tail)
        cand = _clean_phrase(m.group(1)) if m else None
        if cand is None:
            cand = last_boxed(text)
        if cand is None:
            cand = _phrase_answer(tail)
        if cand is not None:
            num = _number_of(cand)
            return num if num is not None else cand
        return result_number(text[-PHRASE_TAIL:])
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    tail = text[-PHRASE_TAIL:]
    m = _last_match(_HASHES, tail)
    if m:
        return _clean_phrase(m.group(1)) or None
    return _phrase_answer(tail)
