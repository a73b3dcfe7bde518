#!/usr/bin/env python3
"""trustd against pyHanko on every file of an attack corpus (scripts/attacks/make_corpus.py).

usage: agreement.py CORPUS_DIR TRUSTD_BIN KNOWN_DISAGREEMENTS.tsv

For each manifest row, runs `trustd verify` (with --revocation-optional for `optional` rows)
and pyHanko (pyhanko_judge.judge_file, same revocation mode), and compares the indications
themselves: TOTAL-PASSED, TOTAL-FAILED, INDETERMINATE and NO_SIGNATURE_FOUND are told apart; a
refusal by trustd (exit 2) or an error in pyHanko is never agreement. Every disagreement must be
listed, with its reason, in KNOWN_DISAGREEMENTS.tsv (file, trustd, pyHanko, reason); anything
else fails. Prints a table and exits 1 on an unlisted disagreement.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pyhanko_judge  # noqa: E402


def trustd(binary, path, root, mode):
    cmd = [binary, "verify", path, "--trust", root]
    if mode == "optional":
        cmd.append("--revocation-optional")
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if p.returncode == 2:
        return "REFUSED"
    r = json.loads(p.stdout)
    if r.get("sub_indication") == "NO_SIGNATURE_FOUND":
        return "NO_SIGNATURE_FOUND"
    return r["indication"]


def main():
    corpus, binary, known_path = sys.argv[1:4]
    known = {}
    with open(known_path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            file, ours, theirs, reason = line.rstrip("\n").split("\t")[:4]
            known[file] = (ours, theirs, reason)
    manifest = pyhanko_judge.read_manifest(os.path.join(corpus, "MANIFEST.tsv"))
    root = os.path.join(corpus, "root.pem")
    roots = pyhanko_judge.load_root(root)
    import logging
    logging.basicConfig(level=logging.CRITICAL)
    same = listed = 0
    unlisted = []
    for file, row in sorted(manifest.items()):
        mode = row[5] if len(row) > 5 else "optional"
        path = os.path.join(corpus, file)
        ours = trustd(binary, path, root, mode)
        try:
            theirs, _ = pyhanko_judge.judge_file(path, roots, mode)
        except Exception as e:  # noqa: BLE001 - pyHanko's own failure is an outcome here
            theirs = "ERROR:%s" % type(e).__name__
        theirs = theirs if not theirs.startswith("ERROR") else "ERROR"
        if ours == theirs and ours != "REFUSED":
            same += 1
            continue
        k = known.get(file)
        if k and k[0] == ours and k[1] == theirs:
            listed += 1
            print("known\t%s\ttrustd %s\tpyHanko %s\t%s" % (file, ours, theirs, k[2]))
        else:
            unlisted.append((file, ours, theirs))
            print("UNLISTED\t%s\ttrustd %s\tpyHanko %s" % (file, ours, theirs))
    print("%d files: %d same indication, %d known disagreements, %d unlisted" % (
        len(manifest), same, listed, len(unlisted)))
    sys.exit(1 if unlisted else 0)


if __name__ == "__main__":
    main()
