#!/usr/bin/env bash
# Image classification end to end (docs/vision.md "Training"): a tiny ViT from `ftune init --arch vit` trained
# with task image_classification on sklearn's 8x8 digits (data.format pixels, Debian's python3-sklearn) beats
# chance by far; `ftune eval` on the pixel CSV, on a class-folder copy of some digits (PNG written by PIL) and
# `ftune predict --image` on those files agree image by image; a run resumed from its checkpoint ends bit for
# bit as the uninterrupted one (augmentation keyed by step and image); LoRA and BitFit adapters train, save and
# predict; head.reset starts a new head; IDX pairs (Fashion-MNIST, when installed) by their names; bad input
# refused by name.
set -euo pipefail
FT=${FT_BIN:?}
SRC=$(cd "$(dirname "$0")/.." && pwd)
DIGITS=/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz
PY=/usr/bin/python3
if [ ! -f "$DIGITS" ] || ! "$PY" -c "import PIL, numpy" 2>/dev/null; then
  echo "SKIP: needs python3-sklearn's digits.csv.gz and python3-pil + numpy"; exit 77
fi
W=$(mktemp -d /tmp/ft_imgtrain.XXXXXX)
trap 'rm -rf "$W"' EXIT
cd "$W"
export OMP_NUM_THREADS=2
fail=0
ck() { if (set +o pipefail; eval "$1"); then :; else echo "FAIL: $2"; fail=1; fi; }

echo '{"image_size": 8, "patch_size": 2, "num_channels": 1, "hidden_size": 32, "num_hidden_layers": 2,
       "num_attention_heads": 4, "intermediate_size": 64}' > vit.json
"$FT" init --arch vit --config vit.json --out base --seed 3 > /dev/null
cat > r.yaml <<Y
model: base
task: image_classification
output_dir: out-full
seed: 7
data: {train: $DIGITS, format: pixels, pixel_max: 16, val_ratio: 0.15, test_ratio: 0.15, split_seed: 1,
       augment_crop: false, hflip: 0}
train: {max_steps: 250, batch_size: 32}
optim: {lr: 3e-3, warmup_steps: 10}
eval: {batch_size: 100, metric: accuracy}
checkpoint: {every: 0, keep_last: 0}
report: {progress: quiet, tensorboard: false, html: false}
Y
"$FT" train r.yaml > full.log 2>&1 || { cat full.log; exit 1; }
ck "grep -q 'split: 1259 train, 269 validation, 269 test$' full.log" "split sizes"
acc=$(sed -n 's/^test: loss [0-9.]* accuracy \([0-9.]*\).*/\1/p' full.log)
echo "full fine-tuning test accuracy $acc (10 classes)"
ck "awk -v a=$acc 'BEGIN{exit !(a > 0.6)}'" "test accuracy $acc <= 0.6"
ck "test -f out-full/preprocessor_config.json && grep -q ViTImageProcessor out-full/preprocessor_config.json" \
   "the processor is saved with the model"
ck "grep -q '\"task\": *\"image_classification\"' out-full/ftune_train.json" "ftune_train.json task"

# eval on the whole CSV: the numbers ftune eval prints are the model's on 1797 images
"$FT" eval --model out-full --data "$DIGITS" --json > ev.json
ck "grep -q '\"examples\": *1797' ev.json || grep -q '\"n\": *1797' ev.json || grep -q 1797 ev.json" "eval over 1797 images"

# a class folder of 40 digits as 8-bit PNGs (v*255/16 rounded, as the pixel reader scales), then eval on the
# folder and predict --image on each file must agree with each other
"$PY" - "$DIGITS" <<'P'
import gzip, sys, os, numpy as np
from PIL import Image
rows = np.loadtxt(gzip.open(sys.argv[1]), delimiter=",")[:40]
for i, r in enumerate(rows):
    d = f"folder/{int(r[-1])}"; os.makedirs(d, exist_ok=True)
    px = np.floor(r[:-1] * 255.0 / 16.0 + 0.5).astype(np.uint8).reshape(8, 8)
    Image.fromarray(px, "L").save(f"{d}/img{i:02d}.png")
P
"$FT" eval --model out-full --data folder > evf.log
fa=$(sed -n 's/^accuracy *\([0-9.]*\)/\1/p' evf.log)
right=0; n=0
for f in folder/*/*.png; do
  truth=$(basename "$(dirname "$f")")
  got=$("$FT" predict --model out-full --image "$f" --top 1 --json | sed 's/.*"label":"\([^"]*\)".*/\1/')
  n=$((n + 1)); [ "$got" = "$truth" ] && right=$((right + 1))
done
ck "awk -v a=$fa -v r=$right -v n=$n 'BEGIN{exit !(a == sprintf(\"%.4f\", r / n) + 0)}'" \
   "eval on the folder ($fa) and predict --image ($right of $n) disagree"
"$FT" predict --model out-full --image folder/0/img00.png --top 3 > pred.txt
ck "test \$(grep -c \$'^  [0-9]\t0\\.' pred.txt) -eq 3 && head -1 pred.txt | grep -q img00.png" "predict prints the top 3"

# resume, with the crop + flip augmentation on: from the step-10 checkpoint to 20 equals the straight run,
# bit for bit (each image's crop is drawn from the seed, the global micro-batch and the image index)
aug="data.augment_crop=true data.crop_scale_min=0.5 data.hflip=0.5 train.max_steps=20 checkpoint.every=10"
"$FT" train r.yaml $aug output_dir=out-aug > aug.log 2>&1 || { cat aug.log; fail=1; }
ck "grep -q 'training augmentation on' aug.log" "augmentation on"
"$FT" train r.yaml $aug output_dir=out-res resume=out-aug/checkpoints/step-00000010 > res.log 2>&1 || { cat res.log; fail=1; }
ck "cmp -s out-aug/model.safetensors out-res/model.safetensors" "resumed image run differs from the straight one"
ck "! cmp -s out-aug/model.safetensors out-full/model.safetensors" "augmented and plain runs are the same"

# LoRA (query,value + the classifier) and BitFit: adapters that predict
for m in lora bitfit; do
  "$FT" train r.yaml method=$m output_dir=out-$m optim.lr=1e-2 checkpoint.every=0 > $m.log 2>&1 || { cat $m.log; fail=1; continue; }
  ck "test -f out-$m/adapter_config.json" "$m: adapter saved"
  ck "\"$FT\" predict --model out-$m --image folder/3/*.png --top 1 | grep -q '^  [0-9]'" "$m: predict with the adapter"
done
ck "grep -q 'trainable' lora.log" "lora log"

# head.reset: a new head even though the size matches (weights back to N(0, 0.02), far from the trained
# head), and onto a different number of classes (refused without it, naming the key)
"$FT" train r.yaml model=out-full head.reset=true train.max_steps=1 optim.lr=1e-9 output_dir=out-reset \
  > reset.log 2>&1 || { cat reset.log; fail=1; }
ck "grep -q 'head.reset: the checkpoint.s head is replaced' reset.log" "head.reset note"
ck "\"$PY\" -c \"
import sys; sys.path.insert(0, '$SRC/tests/ref'); import st, numpy as np
r = st.load('out-reset/model.safetensors')[0]; a = r['classifier.weight']; b = st.load('out-full/model.safetensors')[0]['classifier.weight']
assert abs(a.std() - 0.02) < 0.004 and abs(b - a).max() > 0.1 and abs(r['classifier.bias']).max() < 1e-6, (a.std(), abs(b - a).max())
\"" "head.reset re-initializes the classifier"
mkdir -p two/0 two/1; cp folder/0/*.png two/0/; cp folder/1/*.png two/1/
"$FT" train r.yaml model=out-full data.train=two data.val_ratio=0 data.test_ratio=0 train.max_steps=1 \
  output_dir=out-two > two.log 2>&1 && { echo "FAIL: a 10-class head took 2 classes"; fail=1; }
ck "grep -q 'head has 10 labels, the data has 2 (head.reset: true starts a new head)' two.log" "size mismatch names head.reset"
"$FT" train r.yaml model=out-full data.train=two data.val_ratio=0 data.test_ratio=0 train.max_steps=1 \
  head.reset=true output_dir=out-two > two.log 2>&1 || { cat two.log; fail=1; }
ck "\"$PY\" -c \"import json; assert len(json.load(open('out-two/config.json'))['id2label']) == 2\" &&
    \"$FT\" predict --model out-two --image two/1/img*.png | grep -q \$'^  [01]\\t'" "head.reset onto 2 classes"

# IDX pairs by name (Fashion-MNIST, when the package is there): 300 images resized to 8x8
FM=/usr/share/datasets/fashion-mnist
if [ -f $FM/t10k-images-idx3-ubyte.gz ]; then
  "$FT" train r.yaml data.train=$FM/t10k-images-idx3-ubyte.gz data.format=auto data.train_limit=300 \
    data.labels="T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot" \
    train.max_steps=3 output_dir=out-idx checkpoint.every=0 > idx.log 2>&1 || { cat idx.log; fail=1; }
  ck "grep -q '10000 images, 10 classes, 28x28; model input 1x8x8' idx.log" "IDX pair read and resized"
  ck "grep -q 'Ankle boot' out-idx/config.json" "class names from data.labels in config.json"
fi

# bad input, each named
bad() { if "$FT" train r.yaml "${@:2}" checkpoint.every=0 train.max_steps=1 > bad.log 2>&1; then
          echo "FAIL: accepted: ${*:2}"; fail=1;
        elif ! grep -q -- "$1" bad.log; then echo "FAIL: ${*:2}: expected '$1' in:"; cat bad.log; fail=1; fi; }
printf '0,1,2,3\n' > notsquare.csv
bad "3 pixel columns besides the label: not a square image" data.train=notsquare.csv
printf '0,0,0,0,1\n0,0,0,99,2\n' > range.csv
bad "range.csv:2: column 4: pixel value 99 outside \[0, 16\]" data.train=range.csv
printf '0,0,0,0,1\n0,0,0,0,1e80\n' > biglabel.csv
bad "biglabel.csv:2: label '1e80' is not a class number" data.train=biglabel.csv
printf '0,0,0,0,1\n0,0,x,0,1\n' > nan.csv
bad "nan.csv:2: column 3: 'x' is not a number" data.train=nan.csv
bad "data.labels names 2 classes, the data has 10" data.labels=a,b
echo '{"n_embd": 16, "n_layer": 1, "n_head": 2, "vocab_size": 64, "n_positions": 32}' > g.json
"$FT" init --arch gpt2 --config g.json --out gpt > /dev/null
bad "task image_classification needs an image model (vit); gpt is gpt2" model=gpt
cp folder/0/img00.png one.png
bad "a single image; image_classification reads a class folder" data.train=one.png data.format=auto
mkdir -p cls/a cls/b; cp folder/0/img00.png cls/a/; touch cls/b/README.txt
bad "class folder 'b' has no image" data.train=cls data.format=auto
cp $FM/t10k-images-idx3-ubyte.gz images.gz 2>/dev/null && \
  bad "an IDX image file needs its label file: set data.train_labels" data.train=images.gz data.format=auto
bad "data.hflip: a probability in \[0, 1\]" data.hflip=1.5
mkdir -p vclass/0 vclass/zz; cp folder/0/img00.png vclass/0/; cp folder/0/img00.png vclass/zz/
bad "vclass: class 'zz' is not among the 10 training classes" data.validation=vclass
exit $fail
