#!/usr/bin/env bash
# ftune image preprocess against an independent PIL + numpy reference of HF's ViTImageProcessor
# (tests/ref/image_ref.py): PNGs of every colour type and depth (palette, tRNS, Adam7, 16-bit, eXIf),
# JPEGs (gray, 4:2:0, 4:4:4, progressive, CMYK, EXIF orientations 1-8), decode alone and resize up and
# down with each PIL resampling filter; every float must be bit-identical. Then the CLI's info/config/IDX
# forms and its errors. Skipped (77) without Debian's python3-pil.
set -uo pipefail
FT_SRC=${FT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
FT_BIN=${FT_BIN:-$FT_SRC/build/ftune}
PY=/usr/bin/python3
"$PY" -c "import PIL, numpy" 2>/dev/null || { echo "image_pil: no python3-pil/numpy for $PY, skipped"; exit 77; }
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$PY" "$FT_SRC/tests/ref/image_ref.py" gen "$d" || fail "generating images"
"$PY" "$FT_SRC/tests/ref/image_ref.py" check "$FT_BIN" "$d" || fail "preprocessing differs from the reference"

out=$("$FT_BIN" image info "$d/rgb16.png" "$d/pal8_trns.png" "$d/jpg_exif6.jpg" "$d/rgb8_adam7.png") || fail "info"
want="$d/rgb16.png: PNG 28x36 RGB 16-bit
$d/pal8_trns.png: PNG 48x32 P 8-bit alpha
$d/jpg_exif6.jpg: JPEG 24x40 RGB 8-bit exif-orientation=6
$d/rgb8_adam7.png: PNG 29x37 RGB 8-bit interlaced"
[ "$out" = "$want" ] || fail "info gave '$out'"
out=$("$FT_BIN" image info --json "$d/jpg_progressive.jpg") || fail "info --json"
[[ "$out" == *'"format": "JPEG", "width": 64, "height": 40, "mode": "RGB"'*'"interlaced": true'* ]] || fail "info --json gave '$out'"

# the config ftune writes is the one it reads, and the defaults are ViTImageProcessor's
"$FT_BIN" image config --size 32 "$d/pp.json" || fail "config"
"$PY" - "$d/pp.json" <<'PYEOF' || fail "config content"
import json, sys
c = json.load(open(sys.argv[1]))
want = {"do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "ViTImageProcessor", "image_std": [0.5, 0.5, 0.5],
        "resample": 2, "rescale_factor": 1 / 255, "size": {"height": 32, "width": 32}}
assert c == want, c
PYEOF
a=$("$FT_BIN" image preprocess --config "$d/pp.json" "$d/rgb8.png") || fail "preprocess with the written config"
b=$("$FT_BIN" image preprocess --size 32 "$d/rgb8.png") || fail "preprocess --size"
[ "$a" = "$b" ] || fail "written config and defaults differ: '$a' vs '$b'"
out=$("$FT_BIN" image preprocess --json --size 2 "$d/gray8.png") || fail "--json"
[[ "$out" == '{"shape": [3, 2, 2], "pixel_values": ['* ]] || fail "--json gave '$out'"

# IDX: a gzip'd idx3 of two 4x3 images; --index picks the second, the raw values come back
"$PY" - "$d/two.idx3.gz" <<'PYEOF' || fail "writing IDX"
import gzip, struct, sys
open(sys.argv[1], "wb").write(gzip.compress(struct.pack(">IIII", 0x803, 2, 4, 3) + bytes(range(24))))
PYEOF
out=$("$FT_BIN" image info "$d/two.idx3.gz") || fail "IDX info"
[ "$out" = "$d/two.idx3.gz: IDX 3x4 L 8-bit 2 images" ] || fail "IDX info gave '$out'"
echo '{"size": {"height": 4, "width": 3}, "do_rescale": false, "do_normalize": false}' > "$d/raw.json"
out=$("$FT_BIN" image preprocess --config "$d/raw.json" --channels 1 --index 1 --json "$d/two.idx3.gz") || fail "IDX preprocess"
[ "$out" = '{"shape": [1, 4, 3], "pixel_values": [12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23]}' ] ||
  fail "IDX preprocess gave '$out'"

# errors name the file, exit 1
head -c 300 "$d/rgb8.png" > "$d/cut.png"
err=$("$FT_BIN" image info "$d/cut.png" 2>&1); rc=$?
[ $rc = 1 ] && [[ "$err" == *"cut.png"*"truncated"* ]] || fail "truncated PNG: rc=$rc '$err'"
for n in 600 $(($(stat -c %s "$d/jpg_rgb444.jpg") * 2 / 3)); do  # in the header, in the scans
  head -c $n "$d/jpg_rgb444.jpg" > "$d/cut.jpg"
  err=$("$FT_BIN" image preprocess "$d/cut.jpg" 2>&1); rc=$?
  [ $rc = 1 ] && [[ "$err" == *"cut.jpg: truncated JPEG"* ]] || fail "JPEG truncated at $n: rc=$rc '$err'"
done
echo "hello" > "$d/notimage.png"
err=$("$FT_BIN" image info "$d/notimage.png" 2>&1); rc=$?
[ $rc = 1 ] && [[ "$err" == *"notimage.png: not a PNG, JPEG or IDX"* ]] || fail "not an image: rc=$rc '$err'"
echo '{"size": {"shortest_edge": 224}}' > "$d/se.json"
err=$("$FT_BIN" image preprocess --config "$d/se.json" "$d/rgb8.png" 2>&1); rc=$?
[ $rc = 1 ] && [[ "$err" == *"se.json"*"shortest_edge"* ]] || fail "shortest_edge: rc=$rc '$err'"
"$FT_BIN" image --help | grep -q "preprocess" || fail "help"
"$FT_BIN" --help 2>&1 | grep -q "image" || fail "image not in the command list"
echo "image_pil: ok"
