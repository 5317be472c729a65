"""Extractive question answering as a transformers `Pipeline` (transformers 5 removed its own).

Copied next to a fine-tuned checkpoint and named in config.json's `custom_pipelines`, so that
`pipeline("question-answering", model=DIR, trust_remote_code=True)` works where only transformers is
installed. Imports nothing from hf_recipes.

    qa = pipeline("question-answering", model="outputs/squad", trust_remote_code=True)
    qa(question="Who wrote it?", context="It was written by Ada.")
    # {'score': 0.93, 'start': 18, 'end': 21, 'answer': 'Ada'}

Long contexts are cut into overlapping windows (`max_seq_len`, `doc_stride`), as in training; the answer
is the best (start, end) pair over all windows, with start <= end, both inside the context, at most
`max_answer_len` tokens, scored by p(start) * p(end) under each window's softmax over its context tokens.
"""

import numpy as np
from transformers import Pipeline


class QuestionAnsweringPipeline(Pipeline):
    def __call__(self, *args, question=None, context=None, **kwargs):
        """`qa(question=..., context=...)`, `qa({"question": ..., "context": ...})` or a list of such dicts;
        `question`/`context` may also be equally long lists. Returns a dict per question (top_k=1) or a list."""
        if args:
            inputs = args[0]
        elif isinstance(question, list):
            contexts = context if isinstance(context, list) else [context] * len(question)
            inputs = [{"question": q, "context": c} for q, c in zip(question, contexts, strict=True)]
        else:
            inputs = {"question": question, "context": context}
        for item in inputs if isinstance(inputs, list) else [inputs]:
            if not isinstance(item, dict) or not item.get("question") or not item.get("context"):
                raise ValueError(
                    "question answering needs a non-empty `question` and `context` for each input"
                )
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(
        self, max_seq_len=None, doc_stride=None, max_answer_len=None, top_k=None, **kwargs
    ):
        preprocess = {k: v for k, v in {"max_seq_len": max_seq_len, "doc_stride": doc_stride}.items() if v}
        postprocess = {k: v for k, v in {"max_answer_len": max_answer_len, "top_k": top_k}.items() if v}
        return preprocess, {}, postprocess

    def preprocess(self, inputs, max_seq_len=384, doc_stride=128):
        max_seq_len = min(max_seq_len, self.tokenizer.model_max_length)
        encoded = self.tokenizer(
            inputs["question"],
            inputs["context"],
            truncation="only_second",
            max_length=max_seq_len,
            stride=min(doc_stride, max_seq_len // 2),
            return_overflowing_tokens=True,
            return_offsets_mapping=True,
            padding="longest",
            return_tensors="pt",
        )
        # Offsets of context tokens only (None elsewhere), one list per window.
        offsets = [
            [span if encoded.sequence_ids(window)[i] == 1 else None for i, span in enumerate(spans)]
            for window, spans in enumerate(encoded.pop("offset_mapping").tolist())
        ]
        encoded.pop("overflow_to_sample_mapping", None)
        return {"model_inputs": dict(encoded), "offsets": offsets, "context": inputs["context"]}

    def _forward(self, inputs):
        names = set(self.tokenizer.model_input_names)
        output = self.model(**{k: v for k, v in inputs["model_inputs"].items() if k in names})
        return {"start": output.start_logits, "end": output.end_logits, **inputs}

    def postprocess(self, outputs, max_answer_len=30, top_k=1):
        candidates = []
        for window, offsets in enumerate(outputs["offsets"]):
            in_context = np.array([span is not None for span in offsets])
            if not in_context.any():
                continue
            start_probs = _softmax_over(outputs["start"][window].float().numpy(), in_context)
            end_probs = _softmax_over(outputs["end"][window].float().numpy(), in_context)
            scores = np.triu(np.outer(start_probs, end_probs))  # start <= end
            scores = np.tril(scores, max_answer_len - 1)  # at most max_answer_len tokens
            for flat in np.argsort(scores, axis=None)[::-1][:top_k]:
                start, end = np.unravel_index(flat, scores.shape)
                if scores[start, end] > 0:
                    first, last = offsets[start][0], offsets[end][1]
                    candidates.append((float(scores[start, end]), first, last))
        context = outputs["context"]
        best = sorted(set(candidates), key=lambda c: -c[0])[:top_k] or [(0.0, 0, 0)]
        answers = [{"score": s, "start": a, "end": b, "answer": context[a:b]} for s, a, b in best]
        return answers[0] if top_k == 1 else answers


def _softmax_over(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Softmax over the allowed positions; 0 elsewhere."""
    masked = np.where(allowed, logits, -np.inf)
    exp = np.exp(masked - masked.max())
    return exp / exp.sum()


# Which Auto class the pipeline loads its model with, for config.json's custom_pipelines.
CUSTOM_PIPELINES = {
    "question-answering": {
        "impl": "pipeline_question_answering.QuestionAnsweringPipeline",
        "pt": ["AutoModelForQuestionAnswering"],
        "type": "text",
    }
}

__all__ = ["QuestionAnsweringPipeline"]
