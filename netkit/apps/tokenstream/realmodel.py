"""Real tokens with real timing from a trained LLM on this CPU: SmolLM2-135M-Instruct.

:func:`record` answers a chat prompt with the model (:mod:`netkit.apps.llm.smollm2`,
converted once into the local cache; nothing downloads) through :mod:`.hf`'s
token-by-token generation, which stamps every token when its text is known, from the
moment the request reaches the model (the first gap includes the prompt's prefill).
The result is a :class:`~.tokens.TokenSchedule`; saved with
:func:`~.sources.write_timing_trace` it is a timing trace that the trace source
(``--token-trace``) replays, so a recorded answer can be streamed again bit for bit.
torch runs with one thread by default (the machine is shared; one core is what a
small CPU server would give one request).
"""
from __future__ import annotations

import os
from pathlib import Path

from netkit.apps.tokenstream.sources import write_timing_trace
from netkit.apps.tokenstream.tokens import TokenSchedule

MODEL_SOURCES = ("smollm2-135m",)
DEFAULT_PROMPT = ("Explain to a student why a lost network packet can make a chatbot's answer stall, "
                  "and what a streaming protocol can do about it.")
TEMPERATURE = 0.7


def chat_prompt(tokenizer, question: str) -> str:
    """The model's chat template around one user message, ready for the assistant's answer."""
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)


def record(name: str = "smollm2-135m", max_new_tokens: int = 300, seed: int = 0, prompt: str = DEFAULT_PROMPT,
           threads: int | None = 1) -> TokenSchedule:
    """Generate one answer with the named model on this CPU and return its tokens with their real times.

    Seeded sampling (temperature 0.7, torch generator seeded with ``seed``); stops at the
    end-of-sequence token or after ``max_new_tokens``.
    """
    if name not in MODEL_SOURCES:
        raise ValueError(f"--source: unknown model {name!r}; use one of {', '.join(MODEL_SOURCES)}")
    import torch

    from netkit.apps.llm import smollm2
    from netkit.apps.tokenstream.hf import generate_schedule

    if threads:
        torch.set_num_threads(threads)
    model, tokenizer = smollm2.load()
    text = chat_prompt(tokenizer, prompt)
    return generate_schedule(name, text, max_new_tokens, seed=seed, sample=True, temperature=TEMPERATURE,
                             loaded=(tokenizer, model))


def record_trace(path: str | os.PathLike, name: str = "smollm2-135m", max_new_tokens: int = 300, seed: int = 0,
                 prompt: str = DEFAULT_PROMPT, threads: int | None = 1) -> TokenSchedule:
    """:func:`record`, saved as a timing trace at ``path`` (with the model, seed and prompt in its header)."""
    sched = record(name, max_new_tokens, seed, prompt, threads)
    gaps = [b - a for a, b in zip(sched.offsets_us, sched.offsets_us[1:])]
    rate = len(gaps) / (sum(gaps) / 1e6) if gaps and sum(gaps) else float("nan")
    write_timing_trace(Path(path), sched, comment=(
        f"{name} on this CPU ({threads or 'default'} torch threads), seed {seed}, temperature {TEMPERATURE}, "
        f"max {max_new_tokens} new tokens, load average {os.getloadavg()[0]:.1f}\nprompt: {prompt}\n{len(sched)} tokens, first after "
        f"{sched.offsets_us[0] / 1000:.1f} ms, then {rate:.1f} tokens/s"))
    return sched
