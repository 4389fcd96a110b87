"""The two variants of a multiple-choice task that chat models need, as lm-evaluation-harness 0.4.13 builds them.

* ``mode=generate`` is lm-eval's ``mmlu_generative``: the same question text, the
  answer generated greedily until ``"</s>"`` or a newline (at most 256 tokens, HFLM's
  ``max_gen_toks``), then its ``get_response`` filter (first line, stripped) and
  ``exact_match`` ignoring case and punctuation against the answer letter.
* ``chat_template=true`` is lm-eval's ``--apply_chat_template [--fewshot_as_multiturn]
  [--system_instruction]``: description (after the system instruction) as the system
  turn, exemplars as user/assistant turns (or collapsed into one user turn), the
  question as the last user turn, rendered with ``add_generation_prompt=True``, and
  the answer letters scored with no target delimiter.
"""

from __future__ import annotations

import os
import re
import string
from typing import Any, Literal

from evalsuite.errors import ConfigError
from evalsuite.provenance import sha256_text
from evalsuite.scores import AccuracyScores, register_score_kind

# lm-eval's mmlu/generative/_default_template_yaml: generation_kwargs.until; HFLM's default max_gen_toks.
UNTIL = ["</s>", "\n"]
MAX_GEN_TOKS = 256
_FIRST_LINE = re.compile(r"^(.*?)(?=\n|$)")
_TRAILING_SPACE = re.compile(r"^(.*?)\s*$")
_NO_PUNCTUATION = str.maketrans("", "", string.punctuation)
VARIANT_PARAMS = ("mode", "chat_template", "fewshot_as_multiturn", "system", "tokenizer")


@register_score_kind
class GeneratedAnswerScores(AccuracyScores):
    """Scores of ``mode=generate``: exact match of the extracted answer (lm-eval's ``exact_match``)."""

    kind: Literal["accuracy_generated"] = "accuracy_generated"
    metric: Literal["exact_match"] = "exact_match"
    unparsed: int
    unparsed_note: str = "answers that are no option letter after lm-eval's filter; scored wrong, never guessed"


def check_variant(params: Any) -> "ChatRenderer | None":
    """Refuse parameter combinations lm-eval refuses or that would be ignored; the renderer log-likelihood chat prompts need."""
    if params.fewshot_as_multiturn and not params.chat_template:
        raise ConfigError(
            "-T fewshot_as_multiturn=true needs -T chat_template=true (as lm-eval's --fewshot_as_multiturn needs "
            "--apply_chat_template)"
        )
    renders_here = params.chat_template and params.mode == "loglikelihood"
    if renders_here and not params.tokenizer:
        raise ConfigError(
            "-T chat_template=true scores log-likelihoods of prompts rendered with the model's chat template: pass "
            "-T tokenizer=<the model's checkpoint folder or Hub id> (with -T mode=generate the backend renders the turns)"
        )
    if params.tokenizer and not renders_here:
        raise ConfigError(
            f"-T tokenizer={params.tokenizer} is used only with -T chat_template=true in log-likelihood mode; drop it"
        )
    return ChatRenderer(params.tokenizer) if renders_here else None


def variant_metadata(params: Any) -> dict[str, Any]:
    """What the results record says about a variant, beyond its parameters."""
    meta: dict[str, Any] = {}
    if params.mode == "generate":
        meta["generation"] = {
            "until": UNTIL,
            "max_gen_toks": MAX_GEN_TOKS,
            "stop_sequences": "applied by the task to the decoded greedy answer (as lm-eval's HFLM cuts it)",
            "filter": "lm-eval get_response: regex ^(.*?)(?=\\n|$), remove_whitespace, regex ^(.*?)\\s*$, take_first",
            "metric": "exact_match, ignore_case, ignore_punctuation",
        }
    if params.chat_template:
        meta["chat"] = {"fewshot_as_multiturn": params.fewshot_as_multiturn, "system": params.system}
    return meta


def cut_at_stop(text: str, until: list[str] = UNTIL) -> str:
    """The response up to its first stop sequence, as HFLM cuts a decoded continuation."""
    for term in until:
        if term:
            text = text.split(term)[0]
    return text


def _regex(pattern: re.Pattern, text: str) -> str:
    """lm-eval's ``regex`` filter with ``group_select=0`` and its ``[invalid]`` fallback."""
    found = pattern.findall(text)
    if not found:
        return "[invalid]"
    match = found[0]
    if isinstance(match, tuple):
        match = next((m for m in match if m), "[invalid]")
    return match.strip()


def filter_response(response: str) -> str:
    """lm-eval's ``get_response`` filter: first line, whitespace removed, trailing space removed."""
    return _regex(_TRAILING_SPACE, _regex(_FIRST_LINE, response).strip())


def normalized(text: str) -> str:
    """What ``exact_match`` compares with ``ignore_case`` and ``ignore_punctuation``."""
    return text.lower().translate(_NO_PUNCTUATION)


def maybe_delimit(prefix: str | None, suffix: str | None, delimiter: str) -> str:
    """Join two strings, with ``delimiter`` only when neither has whitespace at the join (lm-eval's rule)."""
    if not prefix:
        return suffix or ""
    if not suffix:
        return prefix
    return prefix + suffix if prefix[-1].isspace() or suffix[0].isspace() else prefix + delimiter + suffix


def chat_messages(
    system: str, shots: list[tuple[str, str]], question: str, *, answer_delimiter: str, fewshot_delimiter: str,
    multiturn: bool,
) -> list[dict[str, str]]:
    """The conversation lm-eval's ``fewshot_context`` passes to the chat template.

    ``system`` is the system instruction already joined with the description;
    ``shots`` are (question, answer) exemplars. Without ``multiturn`` every turn
    but the system one is collapsed into one user message, joined by the plain-text
    delimiters (lm-eval's ``multiturn_to_singleturn``).
    """
    messages = [{"role": "system", "content": system}] if system else []
    if multiturn:
        for q, a in shots:
            messages += [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        return [*messages, {"role": "user", "content": question}]
    text = "".join(q + answer_delimiter + a + fewshot_delimiter for q, a in shots) + question
    return [*messages, {"role": "user", "content": text}]


class ChatRenderer:
    """A tokenizer's chat template, applied as lm-eval's HFLM applies it (without the system turn if the template refuses one)."""

    def __init__(self, tokenizer: str):
        try:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(tokenizer)
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"-T tokenizer={tokenizer}: cannot load a tokenizer ({type(exc).__name__}: {str(exc)[:200]}); "
                "give the model's checkpoint folder or Hub id"
            ) from None
        template = getattr(self.tokenizer, "chat_template", None)
        if not template:
            raise ConfigError(
                f"-T tokenizer={tokenizer} has no chat template; use a chat model's tokenizer or leave chat_template=false"
            )
        self.template_sha256 = sha256_text(template if isinstance(template, str) else repr(template))

    def render(self, messages: list[dict[str, str]]) -> str:
        import jinja2

        try:
            return self._apply(messages)
        except jinja2.exceptions.TemplateError:
            return self._apply([m for m in messages if m["role"] != "system"])

    def _apply(self, messages: list[dict[str, str]]) -> str:
        return self.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True, continue_final_message=False
        )


def split_shared(prompts: list[str]) -> tuple[str, list[str]]:
    """(the prefix every prompt starts with, each prompt's rest); a lone prompt shares nothing."""
    prefix = os.path.commonprefix(prompts) if len(prompts) > 1 else ""
    return prefix, [p[len(prefix):] for p in prompts]


def generated_sample(response: str, letters: str, target: str) -> dict[str, Any]:
    """One generated answer, filtered and scored as lm-eval does; ``prediction`` is None when unparsed."""
    response = cut_at_stop(response)
    answer = filter_response(response)
    letter = normalized(answer).upper()
    parsed = len(letter) == 1 and letter in letters
    return {
        "response": response,
        "filtered": answer,
        "prediction": letter if parsed else None,
        "parsed": parsed,
        "target": target,
        "correct": normalized(answer) == normalized(target),
    }
