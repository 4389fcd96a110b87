"""Rubrics for human-evaluation-style judging: dimensions, a scale, anchors, a language.

A rubric is YAML (see ``DEFAULT_RUBRICS`` for the built-in English and Chinese
ones: task completion, naturalness, tone/style fit, informativeness on 1–5).
It renders the judge prompt, which shows only the question and the answer —
never which checkpoint wrote it — and asks for ``[[dimension: score]]`` lines;
:func:`parse_rubric`, beside it, reads those lines (or a JSON object) back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

from pydantic import Field, field_validator

from evalsuite.config import StrictModel, load_yaml, validate
from evalsuite.errors import ConfigError
from evalsuite.provenance import sha256_text
from evalsuite.tasks.judging.verdicts import Verdict, raw_text, unparseable

_RUBRIC_TAG = re.compile(r"\[\[\s*([^\[\]:]+?)\s*:\s*(-?\d+(?:\.\d+)?)\s*\]\]")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


class Dimension(StrictModel):
    name: str = Field(description="Identifier used in the verdict tags, e.g. task_completion.")
    description: str
    anchors: dict[int, str] = Field(default_factory=dict, description="What a score means, for some scale points.")


class Rubric(StrictModel):
    name: str
    version: str = "1"
    language: str = "en"
    scale_min: int = 1
    scale_max: int = 5
    dimensions: list[Dimension]
    instructions: str
    answer_format: str = Field(description="Asks for one [[name: score]] line per dimension; {format_lines} is replaced.")

    @field_validator("dimensions")
    @classmethod
    def _unique(cls, value: list[Dimension]) -> list[Dimension]:
        names = [d.name for d in value]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"dimension names must be non-empty and unique, got {names}")
        return value

    @property
    def dimension_names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def fingerprint(self) -> str:
        return sha256_text(self.model_dump_json())

    def prompt(self, question: str, answer: str) -> str:
        lines = []
        for d in self.dimensions:
            anchors = "; ".join(f"{k} = {v}" for k, v in sorted(d.anchors.items()))
            lines.append(f"- {d.name}: {d.description}" + (f" ({anchors})" if anchors else ""))
        format_lines = "\n".join(f"[[{d.name}: N]]" for d in self.dimensions)
        return (
            self.instructions.format(scale_min=self.scale_min, scale_max=self.scale_max)
            + "\n\n" + "\n".join(lines)
            + f"\n\n[Question]\n{question}\n\n[The Start of Assistant's Answer]\n{answer}\n[The End of Assistant's Answer]\n\n"
            + self.answer_format.format(format_lines=format_lines, scale_min=self.scale_min, scale_max=self.scale_max)
        )

    def parse(self, text: str | None) -> Verdict:
        """The judge's scores for this rubric's dimensions, each within its scale, or an unparseable verdict."""
        return parse_rubric(text, dimensions=self.dimension_names, low=self.scale_min, high=self.scale_max)


def _builtin(name: str, language: str, dimensions: dict[str, tuple[str, str, str, str]], instructions: str,
             answer_format: str) -> Rubric:
    """A built-in rubric from {dimension: (description, anchor 1, anchor 3, anchor 5)}."""
    return Rubric(
        name=name, language=language, instructions=instructions, answer_format=answer_format,
        dimensions=[Dimension(name=key, description=text[0], anchors=dict(zip((1, 3, 5), text[1:])))
                    for key, text in dimensions.items()],
    )


_EN = _builtin("default-en", "en", {
    "task_completion": ("Does the answer do what the user asked?",
                        "ignores or fails the task", "partly done", "fully and correctly done"),
    "naturalness": ("Does it read like a fluent person rather than a template?",
                    "robotic or broken", "understandable but stilted", "natural and fluent"),
    "tone_style_fit": ("Do tone and style fit the request and its audience?", "clearly wrong tone", "acceptable", "exactly right"),
    "informativeness": ("Is it substantive, specific and useful?",
                        "empty or wrong", "some useful content", "rich, accurate and specific"),
}, instructions=(
    "Please act as an impartial judge and rate the AI assistant's answer to the user question below. "
    "Rate each dimension on an integer scale from {scale_min} to {scale_max}. Do not let the answer's length "
    "or any formatting sway you, and do not guess who wrote it."
), answer_format="Explain briefly, then give your scores exactly in this format, one per line:\n{format_lines}")

_ZH = _builtin("default-zh", "zh", {
    "task_completion": ("回答是否完成了用户的要求？", "未完成或答非所问", "部分完成", "完整且正确地完成"),
    "naturalness": ("读起来是否像真人一样自然流畅，而不是模板？", "生硬或不通顺", "能看懂但不自然", "自然流畅"),
    "tone_style_fit": ("语气和风格是否符合请求与受众？", "语气明显不当", "尚可", "恰到好处"),
    "informativeness": ("内容是否充实、具体、有用？", "空洞或错误", "有一些有用内容", "丰富、准确、具体"),
}, instructions=(
    "请作为公正的评审，为下面 AI 助手对用户问题的回答打分。每个维度使用 {scale_min} 到 {scale_max} 的整数分。"
    "不要因回答的长短或格式而偏颇，也不要猜测回答出自哪个模型。"
), answer_format="请先简要说明理由，然后严格按以下格式逐行给出分数：\n{format_lines}")

DEFAULT_RUBRICS = {"default-en": _EN, "default-zh": _ZH, "default": _EN}


def load_rubric(name_or_path: str) -> Rubric:
    """A built-in rubric by name (default, default-en, default-zh) or a rubric YAML file."""
    if name_or_path in DEFAULT_RUBRICS:
        return DEFAULT_RUBRICS[name_or_path]
    path = Path(name_or_path)
    if not path.suffix in (".yaml", ".yml"):
        raise ConfigError(f"unknown rubric {name_or_path!r}; built in: {', '.join(DEFAULT_RUBRICS)}; or a .yaml file")
    return validate(Rubric, load_yaml(path), f"rubric file {path}")


def _json_object(raw: str) -> dict | None:
    candidates = [m.strip() for m in _FENCE.findall(raw)] + [raw.strip()]
    start, end = raw.find("{"), raw.rfind("}")
    if 0 <= start < end:
        candidates.append(raw[start : end + 1])
    for c in candidates:
        try:
            obj = json.loads(c)
        except ValueError:
            continue
        if isinstance(obj, dict):
            return obj
    return None


def _score_of(value) -> float | None:
    # A dimension may be a bare number or {"score": n, "reason": ...}.
    if isinstance(value, dict):
        value = value.get("score")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def parse_rubric(
    text: str | None,
    *,
    dimensions: Sequence[str] | None = None,
    low: float | None = None,
    high: float | None = None,
) -> Verdict:
    """Scores per rubric dimension from a JSON object or ``[[dimension: score]]`` tags.

    With ``dimensions`` every one must be present (others are dropped); a
    non-numeric score, a score outside [low, high], or a dimension given two
    different scores makes the whole verdict unparseable.
    """
    raw = raw_text(text)
    scores: dict[str, float] = {}
    obj = _json_object(raw)
    if obj is not None:
        for key, value in obj.items():
            score = _score_of(value)
            if score is None:
                if dimensions is None or key in dimensions:
                    return unparseable(raw, f"dimension {key!r} has non-numeric score {value!r}")
                continue
            scores[str(key)] = score
    else:
        for key, value in _RUBRIC_TAG.findall(raw):
            if key in scores and scores[key] != float(value):
                return unparseable(raw, f"ambiguous: dimension {key!r} scored {scores[key]:g} and {float(value):g}")
            scores[key] = float(value)
    if not scores:
        return unparseable(raw, "no JSON object or [[dimension: score]] tags found")
    if dimensions is not None:
        missing = [d for d in dimensions if d not in scores]
        if missing:
            return unparseable(raw, f"missing dimensions {missing}")
        scores = {d: scores[d] for d in dimensions}
    for key, score in scores.items():
        if (low is not None and score < low) or (high is not None and score > high):
            return unparseable(raw, f"dimension {key!r} score {score:g} outside [{low}, {high}]")
    return Verdict(raw=raw, value=scores)
