"""Text-to-text generation and translation as transformers `Pipeline`s (transformers 5 removed its own).

Copied next to a seq2seq checkpoint and named in config.json's `custom_pipelines`, so that
`pipeline("translation", model=DIR, trust_remote_code=True)` (and "text2text-generation") works where only
transformers is installed. Imports nothing from hf_recipes.

    translate = pipeline("translation", model="outputs/multi30k_transformer", trust_remote_code=True)
    translate("Ein Mann fährt Fahrrad.", num_beams=5)   # [{'translation_text': 'A man rides a bike.'}]

Keyword arguments other than the tokenizer's go to `model.generate` (num_beams, max_new_tokens, ...).
"""

from transformers import Pipeline


class Text2TextGenerationPipeline(Pipeline):
    output_key = "generated_text"

    def __call__(self, inputs, **kwargs):
        """A string gives a list of outputs (one per returned sequence); a list of strings gives one output per
        string when each returns a single sequence, as transformers 4's pipeline did."""
        results = super().__call__(inputs, **kwargs)
        if isinstance(inputs, list) and all(len(result) == 1 for result in results):
            return [result[0] for result in results]
        return results

    def _sanitize_parameters(self, truncation=None, **generate_kwargs):
        preprocess = {"truncation": truncation} if truncation is not None else {}
        return preprocess, generate_kwargs, {}

    def preprocess(self, text, truncation=True):
        if not isinstance(text, str) or not text:
            raise ValueError(f"{type(self).__name__} needs a non-empty string, got {text!r}")
        return self.tokenizer(text, truncation=truncation, return_tensors="pt")

    def _forward(self, model_inputs, **generate_kwargs):
        # only what an encoder-decoder's generate takes (a BERT-style tokenizer adds token_type_ids)
        inputs = {k: v for k, v in model_inputs.items() if k in ("input_ids", "attention_mask")}
        return {"output_ids": self.model.generate(**inputs, **generate_kwargs)}

    def postprocess(self, model_outputs):
        texts = self.tokenizer.batch_decode(model_outputs["output_ids"], skip_special_tokens=True)
        return [{self.output_key: text.strip()} for text in texts]


class TranslationPipeline(Text2TextGenerationPipeline):
    output_key = "translation_text"


# For config.json's custom_pipelines: the class of each task and the Auto class its model loads with.
CUSTOM_PIPELINES = {
    task: {"impl": f"pipeline_seq2seq.{cls.__name__}", "pt": ["AutoModelForSeq2SeqLM"], "type": "text"}
    for task, cls in (
        ("text2text-generation", Text2TextGenerationPipeline),
        ("translation", TranslationPipeline),
    )
}

__all__ = ["Text2TextGenerationPipeline", "TranslationPipeline"]
