"""Small tasks for in-context-learning runs against any model: shipped in the package, no download.

    task = icl_task("sentiment")     # also "capital", "reverse"
    task.items[0]                    # Item(question="The soup was cold and bland.", answer="negative")
    task.labels                      # ("negative", "positive") for a classification task, () for free answers

sentiment: 40 hand-written one-line reviews (20 positive, 20 negative); capital: 40 countries and their
capital cities; reverse: 40 common words and the word spelled backwards (a rule no model has memorised for
every word).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmlab.errors import LabError
from llmlab.experiments.word_problems import Item

POSITIVE = [
    "The food was delicious and the staff were lovely.", "I would happily watch this film again.",
    "Setup took two minutes and it just works.", "Best concert I have been to in years.",
    "The hotel room was spotless and quiet.", "My kids loved every page of this book.",
    "Fast delivery and the fit is perfect.", "A warm, funny and clever story.",
    "The battery lasts all week, which is great.", "Our guide was friendly and knew everything.",
    "This coffee is smooth and rich.", "The new update made the app much faster.",
    "Beautiful views from every window.", "The teacher explained it so clearly.",
    "Comfortable shoes, I walked all day without pain.", "The soundtrack alone is worth the ticket.",
    "Great value for the price.", "The bread was fresh and still warm.",
    "Customer support solved my problem in minutes.", "What a relaxing and pleasant weekend.",
]
NEGATIVE = [
    "The soup was cold and bland.", "I walked out of the movie after an hour.",
    "It stopped working after two days.", "The waiter ignored us all evening.",
    "The room smelled of smoke and the bed was hard.", "The plot made no sense at all.",
    "The package arrived broken and late.", "Far too expensive for what you get.",
    "The screen scratches far too easily.", "The tour was rushed and boring.",
    "This coffee tastes burnt and sour.", "The update deleted all my settings.",
    "Noisy neighbours kept us awake every night.", "The instructions were confusing and wrong.",
    "These shoes gave me blisters on day one.", "The sound kept cutting out during the show.",
    "I regret buying this blender.", "The cake was dry and stale.",
    "Support never answered my emails.", "A long, dull and tiring trip.",
]
CAPITALS = [
    ("France", "Paris"), ("Japan", "Tokyo"), ("Italy", "Rome"), ("Spain", "Madrid"), ("Germany", "Berlin"),
    ("Canada", "Ottawa"), ("Australia", "Canberra"), ("Brazil", "Brasilia"), ("Egypt", "Cairo"),
    ("Kenya", "Nairobi"), ("India", "New Delhi"), ("China", "Beijing"), ("Russia", "Moscow"),
    ("Mexico", "Mexico City"), ("Argentina", "Buenos Aires"), ("Peru", "Lima"), ("Chile", "Santiago"),
    ("Norway", "Oslo"), ("Sweden", "Stockholm"), ("Finland", "Helsinki"), ("Poland", "Warsaw"),
    ("Greece", "Athens"), ("Portugal", "Lisbon"), ("Ireland", "Dublin"), ("Austria", "Vienna"),
    ("Hungary", "Budapest"), ("Turkey", "Ankara"), ("Iran", "Tehran"), ("Thailand", "Bangkok"),
    ("Vietnam", "Hanoi"), ("Indonesia", "Jakarta"), ("Nigeria", "Abuja"), ("Ghana", "Accra"),
    ("Morocco", "Rabat"), ("Colombia", "Bogota"), ("Cuba", "Havana"), ("Denmark", "Copenhagen"),
    ("Belgium", "Brussels"), ("Switzerland", "Bern"), ("New Zealand", "Wellington"),
]
WORDS = ["apple", "river", "garden", "planet", "window", "silver", "candle", "forest", "pocket", "rabbit",
         "bridge", "castle", "dragon", "engine", "finger", "guitar", "hammer", "island", "jacket", "kitten",
         "lemon", "mirror", "needle", "orange", "pepper", "rocket", "saddle", "tunnel", "velvet", "wallet",
         "yellow", "zipper", "anchor", "bottle", "cotton", "desert", "feather", "helmet", "ladder", "marble"]


@dataclass
class IclTask:
    name: str
    instruction: str                 # what a zero-shot prompt says the task is
    items: list[Item]
    labels: tuple[str, ...] = ()     # the label set of a classification task (answers are matched against it)
    input_name: str = "Input"
    output_name: str = "Output"


def _sentiment() -> IclTask:
    # interleaved so any prefix of the list is balanced
    items = [Item(f"sentiment-{2 * i + j}", text, label)
             for i, pair in enumerate(zip(POSITIVE, NEGATIVE, strict=True))
             for j, (text, label) in enumerate(zip(pair, ("positive", "negative"), strict=True))]
    return IclTask("sentiment", "Classify the sentiment of each review as positive or negative.", items,
                   ("negative", "positive"), "Review", "Sentiment")


def _capital() -> IclTask:
    items = [Item(f"capital-{i}", country, city) for i, (country, city) in enumerate(CAPITALS)]
    return IclTask("capital", "Give the capital city of each country.", items, (), "Country", "Capital")


def _reverse() -> IclTask:
    items = [Item(f"reverse-{i}", word, word[::-1]) for i, word in enumerate(WORDS)]
    return IclTask("reverse", "Write each word spelled backwards, letter by letter.", items, (), "Word",
                   "Reversed")


ICL_TASKS = {"sentiment": _sentiment, "capital": _capital, "reverse": _reverse}


def icl_task(name: str) -> IclTask:
    if name not in ICL_TASKS:
        raise LabError(f"unknown in-context task {name!r}", hint="choose from " + ", ".join(ICL_TASKS))
    return ICL_TASKS[name]()
