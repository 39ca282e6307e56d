#!/usr/bin/python3
"""Independent PyTorch reference for ftune's encoder parity test (tests/enc_parity.sh).

Re-implements, from reading Hugging Face transformers (modeling_bert.py, modeling_roberta.py,
modeling_distilbert.py) and PEFT (tuners/lora, tuners/ia3), the math of BertForSequenceClassification,
RobertaForSequenceClassification / XLMRobertaForSequenceClassification and
DistilBertForSequenceClassification, and Bert/Roberta/DistilBertForTokenClassification (a Linear `classifier`
on every final hidden state, cross-entropy over the labels != -100, mean over them), as plain functions of the
checkpoint's tensors, with LoRA, IA3 or BitFit on top, runs one forward + backward in float64 (no dropout) and writes what `ftune dump` writes:
logits [B, num_labels], loss [1], grad.<name> for every trained tensor (HF names for full fine-tuning,
the adapter file's names with --adapter).

Subcommands (one Python process each, every case of the test in it):
  configs --work W      partial config.json files W/cfg-<kind>.json for `ftune init`
  prepare --work W      after `ftune init` wrote W/<kind>/: perturbs the checkpoints' biases and norms (same
                        names, order and dtype, so the layout stays ftune's), writes the batches, the PEFT
                        adapters, a legacy-named BERT copy, the reference dumps and W/cases.tsv
                        (name, model dir, adapter dir or -, batch)
  compare --work W      compares W/<case>.ftune.safetensors with W/<case>.ref.safetensors (compare.py's rule),
                        and for LoRA / IA3 the logits of W/<case>.merged.safetensors (`ftune merge`, then dump)
"""
import argparse
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare as cmp  # noqa: E402
import st  # noqa: E402

PREFIX = "base_model.model."
SMALL = {"vocab_size": 67, "max_position_embeddings": 24, "initializer_range": 0.2}
KINDS = {
    # kind: (ftune --arch, config fields)
    "bert": ("bert", dict(SMALL, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                          num_labels=3)),
    "bert_reg": ("bert", dict(SMALL, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                              intermediate_size=24, problem_type="regression")),
    "roberta": ("roberta", dict(SMALL, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                intermediate_size=40, num_labels=2)),
    "xlmr": ("xlm-roberta", dict(SMALL, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=32, type_vocab_size=2, num_labels=3)),
    "distilbert": ("distilbert", dict(SMALL, dim=32, n_layers=2, n_heads=4, hidden_dim=48, num_labels=3)),
    # token classifiers (ftune init makes the token head from "architectures")
    "bert_tok": ("bert", dict(SMALL, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                              intermediate_size=24, num_labels=5, architectures=["BertForTokenClassification"])),
    "roberta_tok": ("roberta", dict(SMALL, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                    intermediate_size=24, num_labels=4,
                                    architectures=["RobertaForTokenClassification"])),
    "distilbert_tok": ("distilbert", dict(SMALL, dim=16, n_layers=1, n_heads=2, hidden_dim=24, num_labels=5,
                                          architectures=["DistilBertForTokenClassification"])),
}
# case: (kind, method, batch)
CASES = [
    ("bert-full-init", "bert", "full", "pair"),  # the checkpoint exactly as `ftune init` wrote it
    ("bert-full", "bert", "full", "pair"),
    ("bert-legacy-full", "bert", "full", "pair"),  # bare names, gamma/beta, stray position_ids / cls.*
    ("bert-lora", "bert", "lora", "pair"),
    ("bert-ia3", "bert", "ia3", "pair"),
    ("bert-bitfit", "bert", "bitfit", "pair"),
    ("bert-adapter", "bert", "adapter", "pair"),
    ("distilbert-adapter-pfeiffer", "distilbert", "adapter-pfeiffer", "plain"),
    ("bert-prompt", "bert", "prompt", "pair"),
    ("roberta-prompt", "roberta", "prompt", "rob"),
    ("bert_reg-full", "bert_reg", "full", "reg"),
    ("roberta-full", "roberta", "full", "rob"),
    ("roberta-lora", "roberta", "lora", "rob"),
    ("xlmr-full", "xlmr", "full", "robpair"),
    ("distilbert-full", "distilbert", "full", "plain"),
    ("distilbert-lora", "distilbert", "lora", "plain"),
    # question answering (qa_outputs on every token; the checkpoint as HF writes it: no pooler, no classifier)
    ("bert-qa-full", "bert", "full", "qa"),
    ("bert-qa-lora", "bert", "lora", "qa"),
    ("roberta-qa-full", "roberta", "full", "robqa"),
    ("distilbert-qa-full", "distilbert", "full", "plainqa"),
    ("distilbert-qa-lora", "distilbert", "lora", "plainqa"),
    ("bert_tok-full", "bert_tok", "full", "tok"),
    ("bert_tok-lora", "bert_tok", "lora", "tok"),
    ("roberta_tok-full", "roberta_tok", "full", "robtok"),
    ("roberta_tok-lora", "roberta_tok", "lora", "robtok"),
    ("distilbert_tok-full", "distilbert_tok", "full", "tokplain"),
    ("distilbert_tok-lora", "distilbert_tok", "lora", "tokplain"),
    # masked LM (*ForMaskedLM copies of the checkpoints: no classifier, no pooler, a head; mlm_copy)
    ("bert-mlm-full", "bert_mlm", "full", "mlm"),
    ("bert-mlm-legacy-full", "bert_mlm", "full", "mlm"),  # decoder.bias / gamma-beta names, stray NSP head
    ("bert-mlm-lora", "bert_mlm", "lora", "mlm"),
    ("bert-mlm-bitfit", "bert_mlm", "bitfit", "mlm"),
    ("roberta-mlm-full", "roberta_mlm", "full", "robmlm"),
    ("roberta-mlm-lora", "roberta_mlm", "lora", "robmlm"),
    ("distilbert-mlm-full", "distilbert_mlm", "full", "plainmlm"),
    ("distilbert-mlm-lora", "distilbert_mlm", "lora", "plainmlm"),
]
QA_ARCH = {"bert": "BertForQuestionAnswering", "roberta": "RobertaForQuestionAnswering",
           "distilbert": "DistilBertForQuestionAnswering"}
# the masked-LM head of each variant: transform dense, its LayerNorm, the decoder's bias (weight: tied)
MLM_HEAD = {"bert": ("cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias"),
            "roberta": ("lm_head.dense", "lm_head.layer_norm", "lm_head.bias"),
            "distilbert": ("vocab_transform", "vocab_layer_norm", "vocab_projector.bias")}


class RefError(Exception):
    pass


# ---------------------------------------------------------------- model description

def is_token_cls(cfg):
    return (cfg.get("architectures") or [""])[0].endswith("ForTokenClassification")


def describe(cfg):
    """Sizes, names and variant of an encoder config.json."""
    d = _describe(cfg)
    d["tok"] = is_token_cls(cfg)
    return d


def _describe(cfg):
    mt = cfg["model_type"]
    if mt == "distilbert":
        return dict(kind="distilbert", P="distilbert", L="distilbert.transformer.layer", d=cfg["dim"],
                    n_layers=cfg["n_layers"], H=cfg["n_heads"], I=cfg["hidden_dim"], eps=1e-12,
                    pad=cfg.get("pad_token_id", 0), types=0,
                    names=["attention.q_lin", "attention.k_lin", "attention.v_lin", "attention.out_lin",
                           "sa_layer_norm", "ffn.lin1", "ffn.lin2", "output_layer_norm"])
    if mt not in ("bert", "roberta", "xlm-roberta"):
        raise RefError(f"model_type {mt} is not an encoder")
    P = "bert" if mt == "bert" else "roberta"
    return dict(kind="bert" if mt == "bert" else "roberta", P=P, L=f"{P}.encoder.layer", d=cfg["hidden_size"],
                n_layers=cfg["num_hidden_layers"], H=cfg["num_attention_heads"], I=cfg["intermediate_size"],
                eps=cfg.get("layer_norm_eps", 1e-12), pad=cfg.get("pad_token_id", 0 if mt == "bert" else 1),
                types=cfg.get("type_vocab_size", 2),
                names=["attention.self.query", "attention.self.key", "attention.self.value",
                       "attention.output.dense", "attention.output.LayerNorm", "intermediate.dense", "output.dense",
                       "output.LayerNorm"])


def adapter_places(c):
    """Where ftune's bottleneck adapters sit in a block: after the attention output, after the FFN output."""
    return ("attention", "ffn") if c["kind"] == "distilbert" else ("attention.output", "output")


def linear_modules(c):
    return [f"{c['L']}.{i}.{c['names'][k]}" for i in range(c["n_layers"]) for k in (0, 1, 2, 3, 5, 6)]


def head_modules(c, tensors=None):
    if tensors is not None and "qa_outputs.weight" in tensors:
        return ["qa_outputs"]
    if c["tok"]:  # *ForTokenClassification: one Linear in every variant
        return ["classifier"]
    if c["kind"] == "roberta":
        return ["classifier.dense", "classifier.out_proj"]
    return (["pre_classifier"] if c["kind"] == "distilbert" else []) + ["classifier"]


def _suffix(key, targets):
    """PEFT's list rule: the module name equals a target or ends with '.' + target."""
    return any(key == t or key.endswith("." + t) for t in targets)


# ---------------------------------------------------------------- the math (HF, written from its description)

class Net:
    """Parameters P (canonical HF names -> float64 tensors) plus optional LoRA / IA3 hooks."""

    def __init__(self, cfg, P):
        self.cfg, self.c, self.P = cfg, describe(cfg), P
        self.lora = {}  # module -> (A, B, scale)
        self.ia3 = {}   # module -> (vector, is_ff)
        self.adapters = {}  # "<layer>.<where>" -> {"down.weight": t, ...} (ftune's bottleneck adapters)
        self.prompt = None  # prompt tuning: [n_virtual, d]
        self.dora = {}  # DoRA magnitudes: not modelled for the encoders (refused in logits())
        self.adapter_act = "relu"
        self.mlm = MLM_HEAD[self.c["kind"]][2] in P  # a *ForMaskedLM checkpoint

    def linear(self, x, mod):
        W, b = self.P[mod + ".weight"], self.P[mod + ".bias"]
        if mod in self.ia3 and self.ia3[mod][1]:  # feed-forward: scale the input
            y = (x * self.ia3[mod][0].flatten()) @ W.T + b
        else:
            y = x @ W.T + b
        if mod in self.ia3 and not self.ia3[mod][1]:  # otherwise the output, bias included
            y = y * self.ia3[mod][0].flatten()
        if mod in self.lora:
            A, B, s = self.lora[mod]
            y = y + s * ((x @ A.T) @ B.T)
        return y

    def adapter(self, o, where):
        """Bottleneck adapter on a branch output (before its dropout): o + up(act(down(o)))."""
        a = self.adapters.get(where)
        if a is None:
            return o
        z = o @ a["down.weight"].T + a["down.bias"]
        h = {"relu": torch.relu, "gelu": F.gelu, "silu": F.silu}[self.adapter_act](z)
        return o + h @ a["up.weight"].T + a["up.bias"]

    def ln(self, x, name):
        return F.layer_norm(x, (x.shape[-1],), self.P[name + ".weight"], self.P[name + ".bias"], self.c["eps"])

    def logits(self, ids, mask, types):
        if self.dora:
            raise RefError("DoRA is not modelled by the encoder reference")
        c, P = self.c, self.P
        Bn, T = ids.shape
        E = c["P"] + ".embeddings"
        pad = c["pad"]
        x = F.embedding(ids, P[E + ".word_embeddings.weight"], padding_idx=pad)
        pos_pad = pad if c["kind"] == "roberta" else None
        if self.prompt is not None:  # PEFT: inputs_embeds = [prompt; words], mask 1 and type 0 in front
            nv = self.prompt.shape[0]
            x = torch.cat([self.prompt.unsqueeze(0).expand(Bn, nv, -1), x], dim=1)
            mask = torch.cat([torch.ones(Bn, nv, dtype=mask.dtype), mask], dim=1)
            types = torch.cat([torch.zeros(Bn, nv, dtype=types.dtype), types], dim=1)
            T += nv
            # from inputs_embeds: positions 0..T-1, RoBERTa's pad+1..pad+T whatever the padding
            pos = torch.arange(T).unsqueeze(0).expand(Bn, T) + (pad + 1 if c["kind"] == "roberta" else 0)
        elif c["kind"] == "roberta":  # positions count the non-pad ids, starting past padding_idx
            keep = (ids != pad).long()
            pos = torch.cumsum(keep, dim=1) * keep + pad
        else:
            pos = torch.arange(T).unsqueeze(0).expand(Bn, T)
        x = x + F.embedding(pos, P[E + ".position_embeddings.weight"], padding_idx=pos_pad)
        if c["types"]:
            x = x + F.embedding(types, P[E + ".token_type_embeddings.weight"])
        x = self.ln(x, E + ".LayerNorm")
        H, d = c["H"], c["d"]
        D = d // H
        add = (1.0 - mask.to(x.dtype))[:, None, None, :] * torch.finfo(x.dtype).min
        n = c["names"]
        for i in range(c["n_layers"]):
            pre = f"{c['L']}.{i}."

            def heads(t):
                return t.view(Bn, T, H, D).transpose(1, 2)

            q, k, v = (heads(self.linear(x, pre + n[j])) for j in range(3))
            att = torch.softmax(q @ k.transpose(-1, -2) / (D ** 0.5) + add, dim=-1)
            ctx = (att @ v).transpose(1, 2).reshape(Bn, T, d)
            where = adapter_places(c)
            h = self.ln(self.adapter(self.linear(ctx, pre + n[3]), pre + where[0]) + x, pre + n[4])
            f = F.gelu(self.linear(h, pre + n[5]))  # exact erf GELU
            x = self.ln(self.adapter(self.linear(f, pre + n[6]), pre + where[1]) + h, pre + n[7])
        if self.mlm:
            return self.mlm_logits(x)
        if "qa_outputs.weight" in P:  # *ForQuestionAnswering: (dropout,) qa_outputs on every token -> [B, T, 2]
            return self.linear(x, "qa_outputs")
        if c["tok"]:  # every token: dropout, classifier
            return self.linear(x, "classifier")
        h0 = x[:, 0]
        if c["kind"] == "bert":  # pooler, dropout, classifier
            return self.linear(torch.tanh(self.linear(h0, "bert.pooler.dense")), "classifier")
        if c["kind"] == "roberta":  # dropout, dense, tanh, dropout, out_proj
            return self.linear(torch.tanh(self.linear(h0, "classifier.dense")), "classifier.out_proj")
        return self.linear(torch.relu(self.linear(h0, "pre_classifier")), "classifier")  # DistilBERT

    def mlm_logits(self, x):
        """BertOnlyMLMHead / RobertaLMHead / DistilBERT's vocab_*: LN(act(dense(x))) E^T + bias, no dropout; the
        act is hidden_act for BERT, `activation` for DistilBERT and always erf GELU in RobertaLMHead."""
        dense, norm, bias = MLM_HEAD[self.c["kind"]]
        act = self.cfg.get("activation" if self.c["kind"] == "distilbert" else "hidden_act", "gelu")
        if self.c["kind"] == "roberta" or act == "gelu":
            h = F.gelu(self.linear(x, dense))
        else:
            raise RefError(f"activation {act} is not in the reference")
        E = self.P[self.c["P"] + ".embeddings.word_embeddings.weight"]
        return self.ln(h, norm) @ E.T + self.P[bias]

    def loss(self, logits, batch):
        if self.mlm:  # mean CE over the labelled positions, labels not shifted
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1),
                                   ignore_index=-100)
        if "start_positions" in batch:  # QA: positions clamped to [0, T], T ignored; the mean of both CEs
            T = logits.shape[1]
            sp, ep = batch["start_positions"].clamp(0, T), batch["end_positions"].clamp(0, T)
            return (F.cross_entropy(logits[..., 0], sp, ignore_index=T) +
                    F.cross_entropy(logits[..., 1], ep, ignore_index=T)) / 2
        if self.c["tok"]:
            K = logits.shape[-1]
            return F.cross_entropy(logits.reshape(-1, K), batch["labels"].reshape(-1), ignore_index=-100)
        if self.cfg.get("problem_type") == "regression":
            return F.mse_loss(logits.squeeze(-1), batch["targets"])
        return F.cross_entropy(logits, batch["cls_labels"], ignore_index=-100)


def load_model(mdir):
    with open(os.path.join(mdir, "config.json")) as f:
        cfg = json.load(f)
    tensors, _ = st.load(os.path.join(mdir, "model.safetensors"), upcast=True)
    return cfg, tensors


def load_batch(path):
    with open(path) as f:
        b = json.load(f)
    out = {"input_ids": torch.tensor(b["input_ids"]), "attention_mask": torch.tensor(b["attention_mask"])}
    out["token_type_ids"] = torch.tensor(b["token_type_ids"]) if "token_type_ids" in b else \
        torch.zeros_like(out["input_ids"])
    if "cls_labels" in b:
        out["cls_labels"] = torch.tensor(b["cls_labels"])
    if "labels" in b:
        out["labels"] = torch.tensor(b["labels"])
    if "targets" in b:
        out["targets"] = torch.tensor(b["targets"], dtype=torch.float64)
    for k in ("start_positions", "end_positions"):
        if k in b:
            out[k] = torch.tensor(b[k])
    if "labels" in b:
        out["labels"] = torch.tensor(b["labels"])
    return out


def read_adapter(net, P, adir):
    """The trained leaves by output name: every tensor of P (full fine-tuning, adir None), else the adapter's,
    hooked into net (LoRA pairs, DoRA magnitudes, IA3 vectors, bottleneck adapters, prompt) or replacing P's
    (trained biases, the head; a head the base lacks, modules_to_save `classifier`, is added)."""
    named = {}  # output name -> leaf tensor
    if adir is None:
        for k in P:
            P[k].requires_grad_(True)
            named[k] = P[k]
        return named
    with open(os.path.join(adir, "adapter_config.json")) as f:
        acfg = json.load(f)
    at, _ = st.load(os.path.join(adir, "adapter_model.safetensors"), upcast=True)
    for name, arr in at.items():
        t = torch.tensor(arr, dtype=torch.float64, requires_grad=True)
        named[name] = t
        key = name[len(PREFIX):]
        if key.endswith(".lora_A.weight") or key.endswith(".lora_B.weight"):
            continue
        if name == "prompt_embeddings":
            net.prompt = t
        elif key.endswith(".lora_magnitude_vector"):
            net.dora[key[: -len(".lora_magnitude_vector")]] = t
        elif ".adapter." in key:
            where, leaf = key.split(".adapter.")
            net.adapters.setdefault(where, {})[leaf] = t
        elif key.endswith(".ia3_l"):
            mod = key[: -len(".ia3_l")]
            net.ia3[mod] = (t, _suffix(mod, acfg["feedforward_modules"]))
        elif key in P or key.startswith("classifier."):
            P[key] = t  # a trained bias or head tensor replaces the base's
        else:
            raise RefError(f"{adir}: tensor {name} is not a parameter of the model")
    net.adapter_act = acfg.get("adapter_act", "relu")
    if acfg["peft_type"] == "LORA":
        s = acfg["lora_alpha"] / acfg["r"]
        for name, t in named.items():
            if name.endswith(".lora_A.weight"):
                mod = name[len(PREFIX): -len(".lora_A.weight")]
                net.lora[mod] = (t, named[PREFIX + mod + ".lora_B.weight"], s)
    return named


def reference(mdir, adir, batch_path, out_path):
    """One forward + backward; writes the dump. Trained: everything (no adapter) or the adapter's tensors."""
    cfg, tensors = load_model(mdir)
    P = {k: torch.tensor(v, dtype=torch.float64) for k, v in tensors.items()}
    net = Net(cfg, P)
    named = read_adapter(net, P, adir)
    b = load_batch(batch_path)
    logits = net.logits(b["input_ids"], b["attention_mask"], b["token_type_ids"])
    loss = net.loss(logits, b)
    write_dump(out_path, logits, loss, named)


def write_dump(out_path, logits, loss, named):
    """Backward of loss, then what `ftune dump` writes: logits, loss, grad.<name> of every trained leaf."""
    loss.backward()
    out = {"logits": logits.detach().numpy().astype(np.float32),
           "loss": np.array([loss.item()], dtype=np.float32)}
    for name, t in named.items():
        out["grad." + name] = (t.grad if t.grad is not None else torch.zeros_like(t)).numpy().astype(np.float32)
    st.save(out_path, out)


# ---------------------------------------------------------------- fixtures

def write_configs(work):
    for kind, (_arch, fields) in KINDS.items():
        with open(os.path.join(work, f"cfg-{kind}.json"), "w") as f:
            json.dump(fields, f, indent=2)
    with open(os.path.join(work, "kinds.tsv"), "w") as f:
        for kind, (arch, _fields) in KINDS.items():
            f.write(f"{kind}\t{arch}\n")


def perturb(src, dst, rng):
    """A copy of an ftune init checkpoint with biases, norms and head moved off 0 / 1 (same names and order)."""
    shutil.copytree(src, dst)
    t, meta = st.load(os.path.join(src, "model.safetensors"))
    for k, v in t.items():
        if k.endswith(".bias") or "LayerNorm" in k or "layer_norm" in k:
            t[k] = (v + 0.3 * rng.standard_normal(v.shape)).astype(np.float32)
    st.save(os.path.join(dst, "model.safetensors"), t, metadata=meta)


def legacy(src, dst):
    """Old BERT naming: no 'bert.' prefix, LayerNorm gamma/beta, stray position_ids and cls.predictions."""
    shutil.copytree(src, dst)
    t, meta = st.load(os.path.join(src, "model.safetensors"))
    out = {}
    for k, v in t.items():
        n = k[len("bert."):] if k.startswith("bert.") else k
        n = n.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        out[n] = v
    out["embeddings.position_ids"] = np.arange(24, dtype=np.int64)[None, :]
    out["cls.predictions.bias"] = np.zeros(67, dtype=np.float32)
    out["cls.predictions.transform.dense.weight"] = np.zeros((32, 32), dtype=np.float32)
    st.save(os.path.join(dst, "model.safetensors"), out, metadata=meta)


def mlm_copy(src, dst, kind, rng):
    """A *ForMaskedLM checkpoint from a classifier: its head and BERT's pooler dropped (BertForMaskedLM has
    none), a masked-LM head with values off 0 / 1 added, config.architectures set."""
    shutil.copytree(src, dst)
    t, meta = st.load(os.path.join(src, "model.safetensors"))
    c = describe(json.load(open(os.path.join(src, "config.json"))))
    t = {k: v for k, v in t.items() if not k.startswith(("classifier.", "pre_classifier.", "bert.pooler."))}
    d, V = c["d"], 67
    dense, norm, bias = MLM_HEAD[kind]
    t[dense + ".weight"] = 0.2 * rng.standard_normal((d, d))
    t[dense + ".bias"] = 0.3 * rng.standard_normal(d)
    t[norm + ".weight"] = 1.0 + 0.3 * rng.standard_normal(d)
    t[norm + ".bias"] = 0.3 * rng.standard_normal(d)
    t[bias] = 0.3 * rng.standard_normal(V)
    st.save(os.path.join(dst, "model.safetensors"), {k: np.asarray(v, dtype=np.float32) for k, v in t.items()},
            metadata=meta)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    for k in ("id2label", "label2id", "problem_type", "num_labels"):
        cfg.pop(k, None)
    cfg["architectures"] = [{"bert": "BertForMaskedLM", "roberta": "RobertaForMaskedLM",
                             "distilbert": "DistilBertForMaskedLM"}[kind]]
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def mlm_legacy(src, dst):
    """An old BertForPreTraining file: the decoder bias under cls.predictions.decoder.bias, the decoder weight
    stored (a copy of the embeddings, tied on load), LayerNorm gamma/beta, the NSP head."""
    shutil.copytree(src, dst)
    t, meta = st.load(os.path.join(src, "model.safetensors"))
    out = {}
    for k, v in t.items():
        n = k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias", "LayerNorm.beta")
        out["cls.predictions.decoder.bias" if n == "cls.predictions.bias" else n] = v
    out["cls.predictions.decoder.weight"] = t["bert.embeddings.word_embeddings.weight"]
    out["cls.seq_relationship.weight"] = np.zeros((2, t["bert.embeddings.LayerNorm.weight"].shape[0]), np.float32)
    out["cls.seq_relationship.bias"] = np.zeros(2, np.float32)
    st.save(os.path.join(dst, "model.safetensors"), out, metadata=meta)


def write_batches(work):
    """3 rows, right padding (a row without), token types for pairs, one class label -100 in 'pair'."""
    rows = [[2, 11, 12, 13, 3, 21, 22, 3], [2, 30, 31, 3, 40, 3], [2, 50, 51, 52, 53, 54, 55, 3]]
    types = [[0, 0, 0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 1, 1], [0] * 8]
    T = max(len(r) for r in rows)

    def pad(r, v):
        return r + [v] * (T - len(r))

    def make(name, pad_id, with_types, extra):
        b = {"input_ids": [pad(r, pad_id) for r in rows],
             "attention_mask": [pad([1] * len(r), 0) for r in rows]}
        if with_types:
            b["token_type_ids"] = [pad(t, 0) for t in types]
        b.update(extra)
        with open(os.path.join(work, f"batch-{name}.json"), "w") as f:
            json.dump(b, f)

    make("pair", 0, True, {"cls_labels": [2, -100, 1]})
    make("reg", 0, True, {"targets": [0.5, -1.25, 2.0]})
    make("rob", 1, False, {"cls_labels": [1, 0, 1]})
    make("robpair", 1, True, {"cls_labels": [2, 0, 1]})
    make("plain", 0, False, {"cls_labels": [0, 2, 1]})
    # QA: row 1's start -2 clamps to 0, its end 99 to T = 8 (ignored): 3 start targets, 2 end targets
    qa = {"start_positions": [3, -2, 5], "end_positions": [4, 99, 7]}
    make("qa", 0, True, qa)
    make("robqa", 1, False, qa)
    make("plainqa", 0, False, qa)
    # per-token labels: -100 on specials, pads and some continuation pieces
    tl = [[-100, 4, 0, -100, -100, 3, 1, -100], [-100, 2, 3, -100, 1, -100], [-100, 0, 1, 2, -100, 3, 3, -100]]
    make("tok", 0, True, {"labels": [pad(r, -100) for r in tl]})
    make("tokplain", 0, False, {"labels": [pad(r, -100) for r in tl]})
    make("robtok", 1, False, {"labels": [pad([min(v, 3) for v in r], -100) for r in tl]})
    # masked LM: input_ids already masked (4 stands for [MASK], 60 a random replacement, 31 kept), the labels
    # the original ids there, -100 elsewhere; a label equal to the padding id (the tied table's padding row
    # gets the decoder's gradient only)
    lab = [[-100, 11, -100, -100, -100, 0, -100, -100], [-100, -100, 31, -100, 1, -100], [-100] * 8]
    lab[2][3], lab[2][6] = 52, 55
    masked = [r[:] for r in rows]
    masked[0][1], masked[0][5], masked[1][4], masked[2][3], masked[2][6] = 4, 4, 60, 4, 4

    def make_mlm(name, pad_id, with_types):
        b = {"input_ids": [pad(r, pad_id) for r in masked], "attention_mask": [pad([1] * len(r), 0) for r in rows],
             "labels": [pad(r, -100) for r in lab]}
        if with_types:
            b["token_type_ids"] = [pad(t, 0) for t in types]
        with open(os.path.join(work, f"batch-{name}.json"), "w") as f:
            json.dump(b, f)

    make_mlm("mlm", 0, True)
    make_mlm("robmlm", 1, False)
    make_mlm("plainmlm", 0, False)


_LORA = {"auto_mapping": None, "bias": "none", "exclude_modules": None, "fan_in_fan_out": False,
         "inference_mode": True, "init_lora_weights": True, "layers_pattern": None, "layers_to_transform": None,
         "lora_alpha": 8, "lora_dropout": 0.0, "modules_to_save": ["classifier", "score"], "peft_type": "LORA",
         "r": 4, "rank_pattern": {}, "alpha_pattern": {}, "revision": None, "task_type": "SEQ_CLS",
         "use_dora": False, "use_rslora": False}
_IA3 = {"auto_mapping": None, "fan_in_fan_out": False, "inference_mode": True, "init_ia3_weights": True,
        "modules_to_save": ["classifier", "score"], "peft_type": "IA3", "revision": None, "task_type": "SEQ_CLS"}


def adapter_tensors(out, base, d, k, rng):
    """A bottleneck adapter of size k on width d under base (".../adapter"), off its identity init."""
    out[base + ".down.weight"] = 0.3 * rng.standard_normal((k, d))
    out[base + ".down.bias"] = 0.1 * rng.standard_normal(k)
    out[base + ".up.weight"] = 0.3 * rng.standard_normal((d, k))
    out[base + ".up.bias"] = 0.1 * rng.standard_normal(d)


def save_adapter(adir, conf, out):
    """An adapter directory as PEFT writes it: adapter_config.json (sorted, indent 2) and the float32 tensors."""
    os.makedirs(adir, exist_ok=True)
    with open(os.path.join(adir, "adapter_config.json"), "w") as f:
        json.dump(conf, f, indent=2, sort_keys=True)
    st.save(os.path.join(adir, "adapter_model.safetensors"),
            {k: np.asarray(out[k], dtype=np.float32) for k in sorted(out)}, metadata={"format": "pt"})


def write_adapter(mdir, method, adir, rng):
    """A PEFT-format adapter with non-trivial values (LoRA B != 0, ia3_l != 1, biases and head moved)."""
    cfg, tensors = load_model(mdir)
    c = describe(cfg)
    out = {}
    heads = [k for k in tensors if any(k.startswith(h + ".") for h in head_modules(c, tensors))]
    mlm = MLM_HEAD[c["kind"]][2] in tensors  # PEFT has no masked-LM task type: none, the head in the base
    if method == "lora":
        targets = ["q_lin", "v_lin"] if c["kind"] == "distilbert" else ["query", "value"]
        conf = dict(_LORA, target_modules=targets, base_model_name_or_path=os.path.abspath(mdir),
                    task_type="TOKEN_CLS" if c["tok"] else "SEQ_CLS")
        if "qa_outputs.weight" in tensors:  # PEFT's QUESTION_ANS saves qa_outputs
            conf.update(task_type="QUESTION_ANS", modules_to_save=["qa_outputs"])
        if mlm:
            conf.update(task_type=None, modules_to_save=None)
        for mod in linear_modules(c):
            if not _suffix(mod, targets):
                continue
            fout, fin = tensors[mod + ".weight"].shape
            out[f"{PREFIX}{mod}.lora_A.weight"] = rng.uniform(-1, 1, (4, fin)) * np.sqrt(3.0 / fin)
            out[f"{PREFIX}{mod}.lora_B.weight"] = 0.4 * rng.standard_normal((fout, 4))
    elif method == "ia3":
        targets, ff = ["key", "value", "output.dense"], ["output.dense"]
        conf = dict(_IA3, target_modules=targets, feedforward_modules=ff, base_model_name_or_path=os.path.abspath(mdir))
        for mod in linear_modules(c):
            if _suffix(mod, targets):
                fout, fin = tensors[mod + ".weight"].shape
                shape = (1, fin) if _suffix(mod, ff) else (fout, 1)
                out[f"{PREFIX}{mod}.ia3_l"] = 1.0 + 0.3 * rng.standard_normal(shape)
    elif method.startswith("adapter"):  # ftune's bottleneck adapters (houlsby: both branches; pfeiffer: FFN)
        pfeiffer = method == "adapter-pfeiffer"
        conf = {"adapter_act": "gelu" if pfeiffer else "relu", "adapter_placement": "pfeiffer" if pfeiffer else
                "houlsby", "adapter_size": 6, "base_model_name_or_path": os.path.abspath(mdir),
                "inference_mode": True, "peft_type": "BOTTLENECK_ADAPTER", "revision": None, "task_type": "SEQ_CLS"}
        d = c["d"]
        for i in range(c["n_layers"]):
            for w, where in enumerate(adapter_places(c)):
                if pfeiffer and w == 0:
                    continue
                base = f"{PREFIX}{c['L']}.{i}.{where}.adapter"
                adapter_tensors(out, base, d, 6, rng)
    elif method == "prompt":  # PEFT prompt tuning, 3 virtual tokens
        conf = {"base_model_name_or_path": os.path.abspath(mdir), "inference_mode": True,
                "num_attention_heads": cfg.get("num_attention_heads", cfg.get("n_heads")),
                "num_layers": c["n_layers"], "num_transformer_submodules": 1, "num_virtual_tokens": 3,
                "peft_type": "PROMPT_TUNING", "prompt_tuning_init": "RANDOM", "prompt_tuning_init_text": None,
                "revision": None, "task_type": "SEQ_CLS", "token_dim": c["d"], "tokenizer_name_or_path": None,
                "modules_to_save": ["classifier", "score"]}
        out["prompt_embeddings"] = 0.5 * rng.standard_normal((3, c["d"]))
    else:  # BitFit: every bias of the base model
        conf = {"base_model_name_or_path": os.path.abspath(mdir), "inference_mode": True, "peft_type": "BITFIT",
                "revision": None, "task_type": None if mlm else "SEQ_CLS"}
        for k in tensors:
            if k.endswith(".bias") and k not in heads:
                out[PREFIX + k] = tensors[k] + 0.2 * rng.standard_normal(tensors[k].shape)
    for k in heads:  # modules_to_save: the trained head
        out[PREFIX + k] = tensors[k] + 0.1 * rng.standard_normal(tensors[k].shape)
    save_adapter(adir, conf, out)


def make_qa(src, dst, rng):
    """A *ForQuestionAnswering checkpoint from a classifier: the classification head (and BERT's pooler, which
    HF's QA models do not have) replaced by qa_outputs [2, d] + bias [2]."""
    shutil.copytree(src, dst)
    with open(os.path.join(src, "config.json")) as f:
        cfg = json.load(f)
    c = describe(cfg)
    t, meta = st.load(os.path.join(src, "model.safetensors"))
    drop = head_modules(c) + [c["P"] + ".pooler"]
    t = {k: v for k, v in t.items() if not any(k.startswith(h + ".") for h in drop)}
    t["qa_outputs.weight"] = (0.3 * rng.standard_normal((2, c["d"]))).astype(np.float32)
    t["qa_outputs.bias"] = (0.1 * rng.standard_normal(2)).astype(np.float32)
    st.save(os.path.join(dst, "model.safetensors"), t, metadata=meta)
    for k in ("num_labels", "id2label", "label2id", "problem_type"):
        cfg.pop(k, None)
    cfg["architectures"] = [QA_ARCH[c["kind"]]]
    with open(os.path.join(dst, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)


def prepare(work):
    rng = np.random.default_rng(1234)
    write_batches(work)
    for kind in KINDS:
        perturb(os.path.join(work, kind), os.path.join(work, kind + "-p"), rng)
    legacy(os.path.join(work, "bert-p"), os.path.join(work, "bert-legacy"))
    for kind in ("bert", "roberta", "distilbert"):
        make_qa(os.path.join(work, kind + "-p"), os.path.join(work, kind + "-qa"), rng)
        mlm_copy(os.path.join(work, kind + "-p"), os.path.join(work, kind + "_mlm-p"), kind, rng)
    mlm_legacy(os.path.join(work, "bert_mlm-p"), os.path.join(work, "bert_mlm-legacy"))
    lines = []
    for name, kind, method, batch in CASES:
        mdir = os.path.join(work, kind if name.endswith("-init") else kind + "-p")
        if "-qa-" in name:
            mdir = os.path.join(work, kind + "-qa")
        ref_dir = mdir
        if name.startswith("bert-legacy"):
            mdir = os.path.join(work, "bert-legacy")
        if name.startswith("bert-mlm-legacy"):
            mdir = os.path.join(work, "bert_mlm-legacy")
        adir = None
        if method != "full":
            adir = os.path.join(work, name + ".adapter")
            write_adapter(ref_dir, method, adir, rng)
        bpath = os.path.join(work, f"batch-{batch}.json")
        reference(ref_dir, adir, bpath, os.path.join(work, name + ".ref.safetensors"))
        lines.append(f"{name}\t{mdir}\t{adir or '-'}\t{bpath}\n")
    with open(os.path.join(work, "cases.tsv"), "w") as f:
        f.writelines(lines)


def write_cases(work, rows, write_adapter, reference, rng):
    """rows: (name, model dir, method, batch path): each case's adapter (unless full, write_adapter(mdir, method,
    adir, rng)) and reference dump, then W/cases.tsv for tests/ref/dump_parity.sh."""
    lines = []
    for name, mdir, method, bpath in rows:
        adir = None if method == "full" else os.path.join(work, name + ".adapter")
        if adir:
            write_adapter(mdir, method, adir, rng)
        reference(mdir, adir, bpath, os.path.join(work, name + ".ref.safetensors"))
        lines.append(f"{name}\t{mdir}\t{adir or '-'}\t{bpath}\n")
    with open(os.path.join(work, "cases.tsv"), "w") as f:
        f.writelines(lines)


SHIFT_BIASES = ("key.bias", "k_lin.bias", "qa_outputs.bias", "output.LayerNorm.bias", "output_layer_norm.bias")


def zero_by_math(a, b, rtol):
    """Names whose gradient is zero in exact arithmetic (the attention key's bias: softmax is invariant to a
    shift of a row's scores, and q·b_k shifts every key of a row alike; for QA, whose softmax runs over the
    tokens, the qa_outputs bias and the last LayerNorm's bias likewise shift every token's logit alike). The
    reference computes ~1e-20 there and ftune rounding noise, so compare.py's relative rule cannot apply;
    such a tensor must instead be zero to rtol of the largest gradient of the dump."""
    grads = [np.max(np.abs(v)) for k, v in b.items() if k.startswith("grad.") and v.size]
    top = max(grads) if grads else 0.0
    out = {}
    for k, v in b.items():
        if k.startswith("grad.") and k.endswith(SHIFT_BIASES) and k in a and \
                np.max(np.abs(v)) <= 1e-9 * top:
            out[k] = float(np.max(np.abs(a[k]))) / top <= rtol
    return out


def compare_all(work, atol, rtol, cases=None, tag="enc_parity"):
    fails = 0
    for name, _kind, method, _batch in cases or CASES:
        path = os.path.join(work, name + ".ftune.safetensors")
        if not os.path.exists(path):
            print(f"{tag}: FAIL {name}: no ftune dump")
            fails += 1
            continue
        a, b = st.load(path)[0], st.load(os.path.join(work, name + ".ref.safetensors"))[0]
        for k in [k for k in a if ".pooler." in k and k not in b]:  # a QA file has none: ftune's unused zeros
            if np.max(np.abs(a[k])) == 0.0:
                del a[k]
        zero = zero_by_math(a, b, rtol)
        for k in zero:
            if zero[k]:  # checked above; the relative rule does not apply
                del a[k], b[k]
        lines, bad = cmp.compare(a, b, atol, rtol)
        lines += [f"FAIL {k}: zero in exact arithmetic, ftune's is not (> {rtol:g} of the largest gradient)"
                  for k, ok in zero.items() if not ok]
        bad += sum(1 for ok in zero.values() if not ok)
        n = sum(1 for ln in lines if ln.startswith("ok")) + sum(zero.values())
        merged = os.path.join(work, name + ".merged.safetensors")
        if method in ("lora", "ia3"):  # ftune merge: the adapter folded into the base, the same logits
            if not os.path.exists(merged):
                lines.append("FAIL merged: no dump of the merged model")
                bad += 1
            else:
                err = float(np.max(np.abs(st.load(merged)[0]["logits"] - b["logits"])))
                lines.append(f"{'ok  ' if err <= atol else 'FAIL'} merged logits: abs err {err:.3e} (limit {atol:.1e})")
                bad += err > atol
        if bad:
            fails += 1
            print(f"{tag}: FAIL {name}: ftune differs from the reference (A = ftune, B = reference):")
            print("\n".join("    " + ln for ln in lines if not ln.startswith("ok")))
        else:
            worst = max((float(ln.split("err ")[1].split()[0]) for ln in lines if "rel err" in ln), default=0.0)
            mrg = ", merged logits too" if method in ("lora", "ia3") else ""
            print(f"{tag}: ok   {name} ({n} tensors, {len(zero)} zero by the math, worst gradient rel err "
                  f"{worst:.1e}{mrg})")
    return fails


def cli(argv, doc, configs, prep, compare, tag):
    """The subcommands configs / prepare / compare of a parity reference (its own functions)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=["configs", "prepare", "compare"])
    ap.add_argument("--work", required=True)
    ap.add_argument("--logits-atol", type=float, default=1e-4)
    ap.add_argument("--grad-rtol", type=float, default=1e-3)
    a = ap.parse_args(argv)
    torch.set_default_dtype(torch.float64)
    try:
        if a.command == "configs":
            configs(a.work)
        elif a.command == "prepare":
            prep(a.work)
        else:
            return 1 if compare(a.work, a.logits_atol, a.grad_rtol) else 0
    except (RefError, OSError, KeyError, st.SafetensorsError) as e:
        print(f"{tag}: error: {e}", file=sys.stderr)
        return 2
    return 0


def main(argv=None):
    return cli(argv, __doc__, write_configs, prepare, compare_all, "enc_ref")


if __name__ == "__main__":
    sys.exit(main())
