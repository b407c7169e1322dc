#!/usr/bin/env bash
# Fuzzes the parsers that take outside input: each harness runs under AFL++ (coverage-guided, through SharpFuzz's
# instrumentation and fork server) for a set time, starting from the kept corpus in corpus/<target>/.
#
# usage: tests/ZteRollout.Fuzz/fuzz.sh [--seconds N] [--keep] [--no-build] [--work DIR] [TARGET...]
#   TARGET      plan, version, manifest, device, ddi (default: all)
#   --seconds N time per target (default 60)
#   --keep      add the inputs that reached new coverage to corpus/<target>/ (minimized with afl-cmin), to commit
#   --no-build  use the harness as `dotnet build` (Debug) left it, e.g. after `dotnet test ZteRollout.sln`
#   --work DIR  where the instrumented copy and AFL's output go (default: a temp dir, deleted unless something crashed)
#
# Prints one line per target and exits 0 when nothing crashed; 1 when an input crashed a harness (each such input is
# replayed, its exception printed, and kept under the work dir: make it a regression test, fix, and add it to the
# corpus); 2 when the fuzzer could not run. Needs AFL++ (Debian: apt-get install afl++).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
seconds=60
keep=false
build=true
work=""
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --keep) keep=true; shift ;;
    --no-build) build=false; shift ;;
    --work) work="$2"; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(plan version manifest device ddi signed)

if ! command -v afl-fuzz >/dev/null; then
  echo "fuzz: afl-fuzz not found; install AFL++ (apt-get install afl++)" >&2
  exit 2
fi

if [ -z "$work" ]; then
  work=$(mktemp -d /tmp/zte-fuzz.XXXXXX)
  own_work=true
else
  mkdir -p "$work"
  own_work=false
fi

if $build; then
  dotnet build "$here/ZteRollout.Fuzz.csproj" -nologo -v quiet >/dev/null
fi
built="$here/bin/Debug/net10.0"
if [ ! -f "$built/ZteRollout.Fuzz.dll" ]; then
  echo "fuzz: $built/ZteRollout.Fuzz.dll not built (run without --no-build)" >&2
  exit 2
fi

# Instrument a copy: our assemblies and the parsers they lean on (YAML, protobuf). The framework's own assemblies
# (System.Text.Json) run uninstrumented: AFL sees our branches, not the JSON reader's.
rm -rf "$work/bin"
cp -r "$built" "$work/bin"
(cd "$here" && dotnet tool restore >/dev/null)
for assembly in ZteRollout.Shared.dll ZteRollout.Protos.dll ZteRollout.Gateway.dll zte-rollout.dll YamlDotNet.dll Google.Protobuf.dll; do
  (cd "$here" && dotnet tool run sharpfuzz "$work/bin/$assembly" >/dev/null)
done

export AFL_SKIP_BIN_CHECK=1               # the target is `dotnet`, instrumented by SharpFuzz rather than at compile time
export AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_NO_AFFINITY=1
export AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1  # crashes are exceptions reported by SharpFuzz, not core dumps

crashed=0
broken=0
for target in "${targets[@]}"; do
  corpus="$here/corpus/$target"
  out="$work/out/$target"
  if [ ! -d "$corpus" ]; then
    echo "fuzz: no corpus for '$target' ($corpus)" >&2
    exit 2
  fi

  rm -rf "$out"
  mkdir -p "$work/out"
  # -t: an input taking 10 s is a hang (the box is shared; a real hang is far past it). -m none: the CLR reserves
  # more address space than AFL's default limit.
  if ! afl-fuzz -V "$seconds" -t 10000 -m none -i "$corpus" -o "$out" -- dotnet "$work/bin/ZteRollout.Fuzz.dll" "$target" \
      >"$work/$target.log" 2>&1; then
    echo "fuzz: $target: afl-fuzz did not run; the end of its log:" >&2
    tail -n 15 "$work/$target.log" >&2
    broken=$((broken + 1))
    continue
  fi

  stats="$out/default/fuzzer_stats"
  field() { awk -v k="$1" '$1 == k { print $3 }' "$stats"; }
  crashes=$(find "$out/default/crashes" -name 'id:*' -type f 2>/dev/null | wc -l)
  echo "fuzz: $target: ${seconds} s, $(field execs_done) execs, $(field corpus_count) inputs in the queue," \
    "$(field bitmap_cvg) of the map, $(field saved_hangs) hangs, $crashes crashes"
  if [ "$crashes" -gt 0 ]; then
    crashed=$((crashed + crashes))
    # Replayed by the uninstrumented build: instrumented code outside afl-fuzz has no coverage map to write to.
    dotnet "$built/ZteRollout.Fuzz.dll" replay "$target" "$out/default/crashes" >&2 || true
    echo "fuzz: $target: crashing inputs kept in $out/default/crashes" >&2
  fi

  if $keep; then
    # The corpus and AFL's queue (one input per new coverage it found) together, minimized by afl-cmin to the
    # fewest inputs that keep all coverage; the hand-written seeds stay whatever it says. (AFL_ALLOW_TMP: the work dir
    # is ours alone, so afl-cmin's guard against shared /tmp directories does not apply.)
    merged="$work/merge/$target"
    minimized="$work/min/$target"
    rm -rf "$merged" "$minimized"
    mkdir -p "$merged"
    cp "$corpus"/* "$merged"/
    for input in "$out"/default/queue/id:*; do
      case "$input" in *,orig:*) continue ;; esac
      cp "$input" "$merged/afl-$(sha256sum "$input" | cut -c1-16)"
    done
    (cd "$here" && AFL_ALLOW_TMP=1 afl-cmin -i "$merged" -o "$minimized" -t 10000 -m none -- "$(command -v dotnet)" "$work/bin/ZteRollout.Fuzz.dll" "$target" \
      >"$work/$target.cmin.log" 2>&1)
    rm -f "$corpus"/afl-*
    cp "$minimized"/afl-* "$corpus"/ 2>/dev/null || true
    echo "fuzz: $target: corpus now $(find "$corpus" -type f | wc -l) inputs ($(find "$corpus" -name 'afl-*' | wc -l) found by AFL)"
  fi
done

if [ "$crashed" -gt 0 ]; then
  echo "fuzz: $crashed crashing inputs; work dir kept: $work" >&2
  exit 1
fi
if [ "$broken" -gt 0 ]; then
  echo "fuzz: $broken targets could not be fuzzed; work dir kept: $work" >&2
  exit 2
fi
if $own_work; then
  rm -rf "$work"
fi
exit 0
