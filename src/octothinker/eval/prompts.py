"""Evaluation prompts: the paper's few-shot CoT protocol for base models and the zero-shot RL template.

Few-shot shots follow the paper: 8 for GSM8K/SVAMP/ASDiv/MAWPS/TabMWP, 4 Minerva-style for
MATH/MATH500/OlympiadBench, 4 for SAT/MathQA/MMLU-STEM/OCW (and GPQA), 0 for AMC23. The
exemplars below are written for this project. Toy benchmarks use the toy world's own exemplars
in the "Question: ...\nAnswer:" format.
"""
from __future__ import annotations

from typing import Optional

LETTERS = "ABCDEFGHIJ"

# (question, worked answer ending in "The answer is N.")
GSM_SHOTS = [
    ("A bakery packs muffins in boxes of 6. On Monday it baked 150 muffins and sold 17 boxes. How many muffins were left unsold?",
     "The bakery sold 17 * 6 = 102 muffins. It had 150 - 102 = 48 muffins left. The answer is 48."),
    ("Priya reads 12 pages of her novel each weekday and 20 pages on each day of the weekend. How many pages does she read in two weeks?",
     "In one week she reads 5 * 12 = 60 pages on weekdays and 2 * 20 = 40 pages at the weekend, so 60 + 40 = 100 pages. "
     "In two weeks she reads 2 * 100 = 200 pages. The answer is 200."),
    ("One hose fills a 90-liter tank in 15 minutes and a second hose fills it in 30 minutes. How many minutes do both hoses together need to fill the tank?",
     "The first hose delivers 90 / 15 = 6 liters per minute and the second 90 / 30 = 3 liters per minute. Together they deliver "
     "6 + 3 = 9 liters per minute, so the tank is full after 90 / 9 = 10 minutes. The answer is 10."),
    ("Marco bought 3 notebooks at $4 each and a backpack that cost 5 times as much as one notebook. He paid with a $50 bill. How much change did he get?",
     "The notebooks cost 3 * 4 = $12 and the backpack 5 * 4 = $20. He spent 12 + 20 = $32, so his change was 50 - 32 = $18. The answer is 18."),
    ("A school has 480 students. One quarter of them take the bus, one third of the rest walk, and the others are driven. How many students are driven?",
     "480 / 4 = 120 students take the bus, which leaves 480 - 120 = 360. Of those, 360 / 3 = 120 walk, so 360 - 120 = 240 are driven. The answer is 240."),
    ("Lena's phone loses 8 percent of its charge every hour. She unplugs it fully charged at 9 a.m. What percent of the charge is left at 2 p.m.?",
     "From 9 a.m. to 2 p.m. is 5 hours, so the phone loses 5 * 8 = 40 percent and 100 - 40 = 60 percent is left. The answer is 60."),
    ("A farmer keeps chickens and cows. The animals have 30 heads and 74 legs in total. How many cows are there?",
     "If all 30 animals were chickens they would have 30 * 2 = 60 legs. The 74 - 60 = 14 extra legs come from cows, which have "
     "2 more legs each, so there are 14 / 2 = 7 cows. The answer is 7."),
    ("A train covers 240 kilometers in 3 hours. At the same speed, how many kilometers does it cover in 5 hours?",
     "Its speed is 240 / 3 = 80 kilometers per hour, so in 5 hours it covers 5 * 80 = 400 kilometers. The answer is 400."),
]

# (problem, solution ending in a boxed final answer), Minerva-style layout
MATH_SHOTS = [
    ("What is the remainder when $7^{2024}$ is divided by $5$?",
     "Since $7 \\equiv 2 \\pmod 5$, we need $2^{2024} \\bmod 5$. The powers of $2$ modulo $5$ are $2, 4, 3, 1$ and then repeat "
     "with period $4$. As $2024$ is a multiple of $4$, $2^{2024} \\equiv 1 \\pmod 5$.\nThe final answer is $\\boxed{1}$."),
    ("If $f(x) = 3x - 4$ and $g(x) = x^2 + 1$, compute $f(g(2))$.",
     "First $g(2) = 2^2 + 1 = 5$. Then $f(5) = 3 \\cdot 5 - 4 = 11$.\nThe final answer is $\\boxed{11}$."),
    ("Simplify $\\sqrt{50} + \\sqrt{18}$.",
     "We have $\\sqrt{50} = \\sqrt{25 \\cdot 2} = 5\\sqrt{2}$ and $\\sqrt{18} = \\sqrt{9 \\cdot 2} = 3\\sqrt{2}$, so the sum is "
     "$8\\sqrt{2}$.\nThe final answer is $\\boxed{8\\sqrt{2}}$."),
    ("A bag holds 4 red and 6 blue marbles. Two marbles are drawn without replacement. What is the probability that both are red? "
     "Express your answer as a common fraction.",
     "The first marble is red with probability $\\frac{4}{10}$; given that, the second is red with probability $\\frac{3}{9}$. "
     "The product is $\\frac{12}{90} = \\frac{2}{15}$.\nThe final answer is $\\boxed{\\frac{2}{15}}$."),
]

# science/engineering problems with units, for OCW ("Minerva math")
OCW_SHOTS = [
    ("A car accelerates uniformly from rest to $30 \\mathrm{~m/s}$ in $12 \\mathrm{~s}$. How far, in meters, does it travel in that time?",
     "Under uniform acceleration the average speed is $(0 + 30)/2 = 15 \\mathrm{~m/s}$, so the distance is "
     "$15 \\times 12 = 180 \\mathrm{~m}$.\nThe final answer is $\\boxed{180}$."),
    ("What is the wavelength, in meters, of a radio wave of frequency $100 \\mathrm{~MHz}$? Take $c = 3 \\times 10^{8} \\mathrm{~m/s}$.",
     "$\\lambda = c / f = (3 \\times 10^{8}) / (10^{8}) = 3 \\mathrm{~m}$.\nThe final answer is $\\boxed{3}$."),
    ("A $20\\,\\Omega$ resistor carries a current of $0.5 \\mathrm{~A}$. What power, in watts, does it dissipate?",
     "$P = I^2 R = (0.5)^2 \\times 20 = 0.25 \\times 20 = 5 \\mathrm{~W}$.\nThe final answer is $\\boxed{5}$."),
    ("A first-order reaction has rate constant $k = 0.1 \\mathrm{~s}^{-1}$. What is its half-life in seconds, to two significant figures?",
     "For first-order kinetics $t_{1/2} = \\ln 2 / k = 0.693 / 0.1 = 6.93 \\mathrm{~s}$, which is $6.9 \\mathrm{~s}$ to two "
     "significant figures.\nThe final answer is $\\boxed{6.9}$."),
]

# (question, choices, worked answer ending in "The answer is (X).")
MC_SHOTS = [
    ("What is the value of $x$ if $3x + 7 = 22$?", ["3", "5", "7", "15"],
     "Subtracting 7 from both sides gives $3x = 15$, so $x = 5$. The answer is (B)."),
    ("Which quantity is conserved in a perfectly elastic collision but not in a perfectly inelastic one?",
     ["momentum", "mass", "kinetic energy", "electric charge"],
     "Momentum, mass and charge are conserved in every collision; kinetic energy is lost when the bodies stick together. "
     "The answer is (C)."),
    ("A rectangle has perimeter 36 and its length is twice its width. What is its area?", ["36", "54", "81", "72", "96"],
     "With width $w$ the perimeter is $2(w + 2w) = 6w = 36$, so $w = 6$ and the length is $12$. The area is "
     "$6 \\times 12 = 72$. The answer is (D)."),
    ("How many distinct prime factors does 210 have?", ["4", "2", "3", "5"],
     "$210 = 2 \\cdot 3 \\cdot 5 \\cdot 7$, which has four distinct prime factors. The answer is (A)."),
]

QA_STOPS = ["\n\nQuestion:", "\nQuestion:"]
PROBLEM_STOPS = ["\n\nProblem:", "\nProblem:"]

# benchmark -> (prompt style, paper's number of shots)
FEWSHOT = {
    "gsm8k": ("gsm", 8), "svamp": ("gsm", 8), "asdiv": ("gsm", 8), "mawps": ("gsm", 8), "tabmwp": ("gsm", 8),
    "math": ("math", 4), "math500": ("math", 4), "olympiad_bench": ("math", 4),
    "ocw": ("ocw", 4), "amc23": ("math", 0),
    "sat": ("mc", 4), "mathqa": ("mc", 4), "mmlu_stem": ("mc", 4), "gpqa": ("mc", 4),
    "toy_gsm": ("toy", 4), "toy_math": ("toy", 4), "toy_olympiad": ("toy", 4), "toy_depth4": ("toy", 4),
}


def format_choices(choices: list[str]) -> str:
    return "\n".join(f"({LETTERS[i]}) {c}" for i, c in enumerate(choices))


def question_text(record: dict) -> str:
    """The question as shown to the model: multiple-choice records get their lettered options appended."""
    q = record["question"].strip()
    if record.get("choices"):
        q = f"{q}\nAnswer choices:\n{format_choices(record['choices'])}"
    return q


def _qa_block(question: str, answer: Optional[str]) -> str:
    return f"Question: {question}\nAnswer:" + (f" {answer}" if answer is not None else "")


def _problem_block(problem: str, solution: Optional[str]) -> str:
    return f"Problem:\n{problem}\n\nSolution:" + (f"\n{solution}" if solution is not None else "")


def fewshot_prompt(bench: str, record: dict, shots: Optional[int] = None, toy_cfg=None) -> tuple[str, list[str]]:
    """The few-shot CoT prompt for `record` of benchmark `bench` and the stop strings that end an answer."""
    if bench not in FEWSHOT:
        raise ValueError(f"no few-shot protocol for benchmark {bench!r}")
    style, default_k = FEWSHOT[bench]
    k = default_k if shots is None else shots
    if style == "toy":
        from ..config import ToyWorldConfig
        from ..toyworld import fewshot_exemplars

        ex = fewshot_exemplars(k, toy_cfg or ToyWorldConfig()) if k else []
        blocks = [_qa_block(e["question"], e["solution"]) for e in ex]
        return "\n\n".join(blocks + [_qa_block(record["question"], None)]), list(QA_STOPS)
    if style in ("math", "ocw"):
        pool = MATH_SHOTS if style == "math" else OCW_SHOTS
        blocks = [_problem_block(p, s) for p, s in _take(pool, k, bench)]
        return "\n\n".join(blocks + [_problem_block(question_text(record), None)]), list(PROBLEM_STOPS)
    pool = GSM_SHOTS if style == "gsm" else [(question_text({"question": q, "choices": c}), a) for q, c, a in MC_SHOTS]
    blocks = [_qa_block(q, a) for q, a in _take(pool, k, bench)]
    return "\n\n".join(blocks + [_qa_block(question_text(record), None)]), list(QA_STOPS)


def _take(pool: list, k: int, bench: str) -> list:
    if not 0 <= k <= len(pool):
        raise ValueError(f"{bench}: shots must be between 0 and {len(pool)}, got {k}")
    return pool[:k]


def rl_prompt(record: dict, template: str) -> tuple[str, list[str]]:
    """Zero-shot prompt under an RL template (`octothinker.rl.templates`) and its stop strings."""
    from ..rl import templates

    text = templates.render(template, question_text(record))
    stops = templates.stop_strings(template) if hasattr(templates, "stop_strings") else []
    return text, stops


def build_prompt(bench: str, record: dict, protocol: str = "fewshot", template: str = "simple",
                 shots: Optional[int] = None, toy_cfg=None) -> tuple[str, list[str]]:
    """Prompt text and stop strings for one record under `protocol` (fewshot | rl_template)."""
    if protocol == "fewshot":
        return fewshot_prompt(bench, record, shots, toy_cfg)
    if protocol == "rl_template":
        return rl_prompt(record, template)
    raise ValueError(f"protocol: unknown {protocol!r}; choose fewshot or rl_template")
