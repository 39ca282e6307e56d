"""ftune: fine-tune pretrained transformers from Python through libftune's public C API (ftune.h).

Pure ctypes, no compiled extension. The shared library is found through the FTUNE_LIBRARY environment
variable (a path), else ctypes.util.find_library("ftune"), else a libftune.so* next to this package.

    import ftune
    info = ftune.train("recipe.yaml", on_step=lambda p: print(p["step"], p["loss"]),
                       **{"train.max_steps": 100, "lora.r": 8})
    m = ftune.Model("base", adapter=info["output_dir"])
    label, probs = m.classify("a great film")
    text = m.generate("Once upon a time", max_new_tokens=20)

Every failure raises ftune.Error carrying the library's message (naming the file, key or line at fault).
Each object owns its own library context, so separate objects may be used from separate threads; one
object must not be used from two threads at once.
"""
import ctypes
import ctypes.util
import glob
import math
import os

import numpy as np

__all__ = ["Error", "Model", "Tokenizer", "Trainer", "train", "version", "abi_version", "library_path"]

ABI_VERSION = 1  # the FTUNE_ABI_VERSION this binding was written for


class Error(Exception):
    """A libftune call failed: .status is the status name, .message the library's message."""

    def __init__(self, status, message):
        super().__init__(f"{message} ({status})" if message else status)
        self.status = status
        self.message = message


# ---- the library ----

def _find_library():
    env = os.environ.get("FTUNE_LIBRARY")
    if env:
        return env
    found = ctypes.util.find_library("ftune")
    if found:
        return found
    here = sorted(glob.glob(os.path.join(os.path.dirname(os.path.abspath(__file__)), "libftune.so*")))
    if here:
        return here[0]
    raise OSError("libftune not found: set FTUNE_LIBRARY to the path of libftune.so.1, install it "
                  "(cmake --install), or put it next to the ftune package")


class _Metric(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_double)]


class _ModelInfo(ctypes.Structure):
    _fields_ = [("model_type", ctypes.c_char * 32), ("task", ctypes.c_char * 32), ("method", ctypes.c_char * 16),
                ("n_params", ctypes.c_int64), ("n_trainable", ctypes.c_int64), ("vocab_size", ctypes.c_int),
                ("hidden_size", ctypes.c_int), ("n_layers", ctypes.c_int), ("n_heads", ctypes.c_int),
                ("max_positions", ctypes.c_int), ("n_labels", ctypes.c_int)]


class _GenOpts(ctypes.Structure):
    _fields_ = [("max_new_tokens", ctypes.c_int), ("do_sample", ctypes.c_int), ("temperature", ctypes.c_float),
                ("top_k", ctypes.c_int), ("top_p", ctypes.c_float), ("repetition_penalty", ctypes.c_float),
                ("seed", ctypes.c_uint64), ("stop", ctypes.POINTER(ctypes.c_char_p)), ("n_stop", ctypes.c_size_t),
                ("chat_template", ctypes.c_char_p), ("system", ctypes.c_char_p)]


class _BeamOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("num_beams", ctypes.c_int), ("length_penalty", ctypes.c_float),
                ("early_stopping", ctypes.c_int), ("no_repeat_ngram_size", ctypes.c_int),
                ("min_new_tokens", ctypes.c_int)]


_EARLY = {False: 0, True: 1, "never": 2, "false": 0, "true": 1}


class _Progress(ctypes.Structure):
    _fields_ = [("step", ctypes.c_int64), ("max_steps", ctypes.c_int64), ("loss", ctypes.c_double),
                ("lr", ctypes.c_double), ("grad_norm", ctypes.c_double), ("tokens_per_s", ctypes.c_double)]


class _TrainerInfo(ctypes.Structure):
    _fields_ = [("step", ctypes.c_int64), ("max_steps", ctypes.c_int64), ("done", ctypes.c_int),
                ("stopped", ctypes.c_int), ("early_stopped", ctypes.c_int), ("first_loss", ctypes.c_double),
                ("last_loss", ctypes.c_double), ("n_train", ctypes.c_int64), ("n_validation", ctypes.c_int64),
                ("n_test", ctypes.c_int64), ("output_dir", ctypes.c_char_p)]


_TOKEN_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int32, ctypes.c_char_p)
_PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.POINTER(_Progress))
_LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p)
_EVAL_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(_Metric), ctypes.c_size_t)

_P = ctypes.c_void_p
_S = ctypes.c_int  # ftune_status
_SIGS = {
    "ftune_version": (ctypes.c_char_p, []),
    "ftune_abi_version": (ctypes.c_int, []),
    "ftune_status_name": (ctypes.c_char_p, [_S]),
    "ftune_free": (None, [_P]),
    "ftune_ctx_new": (_S, [ctypes.POINTER(_P)]),
    "ftune_ctx_free": (None, [_P]),
    "ftune_ctx_set_threads": (_S, [_P, ctypes.c_int]),
    "ftune_last_error": (ctypes.c_char_p, [_P]),
    "ftune_model_load": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_P)]),
    "ftune_model_free": (None, [_P]),
    "ftune_model_get_info": (_S, [_P, ctypes.POINTER(_ModelInfo)]),
    "ftune_model_label": (ctypes.c_char_p, [_P, ctypes.c_int]),
    "ftune_model_save": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p]),
    "ftune_adapter_load": (_S, [_P, ctypes.c_char_p]),
    "ftune_adapter_create": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t]),
    "ftune_adapter_merge": (_S, [_P]),
    "ftune_adapter_unmerge": (_S, [_P]),
    "ftune_adapter_save": (_S, [_P, ctypes.c_char_p]),
    "ftune_tokenizer_load": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_P)]),
    "ftune_tokenizer_free": (None, [_P]),
    "ftune_tokenizer_vocab_size": (ctypes.c_size_t, [_P]),
    "ftune_tokenize": (_S, [_P, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int,
                            ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                            ctypes.POINTER(ctypes.POINTER(ctypes.c_size_t)), ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_detokenize": (_S, [_P, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.c_int,
                              ctypes.POINTER(ctypes.c_void_p)]),
    "ftune_gen_opts_init": (None, [ctypes.POINTER(_GenOpts)]),
    "ftune_generate": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_GenOpts), _TOKEN_FN, _P,
                            ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                            ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_char_p)]),
    "ftune_beam_opts_init": (None, [ctypes.POINTER(_BeamOpts)]),
    "ftune_generate_beam": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_GenOpts), ctypes.POINTER(_BeamOpts), _TOKEN_FN,
                                 _P, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                                 ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_char_p),
                                 ctypes.POINTER(ctypes.c_double)]),
    "ftune_classify": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_float),
                            ctypes.c_size_t]),
    "ftune_classify_image": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                  ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]),
    "ftune_model_evaluate": (_S, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(_Metric)),
                                  ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_trainer_new": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                               ctypes.c_size_t, ctypes.POINTER(_P)]),
    "ftune_trainer_free": (None, [_P]),
    "ftune_trainer_set_callbacks": (_S, [_P, _PROGRESS_FN, _LOG_FN, _EVAL_FN, _P]),
    "ftune_trainer_prepare": (_S, [_P]),
    "ftune_trainer_step": (_S, [_P, ctypes.POINTER(ctypes.c_int)]),
    "ftune_trainer_request_stop": (None, [_P]),
    "ftune_trainer_get_info": (_S, [_P, ctypes.POINTER(_TrainerInfo)]),
    "ftune_trainer_evaluate": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(_Metric)),
                                    ctypes.POINTER(ctypes.c_size_t)]),
}

_lib = None
_lib_path = None


def _L():
    global _lib, _lib_path
    if _lib is None:
        path = _find_library()
        lib = ctypes.CDLL(path)
        for name, (res, args) in _SIGS.items():
            f = getattr(lib, name)
            f.restype = res
            f.argtypes = args
        if lib.ftune_abi_version() != ABI_VERSION:
            raise OSError(f"{path}: ABI version {lib.ftune_abi_version()}, this binding needs {ABI_VERSION}")
        _lib, _lib_path = lib, path
    return _lib


def version():
    """The version of the loaded libftune (FTUNE_VERSION)."""
    return _L().ftune_version().decode()


def abi_version():
    return _L().ftune_abi_version()


def library_path():
    """The path the shared library was loaded from."""
    _L()
    return _lib_path


def _b(s):
    return None if s is None else os.fsencode(s) if isinstance(s, os.PathLike) else str(s).encode()


class _Ctx:
    """One library context: the error message of this object's calls, and its thread count."""

    def __init__(self, threads=0):
        self.lib = _L()
        self.p = _P()
        st = self.lib.ftune_ctx_new(ctypes.byref(self.p))
        if st != 0:
            raise Error(self.lib.ftune_status_name(st).decode(), "cannot create a context")
        if threads:
            self.check(self.lib.ftune_ctx_set_threads(self.p, int(threads)))

    def check(self, st):
        if st != 0:
            msg = self.lib.ftune_last_error(self.p).decode(errors="replace")
            raise Error(self.lib.ftune_status_name(st).decode(), msg)

    def close(self):
        if self.p:
            self.lib.ftune_ctx_free(self.p)
            self.p = _P()


def _take_string(lib, ptr):
    """A char * the library returned (malloc'd) → str, freed."""
    if not ptr.value:
        return None
    s = ctypes.string_at(ptr.value).decode(errors="replace")
    lib.ftune_free(ptr)
    return s


class _Handle:
    _free = None

    def close(self):
        """Free the library's object now (also done when it is garbage-collected)."""
        if getattr(self, "_h", None):
            getattr(self._ctx.lib, self._free)(self._h)
            self._h = _P()
        if getattr(self, "_ctx", None):
            self._ctx.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _live(self):
        if not self._h:
            raise Error("bad argument", f"this {type(self).__name__} is closed")
        return self._h


# ---- tokenizers ----

class Tokenizer(_Handle):
    """A tokenizer (tokenizer.json, vocab.json + merges.txt, or vocab.txt) from a directory or a file."""
    _free = "ftune_tokenizer_free"

    def __init__(self, path, threads=0):
        self._h = _P()
        self._ctx = _Ctx(threads)
        self._ctx.check(self._ctx.lib.ftune_tokenizer_load(self._ctx.p, _b(path), ctypes.byref(self._h)))

    @property
    def vocab_size(self):
        return int(self._ctx.lib.ftune_tokenizer_vocab_size(self._live()))

    def encode(self, text, add_special=True, offsets=False):
        """Token ids (numpy int32); with offsets=True also an (n, 2) array of [start, end) offsets into the
        text in characters (Python str indices), as Hugging Face's tokenizers report them."""
        data = text.encode()
        ids = ctypes.POINTER(ctypes.c_int32)()
        offs = ctypes.POINTER(ctypes.c_size_t)()
        n = ctypes.c_size_t()
        lib = self._ctx.lib
        self._ctx.check(lib.ftune_tokenize(self._live(), data, len(data), int(add_special), ctypes.byref(ids),
                                           ctypes.byref(offs) if offsets else None, ctypes.byref(n)))
        try:
            out = np.ctypeslib.as_array(ids, shape=(n.value,)).copy() if n.value else np.zeros(0, np.int32)
            if not offsets:
                return out
            b = np.ctypeslib.as_array(offs, shape=(n.value, 2)).copy() if n.value else np.zeros((0, 2), np.uint64)
            # byte offsets → character offsets: count the characters before each byte position
            char_at = np.zeros(len(data) + 1, dtype=np.int64)
            pos = 0
            for ch in text:
                w = len(ch.encode())
                char_at[pos + 1:pos + w + 1] = char_at[pos] + 1
                pos += w
            return out, char_at[b.astype(np.int64)]
        finally:
            lib.ftune_free(ids)
            lib.ftune_free(offs)

    def decode(self, ids, skip_special=True):
        arr = np.ascontiguousarray(np.asarray(ids, dtype=np.int32))
        txt = ctypes.c_void_p()
        self._ctx.check(self._ctx.lib.ftune_detokenize(
            self._live(), arr.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), arr.size, int(skip_special),
            ctypes.byref(txt)))
        return _take_string(self._ctx.lib, txt) or ""


# ---- models ----

def _options(prefix, options):
    """Python keyword options → recipe key=value strings: r=8 → "lora.r=8"; a key with a dot is kept;
    lists are joined by commas; booleans are true/false."""
    out = []
    for k, v in options.items():
        key = k.replace("__", ".")
        if "." not in key and key != "seed":
            key = f"{prefix}.{key}"
        if isinstance(v, bool):
            v = "true" if v else "false"
        elif isinstance(v, (list, tuple)):
            v = ",".join(str(x) for x in v)
        out.append(f"{key}={v}")
    return out


def _cstrings(items):
    arr = (ctypes.c_char_p * max(1, len(items)))()
    keep = [s.encode() for s in items]
    for i, s in enumerate(keep):
        arr[i] = s
    return arr, keep


class Model(_Handle):
    """A model directory (a Hugging Face checkpoint, or what ftune.train / `ftune train` wrote), with an
    optional PEFT adapter directory on top."""
    _free = "ftune_model_free"

    def __init__(self, path, adapter=None, threads=0):
        self._h = _P()
        self._ctx = _Ctx(threads)
        self._ctx.check(self._ctx.lib.ftune_model_load(self._ctx.p, _b(path), _b(adapter), ctypes.byref(self._h)))

    @property
    def info(self):
        """model_type, task, method, n_params, n_trainable, vocab_size, hidden_size, n_layers, n_heads,
        max_positions, n_labels, labels."""
        mi = _ModelInfo()
        self._ctx.check(self._ctx.lib.ftune_model_get_info(self._live(), ctypes.byref(mi)))
        d = {name: getattr(mi, name) for name, _ in _ModelInfo._fields_}
        for k in ("model_type", "task", "method"):
            d[k] = d[k].decode()
        d["labels"] = self.labels
        return d

    @property
    def labels(self):
        out, i = [], 0
        while True:
            s = self._ctx.lib.ftune_model_label(self._live(), i)
            if s is None:
                return out
            out.append(s.decode())
            i += 1

    def save(self, path, dtype="f32"):
        self._ctx.check(self._ctx.lib.ftune_model_save(self._live(), _b(path), _b(dtype)))

    def load_adapter(self, path):
        self._ctx.check(self._ctx.lib.ftune_adapter_load(self._live(), _b(path)))

    def add_adapter(self, method="lora", **options):
        """Attach a new adapter: add_adapter("lora", r=8, alpha=16, target_modules=["c_attn"]); the options
        are the method's recipe keys (lora.*, ia3.*, adapter.*, prompt.*) without the prefix."""
        arr, keep = _cstrings(_options(method if method != "full" else "freeze", options))
        self._ctx.check(self._ctx.lib.ftune_adapter_create(self._live(), _b(method), arr, len(keep)))

    def merge(self):
        self._ctx.check(self._ctx.lib.ftune_adapter_merge(self._live()))

    def unmerge(self):
        self._ctx.check(self._ctx.lib.ftune_adapter_unmerge(self._live()))

    def save_adapter(self, path):
        self._ctx.check(self._ctx.lib.ftune_adapter_save(self._live(), _b(path)))

    def classify(self, text):
        """(label, probabilities as a numpy float32 array in class-id order; .labels names them); a
        regression model gives (None, array([value]))."""
        n = max(1, len(self.labels))
        probs = np.zeros(n, dtype=np.float32)
        label = ctypes.c_int()
        self._ctx.check(self._ctx.lib.ftune_classify(self._live(), _b(text), ctypes.byref(label),
                                                     probs.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n))
        return (None if label.value < 0 else self.labels[label.value]), probs

    def classify_image(self, path):
        """(label, probabilities as a numpy float32 array in class-id order) of one image file (PNG, JPEG)
        through an image classifier (a vit trained with task image_classification), as `ftune predict
        --image` computes them."""
        n = max(1, len(self.labels))
        probs = np.zeros(n, dtype=np.float32)
        label = ctypes.c_int()
        self._ctx.check(self._ctx.lib.ftune_classify_image(self._live(), _b(str(path)), ctypes.byref(label),
                                                           probs.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                                           n))
        return self.labels[label.value], probs

    def evaluate(self, data, batch_size=0):
        """{metric: value, "n_examples": n} of the model on a data file, as `ftune eval --model DIR --data
        FILE --json` computes them (the file cleaned and tokenized as training did)."""
        ms = ctypes.POINTER(_Metric)()
        n, nx = ctypes.c_size_t(), ctypes.c_size_t()
        self._ctx.check(self._ctx.lib.ftune_model_evaluate(self._live(), _b(str(data)), int(batch_size),
                                                           ctypes.byref(ms), ctypes.byref(n), ctypes.byref(nx)))
        try:
            out = _metrics(ms, n.value)
        finally:
            self._ctx.lib.ftune_free(ms)
        out["n_examples"] = nx.value
        return out

    def generate(self, prompt, max_new_tokens=64, do_sample=False, temperature=1.0, top_k=0, top_p=1.0,
                 repetition_penalty=1.0, seed=42, stop=None, chat_template=None, system=None, on_token=None,
                 details=False, num_beams=1, length_penalty=1.0, early_stopping=False, no_repeat_ngram_size=0,
                 min_new_tokens=0):
        """The generated text (a causal LM continues the prompt; a T5 model reads it with its encoder).
        on_token(id, piece) streams each new token (return True to stop there; with beam search it gets the
        result's tokens after the search). num_beams > 1: beam search as Hugging Face generate(), with
        length_penalty and early_stopping (False, True or "never"); no_repeat_ngram_size and min_new_tokens
        apply in every mode. details=True returns {"text", "ids" (numpy int32), "finish", "score" (beam
        search's sequence score, else NaN)} instead."""
        lib = self._ctx.lib
        if early_stopping not in _EARLY:
            raise ValueError(f"early_stopping {early_stopping!r} must be False, True or 'never'")
        bo = _BeamOpts()
        lib.ftune_beam_opts_init(ctypes.byref(bo))
        bo.num_beams, bo.length_penalty, bo.early_stopping = int(num_beams), float(length_penalty), _EARLY[early_stopping]
        bo.no_repeat_ngram_size, bo.min_new_tokens = int(no_repeat_ngram_size), int(min_new_tokens)
        o = _GenOpts()
        lib.ftune_gen_opts_init(ctypes.byref(o))
        o.max_new_tokens, o.do_sample, o.temperature = int(max_new_tokens), int(bool(do_sample)), float(temperature)
        o.top_k, o.top_p, o.repetition_penalty, o.seed = int(top_k), float(top_p), float(repetition_penalty), int(seed)
        stops, keep = _cstrings(list(stop or []))
        o.stop, o.n_stop = (ctypes.cast(stops, ctypes.POINTER(ctypes.c_char_p)), len(keep)) if keep else (None, 0)
        o.chat_template, o.system = _b(chat_template), _b(system)
        raised = []

        def tok_cb(user, tid, piece):
            try:
                return 1 if on_token(int(tid), piece.decode(errors="replace")) else 0
            except BaseException as e:  # noqa: B036 (re-raised after the call)
                raised.append(e)
                return 1

        cb = _TOKEN_FN(tok_cb) if on_token else _TOKEN_FN()
        text = ctypes.c_void_p()
        ids = ctypes.POINTER(ctypes.c_int32)()
        n = ctypes.c_size_t()
        finish = ctypes.c_char_p()
        score = ctypes.c_double()
        st = lib.ftune_generate_beam(self._live(), _b(prompt), ctypes.byref(o), ctypes.byref(bo), cb, None,
                                     ctypes.byref(text), ctypes.byref(ids), ctypes.byref(n), ctypes.byref(finish),
                                     ctypes.byref(score))
        out_text = _take_string(lib, text) or ""
        arr = np.ctypeslib.as_array(ids, shape=(n.value,)).copy() if n.value else np.zeros(0, np.int32)
        lib.ftune_free(ids)
        if raised:
            raise raised[0]
        self._ctx.check(st)
        if details:
            return {"text": out_text, "ids": arr, "finish": finish.value.decode() if finish.value else None,
                    "score": score.value}
        return out_text


# ---- training ----

def _metrics(ptr, n):
    return {ptr[i].name.decode(): ptr[i].value for i in range(n)}


class Trainer(_Handle):
    """A training run: a recipe file and/or YAML text, then key=value overrides (the keys of
    `ftune train`). step() runs one optimizer step, run() to the end; the last step saves the model or
    adapter into output_dir. Callbacks: on_step(dict) after each step, on_log(line), on_eval(step, dict)."""
    _free = "ftune_trainer_free"

    def __init__(self, recipe=None, yaml=None, overrides=None, on_step=None, on_log=None, on_eval=None,
                 threads=0):
        self._h = _P()
        self._ctx = _Ctx(threads)
        lib = self._ctx.lib
        items = [f"{k}={_value(v)}" for k, v in (overrides or {}).items()]
        arr, keep = _cstrings(items)
        self._ctx.check(lib.ftune_trainer_new(self._ctx.p, _b(recipe), _b(yaml), arr, len(keep),
                                              ctypes.byref(self._h)))
        self._raised = []

        def guard(fn):
            def call(*a):
                try:
                    fn(*a)
                except BaseException as e:  # noqa: B036 (re-raised after the step)
                    self._raised.append(e)
                    lib.ftune_trainer_request_stop(self._h)
            return call

        def prog(user, p):
            c = p.contents
            on_step({"step": c.step, "max_steps": c.max_steps, "loss": c.loss, "lr": c.lr,
                     "grad_norm": c.grad_norm, "tokens_per_s": c.tokens_per_s})

        # the ctypes callback objects live as long as the trainer
        self._cbs = (_PROGRESS_FN(guard(prog)) if on_step else _PROGRESS_FN(),
                     _LOG_FN(guard(lambda u, line: on_log(line.decode(errors="replace")))) if on_log else _LOG_FN(),
                     _EVAL_FN(guard(lambda u, step, m, n: on_eval(int(step), _metrics(m, n)))) if on_eval
                     else _EVAL_FN())
        self._ctx.check(lib.ftune_trainer_set_callbacks(self._h, *self._cbs, None))

    def _after(self, st):
        if self._raised:
            e, self._raised = self._raised[0], []
            raise e
        self._ctx.check(st)

    def prepare(self):
        self._after(self._ctx.lib.ftune_trainer_prepare(self._live()))

    def step(self):
        """One optimizer step; True when the run has ended (and its outputs are written)."""
        done = ctypes.c_int()
        self._after(self._ctx.lib.ftune_trainer_step(self._live(), ctypes.byref(done)))
        return bool(done.value)

    def run(self):
        while not self.step():
            pass
        return self.info

    def stop(self):
        """Ask the run to stop before its next step (it then writes a checkpoint; resume=output_dir continues)."""
        self._ctx.lib.ftune_trainer_request_stop(self._live())

    @property
    def info(self):
        ti = _TrainerInfo()
        self._ctx.check(self._ctx.lib.ftune_trainer_get_info(self._live(), ctypes.byref(ti)))
        d = {name: getattr(ti, name) for name, _ in _TrainerInfo._fields_}
        d["output_dir"] = d["output_dir"].decode() if d["output_dir"] else None
        for k in ("done", "stopped", "early_stopped"):
            d[k] = bool(d[k])
        return d

    def evaluate(self, split="validation"):
        """{metric: value} of the current model on the run's "validation" or "test" split."""
        ms = ctypes.POINTER(_Metric)()
        n = ctypes.c_size_t()
        self._ctx.check(self._ctx.lib.ftune_trainer_evaluate(self._live(), _b(split), ctypes.byref(ms),
                                                             ctypes.byref(n)))
        try:
            return _metrics(ms, n.value)
        finally:
            self._ctx.lib.ftune_free(ms)


def _value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return ",".join(str(x) for x in v)
    if isinstance(v, float) and math.isfinite(v):
        return repr(v)
    return str(v)


def train(recipe=None, *, yaml=None, on_step=None, on_log=None, on_eval=None, threads=0, **overrides):
    """Run a training recipe to the end and return the trainer's info (output_dir, steps, losses).
    Overrides are recipe keys: train("r.yaml", **{"optim.lr": 3e-4}) or, as keywords, with "__" for the
    dots: train("r.yaml", optim__lr=3e-4, train__max_steps=100)."""
    over = {k.replace("__", "."): v for k, v in overrides.items()}
    with Trainer(recipe, yaml=yaml, overrides=over, on_step=on_step, on_log=on_log, on_eval=on_eval,
                 threads=threads) as t:
        return t.run()
