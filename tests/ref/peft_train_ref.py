#!/usr/bin/python3
"""Continue training a PEFT adapter in PyTorch: the reference for `ftune train --adapter ADIR`.

What PEFT's `PeftModel.from_pretrained(base, ADIR, is_trainable=True)` followed by a plain training
loop does: the adapter's tensors (adapter_model.safetensors) are the starting point and the only
thing that trains; the base is frozen. Forward and backward are tests/ref/peft_ref.py's PEFT math over
tests/ref/hf_ref.py's models (float64). Each step takes every example of the pre-tokenized JSONL file
as one batch (rows of equal length: no padding, so the order of the rows does not matter), the loss is
the mean next-token cross-entropy, gradients are clipped as torch.nn.utils.clip_grad_norm_ does
(--clip 0: off), then one torch.optim.AdamW step at a constant learning rate. Weight decay applies to
tensors of two or more dimensions only (ftune's rule, docs/training.md). Writes the trained tensors
under the adapter file's names (float32) to --out.

--classification: sequence classification as transformers' GPT2/LlamaForSequenceClassification with the
head in the adapter (modules_to_save ["score"], tensor base_model.model.score.weight [K, hidden], no
bias): logits = final hidden state of the last token (rows are unpadded) times score^T, loss = mean
cross-entropy against each row's "label" (class ids 0..K-1); the head trains with the adapter.

Usage: peft_train_ref.py --model DIR --adapter ADIR --data train.jsonl --steps N --lr X
                         [--weight-decay X] [--beta1 X] [--beta2 X] [--eps X] [--clip X] --out OUT.safetensors
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_ref  # noqa: E402
import peft_ref  # noqa: E402
import st  # noqa: E402


HEAD = peft_ref.PREFIX + "score.weight"


def load_rows(path):
    rows, classes = [], []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            o = json.loads(line)
            ids = o["input_ids"]
            if rows and len(ids) != len(rows[0]):
                raise peft_ref.RefError(f"{path}:{n}: rows must have equal lengths (no padding in this reference)")
            rows.append(ids)
            classes.append(o.get("label", -1))
    if not rows:
        raise peft_ref.RefError(f"{path}: no rows")
    return torch.tensor(rows, dtype=torch.long), torch.tensor(classes, dtype=torch.long)


def prepare(a):
    """peft_ref.prepare, with the classification head taken out of the adapter (peft_ref has no heads)."""
    cfg, tensors = hf_ref.load_checkpoint(a.model)
    c = hf_ref.model_config(cfg)
    arrays, _names = hf_ref.bind_params(c, tensors, a.model)
    acfg, atensors = peft_ref.load_adapter(a.adapter)
    head = None
    if a.classification:
        if HEAD not in atensors or acfg.get("modules_to_save") != ["score"]:
            raise peft_ref.RefError(f"{a.adapter}: --classification needs {HEAD} and modules_to_save [\"score\"]")
        head = atensors.pop(HEAD)
        acfg = dict(acfg, modules_to_save=None)
    plan = peft_ref.plan_adapter(acfg, atensors, c, arrays, a.adapter)
    return c, arrays, atensors, plan, head


def cls_forward(c, arrays, plan, current, ids, mask, y):
    """Class logits of the last token: the model's head replaced by score (untied) gives [B, T, K]."""
    A = {k: torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for k, v in current.items()}
    P = {k: torch.tensor(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}
    for canon, k in plan.biases.items():
        P[canon] = A[k]
    P["lm_head.weight"] = A[HEAD]
    c2 = dict(c, tie=False)
    fwd = hf_ref.gpt2_logits if c["arch"] == "gpt2" else hf_ref.llama_logits
    logits = fwd(P, c2, ids, mask, peft_ref.PeftHooks(plan, A))
    return None, torch.nn.functional.cross_entropy(logits[:, -1, :], y), A


def train(a):
    c, arrays, atensors, plan, head = prepare(a)
    ids, y = load_rows(a.data)
    mask = torch.ones_like(ids)
    labels = ids.clone()
    if head is not None:
        atensors[HEAD] = head
        if int(y.min()) < 0 or sorted(set(y.tolist())) != list(range(head.shape[0])):
            raise peft_ref.RefError(f"{a.data}: every row needs a label, the classes 0..{head.shape[0] - 1} all present")
    names = sorted(atensors)
    params = {k: torch.nn.Parameter(torch.tensor(np.asarray(atensors[k], dtype=np.float64))) for k in names}
    decay = [params[k] for k in names if params[k].dim() >= 2]
    no_decay = [params[k] for k in names if params[k].dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": a.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    losses = []
    for _ in range(a.steps):
        current = {k: params[k].detach().numpy() for k in names}
        if head is not None:
            _logits, loss, leaves = cls_forward(c, arrays, plan, current, ids, mask, y)
        else:
            _logits, loss, leaves = peft_ref.forward(c, arrays, plan, current, ids, mask, labels)
        loss.backward()
        for k in names:
            params[k].grad = leaves[k].grad.detach().clone()
        if a.clip > 0:
            torch.nn.utils.clip_grad_norm_([params[k] for k in names], a.clip)
        opt.step()
        opt.zero_grad()
        losses.append(float(loss))
    out = {k: params[k].detach().numpy().astype(np.float32) for k in names}
    return out, losses


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--adapter", required=True)
    ap.add_argument("--data", required=True, help="pre-tokenized JSONL, rows of equal length")
    ap.add_argument("--steps", type=int, required=True)
    ap.add_argument("--lr", type=float, required=True)
    ap.add_argument("--weight-decay", type=float, default=0.0)
    ap.add_argument("--beta1", type=float, default=0.9)
    ap.add_argument("--beta2", type=float, default=0.999)
    ap.add_argument("--eps", type=float, default=1e-8)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--classification", action="store_true", help="train the adapter's score head on 'label'")
    ap.add_argument("--out", required=True)
    a = ap.parse_args(argv)
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        out, losses = train(a)
        st.save(a.out, out, metadata={"format": "pt", "producer": "tests/ref/peft_train_ref.py"})
    except (peft_ref.RefError, st.SafetensorsError, OSError, KeyError, ValueError) as e:
        print(f"peft_train_ref: error: {e}", file=sys.stderr)
        return 1
    print("losses " + " ".join(f"{v:.6f}" for v in losses))
    return 0


if __name__ == "__main__":
    sys.exit(main())
