"""Every call into transformers and PEFT the interop suite makes (and the only module that imports
them): tiny random models built and saved by transformers, adapters built and saved by PEFT, and
the libraries' own forward/backward on a batch. Results come back as numpy arrays in the format of
`ftune dump` (logits, loss [1], grad.<name>), so ftio.compare_dumps can compare them.
"""
import numpy as np
import peft
import torch
import transformers
from peft import IA3Config, LoraConfig, PeftModel, PromptTuningConfig, get_peft_model

import ftio
import torchside

torch.set_num_threads(min(8, torch.get_num_threads()))

# HF config fields of the tiny models (the shapes of tests/ref/make_tiny.py); dropout 0.
_LLAMA = dict(vocab_size=ftio.VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
              num_attention_heads=4, num_key_value_heads=2, hidden_act="silu", max_position_embeddings=64,
              rms_norm_eps=1e-5, rope_theta=10000.0, attention_dropout=0.0, tie_word_embeddings=False,
              bos_token_id=1, eos_token_id=2, pad_token_id=0)
CONFIGS = {
    "gpt2": dict(vocab_size=ftio.VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=24, n_inner=None,
                 activation_function="gelu_new", layer_norm_epsilon=1e-5, resid_pdrop=0.0, embd_pdrop=0.0,
                 attn_pdrop=0.0, bos_token_id=0, eos_token_id=0),
    "llama": dict(_LLAMA, attention_bias=False, mlp_bias=False),
    "qwen2": dict(_LLAMA, num_key_value_heads=1, tie_word_embeddings=True, rope_theta=1000000.0,
                  rms_norm_eps=1e-6, use_sliding_window=False, sliding_window=None, max_window_layers=2),
    "mistral": dict(_LLAMA, num_hidden_layers=3, sliding_window=None),
}
CLASSES = {  # config class, causal LM class, sequence classification class
    "gpt2": ("GPT2Config", "GPT2LMHeadModel", "GPT2ForSequenceClassification"),
    "llama": ("LlamaConfig", "LlamaForCausalLM", "LlamaForSequenceClassification"),
    "qwen2": ("Qwen2Config", "Qwen2ForCausalLM", "Qwen2ForSequenceClassification"),
    "mistral": ("MistralConfig", "MistralForCausalLM", "MistralForSequenceClassification"),
}
N_LABELS = 3


def versions():
    out = {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__}
    for mod in ("safetensors", "tokenizers"):
        try:
            out[mod] = __import__(mod).__version__
        except Exception as e:  # noqa: BLE001 (only reported)
            out[mod] = f"not importable ({type(e).__name__})"
    return out


def _dtype_kw():
    # transformers 5 renamed from_pretrained's torch_dtype to dtype
    return "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"


def build_base(kind, out_dir, seed, task="causal_lm", dtype="f32"):
    """A tiny random model built by transformers' own class, saved with save_pretrained (dtype bf16:
    the weights stored as BF16; every reference loads them back as float32)."""
    names = CLASSES[kind]
    fields = dict(CONFIGS[kind])
    if task == "cls":
        fields.update(num_labels=N_LABELS, pad_token_id=0)
    cfg = getattr(transformers, names[0])(**fields)
    torch.manual_seed(seed)
    model = getattr(transformers, names[2 if task == "cls" else 1])(cfg)
    torchside.randomize_base_(model, seed)
    if dtype == "bf16":
        model = model.to(torch.bfloat16)
    model.save_pretrained(out_dir)
    return out_dir


def load_model(model_dir, task="causal_lm"):
    """from_pretrained in float32 with eager attention. task "cls": *ForSequenceClassification (a
    causal-LM checkpoint gets a fresh score head, which a SEQ_CLS adapter then replaces)."""
    kw = {_dtype_kw(): torch.float32, "attn_implementation": "eager"}
    if task == "cls":
        auto = transformers.AutoModelForSequenceClassification
        cfg = transformers.AutoConfig.from_pretrained(model_dir)
        if not getattr(cfg, "id2label", None) or len(cfg.id2label) != N_LABELS:
            kw["num_labels"] = N_LABELS
        if getattr(cfg, "pad_token_id", None) is None:
            kw["pad_token_id"] = 0
        return auto.from_pretrained(model_dir, **kw)
    return transformers.AutoModelForCausalLM.from_pretrained(model_dir, **kw)


def _peft_config(spec, task):
    kw = {k: v for k, v in spec.items() if k not in ("method", "save_embedding_layers")}
    kw["task_type"] = "SEQ_CLS" if task == "cls" else "CAUSAL_LM"
    method = spec["method"]
    if method == "lora":
        kw.setdefault("lora_dropout", 0.0)
        return LoraConfig(**kw)
    if method == "ia3":
        return IA3Config(**kw)
    if method == "prompt":
        return PromptTuningConfig(**kw)
    raise ValueError(f"unknown method {method}")


def make_adapter(base_dir, spec, seed, out_dir, task="causal_lm"):
    """get_peft_model + randomized adapter tensors + save_pretrained (PEFT's own files)."""
    pm = get_peft_model(load_model(base_dir, task), _peft_config(spec, task))
    torchside.randomize_adapter_(pm, seed)
    kw = {}
    if "save_embedding_layers" in spec:
        kw["save_embedding_layers"] = spec["save_embedding_layers"]
    pm.save_pretrained(out_dir, **kw)
    return out_dir


def reference(model_dir, batch, adapter_dir=None, task="causal_lm", grads=True):
    """The libraries' forward + backward, as `ftune dump` would write it: the model loaded with
    from_pretrained (and the adapter with PeftModel.from_pretrained, is_trainable=True); grads of
    every parameter (no adapter) or of the adapter's trainable tensors under the names PEFT saves
    them with (checked against the adapter file)."""
    model = load_model(model_dir, task)
    if adapter_dir:
        model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=True)
    else:
        for p in model.parameters():
            p.requires_grad_(True)
    model.eval()  # dropout off, as ftune dump
    out = model(**torchside.batch_tensors(batch, task))
    res = {"logits": out.logits.detach().double().numpy(), "loss": np.array([out.loss.item()])}
    if not grads:
        return res
    out.loss.backward()
    res.update(torchside.grads(model, peft_names=bool(adapter_dir)))
    if adapter_dir:
        saved = ftio.load_dump(f"{adapter_dir}/adapter_model.safetensors")
        ftio.check_names([k[5:] for k in res if k.startswith("grad.")], saved, adapter_dir)
    return res


def merged_logits(model_dir, adapter_dir, batch, task="causal_lm"):
    """PEFT's merge: PeftModel.from_pretrained(...).merge_and_unload(), then a forward."""
    model = PeftModel.from_pretrained(load_model(model_dir, task), adapter_dir).merge_and_unload()
    model.eval()
    with torch.no_grad():
        out = model(**torchside.batch_tensors(batch, task))
    return {"logits": out.logits.double().numpy(), "loss": np.array([out.loss.item()])}


def adapter_config(adapter_dir):
    """The config as PEFT reads it back (PeftConfig.from_pretrained), as a plain dict."""
    cfg = peft.PeftConfig.from_pretrained(adapter_dir)
    return cfg.to_dict()


def train_tokenizer(texts, out_dir):
    """A small byte-level BPE tokenizer trained with Hugging Face `tokenizers`; returns the
    library's ids of each text. Raises ImportError without the library."""
    import os

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    os.makedirs(out_dir, exist_ok=True)
    tok.save(os.path.join(out_dir, "tokenizer.json"))
    return [tok.encode(t).ids for t in texts]
