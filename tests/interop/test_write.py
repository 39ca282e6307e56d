"""transformers and PEFT read what ftune writes: a model from `ftune init`, full fine-tuning output,
every adapter kind `ftune train` saves, `ftune merge` output, classifiers, adapters trained further
from a PEFT adapter, and a tokenizer. Each time the library's logits (and gradients, through the
same reference as test_read.py) must equal `ftune dump`'s on the same files, and trained tensors
must have moved far enough that a library ignoring them would fail. The steps are in flows.py
(run_init, run_train, run_merge, run_continue, run_tokenizer); the cases in cases.py.
"""
import pytest

import flows
from conftest import params, run_step


@pytest.mark.parametrize("kind,step,args", params(lambda step: step is not flows.run_read))
def test_write(kind, step, args, ctx, summary):
    run_step(step, ctx, args, summary)
