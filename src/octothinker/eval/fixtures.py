"""A tiny benchmark folder in each real source's schema, for tests and smoke runs without the data.

The problems are made up for this project; only the field layout follows each source, so
every loader can be exercised on any machine (`write_fixture_benchmarks(tmp_dir)`).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..paths import atomic_write_text

_JSONL = {
    "gsm8k": [
        {"question": "Tom has 3 bags with 4 apples each. How many apples does he have?", "answer": "12",
         "cot": "3 * 4 = <<3*4=12>>12 apples.", "id": "gsm8k-test-0"},
        {"question": "A book costs $1,250 and a pen $50. What do both cost?", "answer": "1,300",
         "cot": "1250 + 50 = 1300", "id": "gsm8k-test-1"},
        {"question": "Ana ran 5 km on Monday and twice as far on Tuesday. How far did she run on Tuesday?",
         "answer": "10", "cot": "5 * 2 = 10", "id": "gsm8k-test-2"},
    ],
    "math500": [
        {"problem": "Compute $2^5$.", "solution": "$2^5 = \\boxed{32}$.", "answer": "32", "subject": "Algebra",
         "level": 1, "unique_id": "test/algebra/1.json"},
        {"problem": "Simplify $\\frac{6}{8}$.", "solution": "$\\boxed{\\frac{3}{4}}$", "answer": "\\frac{3}{4}",
         "subject": "Prealgebra", "level": 1, "unique_id": "test/prealgebra/2.json"},
        {"problem": "What is $\\sqrt{49}$?", "solution": "$\\boxed{7}$", "answer": "7", "subject": "Algebra",
         "level": 1, "unique_id": "test/algebra/3.json"},
    ],
    "math": [
        {"problem": "Find $x$ if $x + 3 = 10$.", "solution": "Subtract 3: $x = \\boxed{7}$."},
        {"problem": "Compute $\\binom{4}{2}$.", "solution": "$\\binom{4}{2} = \\boxed{6}$."},
    ],
    "amc23": [
        {"id": 0, "problem": "What is $1+2+\\cdots+10$?", "answer": 55.0, "url": "https://example.org/1",
         "question": "What is $1+2+\\cdots+10$?"},
        {"id": 1, "problem": "What is half of $9$?", "answer": 4.5, "url": "https://example.org/2",
         "question": "What is half of $9$?"},
    ],
    "olympiad_bench": [
        {"id": 1, "subfield": "Algebra", "context": None, "question": "Find all real $x$ with $x^2 = 4$.",
         "solution": ["$x = \\pm 2$."], "final_answer": ["$2,-2$"], "is_multiple_answer": True, "unit": None,
         "answer_type": "Numerical", "error": None},
        {"id": 2, "subfield": "Geometry", "context": "A square has side 3.", "question": "What is its area?",
         "solution": ["$9$"], "final_answer": ["$9$"], "is_multiple_answer": False, "unit": "cm^2",
         "answer_type": "Numerical", "error": None},
    ],
    "ocw": [
        {"problem": "A mass of $2 \\mathrm{~kg}$ moves at $3 \\mathrm{~m/s}$. Find its momentum in kg m/s.",
         "solution": "$p = mv = \\boxed{6}$", "answer": "6", "id": "0"},
        {"problem": "What is $10^{3}$ meters in kilometers?", "solution": "$\\boxed{1}$", "answer": "1", "id": "1"},
    ],
    "sat": [
        {"id": "0", "question": "If $2x = 8$, what is $x$?", "options": "A) 2 B) 4 C) 6 D) 8", "Answer": "B"},
        {"id": "1", "question": "Which is largest?", "options": "A. $1/2$ B. $2/3$ C. $3/4$ D. $1/4$", "Answer": "C"},
    ],
    "mmlu_stem": [
        {"question": "What is the derivative of $x^2$?", "options": ["x", "2x", "x^2", "2"], "answer": "B",
         "topic": "college_mathematics", "id": 0},
        {"question": "Which particle has negative charge?", "options": ["proton", "neutron", "electron", "photon"],
         "answer": "C", "topic": "high_school_physics", "id": 0},
    ],
    "mathqa": [
        {"problem": "what is 15 % of 200 ?", "rationale": "\"0.15 * 200 = 30 answer : b\"",
         "options": "a ) 20 , b ) 30 , c ) 40 , d ) 1,500 , e ) 15", "correct": "b"},
        {"problem": "a ratio 2 : 3 scaled by 4 is ?", "rationale": "\"8 : 12\"",
         "options": "['a ) 8 : 12', 'b ) 6 : 7', 'c ) 2 : 3', 'd ) 4 : 4', 'e ) none']", "correct": "a"},
    ],
    "asdiv": [
        {"body": "Sam has 4 red pens and 5 blue pens.", "question": "How many pens does he have?",
         "solution_type": "Addition", "answer": "9 (pens)", "formula": "4+5=9", "idx": 0},
        {"body": "Ann is taller than Bob.", "question": "Who is shorter?", "solution_type": "Comparison",
         "answer": "Bob", "formula": "", "idx": 1},
    ],
    "mawps": [
        {"input": "Jo had 12 cards and gave away 5. How many cards does Jo have?", "target": 7.0,
         "type": "singleeq", "idx": 0},
        {"input": "A rope of 7.5 m is cut in half. How long is each piece?", "target": 3.75, "type": "singleeq", "idx": 1},
    ],
    "svamp": [
        {"Answer": 6.0, "Question": "How many eggs are in each box?", "Equation": "( 18.0 / 3.0 )",
         "Body": "There are 18 eggs in 3 boxes.", "Type": "Common-Division", "ID": "chal-1", "idx": 0},
        {"Answer": 11.0, "Question": "How many birds are there now?", "Equation": "( 8.0 + 3.0 )",
         "Body": "8 birds sat on a tree and 3 more came.", "Type": "Addition", "ID": "chal-2", "idx": 1},
    ],
}

_TABMWP = {
    "101": {"question": "How many stickers do Ava and Ben have in total?", "choices": None, "answer": "13",
            "unit": None, "table_title": "Stickers", "table": "Name | Stickers\nAva | 6\nBen | 7",
            "ques_type": "free_text", "ans_type": "integer_number"},
    "102": {"question": "Who has more stickers?", "choices": ["Ava", "Ben"], "answer": "Ben", "unit": None,
            "table_title": "Stickers", "table": "Name | Stickers\nAva | 6\nBen | 7",
            "ques_type": "multi_choice", "ans_type": "extractive_text"},
}

_GPQA = [
    {"Question": "What is the SI unit of force?", "Correct Answer": "newton", "Incorrect Answer 1": "joule",
     "Incorrect Answer 2": "watt", "Incorrect Answer 3": "pascal", "Record ID": "recFixture0001"},
    {"Question": "Which gas makes up most of Earth's atmosphere?", "Correct Answer": "nitrogen",
     "Incorrect Answer 1": "oxygen", "Incorrect Answer 2": "argon", "Incorrect Answer 3": "carbon dioxide",
     "Record ID": "recFixture0002"},
]


def write_fixture_benchmarks(root: str | Path) -> Path:
    """Write one small file per benchmark folder under `root` (the layout of the shared copies)."""
    root = Path(root)
    for folder, rows in _JSONL.items():
        atomic_write_text(root / folder / "test.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    atomic_write_text(root / "tabmwp" / "problems_test.json", json.dumps(_TABMWP, indent=1))
    atomic_write_text(root / "gpqa" / "gpqa_diamond.json", json.dumps(_GPQA, indent=1))
    return root
