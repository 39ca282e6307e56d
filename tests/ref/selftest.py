#!/usr/bin/python3
"""Self-test of the parity reference (tests/ref/*.py), without ftune.

Checks: safetensors round trips and bad files; a second, loop-by-loop numpy forward of every
tiny model against hf_ref's logits and loss; finite-difference directional derivatives of the
loss against hf_ref's gradients for every parameter tensor; padding semantics (a padded row's
real positions equal the unpadded row alone); the sliding window; pad_token_id rows getting no
lookup gradient; tied heads; a few SGD steps lowering the loss; compare.py failing when it
should; hf_ref rejecting bad checkpoints and batches. Prints one line per check; exit 1 on failure.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare  # noqa: E402
import hf_ref  # noqa: E402
import make_batch  # noqa: E402
import make_tiny  # noqa: E402
import st  # noqa: E402

PY = sys.executable
FAILS = []


def check(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        FAILS.append(what)


# ---------------------------------------------------------------- a second forward, in loops

def np_layer_norm(x, w, b, eps):
    mu = sum(x) / len(x)
    var = sum((v - mu) ** 2 for v in x) / len(x)
    return np.array([(x[i] - mu) / math.sqrt(var + eps) * w[i] + b[i] for i in range(len(x))])


def np_rms_norm(x, w, eps):
    r = math.sqrt(sum(v * v for v in x) / len(x) + eps)
    return np.array([w[i] * (x[i] / r) for i in range(len(x))])


def np_act(name, v):
    if name == "gelu_new":
        return np.array([0.5 * u * (1 + math.tanh(math.sqrt(2 / math.pi) * (u + 0.044715 * u ** 3))) for u in v])
    if name == "silu":
        return np.array([u / (1 + math.exp(-u)) for u in v])
    raise ValueError(name)


def np_attend(qs, ks, vs, mask_row, t, scale, window=None):
    """One query at position t over keys 0..t (visible: mask 1, inside the window)."""
    vis = [j for j in range(t + 1) if mask_row[j] and (window is None or t - j < window)]
    sc = [scale * float(np.dot(qs, ks[j])) for j in vis]
    m = max(sc)
    e = [math.exp(s - m) for s in sc]
    z = sum(e)
    return sum((e[i] / z) * vs[j] for i, j in enumerate(vis))


def np_gpt2(W, cfg, ids, mask):
    d, H, L = cfg["n_embd"], cfg["n_head"], cfg["n_layer"]
    hd, eps = d // H, cfg["layer_norm_epsilon"]
    out = []
    for b in range(len(ids)):
        T = len(ids[b])
        x = [W["transformer.wte.weight"][ids[b][t]] + W["transformer.wpe.weight"][t] for t in range(T)]
        for i in range(L):
            p = f"transformer.h.{i}."
            a = [np_layer_norm(x[t], W[p + "ln_1.weight"], W[p + "ln_1.bias"], eps) for t in range(T)]
            qkv = [W[p + "attn.c_attn.weight"].T.dot(a[t]) + W[p + "attn.c_attn.bias"] for t in range(T)]
            new = []
            for t in range(T):
                heads = []
                for h in range(H):
                    q = qkv[t][h * hd:(h + 1) * hd]
                    ks = [qkv[j][d + h * hd:d + (h + 1) * hd] for j in range(T)]
                    vs = [qkv[j][2 * d + h * hd:2 * d + (h + 1) * hd] for j in range(T)]
                    heads.append(np_attend(q, ks, vs, mask[b], t, 1 / math.sqrt(hd)))
                o = np.concatenate(heads)
                new.append(x[t] + W[p + "attn.c_proj.weight"].T.dot(o) + W[p + "attn.c_proj.bias"])
            x = new
            for t in range(T):
                m = np_layer_norm(x[t], W[p + "ln_2.weight"], W[p + "ln_2.bias"], eps)
                m = np_act("gelu_new", W[p + "mlp.c_fc.weight"].T.dot(m) + W[p + "mlp.c_fc.bias"])
                x[t] = x[t] + W[p + "mlp.c_proj.weight"].T.dot(m) + W[p + "mlp.c_proj.bias"]
        x = [np_layer_norm(v, W["transformer.ln_f.weight"], W["transformer.ln_f.bias"], eps) for v in x]
        out.append([W["transformer.wte.weight"].dot(v) for v in x])
    return np.array(out)


def np_rope(v, t, theta):
    """Rotate pairs (i, i + n/2) by angle t * theta^(-2i/n)."""
    n = len(v)
    r = v.copy()
    for i in range(n // 2):
        # HF: inv_freq and the angle are float32 values; cos/sin of that angle taken in float64 here.
        inv = np.float32(1.0) / (np.float32(theta) ** (np.float32(2 * i) / np.float32(n)))
        ang = float(np.float32(t) * inv)
        c, s = math.cos(ang), math.sin(ang)
        r[i] = v[i] * c - v[i + n // 2] * s
        r[i + n // 2] = v[i + n // 2] * c + v[i] * s
    return r


def np_llama(W, cfg, ids, mask):
    c = hf_ref.model_config(cfg)
    H, KV, hd, eps = c["heads"], c["kv_heads"], c["head_dim"], c["eps"]

    def lin(name, v):
        y = W[name + ".weight"].dot(v)
        return y + W[name + ".bias"] if name + ".bias" in W else y

    out = []
    for b in range(len(ids)):
        T = len(ids[b])
        x = [W["model.embed_tokens.weight"][ids[b][t]].copy() for t in range(T)]
        for i in range(c["layers"]):
            p = f"model.layers.{i}."
            a = [np_rms_norm(x[t], W[p + "input_layernorm.weight"], eps) for t in range(T)]
            qs = [lin(p + "self_attn.q_proj", a[t]) for t in range(T)]
            ks = [lin(p + "self_attn.k_proj", a[t]) for t in range(T)]
            vs = [lin(p + "self_attn.v_proj", a[t]) for t in range(T)]
            new = []
            for t in range(T):
                heads = []
                for h in range(H):
                    g = h // (H // KV)
                    q = np_rope(qs[t][h * hd:(h + 1) * hd], t, c["theta"])
                    kk = [np_rope(ks[j][g * hd:(g + 1) * hd], j, c["theta"]) for j in range(T)]
                    vv = [vs[j][g * hd:(g + 1) * hd] for j in range(T)]
                    heads.append(np_attend(q, kk, vv, mask[b], t, 1 / math.sqrt(hd), c["windows"][i]))
                new.append(x[t] + lin(p + "self_attn.o_proj", np.concatenate(heads)))
            x = new
            for t in range(T):
                m = np_rms_norm(x[t], W[p + "post_attention_layernorm.weight"], eps)
                m = np_act("silu", lin(p + "mlp.gate_proj", m)) * lin(p + "mlp.up_proj", m)
                x[t] = x[t] + lin(p + "mlp.down_proj", m)
        x = [np_rms_norm(v, W["model.norm.weight"], eps) for v in x]
        head = W["model.embed_tokens.weight"] if c["tie"] else W["lm_head.weight"]
        out.append([head.dot(v) for v in x])
    return np.array(out)


def np_loss(logits, labels):
    tot, n = 0.0, 0
    for b in range(len(labels)):
        for t in range(len(labels[b]) - 1):
            y = labels[b][t + 1]
            if y == -100:
                continue
            row = logits[b][t]
            m = max(row)
            tot += m + math.log(sum(math.exp(v - m) for v in row)) - row[y]
            n += 1
    return tot / n


# ---------------------------------------------------------------- helpers

def model(kind, tmp, seed=3, dtype="f32"):
    d = os.path.join(tmp, f"{kind}-{dtype}-{seed}")
    make_tiny.write(kind, d, seed, dtype)
    cfg, tensors = hf_ref.load_checkpoint(d)
    c = hf_ref.model_config(cfg)
    arrays, names = hf_ref.bind_params(c, tensors, d)
    return d, cfg, c, arrays


def batch_tensors(b):
    return (torch.tensor(b["input_ids"]), torch.tensor(b["attention_mask"]), torch.tensor(b["labels"]))


def loss_of(c, arrays, b, dtype=torch.float64):
    P = hf_ref.make_params(arrays, dtype)
    logits, loss = hf_ref.forward_loss(P, c, *batch_tensors(b))
    return P, logits, loss


# ---------------------------------------------------------------- checks

def test_st(tmp):
    p = os.path.join(tmp, "rt.safetensors")
    rng = np.random.default_rng(0)
    src = {"a": rng.standard_normal((3, 4)).astype(np.float32), "b": np.arange(5, dtype=np.int64),
           "c": np.array([-3, 7], dtype=np.int32), "d": rng.standard_normal(6).astype(np.float16),
           "e": np.array(2.5, dtype=np.float32)}
    st.save(p, src, metadata={"format": "pt"})
    got, meta = st.load(p)
    check(list(got) == list(src) and all(got[k].dtype == src[k].dtype and np.array_equal(got[k], src[k])
                                         for k in src) and meta == {"format": "pt"},
          "st: F32/I64/I32/F16/scalar round trip, order and metadata kept")
    with open(p, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
    check(n % 8 == 0, "st: header padded to a multiple of 8")
    vals = np.array([1.0, 1.0 + 2 ** -8, 1.0 + 3 * 2 ** -8, -2.0, 3.0e38, 1e-40], dtype=np.float32)
    bits = st.f32_to_bf16(vals)
    check(list(bits[:4]) == [0x3F80, 0x3F80, 0x3F82, 0xC000], "st: f32->bf16 rounds to nearest even")
    st.save(p, {"w": vals}, dtypes={"w": "BF16"})
    got, _ = st.load(p)
    check(got["w"].dtype == np.float32 and got["w"][0] == 1.0 and got["w"][2] == np.float32(1 + 2 ** -6)
          and st.dtype_of(p)["w"] == "BF16", "st: BF16 stored and widened to float32 on read")
    raw = open(p, "rb").read()
    for name, data in (("truncated header", raw[:12]), ("short file", raw[:4]),
                       ("truncated data", raw[:-2]), ("header too long", (10 ** 12).to_bytes(8, "little"))):
        q = os.path.join(tmp, "bad.safetensors")
        open(q, "wb").write(data)
        try:
            st.load(q)
            ok = False
        except st.SafetensorsError as e:
            ok = "bad.safetensors" in str(e)
        check(ok, f"st: rejects {name} naming the file")


def test_config():
    base = make_tiny.KINDS["llama"]
    strip = {k: v for k, v in base.items() if k not in ("num_key_value_heads", "tie_word_embeddings",
                                                          "rms_norm_eps", "rope_theta", "sliding_window")}
    c = hf_ref.model_config(dict(strip, model_type="llama"))
    check(c["kv_heads"] == 4 and c["tie"] is False and c["eps"] == 1e-6 and c["theta"] == 10000.0
          and c["head_dim"] == 8, "config: llama defaults (kv = heads, untied, eps 1e-6, theta 1e4)")
    c = hf_ref.model_config(dict(strip, model_type="mistral", num_attention_heads=8))
    check(c["kv_heads"] == 8 and c["windows"] == [4096, 4096], "config: mistral defaults (8 kv heads, window 4096)")
    c = hf_ref.model_config(dict(strip, model_type="mistral", num_key_value_heads=None, sliding_window=None))
    check(c["kv_heads"] == 4 and c["windows"] == [None, None], "config: explicit nulls (kv = heads, no window)")
    try:
        hf_ref.model_config(dict(strip, model_type="qwen2"))
        ok = False
    except hf_ref.RefError as e:
        ok = "num_key_value_heads 32" in str(e)
    check(ok, "config: qwen2 without num_key_value_heads takes 32 (and is rejected for 4 heads)")
    c = hf_ref.model_config(dict(strip, model_type="qwen2", num_key_value_heads=2, use_sliding_window=True,
                                 sliding_window=3, max_window_layers=1))
    check(c["qkv_bias"] and not c["o_bias"] and c["windows"] == [None, 3] and not c["tie"],
          "config: qwen2 biases, untied default, sliding window from max_window_layers on")
    c = hf_ref.model_config(dict(make_tiny.KINDS["gpt2"], n_inner=None))
    check(c["tie"] and c["inner"] == 128 and c["act"] == "gelu_new", "config: gpt2 defaults (tied, n_inner 4d)")
    c = hf_ref.model_config(dict(strip, model_type="llama", rope_parameters={
        "rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 4.0, "original_max_position_embeddings": 64}))
    inv = hf_ref.rope_inv_freq(c)
    plain = 1.0 / (500000.0 ** (torch.arange(0, 8, 2).float() / 8))
    wl = 2 * math.pi / plain
    check(c["theta"] == 500000.0 and torch.allclose(inv[wl < 16], plain[wl < 16])
          and torch.allclose(inv[wl > 64], plain[wl > 64] / 8), "config: rope_parameters with llama3 scaling")
    try:
        hf_ref.rope_inv_freq(hf_ref.model_config(dict(strip, model_type="llama",
                                                      rope_scaling={"rope_type": "yarn", "factor": 2.0})))
        ok = False
    except hf_ref.RefError as e:
        ok = "yarn" in str(e)
    check(ok, "config: unsupported rope_scaling is rejected by name")


def test_second_forward(tmp):
    b = make_batch.make(make_tiny.VOCAB, batch=3, seq=9, seed=5)
    for kind in make_tiny.KINDS:
        d, cfg, c, arrays = model(kind, tmp)
        _, logits, loss = loss_of(c, arrays, b)
        W = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
        ref = np_gpt2(W, cfg, b["input_ids"], b["attention_mask"]) if kind == "gpt2" else \
            np_llama(W, cfg, b["input_ids"], b["attention_mask"])
        err = float(np.max(np.abs(ref - logits.detach().numpy())))
        lerr = abs(np_loss(ref, b["labels"]) - float(loss))
        check(err < 1e-9 and lerr < 1e-9, f"{kind}: loop forward matches (logits {err:.1e}, loss {lerr:.1e})")


def test_gradients(tmp):
    b = make_batch.make(make_tiny.VOCAB, batch=3, seq=10, seed=6)
    rng = np.random.default_rng(9)
    for kind in make_tiny.KINDS:
        d, cfg, c, arrays = model(kind, tmp)
        P, _, loss = loss_of(c, arrays, b)
        loss.backward()
        worst, eps = 0.0, 1e-5
        for name, t in P.items():
            v = rng.standard_normal(t.shape)
            emb = name in ("model.embed_tokens.weight",)
            if emb and c.get("pad_id") is not None:
                v[c["pad_id"]] = 0.0  # that row's lookup gradient is dropped on purpose (checked below)
            plus = {k: (a + eps * v if k == name else a) for k, a in arrays.items()}
            minus = {k: (a - eps * v if k == name else a) for k, a in arrays.items()}
            num = (float(loss_of(c, plus, b)[2]) - float(loss_of(c, minus, b)[2])) / (2 * eps)
            ana = float((t.grad.numpy() * v).sum())
            worst = max(worst, abs(num - ana) / max(abs(ana), 1e-8))
        check(worst < 1e-6, f"{kind}: directional finite differences match every gradient (worst rel {worst:.1e})")
        if c.get("pad_id") is not None and not c["tie"]:
            g = P["model.embed_tokens.weight"].grad[c["pad_id"]]
            used = bool((torch.tensor(b["input_ids"]) == c["pad_id"]).any())
            check(used and bool((g == 0).all()), f"{kind}: pad_token_id row gets no gradient")


def test_gradcheck():
    # torch.autograd.gradcheck on a very small double-precision GPT-2 and Llama (all inputs at once).
    rng = np.random.default_rng(1)
    for kind, cfg in (("gpt2", dict(make_tiny.KINDS["gpt2"], vocab_size=7, n_embd=8, n_head=2, n_layer=1,
                                    n_positions=6)),
                      ("qwen2", dict(make_tiny.KINDS["qwen2"], vocab_size=7, hidden_size=8, intermediate_size=6,
                                     num_attention_heads=2, num_key_value_heads=1, num_hidden_layers=1))):
        c = hf_ref.model_config(cfg)
        shapes = hf_ref.expected_params(c)
        names = list(shapes)
        ts = [torch.tensor(0.5 * rng.standard_normal(s), dtype=torch.float64, requires_grad=True)
              for s in shapes.values()]
        ids = torch.tensor([[1, 4, 6, 2, 0], [3, 3, 5, 0, 0]])
        mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
        labels = torch.tensor([[1, 4, -100, 2, 0], [3, 3, 5, 0, -100]])

        def f(*xs):
            return hf_ref.forward_loss(dict(zip(names, xs)), c, ids, mask, labels)[1]

        check(torch.autograd.gradcheck(f, ts, eps=1e-6, atol=1e-7, rtol=1e-5),
              f"{kind}: torch.autograd.gradcheck on a tiny float64 instance")


def test_padding_semantics(tmp):
    b = make_batch.make(make_tiny.VOCAB, batch=3, seq=11, seed=7)
    for kind in ("gpt2", "llama", "qwen2"):
        d, cfg, c, arrays = model(kind, tmp)
        _, logits, _ = loss_of(c, arrays, b)
        worst = 0.0
        for r in range(3):
            n = sum(b["attention_mask"][r])
            alone = {"input_ids": [b["input_ids"][r][:n]], "attention_mask": [[1] * n],
                     "labels": [b["input_ids"][r][:n]]}
            _, l1, _ = loss_of(c, arrays, alone)
            worst = max(worst, float((l1[0] - logits[r, :n]).abs().max()))
        check(worst < 1e-10, f"{kind}: real positions of a right-padded row equal the row alone ({worst:.1e})")
    # Padding is not ignored by the loss: only -100 is. Changing a label under padding changes the loss.
    d, cfg, c, arrays = model("gpt2", tmp)
    b2 = json.loads(json.dumps(b))
    r = 2
    t = len(b2["labels"][r]) - 1
    check(b2["attention_mask"][r][t] == 0 and b2["labels"][r][t] != -100, "batch: row 2 keeps labels under padding")
    l_a = float(loss_of(c, arrays, b2)[2])
    b2["labels"][r][t] = (b2["labels"][r][t] + 1) % make_tiny.VOCAB
    check(abs(float(loss_of(c, arrays, b2)[2]) - l_a) > 1e-6, "loss counts labels under padding (only -100 ignored)")
    # Sliding window: mistral_swa (window 5) equals a full-attention run while T <= 5, differs beyond.
    d, cfg, c, arrays = model("mistral_swa", tmp)
    cfull = dict(c, windows=[None] * c["layers"])
    short = make_batch.make(make_tiny.VOCAB, batch=2, seq=5, seed=8)
    long = make_batch.make(make_tiny.VOCAB, batch=2, seq=11, seed=8)
    e_short = float((loss_of(c, arrays, short)[1] - loss_of(cfull, arrays, short)[1]).abs().max())
    e_long = float((loss_of(c, arrays, long)[1] - loss_of(cfull, arrays, long)[1]).abs().max())
    check(e_short == 0.0 and e_long > 1e-3, f"mistral_swa: window 5 inert for T=5, active for T=11 ({e_long:.2e})")
    # Tied head: the embedding's gradient holds the head's contribution (it differs from the
    # gradient of an untied copy's input side alone).
    d, cfg, c, arrays = model("qwen2", tmp)
    P, _, loss = loss_of(c, arrays, b)
    loss.backward()
    cu = dict(c, tie=False)
    au = dict(arrays, **{"lm_head.weight": arrays["model.embed_tokens.weight"]})
    Pu, _, lu = loss_of(cu, au, b)
    lu.backward()
    diff = float((P["model.embed_tokens.weight"].grad - Pu["model.embed_tokens.weight"].grad
                  - Pu["lm_head.weight"].grad).abs().max())
    check(abs(float(lu) - float(loss)) < 1e-12 and diff < 1e-12, "qwen2: tied embedding grad = lookup grad + head grad")


def test_sgd(tmp):
    b = make_batch.make(make_tiny.VOCAB, batch=3, seq=12, seed=4)
    for kind in ("gpt2", "llama", "qwen2"):
        d, cfg, c, arrays = model(kind, tmp)
        losses = []
        cur = dict(arrays)
        for _ in range(5):
            P, _, loss = loss_of(c, cur, b)
            loss.backward()
            losses.append(float(loss))
            cur = {k: (P[k] - 0.05 * P[k].grad).detach().numpy() for k in P}
        check(all(x > y for x, y in zip(losses, losses[1:])),
              f"{kind}: 5 SGD steps lower the loss {losses[0]:.3f} -> {losses[-1]:.3f}")


def run(args):
    return subprocess.run([PY] + args, capture_output=True, text=True)


def test_cli(tmp):
    d, cfg, c, arrays = model("llama_bias", tmp)
    bp = os.path.join(tmp, "b.json")
    with open(bp, "w") as f:
        json.dump(make_batch.make(make_tiny.VOCAB, seed=2), f)
    r1, r2 = os.path.join(tmp, "r1.st"), os.path.join(tmp, "r2.st")
    p = run([os.path.join(HERE, "hf_ref.py"), "--model", d, "--batch", bp, "--out", r1])
    check(p.returncode == 0, "hf_ref.py: runs")
    out, _ = st.load(r1)
    exp = ["logits", "loss"] + ["grad." + n for n in hf_ref.expected_params(c)]
    check(sorted(out) == sorted(exp) and all(st.dtype_of(r1)[k] == "F32" for k in out)
          and out["loss"].shape == (1,) and "grad.lm_head.weight" not in out,
          "hf_ref.py: writes logits, loss [1], one F32 grad per parameter, no lm_head grad when tied")
    run([os.path.join(HERE, "hf_ref.py"), "--model", d, "--batch", bp, "--out", r2, "--dtype", "float32"])
    p = run([os.path.join(HERE, "compare.py"), r2, r1])
    check(p.returncode == 0, "compare.py: float32 run of the reference passes against float64")
    cmp_ = os.path.join(HERE, "compare.py")
    # compare.py must fail on: a perturbed gradient, a missing tensor, a wrong shape, NaN, bad logits.
    cases = {
        "perturbed grad": lambda o: o.__setitem__("grad.model.norm.weight", o["grad.model.norm.weight"] * 1.01),
        "missing tensor": lambda o: o.pop("grad.model.norm.weight"),
        "extra tensor": lambda o: o.__setitem__("grad.extra", np.zeros(2, np.float32)),
        "wrong shape": lambda o: o.__setitem__("grad.model.norm.weight", o["grad.model.norm.weight"][:-1]),
        "NaN": lambda o: o["logits"].__setitem__((0, 0, 0), np.nan),
        "logits off by 2e-4": lambda o: o.__setitem__("logits", o["logits"] + 2e-4),
        "loss off by 2e-4": lambda o: o.__setitem__("loss", o["loss"] + 2e-4),
    }
    for what, mutate in cases.items():
        o, _ = st.load(r1)
        mutate(o)
        bad = os.path.join(tmp, "bad.st")
        st.save(bad, o)
        p = run([cmp_, bad, r1])
        check(p.returncode == 1 and "FAIL" in p.stdout, f"compare.py: fails on {what}")
    o, _ = st.load(r1)
    o["grad.model.norm.weight"] = o["grad.model.norm.weight"] * (1 + 5e-4)
    st.save(os.path.join(tmp, "near.st"), o)
    check(run([cmp_, os.path.join(tmp, "near.st"), r1]).returncode == 0, "compare.py: passes a 5e-4 relative change")

    # hf_ref.py rejects bad inputs with a message naming the fault.
    def ref_fails(model_dir, batch_path, needle):
        p = run([os.path.join(HERE, "hf_ref.py"), "--model", model_dir, "--batch", batch_path,
                 "--out", os.path.join(tmp, "x.st")])
        return p.returncode != 0 and needle in p.stderr and "Traceback" not in p.stderr

    t, _ = st.load(os.path.join(d, "model.safetensors"))
    bad_dir = os.path.join(tmp, "badmodel")
    os.makedirs(bad_dir, exist_ok=True)
    with open(os.path.join(bad_dir, "config.json"), "w") as f:
        json.dump(cfg, f)
    st.save(os.path.join(bad_dir, "model.safetensors"), {k: v for k, v in t.items() if "layers.1.mlp.up" not in k})
    check(ref_fails(bad_dir, bp, "model.layers.1.mlp.up_proj.weight"), "hf_ref.py: rejects a missing tensor")
    t2 = dict(t)
    t2["model.norm.weight"] = t2["model.norm.weight"][:5]
    st.save(os.path.join(bad_dir, "model.safetensors"), t2)
    check(ref_fails(bad_dir, bp, "model.norm.weight"), "hf_ref.py: rejects a wrong shape")
    t3 = dict(t, **{"model.layers.0.mystery.weight": np.zeros(3, np.float32)})
    st.save(os.path.join(bad_dir, "model.safetensors"), t3)
    check(ref_fails(bad_dir, bp, "mystery"), "hf_ref.py: rejects an unexpected tensor")
    with open(os.path.join(bad_dir, "config.json"), "w") as f:
        json.dump(dict(cfg, model_type="bert"), f)
    check(ref_fails(bad_dir, bp, "bert"), "hf_ref.py: rejects an unknown model_type")
    for what, bb, needle in (
            ("all labels -100", {"input_ids": [[1, 2, 3]], "labels": [[-100, -100, -100]]}, "-100"),
            ("label out of range", {"input_ids": [[1, 2, 3]], "labels": [[1, 99, 2]]}, "labels"),
            ("token out of range", {"input_ids": [[1, 2, 300]]}, "input_ids"),
            ("ragged rows", {"input_ids": [[1, 2, 3], [1]]}, "input_ids"),
            ("mask shape", {"input_ids": [[1, 2, 3]], "attention_mask": [[1, 1]]}, "attention_mask")):
        q = os.path.join(tmp, "bad.json")
        with open(q, "w") as f:
            json.dump(bb, f)
        check(ref_fails(d, q, needle), f"hf_ref.py: rejects a batch with {what}")
    # GPT-2 checkpoints saved without the "transformer." prefix (the official gpt2 file), with the
    # attn.bias buffers: same numbers, grads named as stored.
    d, cfg, c, arrays = model("gpt2", tmp)
    t, _ = st.load(os.path.join(d, "model.safetensors"))
    pd = os.path.join(tmp, "gpt2-noprefix")
    os.makedirs(pd, exist_ok=True)
    with open(os.path.join(pd, "config.json"), "w") as f:
        json.dump(cfg, f)
    t = {k[len("transformer."):]: v for k, v in t.items()}
    t["h.0.attn.bias"] = np.tril(np.ones((1, 1, 24, 24), np.float32))
    st.save(os.path.join(pd, "model.safetensors"), t)
    a1, a2 = os.path.join(tmp, "g1.st"), os.path.join(tmp, "g2.st")
    run([os.path.join(HERE, "hf_ref.py"), "--model", d, "--batch", bp, "--out", a1])
    run([os.path.join(HERE, "hf_ref.py"), "--model", pd, "--batch", bp, "--out", a2])
    o1, _ = st.load(a1)
    o2, _ = st.load(a2)
    ren = {k.replace("grad.transformer.", "grad."): v for k, v in o1.items()}
    check(sorted(ren) == sorted(o2) and all(np.array_equal(ren[k], o2[k]) for k in o2),
          "hf_ref.py: GPT-2 keys without 'transformer.' (plus attn.bias buffers) load the same")
    # BF16 checkpoint: upcast exactly (same result as F32 weights pre-rounded to bf16).
    d16, cfg16, c16, arr16 = model("qwen2", tmp, dtype="bf16")
    dd, cfgf, cf, arrf = model("qwen2", tmp, dtype="f32")
    rounded = {k: st.bf16_to_f32(st.f32_to_bf16(v)) for k, v in arrf.items()}
    check(st.dtype_of(os.path.join(d16, "model.safetensors"))["model.norm.weight"] == "BF16"
          and all(np.array_equal(arr16[k], rounded[k]) for k in arrf), "make_tiny: --dtype bf16 stores BF16, read back exactly")


def main():
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        test_st(tmp)
        test_config()
        test_second_forward(tmp)
        test_gradients(tmp)
        test_gradcheck()
        test_padding_semantics(tmp)
        test_sgd(tmp)
        test_cli(tmp)
    print(f"selftest: {len(FAILS)} failure(s)")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main())
