"""Words the toy world is made of: people, objects, places and the phrasings of each operation.

Every corpus draws from the same lexicon, so the general-text corpus talks about the very names and
objects that the math corpora count (as DCLM talks about the world that math problems describe).
"""
from __future__ import annotations

# (name, subject pronoun, object pronoun, possessive)
PEOPLE = [
    ("Mia", "she", "her", "her"), ("Leo", "he", "him", "his"), ("Ava", "she", "her", "her"),
    ("Noah", "he", "him", "his"), ("Zoe", "she", "her", "her"), ("Omar", "he", "him", "his"),
    ("Lena", "she", "her", "her"), ("Ravi", "he", "him", "his"), ("Ines", "she", "her", "her"),
    ("Tom", "he", "him", "his"), ("Yuki", "she", "her", "her"), ("Sam", "he", "him", "his"),
    ("Nora", "she", "her", "her"), ("Ben", "he", "him", "his"), ("Lucia", "she", "her", "her"),
    ("Kofi", "he", "him", "his"), ("Emma", "she", "her", "her"), ("Ivan", "he", "him", "his"),
    ("Sara", "she", "her", "her"), ("Max", "he", "him", "his"), ("Ana", "she", "her", "her"),
    ("Jack", "he", "him", "his"), ("Priya", "she", "her", "her"), ("Hugo", "he", "him", "his"),
]

# (plural, singular, where they are kept)
OBJECTS = [
    ("apples", "apple", "basket"), ("marbles", "marble", "jar"), ("stickers", "sticker", "album"),
    ("books", "book", "shelf"), ("coins", "coin", "purse"), ("shells", "shell", "bucket"),
    ("pencils", "pencil", "case"), ("cookies", "cookie", "tin"), ("stamps", "stamp", "folder"),
    ("cards", "card", "box"), ("flowers", "flower", "vase"), ("eggs", "egg", "carton"),
    ("toy cars", "toy car", "drawer"), ("buttons", "button", "pouch"), ("beads", "bead", "bowl"),
    ("plums", "plum", "bag"), ("rocks", "rock", "crate"), ("ribbons", "ribbon", "chest"),
]

PLACES = ["the park", "the market", "school", "the library", "the beach", "the garden", "the fair", "the shop"]
ADJECTIVES = ["red", "small", "shiny", "old", "green", "bright", "smooth", "tiny", "heavy", "blue"]
FEELINGS = ["happy", "proud", "curious", "calm", "excited", "tired", "cheerful", "surprised"]

# Word problems use only a few people and objects, so questions are short and the numbers stand out.
PROBLEM_PEOPLE = PEOPLE[:6]
PROBLEM_OBJECTS = OBJECTS[:6]

# Opening sentence: {name} {n} {obj} {where} {poss}
START = ["{name} has {n} {obj}."]
# Each operation has its own unmistakable words: "more" is +, "gives away"/"loses" is -, "times" is *.
# {P} capitalised pronoun, {p} pronoun, {k} operand.
ADD = [
    "{P} gets {k} more.",
    "{P} finds {k} more.",
]
SUB = [
    "{P} gives away {k}.",
    "{P} loses {k}.",
]
MUL = [
    "{P} gets {k} times as many.",
    "The {obj} grow {k} times.",
]
QUESTION = ["How many now?"]
# A bare-procedure surface form with no story.
BARE_START = ["Start with {n}."]
BARE_OPS = {"+": ["Add {k}."], "-": ["Subtract {k}."], "*": ["Multiply by {k}."]}
BARE_QUESTION = ["What is the result?"]

OP_NAMES = {"+": "addition", "-": "subtraction", "*": "multiplication"}
OP_VERBS = {"+": "add", "-": "subtract", "*": "multiply"}
