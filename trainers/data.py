"""Training data loaders: Alpaca, ShareGPT `conversations`, `messages`, preference and KTO rows.

Every loader returns TRL's conversational layout (lists of ``{role, content}``)
and raises :class:`DataError` naming the file, the row and the field when a
row is malformed, before any training starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evalsuite.errors import DataError
from evalsuite.jsonl import iter_records

ROLE_OF = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system",
           "bot": "assistant", "model": "assistant"}


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Rows of a .json (a list of objects) or .jsonl file."""
    if not path.is_file():
        raise DataError(f"data file not found: {path} (relative paths resolve against the recipe's data_dir / EVALSUITE_DATA_DIR)")
    rows = [row for _, row in iter_records(path)]
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{path}: row {index} is a {type(row).__name__}, expected an object")
    if not rows:
        raise DataError(f"{path}: the dataset is empty")
    return rows


def read_texts(path: Path) -> list[str]:
    """Documents of a pre-training corpus: .txt lines, .jsonl/.json `text` (or Alpaca fields joined)."""
    if not path.is_file():
        raise DataError(f"corpus not found: {path}")
    if path.suffix == ".txt":
        texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    else:
        texts = []
        for index, row in enumerate(read_rows(path)):
            if "text" in row:
                value = row["text"]
            else:
                value = "\n".join(str(row[k]) for k in ("instruction", "input", "output") if row.get(k))
            if not isinstance(value, str):
                raise DataError(f"{path}: row {index}: field 'text' must be a string")
            if value.strip():
                texts.append(value)
    if not texts:
        raise DataError(f"{path}: the corpus has no text")
    return texts


def _text(path: Path, index: int, row: dict, name: str, required: bool = True) -> str:
    if name not in row or row[name] is None:
        if required:
            raise DataError(f"{path}: row {index}: missing field {name!r} (fields present: {sorted(row)})")
        return ""
    value = row[name]
    if not isinstance(value, str):
        raise DataError(f"{path}: row {index}: field {name!r} must be a string, got {type(value).__name__}")
    return value


def _turns(path: Path, index: int, turns: Any, name: str) -> list[dict[str, str]]:
    """Normalise ShareGPT ``{from, value}`` or ``{role, content}`` turns to ``{role, content}``."""
    if isinstance(turns, dict):
        turns = [turns]
    if not isinstance(turns, list) or not turns:
        raise DataError(f"{path}: row {index}: field {name!r} must be a non-empty list of turns")
    out = []
    for position, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise DataError(f"{path}: row {index}: {name}[{position}] must be an object")
        speaker = turn.get("role", turn.get("from"))
        content = turn.get("content", turn.get("value"))
        if speaker not in ROLE_OF:
            raise DataError(f"{path}: row {index}: {name}[{position}] has unknown speaker {speaker!r}; expected one of {sorted(ROLE_OF)}")
        if not isinstance(content, str):
            raise DataError(f"{path}: row {index}: {name}[{position}] has no text content")
        out.append({"role": ROLE_OF[speaker], "content": content})
    return out


def _alpaca_prompt(path: Path, index: int, row: dict) -> list[dict[str, str]]:
    instruction = _text(path, index, row, "instruction")
    extra = _text(path, index, row, "input", required=False)
    content = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages = []
    if row.get("system"):
        messages.append({"role": "system", "content": _text(path, index, row, "system")})
    messages.append({"role": "user", "content": content})
    return messages


def _dialogue(path: Path, index: int, row: dict) -> list[dict[str, str]]:
    """Whole dialogue of a row in any supported SFT format."""
    if "messages" in row:
        return _turns(path, index, row["messages"], "messages")
    if "conversations" in row:
        return _turns(path, index, row["conversations"], "conversations")
    if "instruction" in row:
        reply = _text(path, index, row, "output")
        return _alpaca_prompt(path, index, row) + [{"role": "assistant", "content": reply}]
    raise DataError(
        f"{path}: row {index}: unknown format (fields {sorted(row)}); expected Alpaca instruction/input/output, "
        "ShareGPT 'conversations', or 'messages'"
    )


def _nonempty(path: Path, index: int, name: str, content: str) -> None:
    if not content.strip():
        raise DataError(f"{path}: row {index}: field {name!r} is empty")


def sft_examples(path: Path, rows: list[dict]) -> list[dict[str, Any]]:
    """Prompt-completion examples; the completion is the last assistant turn (loss is on it only)."""
    examples = []
    for index, row in enumerate(rows):
        dialogue = _dialogue(path, index, row)
        if dialogue[-1]["role"] != "assistant":
            raise DataError(f"{path}: row {index}: the last turn must be the assistant's reply, got {dialogue[-1]['role']!r}")
        _nonempty(path, index, "reply", dialogue[-1]["content"])
        examples.append({"prompt": dialogue[:-1], "completion": [dialogue[-1]]})
    return examples


def _response(path: Path, index: int, row: dict, name: str) -> list[dict[str, str]]:
    if name not in row or row[name] is None:
        raise DataError(f"{path}: row {index}: missing field {name!r} (fields present: {sorted(row)})")
    value = row[name]
    if isinstance(value, str):
        turns = [{"role": "assistant", "content": value}]
    else:
        turns = _turns(path, index, value, name)
    _nonempty(path, index, name, turns[-1]["content"])
    return turns[-1:]


def preference_examples(path: Path, rows: list[dict], pairs_from_single: str = "off") -> list[dict[str, Any]]:
    """``{prompt, chosen, rejected}`` examples from prompt/chosen/rejected or conversations/chosen/rejected rows.

    With ``pairs_from_single`` set, a row with a single response (SFT formats) becomes a pair with
    ``synthetic_pair=True``: "truncate" makes its rejected side the response cut to half its characters;
    "sample" leaves ``rejected`` as None for the caller to fill with a reply of the parent model.
    """
    examples = []
    for index, row in enumerate(rows):
        if "chosen" not in row and "rejected" not in row and pairs_from_single in ("truncate", "sample"):
            sft = sft_examples(path, [row])[0]
            reply = sft["completion"][0]["content"]
            rejected = [{"role": "assistant", "content": reply[: max(1, len(reply) // 2)]}] if pairs_from_single == "truncate" else None
            examples.append({"prompt": sft["prompt"], "chosen": sft["completion"], "rejected": rejected, "synthetic_pair": True})
            continue
        if "prompt" in row:
            prompt = row["prompt"]
            prompt = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else _turns(path, index, prompt, "prompt")
        elif "conversations" in row:
            prompt = _turns(path, index, row["conversations"], "conversations")
        elif "messages" in row:
            prompt = _turns(path, index, row["messages"], "messages")
        elif "instruction" in row:
            prompt = _alpaca_prompt(path, index, row)
        else:
            raise DataError(f"{path}: row {index}: no prompt: expected a 'prompt', 'conversations' or 'instruction' field (fields present: {sorted(row)})")
        chosen = _response(path, index, row, "chosen")
        rejected = _response(path, index, row, "rejected")
        examples.append({"prompt": prompt, "chosen": chosen, "rejected": rejected, "synthetic_pair": False})
    return examples


def kto_examples(path: Path, rows: list[dict]) -> list[dict[str, Any]]:
    """Unpaired ``{prompt, completion, label}`` rows: `messages` + `label`, or each pair split in two."""
    examples = []
    for index, row in enumerate(rows):
        if "label" in row:
            if not isinstance(row["label"], bool):
                raise DataError(f"{path}: row {index}: field 'label' must be true or false, got {row['label']!r}")
            sft = sft_examples(path, [{k: v for k, v in row.items() if k != "label"}])[0]
            examples.append({**sft, "label": row["label"]})
        else:
            pair = preference_examples(path, [row])[0]
            examples.append({"prompt": pair["prompt"], "completion": pair["chosen"], "label": True})
            examples.append({"prompt": pair["prompt"], "completion": pair["rejected"], "label": False})
    return examples


def prompt_examples(path: Path, rows: list[dict]) -> list[dict[str, Any]]:
    """GRPO prompts; a reference answer (field `answer`, `reference`, or the Alpaca `output`) is kept as `answer`."""
    examples = []
    for index, row in enumerate(rows):
        if "prompt" in row:
            prompt = row["prompt"]
            prompt = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else _turns(path, index, prompt, "prompt")
            answer = row.get("answer", row.get("reference"))
        else:
            dialogue = _dialogue(path, index, row)
            if dialogue[-1]["role"] == "assistant":
                prompt, answer = dialogue[:-1], dialogue[-1]["content"]
            else:
                prompt, answer = dialogue, None
            answer = row.get("answer", row.get("reference", answer))
        if answer is not None and not isinstance(answer, str):
            answer = str(answer)
        examples.append({"prompt": prompt, "answer": answer or ""})
    return examples


@dataclass
class FitStats:
    rows: int = 0
    kept: int = 0
    dropped_long_prompt: int = 0
    truncated_prompt: int = 0


def _prompt_length(tokenizer, messages: list[dict[str, str]]) -> int:
    encoded = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=True)
    return len(encoded["input_ids"])


def fit_prompts(examples: list[dict], tokenizer, max_prompt_length: int, policy: str) -> tuple[list[dict], FitStats]:
    """Drop, or truncate the last prompt turn of, examples whose chat-formatted prompt exceeds ``max_prompt_length``.

    This is the guard against the empty-completion NaN trap of length-normalised losses: after it, every
    prompt leaves room for a completion within ``max_length``.
    """
    stats = FitStats(rows=len(examples))
    kept = []
    for example in examples:
        prompt = example["prompt"]
        length = _prompt_length(tokenizer, prompt)
        if length > max_prompt_length and policy == "truncate":
            last = prompt[-1]
            ids = tokenizer(last["content"], add_special_tokens=False)["input_ids"]
            keep = len(ids) - (length - max_prompt_length) - 2
            if keep > 0:
                prompt = prompt[:-1] + [{**last, "content": tokenizer.decode(ids[:keep])}]
                length = _prompt_length(tokenizer, prompt)
                if length <= max_prompt_length:
                    stats.truncated_prompt += 1
                    example = {**example, "prompt": prompt}
        if length > max_prompt_length:
            stats.dropped_long_prompt += 1
            continue
        kept.append(example)
    stats.kept = len(kept)
    return kept, stats
