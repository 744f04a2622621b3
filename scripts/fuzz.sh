#!/usr/bin/env bash
# Brief coverage-guided fuzzing of every parser of untrusted input, one target at a time:
#   scripts/fuzz.sh                 each target for FUZZTIME (default 10s)
#   FUZZTIME=60s scripts/fuzz.sh    longer (make soak runs it with SOAK_FUZZTIME, default 30s)
#   scripts/fuzz.sh FuzzBuild       only the named targets
# Seed corpora live in each package's testdata/fuzz/<Target>/ and also run as ordinary tests
# in make test. A failing input is written there by go test; the script stops at the first
# failure and prints it. New interesting inputs stay in Go's cache, not in the tree.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-10s}
# Two workers: the machine is shared.
PARALLEL=${FUZZ_PARALLEL:-2}
ONLY="$*"

targets=(
  "./dispatcher FuzzDecodeRequest"       # api.php and every alias: query, form, multipart, JSON
  "./commands/compose FuzzBuild"         # the MIME builder's inputs
  "./commands/compose FuzzParseAddress"  # "Name <addr>" fields
  "./commands/compose FuzzRepeatedField" # RFC 5322 single fields (SMTP relay, smtprelay, sends)
  "./relay/bounce FuzzParse"             # DSN (RFC 3464) and ARF (RFC 5965) reports
  "./relay/bounce FuzzParseToken"        # VERP tokens
  "./tracking FuzzParse"                 # open/click/unsubscribe tokens
  "./tracking FuzzRewrite"               # link rewriting of HTML bodies
  "./tracking FuzzTransformMessage"      # the per-recipient MIME transform
)

failed=0
for t in "${targets[@]}"; do
  set -- $t
  pkg=$1 name=$2
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then continue; fi
  printf '== fuzz %-22s %-20s %s: ' "$pkg" "$name" "$FUZZTIME"
  out=$(mktemp)
  if $GO test -run '^$' -fuzz "^$name\$" -fuzztime "$FUZZTIME" -parallel "$PARALLEL" "$pkg" >"$out" 2>&1; then
    grep -Eo 'execs: [0-9]+' "$out" | tail -1 | tr -d '\n'
    echo ", ok"
  else
    echo "FAILED"
    cat "$out"
    failed=1
  fi
  rm -f "$out"
  [ $failed = 0 ] || break
done
exit $failed
