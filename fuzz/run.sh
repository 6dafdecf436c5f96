#!/usr/bin/env bash
# Runs the libFuzzer targets: FuzzDecode (probe → decode with colour management → orient →
# resize → encode, of JPEG, PNG, WebP and AVIF, seeded with Tests/Fixtures/corpus, formats and
# colour) and FuzzSeeds (seed parsing and isCached write-back,
# the round-trip property as the oracle, seeded with seeds/ and Tests/Fixtures/seeds).
#
#   fuzz/run.sh SECONDS [TARGET...]      default: both targets, SECONDS each, one after the other
#   FUZZ_SEEDS="dir..." FUZZ_NAME=tiff fuzz/run.sh 600 FuzzDecode
#                                        one decoder's time: only those seeds, a corpus of its own
#   FUZZ_ARGS="-detect_leaks=0"          more libFuzzer flags (SVG: fontconfig's process-wide font
#                                        cache, made on the first text drawn, reads as a leak)
#
# Findings land in fuzz/findings/<target>/ (crash-*, timeout-*, oom-*); each one becomes a
# regression test with its input under Tests/Fixtures/fuzz/. The corpus grows in
# .build-fuzz/corpus/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:?usage: fuzz/run.sh SECONDS [FuzzDecode] [FuzzSeeds]}
shift
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzDecode FuzzSeeds)
export PATH="$PATH:/opt/swift/usr/bin"
export IMGCACHE_FUZZ=1
for target in "${targets[@]}"; do
    # Optimised, with ASan and libFuzzer's coverage: a debug build runs ~10 inputs/s on photos.
    swift build --scratch-path .build-fuzz -c release --product "$target" \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
        -Xcc -fsanitize=fuzzer-no-link,address >&2
done
bin=$(swift build --scratch-path .build-fuzz -c release --show-bin-path)
for target in "${targets[@]}"; do
    corpus=.build-fuzz/corpus/$target${FUZZ_NAME:+-$FUZZ_NAME}
    findings=fuzz/findings/$target${FUZZ_NAME:+-$FUZZ_NAME}
    mkdir -p "$corpus" "$findings"
    case "$target" in
        FuzzDecode) seeds=(Tests/Fixtures/corpus/jpeg Tests/Fixtures/corpus/png Tests/Fixtures/corpus/bad Tests/Fixtures/formats Tests/Fixtures/colour); extra=(-max_len=65536) ;;
        FuzzSeeds) seeds=(seeds Tests/Fixtures/seeds); extra=(-dict=fuzz/yaml.dict -max_len=16384) ;;
    esac
    [ -z "${FUZZ_SEEDS:-}" ] || read -r -a seeds <<< "$FUZZ_SEEDS"
    existing=()
    for s in "${seeds[@]}"; do [ -d "$s" ] && existing+=("$s"); done
    echo "== $target for ${seconds}s" >&2
    # -rss_limit_mb: a decode that allocates past the limits is a finding, not a slow run.
    log=$findings.log
    "$bin/$target" "$corpus" "${existing[@]}" "${extra[@]}" -max_total_time="$seconds" -timeout=10 ${FUZZ_ARGS:-} \
        -rss_limit_mb=1024 -artifact_prefix="$findings/" -print_final_stats=1 > "$log" 2>&1 || true
    # The summary: coverage at the start and the end, the final stats, and every finding.
    grep -a -E "INITED|DONE|^stat::|SUMMARY|ERROR|Fatal error" "$log" || tail -n 20 "$log"
    ls "$findings" | sed "s|^|finding: $findings/|" || true
    echo "(full log: $log)"
done
