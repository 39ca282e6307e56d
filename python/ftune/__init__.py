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

__all__ = ["Error", "Model", "Tokenizer", "Trainer", "train", "version", "abi_version", "library_path", "score",
           "score_metrics", "image_info", "preprocess_image", "write_image_config", "train_tokenizer"]

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


class _Example(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("text", ctypes.c_char_p), ("label", ctypes.c_char_p),
                ("text_pair", ctypes.c_char_p), ("prompt", ctypes.c_char_p), ("response", ctypes.c_char_p)]


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
                ("min_new_tokens", ctypes.c_int), ("num_return_sequences", ctypes.c_int)]


class _GenStats(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("prompt_tokens", ctypes.c_size_t),
                ("new_tokens", ctypes.c_size_t), ("steps", ctypes.c_size_t), ("prefill_s", ctypes.c_double),
                ("decode_s", ctypes.c_double)]


class _GenRow(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("file", ctypes.c_char_p), ("line", ctypes.c_long),
                ("prompt", ctypes.c_char_p), ("output", ctypes.c_char_p), ("reference", ctypes.c_char_p),
                ("finish", ctypes.c_char_p), ("new_tokens", ctypes.c_size_t)]


class _LoadOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("task", ctypes.c_char_p), ("head_task", ctypes.c_int),
                ("need_task", ctypes.c_int), ("tokenizer_optional", ctypes.c_int)]


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
_ROW_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_GenRow))

class _QaOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("n_best", ctypes.c_int), ("max_answer_length", ctypes.c_int)]


class _ScoreOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("stem", ctypes.c_int)]


class _ImageInfo(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("format", ctypes.c_char * 8), ("mode", ctypes.c_char * 8),
                ("width", ctypes.c_int), ("height", ctypes.c_int), ("bit_depth", ctypes.c_int),
                ("orientation", ctypes.c_int), ("interlaced", ctypes.c_int), ("alpha", ctypes.c_int),
                ("count", ctypes.c_int64)]


class _ImageOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("config", ctypes.c_char_p), ("size", ctypes.c_int),
                ("resample", ctypes.c_int), ("channels", ctypes.c_int), ("index", ctypes.c_int64),
                ("augment", ctypes.c_int), ("seed", ctypes.c_uint64), ("epoch", ctypes.c_uint64),
                ("out", ctypes.c_char_p)]


class _TokTrainOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("vocab_size", ctypes.c_size_t), ("min_frequency", ctypes.c_uint64),
                ("special", ctypes.POINTER(ctypes.c_char_p)), ("n_special", ctypes.c_size_t),
                ("threads", ctypes.c_int), ("bos", ctypes.c_char_p), ("eos", ctypes.c_char_p),
                ("pad", ctypes.c_char_p), ("unk", ctypes.c_char_p), ("add_bos", ctypes.c_int),
                ("model_max_length", ctypes.c_size_t)]


class _TokTrainStats(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("bytes", ctypes.c_uint64), ("sequences", ctypes.c_uint64),
                ("words", ctypes.c_uint64), ("distinct_words", ctypes.c_size_t), ("merges", ctypes.c_size_t),
                ("vocab_size", ctypes.c_size_t), ("stop", ctypes.c_char_p), ("count_seconds", ctypes.c_double),
                ("merge_seconds", ctypes.c_double)]


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
    "ftune_model_load_opts_init": (None, [ctypes.POINTER(_LoadOpts)]),
    "ftune_model_load_with": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_LoadOpts),
                                   ctypes.POINTER(_P)]),
    "ftune_model_has_tokenizer": (ctypes.c_int, [_P]),
    "ftune_model_free": (None, [_P]),
    "ftune_model_get_info": (_S, [_P, ctypes.POINTER(_ModelInfo)]),
    "ftune_model_label": (ctypes.c_char_p, [_P, ctypes.c_int]),
    "ftune_model_save": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p]),
    "ftune_adapter_load": (_S, [_P, ctypes.c_char_p]),
    "ftune_adapter_create": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t]),
    "ftune_adapter_add": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p]),
    "ftune_adapter_activate": (_S, [_P, ctypes.c_char_p]),
    "ftune_adapter_active": (ctypes.c_char_p, [_P]),
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
    "ftune_chat_formats": (ctypes.POINTER(ctypes.c_char_p), []),
    "ftune_chat_render": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                               ctypes.c_size_t, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]),
    "ftune_chat_encode": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_char_p),
                               ctypes.c_size_t, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                               ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)), ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_gen_opts_init": (None, [ctypes.POINTER(_GenOpts)]),
    "ftune_generate": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_GenOpts), _TOKEN_FN, _P,
                            ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                            ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_char_p)]),
    "ftune_beam_opts_init": (None, [ctypes.POINTER(_BeamOpts)]),
    "ftune_generate_beam": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_GenOpts), ctypes.POINTER(_BeamOpts), _TOKEN_FN,
                                 _P, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.POINTER(ctypes.c_int32)),
                                 ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_char_p),
                                 ctypes.POINTER(ctypes.c_double)]),
    "ftune_generate_text": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_GenOpts), ctypes.POINTER(_BeamOpts), _TOKEN_FN,
                                 _P, ctypes.POINTER(_P)]),
    "ftune_generate_ids": (_S, [_P, ctypes.POINTER(ctypes.c_int32), ctypes.c_size_t, ctypes.POINTER(_GenOpts),
                                ctypes.POINTER(_BeamOpts), _TOKEN_FN, _P, ctypes.POINTER(_P)]),
    "ftune_gen_result_count": (ctypes.c_size_t, [_P]),
    "ftune_gen_result_text": (ctypes.c_char_p, [_P, ctypes.c_size_t]),
    "ftune_gen_result_ids": (ctypes.POINTER(ctypes.c_int32), [_P, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_gen_result_score": (ctypes.c_double, [_P, ctypes.c_size_t]),
    "ftune_gen_result_finish": (ctypes.c_char_p, [_P, ctypes.c_size_t]),
    "ftune_gen_stats_init": (None, [ctypes.POINTER(_GenStats)]),
    "ftune_gen_result_stats": (_S, [_P, ctypes.POINTER(_GenStats)]),
    "ftune_gen_result_free": (None, [_P]),
    "ftune_generate_file": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_GenOpts), ctypes.POINTER(_BeamOpts), _ROW_FN,
                                 _P, ctypes.POINTER(ctypes.POINTER(_Metric)), ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_classify": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_float),
                            ctypes.c_size_t]),
    "ftune_classify_image": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int),
                                  ctypes.POINTER(ctypes.c_float), ctypes.c_size_t]),
    "ftune_model_evaluate": (_S, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.POINTER(_Metric)),
                                  ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_trainer_new": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                               ctypes.c_size_t, ctypes.POINTER(_P)]),
    "ftune_trainer_free": (None, [_P]),
    "ftune_example_init": (None, [ctypes.POINTER(_Example)]),
    "ftune_dataset_new": (_S, [_P, ctypes.POINTER(_P)]),
    "ftune_dataset_free": (None, [_P]),
    "ftune_dataset_add": (_S, [_P, ctypes.POINTER(_Example)]),
    "ftune_dataset_read": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t]),
    "ftune_dataset_size": (ctypes.c_size_t, [_P]),
    "ftune_trainer_set_data": (_S, [_P, ctypes.c_char_p, _P]),
    "ftune_trainer_set_callbacks": (_S, [_P, _PROGRESS_FN, _LOG_FN, _EVAL_FN, _P]),
    "ftune_trainer_prepare": (_S, [_P]),
    "ftune_trainer_step": (_S, [_P, ctypes.POINTER(ctypes.c_int)]),
    "ftune_trainer_request_stop": (None, [_P]),
    "ftune_trainer_get_info": (_S, [_P, ctypes.POINTER(_TrainerInfo)]),
    "ftune_trainer_evaluate": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(_Metric)),
                                    ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_qa_opts_init": (None, [ctypes.POINTER(_QaOpts)]),
    "ftune_answer_question": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(_QaOpts),
                                   ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_double),
                                   ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_double)]),
    "ftune_score_opts_init": (None, [ctypes.POINTER(_ScoreOpts)]),
    "ftune_score_metrics": (ctypes.POINTER(ctypes.c_char_p), []),
    "ftune_score_texts": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                               ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_size_t),
                               ctypes.POINTER(_ScoreOpts), ctypes.POINTER(ctypes.POINTER(_Metric)),
                               ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_void_p),
                               ctypes.POINTER(ctypes.c_void_p)]),
    "ftune_image_info_init": (None, [ctypes.POINTER(_ImageInfo)]),
    "ftune_image_probe": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_ImageInfo)]),
    "ftune_image_opts_init": (None, [ctypes.POINTER(_ImageOpts)]),
    "ftune_image_preprocess": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_ImageOpts),
                                    ctypes.POINTER(ctypes.POINTER(ctypes.c_float)), ctypes.POINTER(ctypes.c_int)]),
    "ftune_image_config_write": (_S, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]),
    "ftune_tokenizer_train_opts_init": (None, [ctypes.POINTER(_TokTrainOpts)]),
    "ftune_tokenizer_trainer_new": (_S, [_P, ctypes.POINTER(_TokTrainOpts), ctypes.POINTER(_P)]),
    "ftune_tokenizer_trainer_free": (None, [_P]),
    "ftune_tokenizer_trainer_add_file": (_S, [_P, ctypes.c_char_p]),
    "ftune_tokenizer_trainer_add_jsonl": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p]),
    "ftune_tokenizer_trainer_add_text": (_S, [_P, ctypes.c_char_p, ctypes.c_size_t]),
    "ftune_tokenizer_trainer_run": (_S, [_P]),
    "ftune_tokenizer_trainer_get_stats": (_S, [_P, ctypes.POINTER(_TokTrainStats)]),
    "ftune_tokenizer_trainer_save": (_S, [_P, ctypes.c_char_p]),
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


def _messages(messages):
    """[{"role": ..., "content": ...}, ...] (Hugging Face's chat format) → the C arrays (and what keeps them)."""
    roles, rk = _cstrings([m["role"] for m in messages])
    contents, ck = _cstrings([m["content"] for m in messages])
    return roles, contents, (rk, ck)


def chat_formats():
    """The built-in chat template names ("chatml", "llama3", "llama2", "alpaca")."""
    arr, out, i = _L().ftune_chat_formats(), [], 0
    while arr[i]:
        out.append(arr[i].decode())
        i += 1
    return out


def chat_render(messages, format, add_generation_prompt=False):
    """The text of messages ([{"role": "user"|"assistant"|"system", "content": str}, ...]) in a built-in chat
    format; add_generation_prompt ends it with the header that asks for the next assistant reply."""
    ctx = _Ctx()
    try:
        roles, contents, _keep = _messages(messages)
        txt = ctypes.c_void_p()
        ctx.check(ctx.lib.ftune_chat_render(ctx.p, _b(format), roles, contents, len(messages),
                                            int(add_generation_prompt), ctypes.byref(txt)))
        return _take_string(ctx.lib, txt) or ""
    finally:
        ctx.close()


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

    def apply_chat_template(self, messages, format, add_generation_prompt=False, return_mask=False):
        """The ids of chat_render(messages, format, add_generation_prompt) encoded once (numpy int32); with
        return_mask=True also a uint8 mask, 1 on the assistant replies' tokens (what instruction tuning trains on)."""
        roles, contents, _keep = _messages(messages)
        ids = ctypes.POINTER(ctypes.c_int32)()
        mask = ctypes.POINTER(ctypes.c_uint8)()
        n = ctypes.c_size_t()
        lib = self._ctx.lib
        self._ctx.check(lib.ftune_chat_encode(self._live(), _b(format), roles, contents, len(messages),
                                              int(add_generation_prompt), ctypes.byref(ids),
                                              ctypes.byref(mask) if return_mask else None, ctypes.byref(n)))
        try:
            out = np.ctypeslib.as_array(ids, shape=(n.value,)).copy() if n.value else np.zeros(0, np.int32)
            if not return_mask:
                return out
            return out, (np.ctypeslib.as_array(mask, shape=(n.value,)).copy() if n.value else np.zeros(0, np.uint8))
        finally:
            lib.ftune_free(ids)
            lib.ftune_free(mask)

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

    def __init__(self, path, adapter=None, threads=0, tokenizer_optional=False):
        """tokenizer_optional=True: a checkpoint without tokenizer files loads too (generate_ids works on it;
        the calls that read text say it has none)."""
        self._h = _P()
        self._ctx = _Ctx(threads)
        if tokenizer_optional:
            lo = _LoadOpts()
            self._ctx.lib.ftune_model_load_opts_init(ctypes.byref(lo))
            lo.tokenizer_optional = 1
            self._ctx.check(self._ctx.lib.ftune_model_load_with(self._ctx.p, _b(path), _b(adapter), ctypes.byref(lo),
                                                                ctypes.byref(self._h)))
        else:
            self._ctx.check(self._ctx.lib.ftune_model_load(self._ctx.p, _b(path), _b(adapter), ctypes.byref(self._h)))

    @property
    def has_tokenizer(self):
        return bool(self._ctx.lib.ftune_model_has_tokenizer(self._live()))

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

    def load_adapter(self, path, adapter_name=None):
        """Attach a PEFT adapter directory. With adapter_name (PEFT's load_adapter(path, adapter_name)): one of
        several named adapters over this base (loaded without an adapter), made active; set_adapter switches."""
        if adapter_name is None:
            self._ctx.check(self._ctx.lib.ftune_adapter_load(self._live(), _b(path)))
        else:
            self._ctx.check(self._ctx.lib.ftune_adapter_add(self._live(), _b(path), _b(adapter_name)))

    def set_adapter(self, adapter_name):
        """Make a named adapter active (None: the bare base model); labels, classify, generate follow it."""
        self._ctx.check(self._ctx.lib.ftune_adapter_activate(self._live(), _b(adapter_name)))

    @property
    def active_adapter(self):
        """The active named adapter's name, or None (the base model, or an adapter loaded without a name)."""
        n = self._ctx.lib.ftune_adapter_active(self._live())
        return n.decode() if n else None

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

    def answer(self, question, context, n_best=0, max_answer_length=0):
        """A question-answering model's answer, as `ftune predict --question Q --context C --json` gives it:
        {"answer": the span of the context ("" for none), "score": start + end logit, "prob": its probability
        over the n-best list, "null_score"}; n_best / max_answer_length > 0 replace the recipe's qa.* keys."""
        o = _QaOpts()
        self._ctx.lib.ftune_qa_opts_init(ctypes.byref(o))
        o.n_best, o.max_answer_length = int(n_best), int(max_answer_length)
        txt, sc, pr, ns = ctypes.c_void_p(), ctypes.c_double(), ctypes.c_double(), ctypes.c_double()
        self._ctx.check(self._ctx.lib.ftune_answer_question(self._live(), _b(question), _b(context), ctypes.byref(o),
                                                            ctypes.byref(txt), ctypes.byref(sc), ctypes.byref(pr),
                                                            ctypes.byref(ns)))
        return {"answer": _take_string(self._ctx.lib, txt) or "", "score": sc.value, "prob": pr.value,
                "null_score": ns.value}

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

    def _gen_opts(self, max_new_tokens=64, do_sample=False, temperature=1.0, top_k=0, top_p=1.0,
                  repetition_penalty=1.0, seed=42, stop=None, chat_template=None, system=None, num_beams=1,
                  length_penalty=1.0, early_stopping=False, no_repeat_ngram_size=0, min_new_tokens=0,
                  num_return_sequences=1):
        """The C option structs (and what must stay alive with them) of generate's keyword arguments."""
        lib = self._ctx.lib
        if early_stopping not in _EARLY:
            raise ValueError(f"early_stopping {early_stopping!r} must be False, True or 'never'")
        if int(num_return_sequences) < 1:
            raise ValueError(f"num_return_sequences {num_return_sequences} must be >= 1")
        bo = _BeamOpts()
        lib.ftune_beam_opts_init(ctypes.byref(bo))
        bo.num_beams, bo.length_penalty, bo.early_stopping = int(num_beams), float(length_penalty), _EARLY[early_stopping]
        bo.no_repeat_ngram_size, bo.min_new_tokens = int(no_repeat_ngram_size), int(min_new_tokens)
        bo.num_return_sequences = int(num_return_sequences)
        o = _GenOpts()
        lib.ftune_gen_opts_init(ctypes.byref(o))
        o.max_new_tokens, o.do_sample, o.temperature = int(max_new_tokens), int(bool(do_sample)), float(temperature)
        o.top_k, o.top_p, o.repetition_penalty, o.seed = int(top_k), float(top_p), float(repetition_penalty), int(seed)
        stops, keep = _cstrings(list(stop or []))
        o.stop, o.n_stop = (ctypes.cast(stops, ctypes.POINTER(ctypes.c_char_p)), len(keep)) if keep else (None, 0)
        o.chat_template, o.system = _b(chat_template), _b(system)
        return o, bo, (stops, keep)

    def _gen_result(self, call, on_token):
        """Run call(cb, out) (ftune_generate_text / _ids) and turn the result into
        {"text", "ids", "finish", "score", "sequences": [...], "prompt_tokens", "steps", "decode_s"}."""
        lib = self._ctx.lib
        raised = []

        def tok_cb(user, tid, piece):
            try:
                return 1 if on_token(int(tid), piece.decode(errors="replace")) else 0
            except BaseException as e:  # noqa: B036 (re-raised after the call)
                raised.append(e)
                return 1

        cb = _TOKEN_FN(tok_cb) if on_token else _TOKEN_FN()
        r = _P()
        st = call(cb, ctypes.byref(r))
        if raised:
            lib.ftune_gen_result_free(r)
            raise raised[0]
        self._ctx.check(st)
        try:
            seqs = []
            for i in range(lib.ftune_gen_result_count(r)):
                n = ctypes.c_size_t()
                p = lib.ftune_gen_result_ids(r, i, ctypes.byref(n))
                ids = np.ctypeslib.as_array(p, shape=(n.value,)).copy() if n.value else np.zeros(0, np.int32)
                txt = lib.ftune_gen_result_text(r, i)
                fin = lib.ftune_gen_result_finish(r, i)
                seqs.append({"text": txt.decode(errors="replace") if txt is not None else None, "ids": ids,
                             "finish": fin.decode() if fin else None, "score": lib.ftune_gen_result_score(r, i)})
            gs = _GenStats()
            lib.ftune_gen_stats_init(ctypes.byref(gs))
            self._ctx.check(lib.ftune_gen_result_stats(r, ctypes.byref(gs)))
        finally:
            lib.ftune_gen_result_free(r)
        out = dict(seqs[0])
        out.update(sequences=seqs, prompt_tokens=gs.prompt_tokens, steps=gs.steps, prefill_s=gs.prefill_s,
                   decode_s=gs.decode_s)
        return out

    def generate(self, prompt, on_token=None, details=False, **opts):
        """The generated text (a causal LM continues the prompt; a T5 model reads it with its encoder).
        Options (Hugging Face generate()'s names): max_new_tokens=64, do_sample=False, temperature=1.0, top_k=0,
        top_p=1.0, repetition_penalty=1.0, seed=42, stop=[strings], chat_template=None (training's; "none"),
        system=None, num_beams=1, length_penalty=1.0, early_stopping=False (True, "never"),
        no_repeat_ngram_size=0, min_new_tokens=0, num_return_sequences=1.
        on_token(id, piece) streams each new token (return True to stop there; with beam search it gets the
        result's tokens after the search). num_beams > 1: beam search; no_repeat_ngram_size and min_new_tokens
        apply in every mode. num_return_sequences > 1 (beam search's n best) returns a list of texts, best
        first. details=True returns {"text", "ids" (numpy int32), "finish", "score" (beam search's sequence
        score, else NaN), "sequences" (a list of such dicts, best first), "prompt_tokens", "steps",
        "prefill_s", "decode_s"} instead."""
        o, bo, keep = self._gen_opts(**opts)
        out = self._gen_result(lambda cb, r: self._ctx.lib.ftune_generate_text(
            self._live(), _b(prompt), ctypes.byref(o), ctypes.byref(bo), cb, None, r), on_token)
        del keep
        if details:
            return out
        if bo.num_return_sequences > 1:
            return [q["text"] or "" for q in out["sequences"]]
        return out["text"] or ""

    def generate_ids(self, ids, on_token=None, **opts):
        """Generation from token ids given as they are (no chat template; a T5 model's encoder input), as
        `ftune generate --prompt-ids`: the dict of generate(details=True). The model needs no tokenizer
        (Model(path, tokenizer_optional=True)); without one the texts are None and only the config's eos ends
        the output."""
        a = np.ascontiguousarray(np.asarray(ids, dtype=np.int32).reshape(-1))
        if a.size and (a < 0).any():
            raise ValueError("token ids must be >= 0")
        o, bo, keep = self._gen_opts(**opts)
        p = a.ctypes.data_as(ctypes.POINTER(ctypes.c_int32))
        out = self._gen_result(lambda cb, r: self._ctx.lib.ftune_generate_ids(
            self._live(), p, a.size, ctypes.byref(o), ctypes.byref(bo), cb, None, r), on_token)
        del keep
        return out

    def generate_file(self, path, on_row=None, **opts):
        """`ftune generate --data FILE`: one generation per row of a data file (prompt/response fields,
        messages, or text), read with the model's training data options. Returns (rows, metrics): rows a list
        of {"file", "line", "prompt", "output", "reference" (None without), "finish", "new_tokens"}; metrics
        {bleu, rouge1, rouge2, rougeL, rougeLsum, exact_match, f1} of the rows with a reference ({} when none
        has one). on_row(row) sees each row as it is made; returning True stops there."""
        o, bo, keep = self._gen_opts(**opts)
        rows, raised = [], []

        def row_cb(user, rp):
            try:
                r = rp.contents
                d = {"file": r.file.decode(errors="replace"), "line": r.line,
                     "prompt": r.prompt.decode(errors="replace"), "output": r.output.decode(errors="replace"),
                     "reference": r.reference.decode(errors="replace") if r.reference is not None else None,
                     "finish": r.finish.decode(), "new_tokens": r.new_tokens}
                rows.append(d)
                return 1 if on_row and on_row(d) else 0
            except BaseException as e:  # noqa: B036 (re-raised after the call)
                raised.append(e)
                return 1

        cb = _ROW_FN(row_cb)
        ms = ctypes.POINTER(_Metric)()
        n = ctypes.c_size_t()
        st = self._ctx.lib.ftune_generate_file(self._live(), _b(str(path)), ctypes.byref(o), ctypes.byref(bo), cb,
                                               None, ctypes.byref(ms), ctypes.byref(n))
        del keep
        try:
            if raised:
                raise raised[0]
            self._ctx.check(st)
            return rows, _metrics(ms, n.value)
        finally:
            self._ctx.lib.ftune_free(ms)


# ---- training ----

def _metrics(ptr, n):
    return {ptr[i].name.decode(): ptr[i].value for i in range(n)}


class Dataset(_Handle):
    """Examples given by the program: Dataset([{"text": ..., "label": ...}, ...]) and/or .read(path, **data
    options) (data.* recipe keys without the prefix: text_field="review"). Fields: text, label, text_pair,
    prompt, response; seq2seq rows may say source / target. Trainer(..., data={"train": ds}) or
    train(..., train_data=rows) hand it to a run, which cleans, splits and tokenizes it as a file's rows."""
    _free = "ftune_dataset_free"
    _FIELDS = ("text", "label", "text_pair", "prompt", "response")

    def __init__(self, rows=None, threads=0):
        self._h = _P()
        self._ctx = _Ctx(threads)
        self._ctx.check(self._ctx.lib.ftune_dataset_new(self._ctx.p, ctypes.byref(self._h)))
        for r in rows or ():
            self.add(**r)

    def add(self, **fields):
        fields = dict(fields)
        if "source" in fields:
            fields["text"] = fields.pop("source")
        if "target" in fields:
            fields["response"] = fields.pop("target")
        unknown = set(fields) - set(self._FIELDS)
        if unknown:
            raise ValueError(f"unknown example fields {sorted(unknown)} (known: {', '.join(self._FIELDS)}, source, target)")
        e = _Example()
        self._ctx.lib.ftune_example_init(ctypes.byref(e))
        for k, v in fields.items():
            setattr(e, k, None if v is None else str(v).encode())
        self._ctx.check(self._ctx.lib.ftune_dataset_add(self._live(), ctypes.byref(e)))

    def read(self, path, **options):
        arr, keep = _cstrings([f"data.{k}={_value(v)}" for k, v in options.items()])
        self._ctx.check(self._ctx.lib.ftune_dataset_read(self._live(), _b(path), arr, len(keep)))
        return self

    def __len__(self):
        return int(self._ctx.lib.ftune_dataset_size(self._live()))


class Trainer(_Handle):
    """A training run: a recipe file and/or YAML text, then key=value overrides (the keys of
    `ftune train`). step() runs one optimizer step, run() to the end; the last step saves the model or
    adapter into output_dir. Callbacks: on_step(dict) after each step, on_log(line), on_eval(step, dict)."""
    _free = "ftune_trainer_free"

    def __init__(self, recipe=None, yaml=None, overrides=None, on_step=None, on_log=None, on_eval=None,
                 threads=0, data=None):
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
        for split, d in (data or {}).items():  # {"train": Dataset or a list of row dicts, ...}
            if not isinstance(d, Dataset):
                d = Dataset(d)
            self._ctx.check(lib.ftune_trainer_set_data(self._h, _b(split), d._live()))

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


def train(recipe=None, *, yaml=None, on_step=None, on_log=None, on_eval=None, threads=0, train_data=None,
          validation_data=None, test_data=None, **overrides):
    """Run a training recipe to the end and return the trainer's info (output_dir, steps, losses).
    Overrides are recipe keys: train("r.yaml", **{"optim.lr": 3e-4}) or, as keywords, with "__" for the
    dots: train("r.yaml", optim__lr=3e-4, train__max_steps=100). train_data / validation_data / test_data:
    a Dataset or a list of row dicts instead of the data.* files."""
    over = {k.replace("__", "."): v for k, v in overrides.items()}
    data = {k: v for k, v in (("train", train_data), ("validation", validation_data), ("test", test_data))
            if v is not None}
    with Trainer(recipe, yaml=yaml, overrides=over, on_step=on_step, on_log=on_log, on_eval=on_eval,
                 threads=threads, data=data) as t:
        return t.run()


# ---- scoring, image files, tokenizer training (the `ftune score`, `ftune image`, `ftune tokenizer` commands) ----

def score_metrics():
    """The metric names score() knows ("bleu", "rouge", "squad", "classification", "regression")."""
    arr, out, i = _L().ftune_score_metrics(), [], 0
    while arr[i]:
        out.append(arr[i].decode())
        i += 1
    return out


def score(metric, predictions, references, stemmer=False, report=False):
    """Predictions scored against references as `ftune score --metric METRIC --json` scores them (docs/metrics.md):
    {name: value} in the JSON's key order (BLEU's n-gram precisions as precision_1..precision_4; an undefined
    value is NaN). references: one string per prediction, or a list of strings each (several references).
    stemmer: ROUGE's Porter stemming. report=True: (metrics, the text `ftune score` prints)."""
    preds = [str(p) for p in predictions]
    refs = [r if isinstance(r, (list, tuple)) else [r] for r in references]
    if len(refs) != len(preds):
        raise Error("bad argument", f"{len(preds)} predictions but {len(refs)} references")
    flat = [str(x) for r in refs for x in r]
    off = [0]
    for r in refs:
        off.append(off[-1] + len(r))
    pa, pk = _cstrings(preds)
    ra, rk = _cstrings(flat)
    offs = (ctypes.c_size_t * len(off))(*off)
    ctx = _Ctx()
    try:
        o = _ScoreOpts()
        ctx.lib.ftune_score_opts_init(ctypes.byref(o))
        o.stem = int(bool(stemmer))
        ms, n, txt = ctypes.POINTER(_Metric)(), ctypes.c_size_t(), ctypes.c_void_p()
        ctx.check(ctx.lib.ftune_score_texts(ctx.p, _b(metric), pa, len(preds), ra, offs, ctypes.byref(o),
                                            ctypes.byref(ms), ctypes.byref(n), None,
                                            ctypes.byref(txt) if report else None))
        try:
            out = _metrics(ms, n.value)
        finally:
            ctx.lib.ftune_free(ms)
        return (out, _take_string(ctx.lib, txt) or "") if report else out
    finally:
        del pk, rk
        ctx.close()


def image_info(path):
    """What an image file is, as `ftune image info --json` says: format, mode (PIL's), width, height (after
    the EXIF orientation), bit_depth, orientation, interlaced, alpha, count (IDX: images or labels)."""
    ctx = _Ctx()
    try:
        i = _ImageInfo()
        ctx.lib.ftune_image_info_init(ctypes.byref(i))
        ctx.check(ctx.lib.ftune_image_probe(ctx.p, _b(str(path)), ctypes.byref(i)))
        return {"format": i.format.decode(), "mode": i.mode.decode(), "width": i.width, "height": i.height,
                "bit_depth": i.bit_depth, "orientation": i.orientation, "interlaced": bool(i.interlaced),
                "alpha": bool(i.alpha), "count": i.count}
    finally:
        ctx.close()


def preprocess_image(path, config=None, size=0, resample=None, channels=3, index=0, augment=False, seed=0,
                     epoch=0):
    """The model input Hugging Face's ViTImageProcessor makes of an image file, as `ftune image preprocess`:
    a numpy float32 array (channels, height, width). config: a preprocessor_config.json (None: ViT's defaults);
    size / resample (PIL's code) override it; index: an IDX file's image; augment: the training augmentation
    drawn for (seed, epoch, index)."""
    ctx = _Ctx()
    try:
        o = _ImageOpts()
        ctx.lib.ftune_image_opts_init(ctypes.byref(o))
        o.config = _b(str(config)) if config is not None else None
        o.size, o.channels, o.index = int(size), int(channels), int(index)
        o.resample = -1 if resample is None else int(resample)
        o.augment, o.seed, o.epoch = int(bool(augment)), int(seed), int(epoch)
        px, shape = ctypes.POINTER(ctypes.c_float)(), (ctypes.c_int * 3)()
        ctx.check(ctx.lib.ftune_image_preprocess(ctx.p, _b(str(path)), ctypes.byref(o), ctypes.byref(px), shape))
        try:
            n = shape[0] * shape[1] * shape[2]
            return np.ctypeslib.as_array(px, shape=(n,)).copy().reshape(shape[0], shape[1], shape[2])
        finally:
            ctx.lib.ftune_free(px)
    finally:
        ctx.close()


def write_image_config(path, size=224, channels=3, resample=2):
    """Write a preprocessor_config.json with ViTImageProcessor's defaults (`ftune image config`)."""
    ctx = _Ctx()
    try:
        ctx.check(ctx.lib.ftune_image_config_write(ctx.p, _b(str(path)), int(size), int(channels), int(resample)))
    finally:
        ctx.close()


def train_tokenizer(out, files=(), jsonl=(), texts=(), field="text", vocab_size=16000, min_frequency=2,
                    special=(), bos=None, eos=None, pad=None, unk=None, add_bos=False, model_max_length=2048,
                    threads=0):
    """Learn a byte-level BPE tokenizer as `ftune tokenizer train` does and write out/tokenizer.json +
    out/tokenizer_config.json (Tokenizer(out) loads it). files: text files (one sequence per line); jsonl:
    JSONL files (their `field`); texts: strings (each line one sequence). Returns the statistics: bytes,
    sequences, words, distinct_words, merges, vocab_size, stop (why merging stopped), count_seconds,
    merge_seconds."""
    ctx = _Ctx()
    t = _P()
    sp, spk = _cstrings(list(special))
    try:
        o = _TokTrainOpts()
        ctx.lib.ftune_tokenizer_train_opts_init(ctypes.byref(o))
        o.vocab_size, o.min_frequency, o.threads = int(vocab_size), int(min_frequency), int(threads)
        o.special, o.n_special = (sp, len(special)) if special else (None, 0)
        o.bos, o.eos, o.pad, o.unk = _b(bos), _b(eos), _b(pad), _b(unk)
        o.add_bos, o.model_max_length = int(bool(add_bos)), int(model_max_length)
        ctx.check(ctx.lib.ftune_tokenizer_trainer_new(ctx.p, ctypes.byref(o), ctypes.byref(t)))
        for f in files:
            ctx.check(ctx.lib.ftune_tokenizer_trainer_add_file(t, _b(str(f))))
        for f in jsonl:
            ctx.check(ctx.lib.ftune_tokenizer_trainer_add_jsonl(t, _b(str(f)), _b(field)))
        for x in texts:
            b = str(x).encode()
            ctx.check(ctx.lib.ftune_tokenizer_trainer_add_text(t, b, len(b)))
        ctx.check(ctx.lib.ftune_tokenizer_trainer_run(t))
        ctx.check(ctx.lib.ftune_tokenizer_trainer_save(t, _b(str(out))))
        st = _TokTrainStats()
        st.struct_size = ctypes.sizeof(st)
        ctx.check(ctx.lib.ftune_tokenizer_trainer_get_stats(t, ctypes.byref(st)))
        d = {k: getattr(st, k) for k, _ in _TokTrainStats._fields_ if k != "struct_size"}
        d["stop"] = d["stop"].decode() if d["stop"] else ""
        return d
    finally:
        del spk
        if t:
            ctx.lib.ftune_tokenizer_trainer_free(t)
        ctx.close()


# ---- model: data preparation, baselines, checkpoint tools (`ftune data`, `baseline`, `init`, `inspect`, `dump`,
# `merge`) ----
import json as _json  # noqa: E402


class _DataOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("format", ctypes.c_char_p), ("text_field", ctypes.c_char_p),
                ("label_field", ctypes.c_char_p), ("prompt_field", ctypes.c_char_p),
                ("response_field", ctypes.c_char_p), ("clean_unicode", ctypes.c_int),
                ("clean_whitespace", ctypes.c_int), ("clean_html", ctypes.c_int),
                ("clean_email_headers", ctypes.c_int), ("dedup_exact", ctypes.c_int), ("dedup_near", ctypes.c_int),
                ("near_dup_threshold", ctypes.c_double), ("drop_garbled", ctypes.c_int),
                ("min_chars", ctypes.c_int64), ("max_chars", ctypes.c_int64), ("augment_factor", ctypes.c_double),
                ("aug_p_delete", ctypes.c_double), ("aug_p_swap", ctypes.c_double),
                ("aug_p_insert", ctypes.c_double), ("aug_p_synonym", ctypes.c_double),
                ("wordnet_dir", ctypes.c_char_p), ("seed", ctypes.c_uint64)]


class _CleanStats(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t)] + [(n, ctypes.c_size_t) for n in (
        "in", "out", "garbled", "too_short", "too_long", "dup_exact", "dup_near", "changed_unicode",
        "changed_whitespace", "changed_html", "changed_email_headers")]


class _BaselineOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("alpha", ctypes.c_double), ("on_log", _LOG_FN),
                ("user", ctypes.c_void_p)]


class _InitOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("arch", ctypes.c_char_p), ("config", ctypes.c_char_p),
                ("config_json", ctypes.c_char_p), ("seed", ctypes.c_uint64), ("dtype", ctypes.c_char_p)]


_SIGS.update({
    "ftune_data_opts_init": (None, [ctypes.POINTER(_DataOpts)]),
    "ftune_dataset_read_with": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_DataOpts)]),
    "ftune_dataset_read_mail": (_S, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_dataset_clean": (_S, [_P, ctypes.POINTER(_DataOpts), ctypes.c_char_p, ctypes.POINTER(_CleanStats),
                                 ctypes.POINTER(ctypes.c_void_p)]),
    "ftune_dataset_augment": (_S, [_P, ctypes.POINTER(_DataOpts), ctypes.POINTER(ctypes.c_size_t)]),
    "ftune_dataset_get": (_S, [_P, ctypes.c_size_t, ctypes.POINTER(_Example)]),
    "ftune_dataset_split": (_S, [_P, ctypes.c_double, ctypes.c_double, ctypes.c_int, ctypes.c_uint64, _P, _P, _P]),
    "ftune_dataset_recipe_splits": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                         _LOG_FN, _P, _P, _P, _P]),
    "ftune_dataset_write_jsonl": (_S, [_P, ctypes.c_char_p]),
    "ftune_baseline_opts_init": (None, [ctypes.POINTER(_BaselineOpts)]),
    "ftune_baseline": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                            ctypes.POINTER(_BaselineOpts), ctypes.POINTER(ctypes.POINTER(_Metric)),
                            ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_void_p),
                            ctypes.POINTER(ctypes.c_void_p)]),
    "ftune_init_opts_init": (None, [ctypes.POINTER(_InitOpts)]),
    "ftune_checkpoint_archs": (ctypes.POINTER(ctypes.c_char_p), []),
    "ftune_checkpoint_init": (_S, [_P, ctypes.POINTER(_InitOpts), ctypes.c_char_p, ctypes.POINTER(_ModelInfo)]),
    "ftune_checkpoint_inspect": (_S, [_P, ctypes.c_char_p, ctypes.c_int, ctypes.POINTER(ctypes.c_void_p)]),
    "ftune_checkpoint_dump": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                                   ctypes.POINTER(ctypes.c_double), ctypes.POINTER(ctypes.c_int64)]),
    "ftune_checkpoint_merge": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]),
})


def _data_opts(lib, options):
    """ftune data's options as keywords (format, text_field, ..., clean_html, dedup_near, min_chars,
    augment_factor, aug_p_insert, wordnet_dir, seed: the fields of ftune_data_opts)."""
    o = _DataOpts()
    lib.ftune_data_opts_init(ctypes.byref(o))
    names = {f[0] for f in _DataOpts._fields_} - {"struct_size"}
    for k, v in options.items():
        if k not in names:
            raise ValueError(f"unknown data option {k!r} (known: {', '.join(sorted(names))})")
        setattr(o, k, _b(v) if isinstance(v, str) else (int(v) if isinstance(v, bool) else v))
    return o


def _dataset_read_file(self, path, **options):
    """Append a file's rows (JSONL, CSV, TSV, text) as `ftune data --input` reads them: format, text_field,
    label_field, prompt_field, response_field."""
    o = _data_opts(self._ctx.lib, options)
    self._ctx.check(self._ctx.lib.ftune_dataset_read_with(self._live(), _b(str(path)), ctypes.byref(o)))
    return self


def _dataset_read_mail(self, directory, keep_headers=False):
    """Append a directory of raw mails (DIR/<group>/*.txt, label = the group) as `ftune data --mail-dir`;
    returns the number decoded from a non-UTF-8 charset."""
    n = ctypes.c_size_t()
    self._ctx.check(self._ctx.lib.ftune_dataset_read_mail(self._live(), _b(str(directory)), int(bool(keep_headers)),
                                                          ctypes.byref(n)))
    return n.value


def _dataset_clean(self, name="dataset", summary=False, **options):
    """Clean and filter the rows in place as `ftune data` does (clean_unicode, clean_whitespace, clean_html,
    clean_email_headers, dedup_exact, dedup_near, near_dup_threshold, drop_garbled, min_chars, max_chars);
    returns the counts (a dict), with summary=True also the lines the command prints."""
    o = _data_opts(self._ctx.lib, options)
    st = _CleanStats(struct_size=ctypes.sizeof(_CleanStats))
    txt = ctypes.c_void_p()
    self._ctx.check(self._ctx.lib.ftune_dataset_clean(self._live(), ctypes.byref(o), _b(name), ctypes.byref(st),
                                                      ctypes.byref(txt)))
    text = _take_string(self._ctx.lib, txt) or ""
    stats = {f[0]: getattr(st, f[0]) for f in _CleanStats._fields_[1:]}
    return (stats, text) if summary else stats


def _dataset_augment(self, factor, **options):
    """Add `factor` EDA copies per row on average (aug_p_delete, aug_p_swap, aug_p_insert, aug_p_synonym,
    wordnet_dir, seed); returns how many were added."""
    o = _data_opts(self._ctx.lib, dict(options, augment_factor=float(factor)))
    n = ctypes.c_size_t()
    self._ctx.check(self._ctx.lib.ftune_dataset_augment(self._live(), ctypes.byref(o), ctypes.byref(n)))
    return n.value


def _dataset_getitem(self, i):
    n = len(self)
    if i < 0:
        i += n
    if not 0 <= i < n:
        raise IndexError(f"row {i} of a dataset of {n}")
    e = _Example()
    self._ctx.lib.ftune_example_init(ctypes.byref(e))
    self._ctx.check(self._ctx.lib.ftune_dataset_get(self._live(), i, ctypes.byref(e)))
    return {k: getattr(e, k).decode() for k in self._FIELDS if getattr(e, k) is not None}


def _dataset_split(self, val_ratio=0.1, test_ratio=0.1, stratify=True, seed=42):
    """Three new Datasets (train, validation, test): the rows split as training splits a file."""
    out = (Dataset(), Dataset(), Dataset())
    self._ctx.check(self._ctx.lib.ftune_dataset_split(self._live(), float(val_ratio), float(test_ratio),
                                                      int(bool(stratify)), int(seed), *(d._live() for d in out)))
    return out


def _dataset_write_jsonl(self, path):
    """Write one {"text", "label", ...} object per row (`ftune data --out`)."""
    self._ctx.check(self._ctx.lib.ftune_dataset_write_jsonl(self._live(), _b(str(path))))


Dataset.read_file = _dataset_read_file
Dataset.read_mail = _dataset_read_mail
Dataset.clean = _dataset_clean
Dataset.augment = _dataset_augment
Dataset.__getitem__ = _dataset_getitem
Dataset.split = _dataset_split
Dataset.write_jsonl = _dataset_write_jsonl


def recipe_splits(recipe, on_log=None, **overrides):
    """The (train, validation, test) Datasets `ftune train RECIPE` would use, as `ftune data --recipe R
    --splits-out P` writes them; overrides as train()'s (optim__lr=... or {"data.val_ratio": 0.2})."""
    kv = [f"{k.replace('__', '.')}={_value(v)}" for k, v in overrides.items()]
    arr, keep = _cstrings(kv)
    out = (Dataset(), Dataset(), Dataset())
    cb = _LOG_FN(lambda u, line: on_log(line.decode(errors="replace"))) if on_log else _LOG_FN()
    ctx = _Ctx()
    try:
        ctx.check(ctx.lib.ftune_dataset_recipe_splits(ctx.p, _b(str(recipe)), arr, len(keep), cb, None,
                                                      *(d._live() for d in out)))
    finally:
        ctx.close()
    return out


def baseline(recipe, alpha=1.0, report=False, **overrides):
    """The baseline of `ftune baseline --recipe R --json` (naive Bayes for classification, the most frequent tag
    for token classification) on the recipe's own split: the JSON object as a dict; report=True: (dict, the
    text the command prints after its data summary)."""
    kv = [f"{k.replace('__', '.')}={_value(v)}" for k, v in overrides.items()]
    arr, keep = _cstrings(kv)
    ctx = _Ctx()
    try:
        o = _BaselineOpts()
        ctx.lib.ftune_baseline_opts_init(ctypes.byref(o))
        o.alpha = float(alpha)
        js, txt = ctypes.c_void_p(), ctypes.c_void_p()
        ctx.check(ctx.lib.ftune_baseline(ctx.p, _b(str(recipe)), arr, len(keep), ctypes.byref(o), None, None,
                                         ctypes.byref(js), ctypes.byref(txt)))
        out = _json.loads(_take_string(ctx.lib, js))
        text = _take_string(ctx.lib, txt) or ""
        return (out, text) if report else out
    finally:
        ctx.close()


def checkpoint_archs():
    """The architectures init_checkpoint() makes ("gpt2", "llama", ..., "t5", "mt5")."""
    arr, out, i = _L().ftune_checkpoint_archs(), [], 0
    while arr[i]:
        out.append(arr[i].decode())
        i += 1
    return out


def init_checkpoint(out, arch, config, seed=42, dtype="f32"):
    """Write a randomly initialized model in Hugging Face layout, as `ftune init`: config a dict of HF config
    fields or the path of a JSON file. Returns Model.info()'s fields of what was written."""
    ctx = _Ctx()
    try:
        o = _InitOpts()
        ctx.lib.ftune_init_opts_init(ctypes.byref(o))
        o.arch, o.seed, o.dtype = _b(arch), int(seed), _b(dtype)
        if isinstance(config, dict):
            o.config_json = _b(_json.dumps(config))
        else:
            o.config = _b(str(config))
        i = _ModelInfo()
        ctx.check(ctx.lib.ftune_checkpoint_init(ctx.p, ctypes.byref(o), _b(str(out)), ctypes.byref(i)))
        return {"model_type": i.model_type.decode(), "task": i.task.decode(), "n_params": i.n_params,
                "vocab_size": i.vocab_size, "hidden_size": i.hidden_size, "n_layers": i.n_layers,
                "n_heads": i.n_heads, "max_positions": i.max_positions, "n_labels": i.n_labels}
    finally:
        ctx.close()


def inspect_checkpoint(path, tensors=False):
    """The description `ftune inspect DIR [--tensors]` prints."""
    ctx = _Ctx()
    try:
        txt = ctypes.c_void_p()
        ctx.check(ctx.lib.ftune_checkpoint_inspect(ctx.p, _b(str(path)), int(bool(tensors)), ctypes.byref(txt)))
        return _take_string(ctx.lib, txt) or ""
    finally:
        ctx.close()


# ---- `ftune train`'s run (ftune_trainer_create with the command's options, FTUNE_HAS_TRAINER_OPTS) ----

_OUTPUT_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p)


class _TrainerOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("command", ctypes.c_int), ("on_output", _OUTPUT_FN),
                ("output_user", _P), ("progress", _P), ("distributed", ctypes.c_int), ("dry_run", ctypes.c_int),
                ("separate_finish", ctypes.c_int)]


class _TrainerState(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("rank", ctypes.c_int), ("world", ctypes.c_int),
                ("launched", ctypes.c_int), ("prepared", ctypes.c_int), ("done", ctypes.c_int),
                ("finished", ctypes.c_int), ("stopped", ctypes.c_int), ("step", ctypes.c_int64),
                ("checkpoint", ctypes.c_char_p)]


_SIGS_TRAIN = {
    "ftune_trainer_opts_init": (None, [ctypes.POINTER(_TrainerOpts)]),
    "ftune_trainer_create": (_S, [_P, ctypes.POINTER(_TrainerOpts), ctypes.POINTER(_P)]),
    "ftune_trainer_load_recipe": (_S, [_P, ctypes.c_char_p]),
    "ftune_trainer_set_key": (_S, [_P, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p]),
    "ftune_trainer_override": (_S, [_P, ctypes.c_char_p]),
    "ftune_trainer_finish": (_S, [_P]),
    "ftune_recipe_help": (_S, [_P, ctypes.POINTER(ctypes.c_void_p)]),
    "ftune_trainer_state_init": (None, [ctypes.POINTER(_TrainerState)]),
    "ftune_trainer_get_state": (_S, [_P, ctypes.POINTER(_TrainerState)]),
}


def _train_lib(ctx):
    lib = ctx.lib
    for name, (res, args) in _SIGS_TRAIN.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


def recipe_help():
    """The recipe keys as `ftune train --help` lists them (one text)."""
    ctx = _Ctx()
    try:
        lib = _train_lib(ctx)
        txt = ctypes.c_void_p()
        ctx.check(lib.ftune_recipe_help(ctx.p, ctypes.byref(txt)))
        return _take_string(lib, txt) or ""
    finally:
        ctx.close()


def dump(model, batch, out, adapter=None):
    """One forward and backward pass written to safetensors, as `ftune dump` (logits, loss, grad.<name>);
    returns (loss, targets)."""
    ctx = _Ctx()
    try:
        loss, n = ctypes.c_double(), ctypes.c_int64()
        ctx.check(ctx.lib.ftune_checkpoint_dump(ctx.p, _b(str(model)), _b(str(adapter)) if adapter else None,
                                                _b(str(batch)), _b(str(out)), ctypes.byref(loss), ctypes.byref(n)))
        return loss.value, n.value
    finally:
        ctx.close()


def train_command(recipe=None, *overrides, dry_run=False, threads=0, on_output=None, **keys):
    """`ftune train RECIPE key=value ...` in this process: the same run, outputs and texts. overrides are
    "key=value" strings, keys recipe keys as keywords with "__" for the dots (optim__lr=3e-4); applied in
    that order after the recipe file. on_output(stream, text) gets each text the command prints (stream 1
    stdout, 2 stderr) as it comes. Returns {"stdout": str, "stderr": str, "state": {...}} (state: rank,
    world, done, finished, stopped, step, checkpoint); a failure raises Error (the texts printed until then
    are in its .stdout)."""
    ctx = _Ctx(threads)
    lib = _train_lib(ctx)
    out = {1: [], 2: []}

    def cb(user, stream, text):
        t = text.decode(errors="replace")
        out.setdefault(stream, []).append(t)
        if on_output:
            on_output(int(stream), t)

    fn = _OUTPUT_FN(cb)
    o = _TrainerOpts()
    lib.ftune_trainer_opts_init(ctypes.byref(o))
    o.command, o.on_output, o.dry_run = 1, fn, int(dry_run)
    h = _P()
    try:
        ctx.check(lib.ftune_trainer_create(ctx.p, ctypes.byref(o), ctypes.byref(h)))
        try:
            if recipe is not None:
                ctx.check(lib.ftune_trainer_load_recipe(h, _b(str(recipe))))
            for kv in overrides:
                ctx.check(lib.ftune_trainer_override(h, _b(kv)))
            for k, v in keys.items():
                ctx.check(lib.ftune_trainer_set_key(h, _b(k.replace("__", ".")), _b(_value(v)), None))
            done = ctypes.c_int()
            while not done.value:
                ctx.check(lib.ftune_trainer_step(h, ctypes.byref(done)))
            st = _TrainerState()
            lib.ftune_trainer_state_init(ctypes.byref(st))
            ctx.check(lib.ftune_trainer_get_state(h, ctypes.byref(st)))
            state = {name: getattr(st, name) for name, _ in _TrainerState._fields_ if name != "struct_size"}
            state["checkpoint"] = state["checkpoint"].decode() if state["checkpoint"] else ""
            for k in ("launched", "prepared", "done", "finished", "stopped"):
                state[k] = bool(state[k])
            return {"stdout": "".join(out[1]), "stderr": "".join(out[2]), "state": state}
        except Error as e:
            e.stdout = "".join(out[1])
            raise
        finally:
            lib.ftune_trainer_free(h)
    finally:
        ctx.close()


def merge(model, adapter, out, dtype="f32"):
    """Fold a LoRA / DoRA / IA3 / BitFit adapter into its base and write a plain checkpoint (`ftune merge`)."""
    ctx = _Ctx()
    try:
        ctx.check(ctx.lib.ftune_checkpoint_merge(ctx.p, _b(str(model)), _b(str(adapter)), _b(str(out)), _b(dtype)))
    finally:
        ctx.close()


__all__ += ["recipe_splits", "baseline", "checkpoint_archs", "init_checkpoint", "inspect_checkpoint", "dump", "merge"]
__all__ += ["recipe_help", "train_command"]
# ---- prediction and evaluation as `ftune predict` / `ftune eval` (FTUNE_HAS_TAGGING, FTUNE_HAS_SEQ2SEQ_PREDICT,
# FTUNE_HAS_EVALUATE_REPORT) ----

class _EvalOpts(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("batch_size", ctypes.c_int), ("seq_len", ctypes.c_int),
                ("pack", ctypes.c_int), ("max_new_tokens", ctypes.c_int), ("num_beams", ctypes.c_int),
                ("generate", ctypes.c_int), ("predictions", ctypes.c_char_p), ("split", ctypes.c_char_p)]


class _EvalReport(ctypes.Structure):
    _fields_ = [("struct_size", ctypes.c_size_t), ("task", ctypes.c_char * 32), ("n_examples", ctypes.c_size_t),
                ("n_windows", ctypes.c_size_t), ("unknown_tags", ctypes.c_size_t), ("seconds", ctypes.c_double),
                ("json", ctypes.c_char_p), ("table", ctypes.c_char_p), ("notes", ctypes.c_char_p)]


_TAG_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p),
                           ctypes.c_size_t, ctypes.POINTER(ctypes.c_int32))
_TEXT_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)

_SIGS.update({
    "ftune_model_seq_len": (ctypes.c_int, [_P]),
    "ftune_tag_words": (_S, [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t, ctypes.POINTER(ctypes.c_int32)]),
    "ftune_tag_file": (_S, [_P, ctypes.c_char_p, _TAG_FN, _P]),
    "ftune_generate_seq2seq": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]),
    "ftune_generate_seq2seq_file": (_S, [_P, ctypes.c_char_p, _TEXT_FN, _P]),
    "ftune_eval_opts_init": (None, [ctypes.POINTER(_EvalOpts)]),
    "ftune_eval_report_init": (None, [ctypes.POINTER(_EvalReport)]),
    "ftune_eval_report_free": (None, [ctypes.POINTER(_EvalReport)]),
    "ftune_model_evaluate_with": (_S, [_P, ctypes.c_char_p, ctypes.POINTER(_EvalOpts),
                                       ctypes.POINTER(ctypes.POINTER(_Metric)), ctypes.POINTER(ctypes.c_size_t),
                                       ctypes.POINTER(_EvalReport)]),
})
if _lib is not None:  # loaded before these were added: give them their types now
    for _name in ("ftune_model_seq_len", "ftune_tag_words", "ftune_tag_file", "ftune_generate_seq2seq",
                  "ftune_generate_seq2seq_file", "ftune_eval_opts_init", "ftune_eval_report_init",
                  "ftune_eval_report_free", "ftune_model_evaluate_with"):
        getattr(_lib, _name).restype, getattr(_lib, _name).argtypes = _SIGS[_name]


def _model_seq_len(self):
    """The sequence length the model was trained with (its inputs are cut there)."""
    return self._ctx.lib.ftune_model_seq_len(self._live())


def _model_tag(self, words):
    """A token classifier's tag of each word (None for a word whose pieces were cut at the training
    seq_len), as `ftune predict --text` prints them (each word's first piece)."""
    words = list(words)
    arr = (ctypes.c_char_p * max(1, len(words)))(*[_b(w) for w in words])
    tags = (ctypes.c_int32 * max(1, len(words)))()
    self._ctx.check(self._ctx.lib.ftune_tag_words(self._live(), arr, len(words), tags))
    names = self.labels
    return [None if tags[i] < 0 else names[tags[i]] for i in range(len(words))]


def _model_tag_file(self, path):
    """[(where "FILE:LINE", words, tags)] of each sentence of a JSONL file (the tokens field the model was
    trained with), as `ftune predict --jsonl` tags them."""
    out, names = [], self.labels

    def cb(user, where, words, n, tags):
        ws = [words[i].decode() for i in range(n)]
        out.append((where.decode(), ws, [None if tags[i] < 0 else names[tags[i]] for i in range(n)]))
        return 0

    fn = _TAG_FN(cb)
    self._ctx.check(self._ctx.lib.ftune_tag_file(self._live(), _b(str(path)), fn, None))
    return out


def _model_generate_seq2seq(self, source):
    """The text a seq2seq model writes from source with the run's decoding settings, as `ftune predict
    --text` prints it."""
    txt = ctypes.c_void_p()
    self._ctx.check(self._ctx.lib.ftune_generate_seq2seq(self._live(), _b(source), ctypes.byref(txt)))
    return _take_string(self._ctx.lib, txt) or ""


def _model_evaluate_report(self, data, batch_size=0, seq_len=0, pack=None, max_new_tokens=0, num_beams=0,
                           generate=True, predictions=None, split=None):
    """`ftune eval` as one call, for every task it evaluates (token classification and question answering
    too): {"metrics": {name: value}, "task", "n_examples", "n_windows", "unknown_tags", "seconds", "json" (the
    object `ftune eval --json` prints, parsed), "table" (its text after the first line), "notes"}. pack: None
    (the recipe's), True or False; predictions: a seq2seq model's {"prediction", "reference"} lines go there."""
    import json as _json
    lib = self._ctx.lib
    o = _EvalOpts()
    lib.ftune_eval_opts_init(ctypes.byref(o))
    o.batch_size, o.seq_len, o.max_new_tokens, o.num_beams = int(batch_size), int(seq_len), int(max_new_tokens), int(num_beams)
    o.pack = -1 if pack is None else int(bool(pack))
    o.generate = int(bool(generate))
    o.predictions, o.split = _b(None if predictions is None else str(predictions)), _b(split)
    r = _EvalReport()
    lib.ftune_eval_report_init(ctypes.byref(r))
    ms = ctypes.POINTER(_Metric)()
    n = ctypes.c_size_t()
    st = lib.ftune_model_evaluate_with(self._live(), _b(str(data)), ctypes.byref(o), ctypes.byref(ms), ctypes.byref(n),
                                       ctypes.byref(r))
    try:
        self._ctx.check(st)
        return {"metrics": _metrics(ms, n.value), "task": r.task.decode(), "n_examples": r.n_examples,
                "n_windows": r.n_windows, "unknown_tags": r.unknown_tags, "seconds": r.seconds,
                "json": _json.loads(r.json.decode()), "table": r.table.decode(), "notes": r.notes.decode()}
    finally:
        if ms:
            lib.ftune_free(ms)
        lib.ftune_eval_report_free(ctypes.byref(r))


Model.seq_len = property(_model_seq_len)
Model.tag = _model_tag
Model.tag_file = _model_tag_file
Model.generate_seq2seq = _model_generate_seq2seq
Model.evaluate_report = _model_evaluate_report
