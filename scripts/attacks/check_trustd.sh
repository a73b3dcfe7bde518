#!/usr/bin/env bash
# Run `trustd verify` over a corpus made by make_corpus.py and compare with its MANIFEST.tsv.
#
#   scripts/attacks/check_trustd.sh OUTDIR [TRUSTD_BINARY]
#
# Each file gets 20 s and 4 GB of address space (the bombs must not take the machine down).
# Rows whose `revocation` column says `optional` are run with --revocation-optional.
# Prints file, expectation, exit code, indication, whether the report names `must_name`,
# and OK/MISMATCH; exits 1 if any row mismatches.
set -u
D=${1:?usage: check_trustd.sh OUTDIR [TRUSTD]}
T=${2:-target/debug/trustd}
bad=0
while IFS=$'\t' read -r f exp cls must desc rev; do
  case "$f" in "#"*|file|"") continue ;; esac
  flag=(); [ "$rev" = optional ] && flag=(--revocation-optional)
  out=$( (ulimit -v 4000000; timeout 20 "$T" verify "$D/$f" --trust "$D/root.pem" "${flag[@]}") 2>&1 ); rc=$?
  ind=$(printf '%s' "$out" | grep -o '"indication": *"[A-Z_-]*"' | head -1 | sed 's/.*: *"//;s/"//')
  named=-
  if [ "$must" != "-" ]; then
    if printf '%s' "$out" | grep -qiF -- "$must"; then named=yes; else named=NO; fi
  fi
  ok=OK
  case "$exp" in
    TOTAL-PASSED) [ "$rc" = 0 ] && [ "$ind" = TOTAL-PASSED ] || ok=MISMATCH ;;
    # A report that is not TOTAL-PASSED, or a refusal (exit 2) that names the problem.
    NOT-PASSED) { [ "$rc" = 1 ] && [ -n "$ind" ] && [ "$ind" != TOTAL-PASSED ]; } \
                  || { [ "$rc" = 2 ] && [ "$named" = yes ]; } || ok=MISMATCH ;;
    # Resource bounds only: any verdict or refusal, within the time and memory caps.
    BOUNDED) case "$rc" in 0|1|2) ;; *) ok=MISMATCH ;; esac; named=- ;;
    *) [ "$ind" = "$exp" ] || ok=MISMATCH ;;
  esac
  [ "$named" = NO ] && ok=MISMATCH
  [ "$ok" = OK ] || bad=1
  printf '%-44s %-13s rc=%-3s %-18s named(%s)=%s %s\n' "$f" "$exp" "$rc" "${ind:-?}" "$must" "$named" "$ok"
done < "$D/MANIFEST.tsv"
exit $bad
