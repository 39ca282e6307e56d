"""ftune reads what transformers and PEFT write: checkpoints saved by save_pretrained and adapters
saved by PeftModel.save_pretrained. `ftune dump` must give the libraries' logits and loss (1e-4
abs) and gradients (1e-3 relative to the tensor's largest entry), PEFT's gradients computed by torch
autograd on PeftModel.from_pretrained(..., is_trainable=True) and named as PEFT saves the tensors.
"""
import os

import pytest

import cases
import ftio
from conftest import case_dir, case_seed


def _params():
    return [pytest.param(k, c, id=f"{k}-{c.name}", marks=pytest.mark.feature(c.feature))
            for c in cases.READ for k in c.kinds]


def batch_for(task, seed, hf):
    return ftio.cls_batch(seed, hf.N_LABELS) if task == "cls" else ftio.causal_batch(seed)


@pytest.mark.parametrize("kind,case", _params())
def test_read(kind, case, hf, bases, adapters, work, summary):
    name = f"{kind}-{case.name}"
    d = case_dir(work, "read-" + name)
    base = bases.get(kind, case.task, case.dtype)
    adir = adapters.get(kind, case) if case.spec else None
    batch = batch_for(case.task, case_seed(name), hf)
    ref = hf.reference(base, batch, adir, case.task)
    ftio.save_dump(os.path.join(d, "library.safetensors"), ref)
    got = ftio.ftune_dump(base, batch, d, adir)
    ok, report, summ = ftio.compare_dumps(got, ref)
    summary.update(summ)
    assert ok, f"ftune dump vs {'PEFT' if adir else 'transformers'} (A = ftune, B = library):\n{report}"
    assert summ["n_grads"] > 0, "no gradient was compared"
