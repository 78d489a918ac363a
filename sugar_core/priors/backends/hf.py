"""The ``hf`` backend: a local transformers causal LM (default SmolLM2-135M-Instruct).

Prompts (a user turn or a conversation) go through the tokenizer's chat template (plain text
when it has none), are left-padded
and generated in batches. The first attempt decodes greedily (``temperature`` 0) so a run is
reproducible; retries sample at ``retry_temperature`` with a seed fixed per attempt and batch,
inside ``torch.random.fork_rng`` so the caller's random state is untouched.

Vision-language models are not wired here (``describe_image`` is unsupported): frame
descriptions need ``--backend openai`` pointed at a server that hosts a VLM.
"""

from __future__ import annotations

from sugar_core.models import DEFAULT_LLM, load_causal_lm
from sugar_core.priors.backends.base import Backend, BackendConfig
from sugar_core.priors.prompts import Prompt, prompt_text


class HFBackend(Backend):
    can_complete = True

    def __init__(self, cfg: BackendConfig, model=None, tokenizer=None):
        self.cfg = cfg
        self.spec = cfg.model or DEFAULT_LLM
        self.id = (
            f"hf:{self.spec}|max_new_tokens={cfg.max_new_tokens}|temperature={cfg.temperature}"
            f"|retry_temperature={cfg.retry_temperature}|seed={cfg.seed}"
        )
        self._model, self._tok = model, tokenizer  # loaded on the first question when None

    def _load(self):
        if self._model is None:
            self._model, self._tok = load_causal_lm(self.spec)
        if self._tok.pad_token is None:
            self._tok.pad_token = self._tok.eos_token
        self._tok.padding_side = "left"  # generation continues from the right edge
        return self._model, self._tok

    def render(self, prompt: Prompt) -> str:
        """The text the model sees for ``prompt``, through its chat template when it has one."""
        _, tok = self._load()
        if getattr(tok, "chat_template", None):
            messages = prompt if isinstance(prompt, list) else [{"role": "user", "content": prompt}]
            return tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return prompt_text(prompt)

    def complete(self, prompts: list[Prompt], attempt: int = 0) -> list[str]:
        import torch

        model, tok = self._load()
        templated = bool(getattr(tok, "chat_template", None))
        sample = attempt > 0 or self.cfg.temperature > 0
        temperature = self.cfg.retry_temperature if attempt > 0 else self.cfg.temperature
        out: list[str] = []
        bs = max(1, self.cfg.batch_size)
        for start in range(0, len(prompts), bs):
            texts = [self.render(p) for p in prompts[start : start + bs]]
            enc = tok(texts, return_tensors="pt", padding=True, add_special_tokens=not templated)
            gen = dict(
                max_new_tokens=self.cfg.max_new_tokens,
                pad_token_id=tok.pad_token_id,
                do_sample=sample,
            )
            if sample:
                gen.update(temperature=max(temperature, 1e-3), top_p=0.95, top_k=0)
            with torch.random.fork_rng(devices=[]), torch.inference_mode():
                torch.manual_seed(self.cfg.seed + 1000 * attempt + start)
                ids = model.generate(**enc, **gen)  # (B, L_in + new)
            new = ids[:, enc["input_ids"].shape[1] :]
            out.extend(t.strip() for t in tok.batch_decode(new, skip_special_tokens=True))
        return out
