"""Model FLOPs utilisation: 6·N per token plus the attention term over packed documents, against a peak table."""

from __future__ import annotations

# Dense bf16 peak FLOP/s per GPU (vendor figures, no sparsity).
PEAK_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12}


def peak_flops() -> float | None:
    """Peak of the local GPU, or None (CPU or an unknown card: MFU is then omitted)."""
    import torch

    if not torch.cuda.is_available():
        return None
    name = torch.cuda.get_device_name()
    for key, val in PEAK_FLOPS.items():
        if key in name:
            return val
    return None


def non_embedding_params(model) -> int:
    emb = model.get_input_embeddings().weight
    return sum(p.numel() for p in model.parameters() if p is not emb)


def train_flops(n_params: int, n_layers: int, hidden: int, tokens: int, sum_sq_doc_len: int) -> float:
    """Training FLOPs (forward + backward) of a batch: 6·N·tokens + 12·L·d·Σ doc_len² / 2 (PaLM's attention
    term, halved for causal masking; summed per document because attention is confined to it)."""
    return 6.0 * n_params * tokens + 6.0 * n_layers * hidden * sum_sq_doc_len
