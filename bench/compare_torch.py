#!/usr/bin/env python3
"""Training-step throughput: ftune (bench/train_step) against PyTorch on the same shapes.

Each row (shape x method x precision) runs PyTorch and ftune in separate processes, alternating
for --rounds rounds so that both see the same machine load; the table reports the median tokens/s,
the peak RSS and the ratio ftune/PyTorch. PyTorch runs an independent GPT-2 / Llama (SmolLM2)
/ BERT (bert-base, BertForSequenceClassification with 2 labels) / ViT (vit-base, ViTForImageClassification
with 1000 classes on 224x224 images, 197 tokens each: --seq does not apply) / T5 (t5-small,
T5ForConditionalGeneration: --seq source and --dec-seq target tokens, tokens/s counting both; the relative
position buckets from tests/ref/t5_ref.py) / Llama-2-7B (llama-7b: bf16 weights, LoRA r 16 on q,k,v,o,
gradient checkpointing; ftune trains --model DIR with --base-dtype) definition written here (random weights,
same config as train_step), AdamW + clipping at 1.0,
fp32 with OPENBLAS_CORETYPE=SkylakeX, or Haswell on AVX2-only CPUs (Debian's OpenBLAS misdetects
newer CPUs otherwise), bf16 under
torch.autocast('cpu', dtype=torch.bfloat16). Rows ftune cannot run yet print n/a.

Run with Debian's python (torch 1.13): /usr/bin/python3 bench/compare_torch.py [--help]
"""
import argparse
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import time

SHAPES = {
    "gpt2": dict(arch="gpt2", vocab=50257, hidden=768, layers=12, heads=12, kv_heads=12, inter=3072, pos=1024),
    "bert-base": dict(arch="bert", vocab=30522, hidden=768, layers=12, heads=12, kv_heads=12, inter=3072, pos=512,
                      types=2, eps=1e-12, labels=2),
    "vit-base": dict(arch="vit", hidden=768, layers=12, heads=12, kv_heads=12, inter=3072, image=224, patch=16,
                     channels=3, eps=1e-12, labels=1000),
    # google-t5/t5-small: v1.0, relu, tied head; sources of --seq tokens, targets of --dec-seq tokens
    "t5-small": dict(arch="t5", vocab=32128, hidden=512, layers=6, heads=8, kv_heads=8, inter=2048, d_kv=64,
                     buckets=32, max_distance=128, eps=1e-6),
    "smollm2": dict(arch="llama", vocab=49152, hidden=576, layers=30, heads=9, kv_heads=3, inter=1536, pos=2048,
                    theta=100000.0, eps=1e-5),
    # Llama-2-7B (issue 19): frozen weights built and held in bf16 (fp32 would need 27 GB), untied head, LoRA r 16
    # on q,k,v,o in fp32, gradient checkpointing per block; bf16 only (autocast). ftune's side trains --model DIR
    # (a bf16 checkpoint of this shape) with --base-dtype (file, or int8).
    "llama-7b": dict(arch="llama", vocab=32000, hidden=4096, layers=32, heads=32, kv_heads=32, inter=11008, pos=4096,
                     theta=10000.0, eps=1e-5, big=True, untied=True, lora_targets=["q_proj", "k_proj", "v_proj", "o_proj"],
                     lora_r=16),
}


# ----------------------------------------------------------------------------- PyTorch side
def torch_worker(a):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    import torch.utils.checkpoint

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
    import t5_ref  # noqa: E402  (HF's _relative_position_bucket, written for the parity test)

    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    c = SHAPES[a.shape]
    if c.get("big"):
        if a.precision != "bf16":
            sys.exit(f"{a.shape}: fp32 weights do not fit this machine; bf16 only")
        torch.set_default_dtype(torch.bfloat16)  # the frozen weights are made in bf16, never in fp32

    class LoRALinear(nn.Module):
        def __init__(self, base, r=8, alpha=8):
            super().__init__()
            self.base = base
            self.A = nn.Parameter(torch.randn(r, base.in_features, dtype=torch.float32) / math.sqrt(base.in_features))
            self.B = nn.Parameter(torch.zeros(base.out_features, r, dtype=torch.float32))
            self.scale = alpha / r

        def forward(self, x):
            return self.base(x) + (x @ self.A.t() @ self.B.t()) * self.scale

    def attend(q, k, v, T):
        # q [B,H,T,D], k/v [B,Hkv,T,D]; causal softmax in fp32 like HF
        rep = q.shape[1] // k.shape[1]
        if rep > 1:
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        s = s.masked_fill(mask, float("-inf"))
        p = F.softmax(s.float(), dim=-1).to(v.dtype)
        return p @ v

    class GPT2Block(nn.Module):
        def __init__(self, C, H, I):
            super().__init__()
            self.H = H
            self.ln1, self.ln2 = nn.LayerNorm(C), nn.LayerNorm(C)
            self.c_attn, self.c_proj = nn.Linear(C, 3 * C), nn.Linear(C, C)
            self.fc, self.proj = nn.Linear(C, I), nn.Linear(I, C)

        def forward(self, x):
            B, T, C = x.shape
            q, k, v = self.c_attn(self.ln1(x)).split(C, dim=2)
            sh = lambda t: t.view(B, T, self.H, C // self.H).transpose(1, 2)
            y = attend(sh(q), sh(k), sh(v), T).transpose(1, 2).reshape(B, T, C)
            x = x + self.c_proj(y)
            return x + self.proj(F.gelu(self.fc(self.ln2(x)), approximate="tanh"))

    class BertBlock(nn.Module):
        """Post-LayerNorm block, bidirectional attention (no padding in the bench batch), erf-GELU."""

        def __init__(self, C, H, I, eps):
            super().__init__()
            self.H = H
            self.query, self.key, self.value = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
            self.attn_out, self.ln1 = nn.Linear(C, C), nn.LayerNorm(C, eps=eps)
            self.inter, self.out, self.ln2 = nn.Linear(C, I), nn.Linear(I, C), nn.LayerNorm(C, eps=eps)

        def forward(self, x):
            B, T, C = x.shape
            sh = lambda t: t.view(B, T, self.H, C // self.H).transpose(1, 2)
            q, k, v = sh(self.query(x)), sh(self.key(x)), sh(self.value(x))
            p = F.softmax(((q @ k.transpose(-1, -2)) / math.sqrt(C // self.H)).float(), dim=-1).to(v.dtype)
            y = (p @ v).transpose(1, 2).reshape(B, T, C)
            x = self.ln1(x + self.attn_out(y))
            return self.ln2(x + self.out(F.gelu(self.inter(x))))

    class ViTBlock(nn.Module):
        """Pre-LayerNorm block, bidirectional attention, erf-GELU (HF ViTLayer)."""

        def __init__(self, C, H, I, eps):
            super().__init__()
            self.H = H
            self.ln1, self.ln2 = nn.LayerNorm(C, eps=eps), nn.LayerNorm(C, eps=eps)
            self.query, self.key, self.value = nn.Linear(C, C), nn.Linear(C, C), nn.Linear(C, C)
            self.attn_out, self.inter, self.out = nn.Linear(C, C), nn.Linear(C, I), nn.Linear(I, C)

        def forward(self, x):
            B, T, C = x.shape
            sh = lambda t: t.view(B, T, self.H, C // self.H).transpose(1, 2)
            h = self.ln1(x)
            q, k, v = sh(self.query(h)), sh(self.key(h)), sh(self.value(h))
            p = F.softmax(((q @ k.transpose(-1, -2)) / math.sqrt(C // self.H)).float(), dim=-1).to(v.dtype)
            x = x + self.attn_out((p @ v).transpose(1, 2).reshape(B, T, C))
            return x + self.out(F.gelu(self.inter(self.ln2(x))))

    class RMSNorm(nn.Module):
        def __init__(self, C, eps):
            super().__init__()
            self.w, self.eps = nn.Parameter(torch.ones(C)), eps

        def forward(self, x):
            xf = x.float()
            return self.w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)

    def rope(x, cos, sin):
        h = x.shape[-1] // 2
        rot = torch.cat((-x[..., h:], x[..., :h]), dim=-1)
        return x * cos + rot * sin

    class LlamaBlock(nn.Module):
        def __init__(self, C, H, Hkv, I, eps):
            super().__init__()
            self.H, self.Hkv, self.D = H, Hkv, C // H
            self.n1, self.n2 = RMSNorm(C, eps), RMSNorm(C, eps)
            self.q_proj = nn.Linear(C, H * self.D, bias=False)
            self.k_proj = nn.Linear(C, Hkv * self.D, bias=False)
            self.v_proj = nn.Linear(C, Hkv * self.D, bias=False)
            self.o_proj = nn.Linear(H * self.D, C, bias=False)
            self.gate, self.up = nn.Linear(C, I, bias=False), nn.Linear(C, I, bias=False)
            self.down = nn.Linear(I, C, bias=False)

        def forward(self, x, cos, sin):
            B, T, C = x.shape
            h = self.n1(x)
            q = self.q_proj(h).view(B, T, self.H, self.D).transpose(1, 2)
            k = self.k_proj(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
            v = self.v_proj(h).view(B, T, self.Hkv, self.D).transpose(1, 2)
            q, k = rope(q, cos, sin), rope(k, cos, sin)
            y = attend(q, k, v, T).transpose(1, 2).reshape(B, T, self.H * self.D)
            x = x + self.o_proj(y)
            h = self.n2(x)
            return x + self.down(F.silu(self.gate(h)) * self.up(h))

    class T5Attention(nn.Module):
        """T5Attention without scaling: q/k/v/o bias-free, the stack's position bias added to the scores."""

        def __init__(self, C, H, Dk):
            super().__init__()
            self.H, self.Dk = H, Dk
            self.q, self.k, self.v = (nn.Linear(C, H * Dk, bias=False) for _ in range(3))
            self.o = nn.Linear(H * Dk, C, bias=False)

        def forward(self, x, kv, bias):
            B, Tq, _ = x.shape
            sh = lambda t: t.view(B, -1, self.H, self.Dk).transpose(1, 2)
            q, k, v = sh(self.q(x)), sh(self.k(kv)), sh(self.v(kv))
            s = q @ k.transpose(-1, -2)
            if bias is not None:
                s = s + bias
            p = F.softmax(s.float(), dim=-1).to(v.dtype)
            return self.o((p @ v).transpose(1, 2).reshape(B, Tq, self.H * self.Dk))

    class T5Block(nn.Module):
        def __init__(self, C, H, Dk, I, eps, decoder):
            super().__init__()
            self.n1, self.att, self.cross = RMSNorm(C, eps), T5Attention(C, H, Dk), decoder
            if decoder:
                self.n2, self.catt = RMSNorm(C, eps), T5Attention(C, H, Dk)
            self.n3, self.wi, self.wo = RMSNorm(C, eps), nn.Linear(C, I, bias=False), nn.Linear(I, C, bias=False)

        def forward(self, x, bias, enc=None):
            h = self.n1(x)
            x = x + self.att(h, h, bias)
            if enc is not None:
                x = x + self.catt(self.n2(x), enc, None)
            return x + self.wo(F.relu(self.wi(self.n3(x))))

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            C = c["hidden"]
            if c["arch"] == "vit":  # ViTForImageClassification: patches, [CLS], positions, blocks, LN, classifier
                n = (c["image"] // c["patch"]) ** 2
                self.proj = nn.Conv2d(c["channels"], C, c["patch"], stride=c["patch"])
                self.cls, self.pos = nn.Parameter(torch.randn(1, 1, C)), nn.Parameter(torch.randn(1, n + 1, C))
                self.blocks = nn.ModuleList(ViTBlock(C, c["heads"], c["inter"], c["eps"]) for _ in range(c["layers"]))
                self.nf, self.classifier = nn.LayerNorm(C, eps=c["eps"]), nn.Linear(C, c["labels"])
            else:
                self.wte = nn.Embedding(c["vocab"], C)
            if c["arch"] == "vit":
                pass
            elif c["arch"] == "t5":  # T5ForConditionalGeneration: shared embedding, two stacks, tied head
                args = (C, c["heads"], c["d_kv"], c["inter"], c["eps"])
                self.enc = nn.ModuleList(T5Block(*args, False) for _ in range(c["layers"]))
                self.dec = nn.ModuleList(T5Block(*args, True) for _ in range(c["layers"]))
                self.rel_e, self.rel_d = nn.Embedding(c["buckets"], c["heads"]), nn.Embedding(c["buckets"], c["heads"])
                self.nf_e, self.nf_d = RMSNorm(C, c["eps"]), RMSNorm(C, c["eps"])
                self.blocks = list(self.enc) + list(self.dec)
            elif c["arch"] == "bert":  # BertForSequenceClassification: embeddings, blocks, pooler, classifier
                self.wpe, self.tte = nn.Embedding(c["pos"], C), nn.Embedding(c["types"], C)
                self.eln = nn.LayerNorm(C, eps=c["eps"])
                self.blocks = nn.ModuleList(BertBlock(C, c["heads"], c["inter"], c["eps"]) for _ in range(c["layers"]))
                self.pooler, self.classifier = nn.Linear(C, C), nn.Linear(C, c["labels"])
            elif c["arch"] == "gpt2":
                self.wpe = nn.Embedding(c["pos"], C)
                self.blocks = nn.ModuleList(GPT2Block(C, c["heads"], c["inter"]) for _ in range(c["layers"]))
                self.nf = nn.LayerNorm(C)
            else:
                self.blocks = nn.ModuleList(
                    LlamaBlock(C, c["heads"], c["kv_heads"], c["inter"], c["eps"]) for _ in range(c["layers"]))
                self.nf = RMSNorm(C, c["eps"])
                if c.get("untied"):
                    self.lm_head = nn.Linear(C, c["vocab"], bias=False)
                D = C // c["heads"]
                inv = 1.0 / (c["theta"] ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
                ang = torch.outer(torch.arange(c["pos"], dtype=torch.float32), inv)
                emb = torch.cat((ang, ang), dim=-1)
                self.register_buffer("cos", emb.cos(), persistent=False)
                self.register_buffer("sin", emb.sin(), persistent=False)
            for p in self.parameters():
                if p.dim() == 2:
                    nn.init.normal_(p, std=0.02)

        def t5_bias(self, table, Tq, Tk, bidirectional):
            rel = torch.arange(Tk)[None, :] - torch.arange(Tq)[:, None]
            b = table(t5_ref.bucket(rel, bidirectional, c["buckets"], c["max_distance"]))  # [Tq, Tk, H]
            b = b.permute(2, 0, 1)[None]
            if not bidirectional:
                b = b.masked_fill(torch.ones(Tq, Tk, dtype=torch.bool).triu(1), float("-inf"))
            return b

        def forward(self, ids, labels=None):
            if c["arch"] == "t5":  # ids: the sources; labels: the targets (decoder input = labels shifted right)
                T, Td = ids.shape[1], labels.shape[1]
                x = self.wte(ids)
                be = self.t5_bias(self.rel_e, T, T, True)
                for b in self.enc:
                    x = b(x, be)
                enc = self.nf_e(x)
                dec_in = torch.cat([torch.zeros_like(labels[:, :1]), labels[:, :-1]], dim=1)
                y = self.wte(dec_in)
                bd = self.t5_bias(self.rel_d, Td, Td, False)
                for b in self.dec:
                    y = b(y, bd, enc)
                logits = (self.nf_d(y) * c["hidden"] ** -0.5) @ self.wte.weight.t()
                return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1))
            if c["arch"] == "vit":  # ids: the pixels [B, ch, H, W]
                x = self.proj(ids).flatten(2).transpose(1, 2)
                x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
                for b in self.blocks:
                    x = b(x)
                return F.cross_entropy(self.classifier(self.nf(x)[:, 0]).float(), labels)
            B, T = ids.shape
            x = self.wte(ids)
            if c["arch"] == "bert":
                x = self.eln(x + self.wpe(torch.arange(T)) + self.tte(torch.zeros_like(ids)))
                for b in self.blocks:
                    x = b(x)
                logits = self.classifier(torch.tanh(self.pooler(x[:, 0])))
                return F.cross_entropy(logits.float(), labels)
            if c["arch"] == "gpt2":
                x = x + self.wpe(torch.arange(T))
                for b in self.blocks:
                    x = b(x)
            else:
                cos, sin = self.cos[:T].to(x.dtype), self.sin[:T].to(x.dtype)
                for b in self.blocks:
                    if c.get("big"):  # gradient checkpointing, as HF's gradient_checkpointing_enable()
                        x = torch.utils.checkpoint.checkpoint(b, x, cos, sin, use_reentrant=False)
                    else:
                        x = b(x, cos, sin)
            head = self.lm_head.weight if c.get("untied") else self.wte.weight
            logits = self.nf(x) @ head.t()
            return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]).float(), ids[:, 1:].reshape(-1))

    m = Model()
    if a.method == "lora":
        for p in m.parameters():
            p.requires_grad_(False)
        for b in m.blocks:
            names = {"gpt2": ["c_attn"], "bert": ["query", "value"], "vit": ["query", "value"]}.get(
                c["arch"], c.get("lora_targets", ["q_proj", "v_proj"]))
            if c["arch"] == "t5":  # PEFT's T5 targets q, v: every attention's (self and cross)
                for att in [b.att] + ([b.catt] if b.cross else []):
                    att.q, att.v = LoRALinear(att.q), LoRALinear(att.v)
                continue
            for n in names:
                setattr(b, n, LoRALinear(getattr(b, n), r=c.get("lora_r", 8), alpha=c.get("lora_r", 8)))
        if c["arch"] in ("bert", "vit"):  # PEFT's SEQ_CLS modules_to_save: the new classifier trains in full
            for p in m.classifier.parameters():
                p.requires_grad_(True)
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    g = torch.Generator().manual_seed(5)
    if c["arch"] == "vit":
        a.seq = (c["image"] // c["patch"]) ** 2 + 1  # tokens per image, for tok/s
        ids = torch.randn(a.batch, c["channels"], c["image"], c["image"], generator=g)
    else:
        ids = torch.randint(0, c["vocab"], (a.batch, a.seq), generator=g)
    labels = torch.arange(a.batch) % 2
    if c["arch"] == "t5":
        labels = torch.randint(0, c["vocab"], (a.batch, a.dec_seq), generator=g)
        tokens = a.batch * (a.seq + a.dec_seq)
    else:
        tokens = a.batch * a.seq
    times = []
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        if a.precision == "bf16":
            with torch.autocast("cpu", dtype=torch.bfloat16):
                loss = m(ids, labels)
        else:
            loss = m(ids, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if s >= a.warmup:
            times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"tok_s": tokens / med, "rss": rss, "loss": float(loss)}))


# ----------------------------------------------------------------------------- driver
def openblas_coretype():
    """Debian's OpenBLAS misdetects newer CPUs: SkylakeX kernels where AVX-512 exists, else Haswell (AVX2)."""
    with open("/proc/cpuinfo") as f:
        flags = next((l for l in f if l.startswith("flags")), "")
    return "SkylakeX" if " avx512f " in flags else "Haswell"


def run_torch(a, shape, method, precision):
    env = dict(os.environ, OPENBLAS_CORETYPE=openblas_coretype(), OMP_NUM_THREADS=str(a.threads))
    cmd = [a.python, os.path.abspath(__file__), "--worker", "--shape", shape, "--method", method, "--precision",
           precision, "--batch", str(a.batch), "--seq", str(a.seq), "--dec-seq", str(a.dec_seq), "--steps", str(a.steps), "--warmup",
           str(a.warmup), "--threads", str(a.threads)]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-2000:])
        return None
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return d["tok_s"], d["rss"]


def run_ftune(a, shape, method, precision):
    env = dict(os.environ, OMP_NUM_THREADS=str(a.threads))
    cmd = [a.train_step, "--shape", shape, "--method", method, "--precision", precision, "--batch", str(a.batch),
           "--seq", str(a.seq), "--dec-seq", str(a.dec_seq),
           "--steps", str(a.steps), "--warmup", str(a.warmup), "--threads", str(a.threads)]
    c = SHAPES[shape]
    if c.get("big"):  # the same run as the PyTorch side: LoRA on its targets, checkpointing, the base in bf16/int8
        cmd += ["--base-dtype", a.base_dtype, "--checkpoint", "--targets", ",".join(c["lora_targets"]), "--lora-r",
                str(c["lora_r"])] + (["--model", a.model] if a.model else [])
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stderr[-2000:])
        return None  # e.g. no native bf16 on this CPU
    tok = re.search(r"tokens/s ([0-9.]+)", r.stdout)
    rss = re.search(r"peak RSS ([0-9.]+) GiB", r.stdout)
    return float(tok.group(1)), float(rss.group(1)) * 2**30


def med(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return statistics.median(x[0] for x in xs), max(x[1] for x in xs)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--shape", default="gpt2", help="gpt2, smollm2, bert-base, vit-base, t5-small or a comma list (driver)")
    p.add_argument("--method", default="full,lora", help="full, lora or a comma list (driver)")
    p.add_argument("--precision", default="fp32,bf16", help="fp32, bf16 or a comma list (driver)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--dec-seq", type=int, default=32, help="t5-small: target tokens per example")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--rounds", type=int, default=2, help="alternating torch/ftune rounds per row")
    p.add_argument("--model", default=None, help="llama-7b: ftune trains this bf16 checkpoint (ftune init --dtype bf16)")
    p.add_argument("--base-dtype", default="file", help="llama-7b: ftune's train.base_dtype (file or int8)")
    p.add_argument("--python", default="/usr/bin/python3", help="interpreter with torch for the workers")
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--train-step", default=os.path.join(here, "..", "build", "bench", "train_step"))
    a = p.parse_args()
    if a.worker:
        return torch_worker(a)
    with open("/proc/loadavg") as f:
        load0 = f.read().split()[0]
    print(f"# {time.strftime('%Y-%m-%d %H:%M')}  {os.uname().nodename}  batch {a.batch}x{a.seq}  threads {a.threads}"
          f"  steps {a.steps} (+{a.warmup} warmup)  rounds {a.rounds}  load at start {load0}")
    hdr = f"{'shape':8} {'method':6} {'prec':5} | {'torch tok/s':>11} {'RSS GiB':>7} | {'ftune tok/s':>11} {'RSS GiB':>7} | {'ftune/torch':>11}"
    print(hdr)
    print("-" * len(hdr))
    for shape in a.shape.split(","):
        for method in a.method.split(","):
            for prec in a.precision.split(","):
                tr, fr = [], []
                for _ in range(a.rounds):
                    tr.append(run_torch(a, shape, method, prec))
                    fr.append(run_ftune(a, shape, method, prec))
                t, f = med(tr), med(fr)
                ts = f"{t[0]:11.1f} {t[1] / 2**30:7.2f}" if t else f"{'failed':>11} {'':7}"
                fs = f"{f[0]:11.1f} {f[1] / 2**30:7.2f}" if f else f"{'n/a':>11} {'':7}"
                ratio = f"{f[0] / t[0]:11.2f}" if (t and f) else f"{'n/a':>11}"
                print(f"{shape:8} {method:6} {prec:5} | {ts} | {fs} | {ratio}", flush=True)
    with open("/proc/loadavg") as f:
        print(f"# load at end {f.read().split()[0]}")


if __name__ == "__main__":
    sys.exit(main())
