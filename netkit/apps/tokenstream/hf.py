"""Real tokens with real timing from a local Hugging Face `transformers` causal LM.

The model and its tokenizer are loaded from a folder (nothing is downloaded:
HF_HUB_OFFLINE is set before transformers is imported). Generation runs token by
token with the KV cache; each token is time-stamped when its text is known, from
the moment the request is handed to the model (so the first gap includes prefill).
Token text is decoded incrementally, the way chat servers stream it: a token whose
bytes do not yet complete a character carries no text and the character arrives
with a later token.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Iterator

from netkit.apps.tokenstream.tokens import MAX_TOKEN_BYTES, TokenSchedule

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _load(model_path: str | os.PathLike):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = Path(model_path)
    if not path.is_dir():
        raise ValueError(f"--model {path}: not a folder with a transformers model")
    torch.set_grad_enabled(False)
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True).eval()
    return tokenizer, model


def iter_tokens(model_path: str | os.PathLike, prompt: str, max_new_tokens: int = 200, seed: int = 0,
                sample: bool = True, temperature: float = 1.0, loaded: tuple | None = None,
                ) -> Iterator[tuple[int, bytes]]:
    """Generate and yield (µs since the request, token text bytes) as each token is produced.

    Sampling draws from a torch.Generator seeded with `seed`; `sample=False` is greedy.
    Stops at the tokenizer's end-of-sequence token or after `max_new_tokens`.
    `loaded`: an already loaded `(tokenizer, model)` to use instead of loading `model_path`.
    """
    import torch

    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
    tokenizer, model = loaded or _load(model_path)
    gen = torch.Generator().manual_seed(seed)
    eos = tokenizer.eos_token_id
    t0 = time.perf_counter_ns()
    ids = tokenizer(prompt, return_tensors="pt").input_ids
    if ids.shape[1] == 0:
        ids = torch.tensor([[eos if eos is not None else 0]])
    out = model(input_ids=ids, use_cache=True)
    past = out.past_key_values
    logits = out.logits[0, -1]
    generated: list[int] = []
    shown = ""
    for _ in range(max_new_tokens):
        if sample:
            probs = torch.softmax(logits.float() / max(temperature, 1e-6), dim=-1)
            nxt = int(torch.multinomial(probs, 1, generator=gen))
        else:
            nxt = int(torch.argmax(logits))
        if eos is not None and nxt == eos:
            break
        generated.append(nxt)
        text = tokenizer.decode(generated, skip_special_tokens=True)
        new = ""
        if not text.endswith("\ufffd"):  # an incomplete UTF-8 sequence waits for its next byte
            common = os.path.commonprefix([shown, text])
            new = text[len(common):] if len(common) == len(shown) else text[len(shown):]
            shown = text
        t_us = (time.perf_counter_ns() - t0) // 1000
        data = new.encode("utf-8")
        if len(data) <= MAX_TOKEN_BYTES:
            yield t_us, data
        else:  # a token longer than its length field allows goes out as several, at the same time
            for i in range(0, len(data), MAX_TOKEN_BYTES):
                yield t_us, data[i:i + MAX_TOKEN_BYTES]
        out = model(input_ids=torch.tensor([[nxt]]), past_key_values=past, use_cache=True)
        past = out.past_key_values
        logits = out.logits[0, -1]


def generate_schedule(model_path: str | os.PathLike, prompt: str, max_new_tokens: int = 200, seed: int = 0,
                      sample: bool = True, temperature: float = 1.0, loaded: tuple | None = None) -> TokenSchedule:
    """Run the model once and keep every token with its generation time (`loaded`: see `iter_tokens`)."""
    times, toks = [], []
    for t, tok in iter_tokens(model_path, prompt, max_new_tokens, seed, sample, temperature, loaded):
        times.append(t)
        toks.append(tok)
    if not toks:
        raise ValueError(f"{model_path}: the model produced no tokens (end of sequence right away)")
    return TokenSchedule(tuple(times), tuple(toks))


_CORPUS = (
    "The server streams each token to the user right after the model generates it.",
    "A lost packet blocks every later token until the retransmission arrives.",
    "Eloquent puts new tokens and unacknowledged tokens in the next packet.",
    "Packet duplication sends each packet twice and doubles the bytes on the wire.",
    "The chatbot renders the answer word by word while the network delivers it.",
    "Cellular links lose packets in bursts when the signal fades while driving.",
)


def build_tiny_model(path: str | os.PathLike, seed: int = 0, vocab: int = 320) -> Path:
    """Save a tiny randomly initialised GPT-2 and a byte-level BPE tokenizer trained on a built-in corpus.

    For tests and demos without downloads: its text is gibberish, its timing is real.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(list(_CORPUS) * 4, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>")
    fast.save_pretrained(path)
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=tok.get_vocab_size(), n_positions=1024, n_embd=64, n_layer=2, n_head=2,
                        bos_token_id=fast.eos_token_id, eos_token_id=fast.eos_token_id)
    GPT2LMHeadModel(config).eval().save_pretrained(path)
    return path
