"""A small topic-classification CSV of real sentences (sports, cooking, weather), written by tests."""

from __future__ import annotations

import csv
from pathlib import Path

SPORTS = [
    "The striker scored twice in the second half to win the match.",
    "Our team lost the basketball game by three points last night.",
    "She ran the marathon in under three hours.",
    "The goalkeeper saved a penalty in the final minute.",
    "He hit a home run in the bottom of the ninth inning.",
    "The tennis final went to five sets before the champion won.",
    "Fans cheered as the cyclists crossed the finish line.",
    "The coach picked a new captain for the football season.",
    "The swimmer broke the world record in the relay.",
    "Both teams scored a try in the rugby match.",
    "The referee showed him a red card for a dangerous tackle.",
    "The boxer knocked out his opponent in the fourth round.",
    "The league table changed after the weekend's matches.",
    "The sprinter won the gold medal in the hundred metres.",
    "Our hockey team trains at the ice rink every morning.",
    "The golfer sank a long putt on the eighteenth hole.",
]
COOKING = [
    "Chop the onions finely and fry them in butter until golden.",
    "Bake the bread at two hundred degrees for forty minutes.",
    "Whisk the eggs with sugar before folding in the flour.",
    "Season the soup with salt, pepper and a little lemon juice.",
    "Simmer the tomato sauce slowly for an hour.",
    "Roast the chicken with garlic, rosemary and potatoes.",
    "Knead the dough for ten minutes until it is smooth.",
    "Add a pinch of cinnamon to the apple pie filling.",
    "Boil the pasta in salted water until it is al dente.",
    "Marinate the beef overnight in soy sauce and ginger.",
    "Melt the chocolate gently over a pan of hot water.",
    "Grate the cheese and sprinkle it over the casserole.",
    "Stir the risotto often and add the stock a ladle at a time.",
    "Peel the carrots and slice them into thin rounds.",
    "Let the cake cool before spreading the icing on top.",
    "Fry the fish in hot oil until the batter is crisp.",
]
WEATHER = [
    "Heavy rain is expected across the north tomorrow.",
    "The forecast says it will be sunny and warm all weekend.",
    "Strong winds knocked down trees during the storm.",
    "Snow fell overnight and the roads are icy this morning.",
    "Temperatures will drop below freezing tonight.",
    "A thick fog covered the valley until noon.",
    "Thunderstorms with hail are likely this afternoon.",
    "The heatwave pushed temperatures above forty degrees.",
    "Light showers will clear by the evening.",
    "A cold front brings cloudy skies and drizzle.",
    "The hurricane is moving towards the coast.",
    "It has not rained for weeks and the drought is getting worse.",
    "Frost covered the fields at dawn.",
    "Humidity will be high with a chance of rain later.",
    "Clear skies tonight will make it very cold.",
    "The blizzard left half a metre of snow in the mountains.",
]
TOPICS = {"sports": SPORTS, "cooking": COOKING, "weather": WEATHER}


def write_topic_csv(path: Path, *, text_column: str = "text", label_column: str = "topic",
                    extra: bool = True) -> Path:
    """Write the 48 sentences, interleaved by topic, as a CSV with text, label and an id column."""
    header = ["id", text_column, label_column] if extra else [text_column, label_column]
    rows = []
    for i in range(len(SPORTS)):
        for topic, texts in TOPICS.items():
            row = [texts[i], topic]
            rows.append([str(len(rows)), *row] if extra else row)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path
