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

# Opening sentence: {name} {n} {obj} {where} {poss}
START = [
    "{name} has {n} {obj}.",
    "{name} starts with {n} {obj}.",
    "There are {n} {obj} in {name}'s {where}.",
    "{name} collected {n} {obj}.",
]
# One step per operation; {P} capitalised pronoun, {p} pronoun, {k} operand.
ADD = [
    "{P} buys {k} more {obj}.",
    "Then {p} finds {k} more {obj}.",
    "A friend gives {o} {k} {obj}.",
    "{P} adds {k} to the {where}.",
]
SUB = [
    "{P} gives away {k} {obj}.",
    "Then {p} loses {k} {obj}.",
    "{P} sells {k} of the {obj}.",
    "{P} takes {k} from the {where}.",
]
MUL = [
    "Then the {obj} grow {k} times.",
    "{P} ends up with {k} times as many {obj}.",
    "The pile grows {k} times.",
    "Then {p} has {k} times as many.",
]
QUESTION = [
    "How many {obj} does {name} have now?",
    "How many {obj} now?",
    "How many does {name} have in the end?",
]
# A bare-procedure surface form with no story.
BARE_START = ["Start with {n}.", "Begin with the number {n}.", "Take {n}."]
BARE_OPS = {"+": ["Add {k}.", "Then add {k}."], "-": ["Subtract {k}.", "Then take away {k}."],
            "*": ["Multiply by {k}.", "Then multiply by {k}."]}
BARE_QUESTION = ["What is the result?", "What number do you get?"]

OP_NAMES = {"+": "addition", "-": "subtraction", "*": "multiplication"}
OP_VERBS = {"+": "add", "-": "subtract", "*": "multiply"}
