"""String normalisation of answers, a safe number parser and cheap hostile-input checks.

Nothing here evaluates code: numbers are read by regular expressions into ``Fraction``s, and
power towers are sized in log space before any symbolic library could try to expand them.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction

MAX_ANSWER_LEN = 1000  # longer extracted answers are judged wrong without symbolic work
MAX_UNIT_LEN = 200  # units and trailing words are stripped from answers up to this length only
MAX_BRACE_DEPTH = 24
MAX_POWER_DIGITS = 100_000  # a numeric power with more decimal digits than this is rejected

_UNIT_WORDS = (
    "dollars|dollar|cents|cent|square units|sq units|units|unit|cm|mm|km|meters|meter|metres|metre|"
    "inches|inch|in|feet|foot|ft|yards|yard|miles|mile|mph|hours|hour|hrs|hr|minutes|minute|mins|min|"
    "seconds|second|sec|days|day|weeks|week|years|year|degrees|degree|grams|gram|kg|pounds|pound|lbs|"
    "ounces|ounce|oz|liters|liter|litres|ml|gallons|gallon|cups|cup|people|students|points|"
    "square feet|square inches|square meters|square centimeters|cubic feet|cubic inches|cubic meters"
)
_TRAILING_UNIT = re.compile(r"^(.*?\d[\d.}]*)\s*(?:\\,|\\;|\\ |~)?\s*(?:" + _UNIT_WORDS + r")(?:\^?\{?[23]\}?)?\.?$")
_TRAILING_TEXT = re.compile(r"^(.+?)\s*\\(?:text|mbox|mathrm|textbf)\{\s*[A-Za-z][A-Za-z .^23]*\}\s*(?:\^\{?[23]\}?)?$")
_PAREN_WORD = re.compile(r"^(.*?[\d}])\s*\([A-Za-z][A-Za-z .]+\)$")  # "9 (apples)", not "u(t)" or "\cot(x)"
_WRAPPED_TEXT = re.compile(r"^\\(?:text|mbox|mathrm|textbf)\{([^{}]*)\}$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_FRAC_SHORT = re.compile(r"\\frac\s*(\d)\s*(\d)")
_FRAC_HALF = re.compile(r"\\frac\s*(\d)\s*(?=\{)")
_SQRT_SHORT = re.compile(r"\\sqrt\s*(\d+)")
_LEFT_RIGHT = re.compile(r"\\(?:left|right)(?![A-Za-z])|\\big(?:g?[lr])?(?![A-Za-z])")
_SPACING = re.compile(r"\\[,;:! ]|\\quad|\\qquad|~")
_DEGREES = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|°|\\circ|\\degree")
_ASSIGN = re.compile(r"^\s*[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?!=)(.+)$")

_DECIMAL = re.compile(r"^(-)?(\d+)?(?:\.(\d+))?$")
_FRAC_LATEX = re.compile(r"^(-)?\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}$")
_FRAC_SLASH = re.compile(r"^(-)?\(?(-?\d+(?:\.\d+)?)\)?/\(?(-?\d+(?:\.\d+)?)\)?$")
_SCI = re.compile(r"^(-?\d+(?:\.\d+)?)\s*(?:\\times|\\cdot|\*|x)\s*10\^\{?(-?\d{1,3})\}?$")


def normalize(ans: str) -> str:
    """Canonical string form of an answer: LaTeX noise, units, ``$``, separators and spaces removed."""
    s = ans.strip()
    s = s.replace("\\$", "").replace("$", "")
    if s.startswith("\\(") and s.endswith("\\)") or s.startswith("\\[") and s.endswith("\\]"):
        s = s[2:-2]
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\displaystyle", "")
    s = _LEFT_RIGHT.sub("", s)
    s = _SPACING.sub(" ", s)
    s = _DEGREES.sub("", s)
    s = s.replace("{,}", ",").replace("\\%", "%").replace("\\textdollar", "")
    s = s.strip().rstrip(".").strip()
    for _ in range(2 if len(s) <= MAX_UNIT_LEN else 0):  # these regexes backtrack quadratically on long input
        m = _TRAILING_TEXT.match(s) or _PAREN_WORD.match(s)
        if m:
            s = m.group(1).strip()
        m = _TRAILING_UNIT.match(s)
        if m:
            s = m.group(1).strip()
    m = _WRAPPED_TEXT.match(s)
    if m:
        s = m.group(1).strip()
    s = _FRAC_SHORT.sub(r"\\frac{\1}{\2}", s)
    s = _FRAC_HALF.sub(r"\\frac{\1}", s)
    s = _SQRT_SHORT.sub(r"\\sqrt{\1}", s)
    if _THOUSANDS.match(s.replace(" ", "").removesuffix("%")):  # 12,345 and 12,345% (not a list: 27,54,108)
        s = s.replace(",", "")
    return re.sub(r"\s+", "", s).rstrip(".")


def strip_assignment(ans: str) -> str:
    """``x = 5`` -> ``5`` (single-variable left side only)."""
    m = _ASSIGN.match(ans)
    return m.group(1).strip() if m else ans


def parse_number(s: str) -> tuple[Fraction, bool] | None:
    """Exact value of a normalised plain number / fraction / percentage, and whether it had ``%``."""
    pct = s.endswith("%")
    if pct:
        s = s[:-1]
    if not s or len(s) > 60:
        return None
    m = _DECIMAL.match(s)
    if m and (m.group(2) or m.group(3)):
        return Fraction(s), pct
    m = _FRAC_LATEX.match(s) or _FRAC_SLASH.match(s)
    if m:
        num, den = Fraction(m.group(2)), Fraction(m.group(3))
        if den == 0:
            return None
        val = num / den
        return (-val if m.group(1) else val), pct
    m = _SCI.match(s)
    if m:
        return Fraction(m.group(1)) * Fraction(10) ** int(m.group(2)), pct
    return None


def numbers_equal(a: Fraction, b: Fraction, rel: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    """Numeric equality: exact between integers, else within a relative tolerance."""
    if a == b:
        return True
    if a.denominator == 1 and b.denominator == 1:
        return False
    return abs(a - b) <= max(abs_tol, rel * max(abs(a), abs(b)))


def brace_depth(s: str) -> int:
    """Deepest nesting of ``{}``, ``()`` and ``[]`` in ``s``."""
    depth = best = 0
    for c in s:
        if c in "{([":
            depth += 1
            best = max(best, depth)
        elif c in "})]":
            depth = max(0, depth - 1)
    return best


_TOWER = re.compile(r"\d+(?:\.\d+)?(?:\^-?\d+(?:\.\d+)?)+")
_FACTORIAL = re.compile(r"\d{4,}\s*!")


def _power_digits(chain: list[float]) -> float:
    """Decimal digits of the right-associative tower ``chain[0]^chain[1]^...`` (inf when huge)."""
    exp = chain[-1]
    for base in reversed(chain[1:-1]):
        if base <= 1 or exp <= 0:
            exp = base**exp if base > 0 else 0.0
            continue
        log_val = exp * math.log10(base)
        if log_val > 300:
            return math.inf
        exp = base**exp
    base = chain[0]
    if base <= 1 or exp <= 0:
        return 0.0
    return exp * math.log10(base)


def hostile_reason(ans: str) -> str | None:
    """Why an extracted answer is refused before symbolic work (too long, too deep, huge power)."""
    if len(ans) > MAX_ANSWER_LEN:
        return "answer too long"
    if brace_depth(ans) > MAX_BRACE_DEPTH:
        return "nesting too deep"
    flat = re.sub(r"[{}\s()]", "", ans.replace("**", "^"))
    for m in _TOWER.finditer(flat):
        chain = [float(x) for x in m.group(0).split("^")]
        if _power_digits(chain) > MAX_POWER_DIGITS:
            return "number too large"
    if _FACTORIAL.search(ans):
        return "factorial too large"
    return None
