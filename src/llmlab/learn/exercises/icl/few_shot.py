"""Exercise `few_shot`: the k-shot prompt of in-context learning — the task's instruction, k demonstrations
"Input: x / Output: y", then the query with its output left open for the model to fill in.

Check it with `llmlab learn check icl few_shot` (every shipped task, k = 0..8, with and without the
instruction, text and chat messages, against llmlab.experiments.prompts.icl_prompt).

The model learns the task only from this text (Brown et al. 2020): the demonstrations come BEFORE the query,
in one repeated format, separated the same way, so the most likely continuation of the last "Output:" is the
answer. A base model continues `text`; an instruction-tuned one answers `messages` (its chat template).

Given: IclTask (name, instruction, items, labels, input_name, output_name), Item (id, question, answer, ...),
Prompt(text, messages, style, shots), and Message = {"role": ..., "content": ...}.
"""

from __future__ import annotations

from collections.abc import Sequence

from llmlab.experiments.icl_tasks import IclTask
from llmlab.experiments.prompts import Prompt  # noqa: F401 - for your code
from llmlab.experiments.word_problems import Item
from llmlab.llm import Message  # noqa: F401 - for your code


def icl_prompt(task: IclTask, item: Item, demos: Sequence[Item] = (), instruction: bool = True) -> Prompt:
    """Prompt(text, messages, "direct", len(demos)) for the query `item` after the demonstrations `demos`.

    text:     "<task.instruction>\\n\\n"                        (only when instruction is True)
              + for each demo d: "<input_name>: <d.question>\\n<output_name>: <d.answer>\\n\\n"
              + "<input_name>: <item.question>\\n<output_name>:"        (no space after the last colon)
    messages: a system message (only when instruction is True): the instruction, then
                  " Answer with one of: <labels joined by ', '>."   when the task has labels, else
                  " Answer with the answer only."
              then for each demo a user turn (d.question) and an assistant turn (d.answer),
              then the query as the last user turn (item.question)

    Example (task "sentiment": input_name "Review", output_name "Sentiment", labels ("negative", "positive")),
    one demo ("The soup was cold and bland.", "negative"), query "The food was delicious ...":
        text = "Classify the sentiment of each review as positive or negative.\\n\\n"
               "Review: The soup was cold and bland.\\nSentiment: negative\\n\\n"
               "Review: The food was delicious and the staff were lovely.\\nSentiment:"
        messages = [{"role": "system", "content": "Classify ... positive or negative. Answer with one of:
        negative, positive."},
                    {"role": "user", "content": "The soup was cold and bland."}, {"role": "assistant",
                    "content": "negative"}, {"role": "user", "content": "The food was delicious and the staff
                    were lovely."}]
    """
    raise NotImplementedError("icl_prompt")
