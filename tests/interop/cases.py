"""The interop cases as data (no transformers/PEFT needed to list them): per model kind, which PEFT
configs the read direction builds, and which ftune runs the write direction makes. Each case names
the ftune feature it needs (ftio.FEATURES).
"""
from dataclasses import dataclass, field

KINDS = ("gpt2", "llama", "qwen2", "mistral")
LLAMA_LIKE = ("llama", "qwen2", "mistral")

# Module names per family: PEFT's matching works on these.
_GPT2 = {
    "wide": ["c_attn", "c_proj", "c_fc"],
    "regex": r"transformer\.h\.1\.(attn\.c_attn|mlp\.c_fc)",
    "embed": "wte", "attn": "c_attn", "layers_pattern": "h",
    "layer_key": "h.0.attn.c_attn", "ff_key": "c_fc",
    "exclude": ["c_proj"], "exclude_regex": r"transformer\.h\.0\.mlp\..*",
    "ia3_t": ["c_attn", "c_fc", "mlp.c_proj"], "ia3_ff": ["c_fc", "mlp.c_proj"],
}
_LLAMA = {
    "wide": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "regex": r"model\.layers\.1\.(self_attn\.(q|o)_proj|mlp\.up_proj)",
    "embed": "embed_tokens", "attn": "q_proj", "layers_pattern": "layers",
    "layer_key": "layers.1.self_attn.q_proj", "ff_key": "down_proj",
    "exclude": ["o_proj", "gate_proj"], "exclude_regex": r"model\.layers\.0\.mlp\..*",
    "ia3_t": ["q_proj", "o_proj", "up_proj", "down_proj"], "ia3_ff": ["up_proj", "down_proj"],
}


def names(kind):
    return _GPT2 if kind == "gpt2" else _LLAMA


def has_bias(kind):
    """Whether bias modes of LoRA have biases to train (plain Llama and Mistral have none)."""
    return kind in ("gpt2", "qwen2")


@dataclass
class ReadCase:
    """PEFT builds an adapter (spec: the method and its LoraConfig/IA3Config/... fields); ftune dump
    --adapter must give PEFT's logits and gradients. spec None: the bare base checkpoint."""
    name: str
    feature: str
    spec: object  # function kind -> dict, or None
    task: str = "causal_lm"
    kinds: tuple = KINDS
    dtype: str = "f32"  # the base checkpoint's storage: f32 or bf16


def _lora(**kw):
    return lambda kind: dict(method="lora", **{k: (v(kind) if callable(v) else v) for k, v in kw.items()})


def _n(key):
    return lambda kind: names(kind)[key]


READ = [
    ReadCase("full", "base", None),
    ReadCase("full-bf16", "base", None, dtype="bf16"),
    ReadCase("lora", "base", _lora()),
    ReadCase("lora-bf16", "base", _lora(target_modules=_n("wide"), r=3, lora_alpha=5), dtype="bf16"),
    ReadCase("lora-wide", "base", _lora(target_modules=_n("wide"), r=3, lora_alpha=5)),
    ReadCase("lora-regex", "base", _lora(target_modules=_n("regex"))),
    ReadCase("lora-rslora", "base", _lora(r=4, lora_alpha=6, use_rslora=True)),
    # PEFT resolves all-linear itself and saves the module names: reading needs nothing new.
    ReadCase("lora-all-linear", "base", _lora(target_modules="all-linear", r=2, lora_alpha=4)),
    ReadCase("lora-bias-all", "base", _lora(target_modules=_n("wide"), bias="all"), kinds=("gpt2", "qwen2")),
    ReadCase("lora-bias-lora_only", "base", _lora(target_modules=_n("wide"), bias="lora_only"),
             kinds=("gpt2", "qwen2")),
    ReadCase("lora-patterns", "patterns",
             _lora(target_modules=_n("wide"), r=4, lora_alpha=8,
                   rank_pattern=lambda k: {names(k)["layer_key"]: 2, names(k)["ff_key"]: 6},
                   alpha_pattern=lambda k: {names(k)["layer_key"]: 3})),
    ReadCase("lora-rslora-patterns", "patterns",
             _lora(target_modules=_n("wide"), r=4, lora_alpha=8, use_rslora=True,
                   rank_pattern=lambda k: {names(k)["ff_key"]: 2}, alpha_pattern=lambda k: {names(k)["ff_key"]: 5})),
    ReadCase("lora-layers-list", "patterns", _lora(target_modules=_n("wide"), layers_to_transform=[1])),
    ReadCase("lora-layers-int-pattern", "patterns",
             _lora(target_modules=_n("wide"), layers_to_transform=0, layers_pattern=_n("layers_pattern"))),
    ReadCase("lora-exclude", "patterns", _lora(target_modules="all-linear", exclude_modules=_n("exclude"))),
    ReadCase("lora-exclude-regex", "patterns", _lora(target_modules=_n("wide"), exclude_modules=_n("exclude_regex"))),
    ReadCase("dora", "base", _lora(target_modules=_n("wide"), r=3, lora_alpha=5, use_dora=True)),
    ReadCase("dora-patterns", "patterns",
             _lora(target_modules=_n("wide"), r=3, lora_alpha=5, use_dora=True,
                   rank_pattern=lambda k: {names(k)["layer_key"]: 5})),
    ReadCase("lora-embed", "embed",
             _lora(target_modules=lambda k: [names(k)["embed"], names(k)["attn"]], save_embedding_layers=False)),
    # PEFT's default (save_embedding_layers="auto") also writes the embedding layers into the file.
    ReadCase("lora-embed-saved", "embed-saved", _lora(target_modules=lambda k: [names(k)["embed"], names(k)["attn"]])),
    ReadCase("ia3", "base", lambda k: dict(method="ia3")),
    ReadCase("ia3-custom", "base",
             lambda k: dict(method="ia3", target_modules=names(k)["ia3_t"], feedforward_modules=names(k)["ia3_ff"])),
    ReadCase("prompt", "base", lambda k: dict(method="prompt", num_virtual_tokens=4)),
    ReadCase("cls-full", "base", None, task="cls"),
    ReadCase("cls-lora", "base", _lora(), task="cls"),  # SEQ_CLS: PEFT adds score to modules_to_save
]


@dataclass
class WriteCase:
    """ftune writes something (train / init / merge); transformers and PEFT must read it and give
    ftune's logits (and, for adapters, gradients)."""
    name: str
    feature: str
    kind_args: object = None  # function kind -> list of extra `ftune train` arguments
    task: str = "causal_lm"
    kinds: tuple = KINDS
    extra: dict = field(default_factory=dict)


def _args(*a):
    return lambda kind: [x(kind) if callable(x) else x for x in a]


WRITE_TRAIN = [
    WriteCase("train-full", "base", _args()),
    WriteCase("train-lora", "base", _args("method=lora", "lora.r=4", "lora.alpha=8")),
    WriteCase("train-lora-wide-rslora", "base",
              _args("method=lora", lambda k: "lora.target_modules=" + ",".join(names(k)["wide"]), "lora.r=3",
                    "lora.alpha=5", "lora.use_rslora=true")),
    WriteCase("train-lora-bias-all", "base", _args("method=lora", "lora.bias=all"), kinds=("gpt2", "qwen2")),
    WriteCase("train-dora", "base",
              _args("method=lora", "lora.use_dora=true", lambda k: "lora.target_modules=" + ",".join(names(k)["wide"]))),
    WriteCase("train-ia3", "base", _args("method=ia3")),
    WriteCase("train-prompt", "base", _args("method=prompt", "prompt.num_virtual_tokens=4")),
    WriteCase("train-lora-all-linear", "all-linear", _args("method=lora", "lora.target_modules=all-linear", "lora.r=2")),
    WriteCase("train-lora-patterns", "patterns",
              _args("method=lora", lambda k: "lora.target_modules=" + ",".join(names(k)["wide"]), "lora.r=4",
                    lambda k: f"lora.rank_pattern={names(k)['ff_key']}:2,{names(k)['layer_key']}:6",
                    lambda k: f"lora.alpha_pattern={names(k)['ff_key']}:3")),
    WriteCase("train-lora-layers", "patterns",
              _args("method=lora", lambda k: "lora.target_modules=" + ",".join(names(k)["wide"]),
                    "lora.layers_to_transform=1", lambda k: f"lora.exclude_modules={names(k)['exclude'][0]}")),
    WriteCase("train-lora-embed", "embed",
              _args("method=lora", lambda k: f"lora.target_modules={names(k)['embed']},{names(k)['attn']}")),
    WriteCase("train-method-flag", "method-flag", _args("--method", "lora", "lora.r=4")),
    WriteCase("train-cls-full", "pretok-cls", _args("task=classification"), task="cls"),
    WriteCase("train-cls-lora", "pretok-cls", _args("task=classification", "method=lora"), task="cls"),
]

# ftune merge: the adapter comes from PEFT (a READ case's spec) or from ftune train (a WRITE case).
MERGE = [
    ("merge-lora", "base", "read", "lora-wide"),
    ("merge-dora", "base", "read", "dora"),
    ("merge-ia3", "base", "read", "ia3-custom"),
    ("merge-lora-patterns", "patterns", "read", "lora-patterns"),
    ("merge-lora-embed", "embed", "read", "lora-embed"),
    ("merge-trained-lora", "base", "write", "train-lora"),
]

# ftune train --adapter DIR / peft.init_from=DIR on an adapter PEFT wrote (a READ case's spec).
CONTINUE = [
    ("continue-lora-flag", "init-from", "lora-wide", ["--adapter", "{adapter}"]),
    ("continue-lora-recipe", "init-from", "lora-rslora", ["peft.init_from={adapter}"]),
    ("continue-ia3", "init-from", "ia3", ["--adapter", "{adapter}"]),
    ("continue-cls-lora", "init-from+pretok-cls", "cls-lora", ["--adapter", "{adapter}", "task=classification"]),
]


def read_case(name):
    for c in READ:
        if c.name == name:
            return c
    raise KeyError(name)


def write_case(name):
    for c in WRITE_TRAIN:
        if c.name == name:
            return c
    raise KeyError(name)
