"""ftune reads what transformers and PEFT write: checkpoints saved by save_pretrained and adapters
saved by PeftModel.save_pretrained. `ftune dump` must give the libraries' logits and loss (1e-4
abs) and gradients (1e-3 relative to the tensor's largest entry), PEFT's gradients computed by torch
autograd on PeftModel.from_pretrained(..., is_trainable=True) and named as PEFT saves the tensors.
The steps are in flows.py (run_read); the cases in cases.py (READ).
"""
import pytest

import flows
from conftest import params, run_step


@pytest.mark.parametrize("kind,step,args", params(lambda step: step is flows.run_read))
def test_read(kind, step, args, ctx, summary):
    run_step(step, ctx, args, summary)
