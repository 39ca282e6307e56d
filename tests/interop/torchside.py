"""The torch-only parts of the interop suite's references (no transformers/PEFT import, so
selfcheck.py can test them with Debian's torch): weight randomization, batch tensors, gradients
under their saved names.
"""
import numpy as np
import torch

import ftio


def randomize_base_(model, seed):
    """Weights larger than a real init (as make_tiny.py) so attention is peaked and every
    nonlinearity matters: biases N(0, .2²), norm gains 1 + N(0, .2²), embeddings N(0, .4²), other
    matrices N(0, (1.5/√fan_in)²) (GPT-2's Conv1D is [in, out], nn.Linear [out, in])."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            mod_name, _, leaf = name.rpartition(".")
            mod = model.get_submodule(mod_name)
            r = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if leaf == "bias":
                v = 0.2 * r
            elif p.dim() == 1:
                v = 1.0 + 0.2 * r
            elif isinstance(mod, torch.nn.Embedding):
                v = (0.3 if name.endswith("wpe.weight") else 0.4) * r
            else:
                fan_in = p.shape[0] if type(mod).__name__ == "Conv1D" else p.shape[1]
                v = 1.5 / np.sqrt(fan_in) * r
            p.copy_(v.to(p.dtype))


def randomize_adapter_(pm, seed):
    """Non-trivial adapter values (PEFT starts LoRA at B = 0, IA3 at 1: the identity)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if not p.requires_grad:
                continue
            r = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
            if "lora_magnitude_vector" in name:
                p.mul_(1.0 + 0.2 * r)
            elif "ia3_l" in name:
                p.copy_(1.0 + 0.3 * r)
            elif name.endswith("bias"):
                p.add_(0.1 * r)
            elif "prompt_encoder" in name:
                p.copy_(0.5 * r)
            else:  # lora_A/B, lora_embedding_A/B, modules_to_save heads
                p.copy_(0.3 * r)


def batch_tensors(batch, task):
    ids = torch.tensor(batch["input_ids"], dtype=torch.long)
    kw = {"input_ids": ids}
    if "attention_mask" in batch:
        kw["attention_mask"] = torch.tensor(batch["attention_mask"], dtype=torch.long)
    if task == "cls":
        kw["labels"] = torch.tensor(batch["cls_labels"], dtype=torch.long)
    else:
        kw["labels"] = torch.tensor(batch.get("labels", batch["input_ids"]), dtype=torch.long)
    return kw


def grads(model, peft_names=False):
    """{"grad.<name>": float64 array} for every parameter that requires grad (zeros when unused),
    under PEFT's saved names when peft_names."""
    out = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        key = ftio.peft_saved_name(name) if peft_names else name
        g = p.grad if p.grad is not None else torch.zeros_like(p)
        out["grad." + key] = g.detach().double().numpy()
    return out
