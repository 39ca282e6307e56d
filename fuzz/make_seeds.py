#!/usr/bin/env python3
"""Writes the seed corpora under fuzz/corpus/<target>/ (small, hand-made, real-looking inputs).
Run from anywhere: python3 fuzz/make_seeds.py. Recipes are copied from recipes/."""
import json, os, struct, sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
C = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(C, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)


def st(tensors, meta=None, pad=True):
    """tensors: [(name, dtype, shape, bytes)] -> safetensors bytes (offsets in the given order)."""
    size = {"F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U8": 1, "I8": 1, "BOOL": 1}
    hdr, off, blob = {}, 0, b""
    if meta is not None:
        hdr["__metadata__"] = meta
    for name, dt, shape, raw in tensors:
        n = size[dt]
        for s in shape:
            n *= s
        raw = raw if raw is not None else bytes(range(n % 256)) * (n // 256) + bytes(range(n % 256))
        raw = raw[:n].ljust(n, b"\0")
        hdr[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + n]}
        off += n
        blob += raw
    h = json.dumps(hdr, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


# ---- safetensors ----
put("safetensors", "f32_2x2_meta", st([("w", "F32", [2, 2], struct.pack("<4f", 1, 2, 3, 4))], {"format": "pt"}))
put("safetensors", "mixed_dtypes", st([("a.bias", "BF16", [3], None), ("a.weight", "F16", [3, 2], None),
                                       ("ids", "I64", [2], None), ("mask", "BOOL", [4], None),
                                       ("s", "F32", [], None), ("empty", "I32", [0, 5], None)]))
put("safetensors", "lora_adapter", st([("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", "F32", [2, 4], None),
                                       ("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", "F32", [4, 2], None)],
                                      {"format": "pt"}))
put("safetensors", "unpadded_8dims", st([("x", "U8", [1, 1, 1, 1, 1, 1, 2, 2], None), ("y", "I8", [2], None)], pad=False))
put("safetensors", "empty_header", st([]))

# ---- config.json ----
cfgs = {
    "gpt2": {"model_type": "gpt2", "vocab_size": 50, "n_embd": 16, "n_layer": 2, "n_head": 2, "n_positions": 32,
             "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5, "eos_token_id": 0,
             "architectures": ["GPT2LMHeadModel"], "scale_attn_by_inverse_layer_idx": False},
    "llama": json.load(open(os.path.join(ROOT, "models/ftune-tiny/config.json"))),
    "mistral": {"model_type": "mistral", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
                "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 8,
                "max_position_embeddings": 128, "sliding_window": 16, "rope_theta": 1e6, "hidden_act": "silu"},
    "qwen2": {"model_type": "qwen2", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
              "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
              "max_position_embeddings": 128, "use_sliding_window": False, "tie_word_embeddings": True,
              "rope_scaling": None, "attention_bias": True},
    "llama_rope_scaling": {"model_type": "llama", "vocab_size": 64, "hidden_size": 32, "intermediate_size": 64,
                           "num_hidden_layers": 1, "num_attention_heads": 4, "max_position_embeddings": 64,
                           "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                            "high_freq_factor": 4.0, "original_max_position_embeddings": 32},
                           "mlp_bias": False, "pad_token_id": None},
    "bert": {"model_type": "bert", "vocab_size": 60, "hidden_size": 16, "num_hidden_layers": 2,
             "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 64,
             "type_vocab_size": 2, "hidden_act": "gelu", "layer_norm_eps": 1e-12,
             "position_embedding_type": "absolute", "classifier_dropout": None,
             "architectures": ["BertForSequenceClassification"], "id2label": {"0": "ham", "1": "spam"}},
    "roberta": {"model_type": "roberta", "vocab_size": 60, "hidden_size": 16, "num_hidden_layers": 2,
                "num_attention_heads": 2, "intermediate_size": 32, "max_position_embeddings": 66,
                "type_vocab_size": 1, "pad_token_id": 1, "hidden_act": "gelu"},
    "distilbert": {"model_type": "distilbert", "vocab_size": 60, "dim": 16, "n_layers": 2, "n_heads": 2,
                   "hidden_dim": 32, "max_position_embeddings": 64, "activation": "gelu",
                   "sinusoidal_pos_embds": False, "seq_classif_dropout": 0.2, "dropout": 0.1},
}
for k, v in cfgs.items():
    put("config", k + ".json", json.dumps(v, indent=2))

# ---- tokenizer.json (tiny, hand-made) ----
bl_vocab = {c: i for i, c in enumerate(["!", "\"", "H", "e", "l", "o", "w", "r", "d", "Ġ", "He", "ll", "Hell", "Hello",
                                         "Ġw", "or", "Ġwor", "Ġworld", "ld", "<|endoftext|>"])}
put("tokenizer", "byte_level_bpe.json", json.dumps({
    "version": "1.0", "truncation": None, "padding": None,
    "added_tokens": [{"id": 19, "content": "<|endoftext|>", "single_word": False, "lstrip": False, "rstrip": False,
                      "normalized": False, "special": True}],
    "normalizer": None,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
    "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
    "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
    "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
              "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
              "vocab": bl_vocab, "merges": ["H e", "l l", "He ll", "Hell o", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]}},
    indent=1))
put("tokenizer", "sentencepiece_bpe.json", json.dumps({
    "version": "1.0",
    "added_tokens": [{"id": 0, "content": "<unk>", "special": True, "normalized": False, "lstrip": False,
                      "rstrip": False, "single_word": False},
                     {"id": 1, "content": "<s>", "special": True, "normalized": False, "lstrip": False,
                      "rstrip": False, "single_word": False}],
    "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                                                       {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
    "pre_tokenizer": None,
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                {"Sequence": {"id": "B", "type_id": 1}}],
                       "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
    "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
                                                 {"type": "ByteFallback"}, {"type": "Fuse"},
                                                 {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
    "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
              "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
              "vocab": {"<unk>": 0, "<s>": 1, "<0x41>": 2, "<0xC3>": 3, "▁": 4, "h": 5, "i": 6, "▁h": 7, "▁hi": 8},
              "merges": [["▁", "h"], ["▁h", "i"]]}}, indent=1))
put("tokenizer", "wordpiece_bert.json", json.dumps({
    "version": "1.0",
    "added_tokens": [{"id": i, "content": t, "special": True, "normalized": False, "lstrip": False, "rstrip": False,
                      "single_word": False} for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])],
    "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                   "strip_accents": None, "lowercase": True},
    "pre_tokenizer": {"type": "BertPreTokenizer"},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                  {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                       "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                                {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                       "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                          "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}},
    "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
    "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
              "max_input_chars_per_word": 100,
              "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "[MASK]": 4, "hello": 5, "world": 6, ",": 7,
                        "!": 8, "it": 9, "##s": 10, "'": 11, "cafe": 12, "na": 13, "##ive": 14, "你": 15, "好": 16}}},
    indent=1))
put("tokenizer", "roberta_split_regex.json", json.dumps({
    "version": "1.0", "added_tokens": [],
    "normalizer": {"type": "NFKC"},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"},
         "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]},
    "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0], "trim_offsets": True,
                       "add_prefix_space": False},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"<s>": 0, "<pad>": 1, "</s>": 2, "a": 3, "b": 4, "ab": 5, "Ġ": 6, "Ġab": 7},
              "merges": ["a b", "Ġ ab"]}}, indent=1))
sys.path.insert(0, os.path.join(ROOT, "tests", "ref"))
import charsmap  # noqa: E402  (tests/ref/charsmap.py: the precompiled_charsmap writer)
put("tokenizer", "unigram_precompiled.json", json.dumps({
    "version": "1.0",
    "added_tokens": [{"id": i, "content": c, "special": True, "normalized": False, "lstrip": False,
                      "rstrip": False, "single_word": False} for i, c in enumerate(["<pad>", "</s>", "<unk>"])],
    "normalizer": {"type": "Sequence", "normalizers": [
        {"type": "Precompiled", "precompiled_charsmap": charsmap.encode(charsmap.HAND_MAP)},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
    "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"}, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always",
                                      "split": True}]},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                       "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                {"Sequence": {"id": "B", "type_id": 0}}, {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                       "special_tokens": {"</s>": {"id": "</s>", "ids": [1], "tokens": ["</s>"]}}},
    "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
    "model": {"type": "Unigram", "unk_id": 2, "byte_fallback": True,
              "vocab": [["<pad>", 0], ["</s>", 0], ["<unk>", 0], ["▁", -2], ["▁Hello", -3], ["l", -4],
                        ["o", -4], ["▁w", -5], ["or", -4.5], ["ld", -4.5], ["0", -6], ["A", -6],
                        ["<0xC3>", -8], ["<0xA9>", -8]]}}, indent=1))

# ---- adapter_config.json ----
base = {"base_model_name_or_path": "tiny", "bias": "none", "fan_in_fan_out": False, "inference_mode": True,
        "init_lora_weights": True, "lora_alpha": 16, "lora_dropout": 0.05, "modules_to_save": None,
        "peft_type": "LORA", "r": 4, "revision": None, "target_modules": ["q_proj", "v_proj"],
        "task_type": "CAUSAL_LM", "use_rslora": False, "use_dora": False, "layers_to_transform": None,
        "layers_pattern": None, "rank_pattern": {}, "alpha_pattern": {}}
put("peft", "lora_list.json", json.dumps(base, indent=2, sort_keys=True))
put("peft", "lora_regex_patterns.json", json.dumps(dict(base, target_modules=".*\\.(q_proj|c_attn|down_proj)$",
                                                     rank_pattern={"q_proj": 2, "^model.layers.1.*": 8},
                                                     alpha_pattern={"v_proj": 4.0}, use_rslora=True), indent=2))
put("peft", "lora_layers.json", json.dumps(dict(base, target_modules="all-linear", layers_to_transform=None,
                                              exclude_modules=["lm_head"]), indent=2))
put("peft", "lora_layers_pattern.json", json.dumps(dict(base, target_modules=["c_attn", "k_proj", "wte", "embed_tokens"],
                                                      layers_to_transform=[0], layers_pattern="layers"), indent=2))
put("peft", "ia3.json", json.dumps({"peft_type": "IA3", "target_modules": ["k_proj", "v_proj", "down_proj", "c_attn", "c_proj"],
                                    "feedforward_modules": ["down_proj", "mlp.c_proj"], "task_type": "CAUSAL_LM"}, indent=2))
put("peft", "prompt.json", json.dumps({"peft_type": "PROMPT_TUNING", "num_virtual_tokens": 4,
                                       "num_transformer_submodules": 1, "token_dim": 24}, indent=2))
put("peft", "bitfit.json", json.dumps({"peft_type": "BITFIT"}))
put("peft", "adapter.json", json.dumps({"peft_type": "BOTTLENECK_ADAPTER", "adapter_size": 8,
                                        "adapter_placement": "parallel", "adapter_act": "relu"}))

# ---- recipes ----
for fn in sorted(os.listdir(os.path.join(ROOT, "recipes"))):
    if fn.endswith(".yaml"):
        with open(os.path.join(ROOT, "recipes", fn), "rb") as f:
            put("recipe", fn, f.read())
put("recipe", "dotted_and_lists.yaml", "model: models/ftune-tiny\nmethod: lora\nlora.r: 8\nlora.target_modules: [q_proj, v_proj]\n"
    "train:\n  lr: 3.0e-4\n  epochs: 2\n  # comment\n  batch_size: 4\ndata:\n  train: d.jsonl\n  max_len: 128\n"
    "  stratify: yes\n  text_field: \"body\"\n")

# ---- dataset rows (first byte: format 0 jsonl 1 csv 2 tsv 3 text; +4 text pair field; +8 label 'category') ----
put("readers", "jsonl_cls", b"\x00" + b'{"text": "free money now", "label": "spam"}\n{"text": "meeting at 3", "label": 0}\n'
    b'\n  {"text": "caf\xc3\xa9", "label": true, "extra": [1, {"a": null}]}\r\n')
put("readers", "jsonl_chat", b"\x00" + json.dumps({"messages": [{"role": "user", "content": "hi"},
                                                               {"role": "assistant", "content": "hello"}]}).encode() + b"\n"
    + json.dumps({"prompt": "Translate: chat", "response": "cat"}).encode() + b"\n")
put("readers", "jsonl_pair", b"\x04" + b'{"text": "a man sleeps", "text2": "a person rests", "label": 1.5}\n')
put("readers", "csv_quoted", b"\x01" + b'text,label\n"hello, world",ham\n"say ""hi""\nthere",spam\nplain,1\n')
put("readers", "csv_category", b"\x09" + b'id,text,text2,category\n1,abc,def,x\r\n2,"g",h,y\n')
put("readers", "tsv", b"\x02" + b"label\ttext\npos\tgood film\nneg\tbad\tfilm\n")
put("readers", "text", b"\x03" + b"\xef\xbb\xbfline one\n\nline two\r\n   \nlast")

# ---- mail ----
put("mail", "plain.eml", "From: a@example.com\nTo: b@example.com\nSubject: Meeting =?UTF-8?Q?caf=C3=A9?=\n"
    "Date: Mon, 1 Jan 2024 10:00:00 +0000\nContent-Type: text/plain; charset=iso-8859-1\n"
    "Content-Transfer-Encoding: quoted-printable\n\nSee you at the caf=E9 at 3.\nlong =\nline\n")
put("mail", "multipart.eml", "From: x@y\nSubject: =?iso-8859-1?B?SGVsbG8g6Q==?=\nMIME-Version: 1.0\n"
    "Content-Type: multipart/alternative; boundary=\"BOUND\"\n\npreamble\n--BOUND\n"
    "Content-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: base64\n\nPGI+aGk8L2I+IHRoZXJl\n"
    "--BOUND\nContent-Type: text/plain; charset=\"windows-1252\"\n\nplain \x93quoted\x94 text\n--BOUND--\nepilogue\n")
put("mail", "nested.eml", "Subject: fwd\nContent-Type: multipart/mixed; boundary=a\n\n--a\nContent-Type: multipart/alternative; "
    "boundary=b\n\n--b\nContent-Type: text/plain\n\ninner\n--b--\n--a\nContent-Type: application/octet-stream\n"
    "Content-Transfer-Encoding: base64\n\nAAEC\n--a--\n")
put("mail", "html_only.eml", "Subject: offer\nContent-Type: text/html\n\n<html><style>p{}</style><p>Buy &amp; save&nbsp;now"
    "<!-- x --></p><script>x()</script></html>\n")

# ---- batch.json (ftune dump) ----
put("batch", "causal.json", json.dumps({"input_ids": [[1, 2, 3], [4, 5, 0]], "attention_mask": [[1, 1, 1], [1, 1, 0]],
                                        "labels": [[1, 2, 3], [4, 5, -100]]}))
put("batch", "cls.json", json.dumps({"input_ids": [[101, 7, 102]], "token_type_ids": [[0, 0, 0]], "cls_labels": [1]}))
put("batch", "reg.json", json.dumps({"input_ids": [[5], [6]], "targets": [0.5, -2.25]}))

# ---- images (first byte: 0 decode + preprocess, resample in bits 2-4; 1 IDX; 2 preprocessor config;
#      3 decode + augmentation). Tiny PNGs written here, JPEGs through PIL when it is installed ----
def png(w, h, ctype, depth, rows, extra=b"", interlace=0):
    import zlib
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, interlace))
            + extra + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _png_chunk(t, d):
    import zlib
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)


put("image", "png_gray8", b"\0" + png(3, 2, 0, 8, [bytes([0, 128, 255]), bytes([1, 2, 3])]))
put("image", "png_rgb16", b"\x08" + png(2, 2, 2, 16, [bytes(range(12)), bytes(range(12, 24))]))
put("image", "png_rgba8", b"\x03" + png(2, 1, 6, 8, [bytes([255, 0, 0, 128, 0, 255, 0, 255])]))
put("image", "png_pal2_trns", b"\x0c" + png(4, 1, 3, 2, [bytes([0b00011011])],
                                           _png_chunk(b"PLTE", bytes(range(12))) + _png_chunk(b"tRNS", b"\x00\x80")))
put("image", "png_gray1_adam7", b"\x10" + png(1, 1, 0, 1, [b"\x80"], interlace=1))
idx3 = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))
put("image", "idx3_in_decode", b"\0" + idx3)
put("image", "idx3", b"\x01" + idx3)
put("image", "idx1", b"\x01" + bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 8, 9]))
import gzip as _gz
put("image", "idx3_gz", b"\x01" + _gz.compress(idx3, mtime=0))
put("image", "config_vit", b"\x02" + json.dumps({"do_normalize": True, "do_rescale": True, "do_resize": True,
                                                  "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
                                                  "resample": 2, "rescale_factor": 1 / 255,
                                                  "size": {"height": 224, "width": 224}}).encode())
put("image", "config_int_size", b"\x02" + b'{"size": 32, "image_mean": 0.1, "image_std": 0.3, "resample": 3}')
try:
    import io
    from PIL import Image
    for name, mode, first, kw in [("jpg_rgb", "RGB", 0, {}), ("jpg_gray", "L", 4, {}),
                                  ("jpg_progressive", "RGB", 3, {"progressive": True}), ("jpg_cmyk", "CMYK", 8, {})]:
        im = Image.new(mode, (5, 3))
        im.putdata([tuple((x * 50 + k * 30) % 256 for k in range(len(mode))) if len(mode) > 1 else x * 20
                    for x in range(15)])
        b = io.BytesIO()
        im.save(b, "JPEG", quality=90, **kw)
        put("image", name, bytes([first]) + b.getvalue())
    ex = Image.Exif()
    ex[0x0112] = 6
    b = io.BytesIO()
    Image.new("RGB", (4, 2), (10, 200, 30)).save(b, "JPEG", exif=ex.tobytes())
    put("image", "jpg_exif6", b"\x03" + b.getvalue())
except ImportError:
    print("make_seeds: no PIL, JPEG image seeds not written")
# bit 7: a pixel CSV (pixel_max from bits 5-6: 0 -> 16, 1 -> 255): sklearn digits rows, a Kaggle header
_digits = b"0,0,5,13,9,1,0,0,0,0,13,15,10,15,5,0,0,3,15,2,0,11,8,0,0,4,12,0,0,8,8,0,0,5,8,0,0,9,8,0,0,4,11,0,1,12,7,0,0,2,14,5,10,12,0,0,0,0,6,13,10,0,0,0,0\n"
put("image", "pixels_digits", b"\x80" + _digits + _digits.replace(b",0\n", b",7\n"))
put("image", "pixels_digits_gz", b"\x80" + _gz.compress(_digits, mtime=0))
put("image", "pixels_kaggle", b"\xa0" + b"label,pixel0,pixel1,pixel2,pixel3\n3,0,255,17,9\n1,1,2,3,4\n")

# ---- libFuzzer dictionaries fuzz/dict/<target>.dict ----
DICT = os.path.join(HERE, "dict")
os.makedirs(DICT, exist_ok=True)
JSON_TOK = ['{', '}', '[', ']', ':', ',', '"', 'null', 'true', 'false', '-1', '0', '1e309', '-0.5', '2147483648',
            '9007199254740993', '"\\u0000"', '"\\ud800"', '\\"']


def dict_file(name, words, base=JSON_TOK):
    def esc(t):
        out = ""
        for b in t if isinstance(t, bytes) else t.encode():
            c = chr(b)
            out += "\\\\" if c == "\\" else '\\"' if c == '"' else c if 0x20 <= b < 0x7F else "\\x%02X" % b
        return out
    seen = []
    for t in base + words:
        if t not in seen:
            seen.append(t)
    with open(os.path.join(DICT, name + ".dict"), "w") as f:
        f.write("# libFuzzer dictionary for fuzz_%s (written by fuzz/make_seeds.py)\n" % name)
        f.writelines('"%s"\n' % esc(t) for t in seen)


dict_file('safetensors', ['__metadata__', 'dtype', 'shape', 'data_offsets', 'F32', 'F16', 'BF16', 'I64', 'I32', 'U8',
                          'I8', 'BOOL', 'F64', 'format', 'pt', '\x08\x00\x00\x00\x00\x00\x00\x00', '        '])
dict_file('config', ['model_type', 'gpt2', 'llama', 'mistral', 'qwen2', 'bert', 'roberta', 'distilbert', 'xlm-roberta',
                     'vocab_size', 'hidden_size', 'n_embd', 'n_layer', 'n_head', 'n_positions', 'num_hidden_layers',
                     'num_attention_heads', 'num_key_value_heads', 'intermediate_size', 'head_dim',
                     'max_position_embeddings', 'rope_scaling', 'rope_type', 'factor', 'rope_theta', 'sliding_window',
                     'use_sliding_window', 'tie_word_embeddings', 'hidden_act', 'activation_function', 'gelu_new',
                     'silu', 'relu', 'type_vocab_size', 'pad_token_id', 'eos_token_id', 'dim', 'n_layers', 'n_heads',
                     'hidden_dim', 'layer_norm_eps', 'rms_norm_eps', 'position_embedding_type', 'absolute',
                     'architectures', 'num_labels', 'id2label'])
dict_file('tokenizer', ['model', 'type', 'BPE', 'WordPiece', 'vocab', 'merges', 'unk_token',
                        'continuing_subword_prefix', 'end_of_word_suffix', 'byte_fallback', 'fuse_unk',
                        'ignore_merges', 'added_tokens', 'id', 'content', 'special', 'normalized', 'lstrip', 'rstrip',
                        'single_word', 'normalizer', 'normalizers', 'Sequence', 'NFC', 'NFKC', 'NFD', 'Lowercase',
                        'StripAccents', 'BertNormalizer', 'Prepend', 'prepend', 'Replace', 'pattern', 'String',
                        'Regex', 'Strip', 'pre_tokenizer', 'pretokenizers', 'ByteLevel', 'add_prefix_space',
                        'use_regex', 'trim_offsets', 'Split', 'behavior', 'Isolated', 'Removed', 'MergedWithPrevious',
                        'MergedWithNext', 'Contiguous', 'invert', 'Whitespace', 'WhitespaceSplit', 'BertPreTokenizer',
                        'Metaspace', 'replacement', 'prepend_scheme', 'first', 'always', 'never', 'Punctuation',
                        'Digits', 'individual_digits', 'post_processor', 'TemplateProcessing', 'single', 'pair',
                        'SpecialToken', 'type_id', 'special_tokens', 'ids', 'tokens', 'RobertaProcessing',
                        'BertProcessing', 'sep', 'cls', 'decoder', 'decoders', 'ByteFallback', 'Fuse', 'start',
                        'stop', '##', '\u2581', '\u0120', '<unk>', '<s>', '[UNK]', '(?i:', '\\p{L}+', '(?!\\S)',
                        '(a+)+$', 'Unigram', 'unk_id', 'Precompiled', 'precompiled_charsmap', '<0xC3>', '-1e9'])
dict_file('peft', ['peft_type', 'LORA', 'IA3', 'PROMPT_TUNING', 'BITFIT', 'BOTTLENECK_ADAPTER', 'r', 'lora_alpha',
                   'lora_dropout', 'target_modules', 'exclude_modules', 'all-linear', 'q_proj', 'v_proj', 'c_attn',
                   'lm_head', 'embed_tokens', 'wte', 'layers_to_transform', 'layers_pattern', 'layers', 'h',
                   'rank_pattern', 'alpha_pattern', 'use_rslora', 'use_dora', 'bias', 'lora_only', 'all',
                   'init_lora_weights', 'pissa', 'feedforward_modules', 'num_virtual_tokens',
                   'num_transformer_submodules', 'adapter_size', 'adapter_placement', 'adapter_act',
                   'ensure_weight_tying', 'modules_to_save', 'use_qalora', '.*', '^model\\.layers\\.', '$'])
dict_file('batch', ['input_ids', 'attention_mask', 'token_type_ids', 'labels', 'cls_labels', 'targets', '-100'])
dict_file('recipe', [':', ': ', '- ', '[', ']', '{', '}', ',', '#', '---', '...', '|', '>', '&a', '*a', '!!str', '~',
                     'null', 'yes', 'no', 'true', '1e-4', '"', "'", '\n  ', '<<', '? ', 'model', 'method', 'lora',
                     'full', 'ia3', 'prompt', 'bitfit', 'adapter', 'task', 'data', 'train', 'validation', 'test',
                     'format', 'text_field', 'label_field', 'max_len', 'lr', 'epochs', 'batch_size', 'seed',
                     'output_dir', 'lora.r', 'lora.alpha', 'target_modules', 'rank_pattern', 'schedule', 'warmup',
                     'optimizer', 'adamw', 'sgd', 'eval', 'peft'], base=[])
dict_file('readers', ['\n', '\r\n', '"', '""', ',', '\t', '{"text": "', '", "label": ', '"messages"', '"role"',
                      '"content"', '"prompt"', '"response"', '"text2"', '"category"', '\ufeff', 'null', 'true', '[',
                      ']', '{', '}'], base=[])
dict_file('mail', ['Subject: ', 'From: ', 'Content-Type: ', 'Content-Transfer-Encoding: ', 'quoted-printable',
                   'base64', 'multipart/mixed', 'multipart/alternative', 'text/plain', 'text/html', 'charset=',
                   'utf-8', 'iso-8859-1', 'windows-1252', 'koi8-r', 'boundary=', '--', '\n\n', '\r\n',
                   '=?UTF-8?Q?', '=?iso-8859-1?B?', '?=', '=\n', '=C3=A9', ' ;', '"', '<html>', '<!--', '-->',
                   '<script>', '&amp;', '&#233;', '&#x', 'MIME-Version: 1.0'], base=[])
dict_file('image', [b'\x89PNG\r\n\x1a\n', b'IHDR', b'PLTE', b'tRNS', b'IDAT', b'IEND', b'\xff\xd8\xff', b'\xff\xe1',
                    b'Exif\x00\x00', b'II*\x00', b'MM\x00*', b'\x01\x12', b'\xff\xc0', b'\xff\xc2', b'\xff\xda',
                    b'\xff\xd9', b'Adobe', b'\x00\x00\x08\x03', b'\x00\x00\x08\x01', b'\x1f\x8b', b'size',
                    b'height', b'width', b'shortest_edge', b'resample', b'do_resize', b'image_mean', b'image_std',
                    b'rescale_factor', b'do_center_crop'], base=[])
