#!/usr/bin/env bash
# The public C API as an outside program sees it: `cmake --install` into a temporary prefix; the shared
# library has its soname and exports only ftune_* symbols; no internal header is installed; examples/
# compile OUTSIDE the tree with `cc $(pkg-config --cflags --libs ftune)` (shared, and --static) and with
# find_package(ftune); then they run on tiny models this script makes: train_lora LoRA-trains a
# classifier and a causal LM (the adapters exist, load, and `ftune eval` accepts them), predict
# classifies lines exactly as `ftune classify` does and generates exactly the greedy text of
# `ftune generate`. Under the sanitizers (FT_SANITIZED=1) the examples are built with them too.
set -euo pipefail
FT=${FT_BIN:?}
SRC=${FT_SRC:?}
BUILD=$(dirname "$FT")
W=$(mktemp -d /tmp/ft_apiinst.XXXXXX)
trap 'rm -rf "$W"' EXIT
export OMP_NUM_THREADS=1
fail=0
# a check runs without pipefail: `producer | grep -q x` would fail at random when grep exits
# before the producer has written everything (SIGPIPE, status 141)
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }

cmake --install "$BUILD" --prefix "$W/prefix" > "$W/install.log"
P=$W/prefix
so=$(find "$P" -name 'libftune.so.*.*' | head -1)
ck "[ -n '$so' ]" "no libftune.so.X.Y installed"
LIBDIR=$(dirname "$so")
for f in include/ftune.h; do ck "[ -f '$P/$f' ]" "$f not installed"; done
ck "[ -f '$LIBDIR/libftune.a' ] && [ -f '$LIBDIR/pkgconfig/ftune.pc' ] && [ -f '$LIBDIR/cmake/ftune/ftuneConfig.cmake' ]" \
   "libftune.a, ftune.pc or ftuneConfig.cmake missing"
ck "[ \$(find '$P/include' -name '*.h' | wc -l) = 1 ]" "internal headers installed: $(find "$P/include" -name '*.h')"
abi=$(sed -n 's/^#define FTUNE_ABI_VERSION \([0-9]*\).*/\1/p' "$SRC/include/ftune.h")
ck "readelf -d '$so' | grep -q 'SONAME.*\[libftune.so.$abi\]'" "soname is not libftune.so.$abi: $(readelf -d "$so" | grep SONAME)"
# exported symbols: ftune_* only (the sanitizer runtimes' hooks aside)
nm -D --defined-only "$so" | awk '{print $NF}' | grep -v -E '^(_init|_fini|__bss_start|_edata|_end)$' |
  grep -v -E '^_*(asan|ubsan|odr_asan|sancov)' > "$W/syms.txt"
bad=$(grep -v '^ftune_' "$W/syms.txt" | head -5 || true)
ck "[ -z '$bad' ]" "exported symbols other than ftune_*: $bad"
for f in ftune_model_load ftune_trainer_step ftune_generate ftune_classify ftune_last_error ftune_version; do
  ck "grep -qx '$f' '$W/syms.txt'" "$f is not exported"
done

# the examples, outside the tree
mkdir -p "$W/ex" && cp "$SRC/examples/train_lora.c" "$SRC/examples/predict.c" "$W/ex/"
cd "$W/ex"
export PKG_CONFIG_PATH=$LIBDIR/pkgconfig
CF="-std=c11 -Wall -Wextra -Werror"
[ "${FT_SANITIZED:-0}" = 1 ] && CF="$CF -fsanitize=address,undefined"
for e in train_lora predict; do
  cc $CF $e.c $(pkg-config --cflags --libs ftune) -o $e
done
if [ "${FT_SANITIZED:-0}" != 1 ]; then # a static executable (libftune.a and its dependencies)
  cc $CF predict.c $(pkg-config --cflags ftune) "$LIBDIR/libftune.a" \
     $(pkg-config --static --libs ftune | sed 's/-lftune\b//') -o predict_static
  ck "! ldd predict_static | grep -q libftune" "predict_static links libftune.so"
fi
export LD_LIBRARY_PATH=$LIBDIR
ck "ldd predict | grep -q '$LIBDIR/libftune.so.$abi'" "predict does not use the installed libftune.so (ldd: $(ldd predict 2>&1 | tr '\n' ' '))"
# find_package(ftune)
mkdir -p cm && cat > cm/CMakeLists.txt <<'C'
cmake_minimum_required(VERSION 3.20)
project(uses_ftune C)
find_package(ftune REQUIRED)
add_executable(predict_cm ../predict.c)
target_link_libraries(predict_cm PRIVATE ftune::ftune)
C
cmake -S cm -B cm/build -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_FLAGS="${CF#-std=c11 }" > cm.log 2>&1 || { cat cm.log; fail=1; }
cmake --build cm/build > cmb.log 2>&1 || { cat cmb.log; fail=1; }

# tiny models: a WordPiece vocabulary, positive / negative sentences (eval_cli.sh's task)
. "$SRC/tests/lib/sentiment.sh"
sentiment_vocab vocab.txt
gen() { sentiment_gen "$@"; }
gen 200 1 > train.jsonl
gen 12 5 | sed 's/.*"text": "\([^"]*\)".*/\1/' > lines.txt
echo '{"vocab_size": 32, "n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 32}' > g.json
"$FT" init --arch gpt2 --config g.json --out base --seed 3 > /dev/null
cp vocab.txt base/

# (a) LoRA classification, stepped through the API
./train_lora base train.jsonl out_cls > train_cls.log 2>&1 || { cat train_cls.log; fail=1; }
ck "grep -q '^trained 60 steps' train_cls.log" "train_lora did not report 60 steps: $(tail -3 train_cls.log)"
ck "grep -q '^eval at step 60: loss' train_cls.log" "no evaluation callback at the last step"
for f in adapter_config.json adapter_model.safetensors ftune_train.json recipe.yaml metrics.jsonl; do
  ck "[ -s out_cls/$f ]" "out_cls/$f missing"
done
ck "grep -q '\"r\": 8' out_cls/adapter_config.json" "adapter_config.json lacks r = 8"
# the same run through `ftune train` (the resolved recipe the API wrote): the same adapter, bit for bit
"$FT" train out_cls/recipe.yaml output_dir=out_cli report.progress=quiet > train_cli.log 2>&1 || { cat train_cli.log; fail=1; }
ck "cmp -s out_cls/adapter_model.safetensors out_cli/adapter_model.safetensors" \
   "the API's stepped run and ftune train's differ"
"$FT" eval --model base --adapter out_cls --data train.jsonl --json > ev.json || fail=1
acc=$(sed 's/.*"accuracy":\([0-9.e-]*\).*/\1/' ev.json)
ck "awk -v a='$acc' 'BEGIN { exit !(a > 0.8) }'" "the API-trained classifier has training accuracy $acc (want > 0.8)"
# (b) classify: the same lines, labels and probabilities as `ftune classify`
./predict base out_cls < lines.txt > pred_api.txt || fail=1
"$FT" classify --model base --adapter out_cls < lines.txt > pred_cli.txt || fail=1
# the same labels, probabilities equal to 2e-6 (the printed 6th decimal can differ by one between the two
# programs: a last-bit difference of the float computation, not understood yet; see docs/api.md)
same_preds() { [ "$(wc -l < "$1")" = "$(wc -l < "$2")" ] &&
  paste "$1" "$2" | awk -F'\t' '$1 != $3 || ($2 - $4) > 2e-6 || ($4 - $2) > 2e-6 { bad = 1 } END { exit bad }'; }
ck "[ \$(wc -l < pred_api.txt) = 12 ] && same_preds pred_api.txt pred_cli.txt" \
   "predict differs from ftune classify: $(diff pred_api.txt pred_cli.txt | head -4)"
./cm/build/predict_cm base out_cls < lines.txt > pred_cm.txt || fail=1
ck "cmp -s pred_cm.txt pred_api.txt" "the find_package build classifies differently from the pkg-config one"
if [ -x predict_static ]; then
  ./predict_static base out_cls < lines.txt > pred_st.txt || fail=1
  ck "cmp -s pred_st.txt pred_api.txt" "the static build classifies differently from the shared one"
fi

# a causal LM adapter, and generation streamed token by token = `ftune generate` greedy
./train_lora base train.jsonl out_lm task=causal_lm train.max_steps=40 > train_lm.log 2>&1 || { cat train_lm.log; fail=1; }
ck "[ -s out_lm/adapter_model.safetensors ]" "out_lm has no adapter"
head -4 lines.txt | cut -d' ' -f1-2 > prompts.txt
./predict base out_lm < prompts.txt > gen_api.txt || fail=1
while IFS= read -r p; do "$FT" generate --model base --adapter out_lm --prompt "$p"; done < prompts.txt > gen_cli.txt
ck "[ \$(wc -l < gen_api.txt) = 4 ] && cmp -s gen_api.txt gen_cli.txt" \
   "streamed generation differs from ftune generate: $(diff gen_api.txt gen_cli.txt | head -4)"
ck "[ \$(tr -d ' \n' < gen_api.txt | wc -c) -gt 0 ]" "no text generated"

# errors reach the caller with the library's message
ck "! ./predict nowhere - 2> err.txt && grep -q 'nowhere' err.txt" "a missing model: no message naming it"
ck "! ./train_lora base train.jsonl out_x lora.rr=3 2> err2.txt && grep -q \"lora.rr\" err2.txt" \
   "an unknown recipe key: no message naming it"
[ $fail = 0 ] && echo "api_install: all checks passed"
exit $fail
