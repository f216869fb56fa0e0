# report.awk - read the marker stream of run-tests (see run-tests) and print, per binary, its
# tests, passed, failed and skipped; every skip with its reason; the totals on a last line
#   TOTAL <tests> <passed> <failed> <skipped>
# Variables: list=<the LIST given to run-tests> (binaries that never started count as failed),
# label=<kernel name for the headings>.
function flush_binary(   tests, why) {
    if (name == "") return
    if (kind[name] == "plain") {
        tests = 1; p = (rc == 0 && !guest_whole[name]); f = (rc != 0); s = guest_whole[name] ? 1 : 0
        if (f) failures[++nfail] = name " (exit status " rc ")"
    } else if (summary) {
        tests = ran + gskip[name]; p = passed; f = failed; s = skipped + gskip[name]
        if (rc != 0 && f == 0) { f = 1; tests++; why = "exit status " rc " after all tests passed" }
    } else {
        # No summary: crashed, killed by the time limit, or a failed assertion in main().
        p = ok; f = nfailed + 1; s = nskipped + gskip[name]; tests = p + f + s
        why = (rc == 124 || rc == 143 || rc == 137) ? "killed by the time limit" : "no summary, exit status " rc
        if (current != "") { failures[++nfail] = name ": " current " (" why ")"; why = why " during " current }
    }
    if (!ended) { why = "did not finish (guest stopped)"; if (f == 0) { f = 1; tests++ } }
    printf "  %-28s %5d tests %5d passed %4d failed %4d skipped %5ss%s\n", name, tests, p, f, s,
           secs, (why != "" ? "   <- " why : "")
    T += tests; P += p; F += f; S += s
    seen[name] = 1
    name = ""
}
BEGIN {
    while ((getline line < list) > 0) {
        split(line, w, " "); n = w[2]; sub(/.*\//, "", n); kind[n] = w[1]; order[++nbin] = n
    }
}
{ sub(/\r$/, "") }  # the guest's serial port turns \n into \r\n
/^@@CXM KERNEL / { print "kernel " $3 " (" $4 ", " $5 ")" ; next }
/^@@CXM SKIP / {
    r = $0; sub(/^@@CXM SKIP [^ ]+ [^ ]+ /, "", r)
    gskip[$3]++; if (kind[$3] == "plain") { guest_whole[$3] = 1; gskip[$3] = 0 }
    skiplist[++nskip] = $3 ": " $4 ": not run here: " r
    next
}
/^@@CXM BEGIN / {
    flush_binary(); name = $3; rc = -1; ended = 0; summary = 0; secs = "?"
    ran = passed = failed = skipped = ok = nfailed = nskipped = 0; current = ""; msg = ""
    next
}
/^@@CXM END / {
    rc = $4; sub(/rc=/, "", rc); secs = $5; sub(/s=/, "", secs); ended = 1
    flush_binary(); next
}
/^@@CXM DONE/ { done = 1; next }
name == "" { next }
/^\[ RUN      \] / { current = $4; msg = ""; next }
/^\[       OK \] / { ok++; current = ""; next }
/^\[  SKIPPED \] [0-9]+ tests?, listed below/ { skipped = $4; next }
/^\[  FAILED  \] [0-9]+ tests?, listed below/ { failed = $4; next }
/^\[  SKIPPED \] / {
    if (current != "") {
        nskipped++; skiplist[++nskip] = name ": " $4 ": skipped by the test: " msg
    }
    current = ""; next
}
/^\[  FAILED  \] / { if (current != "") { nfailed++; failures[++nfail] = name ": " $4 }; current = ""; next }
/^\[==========\] [0-9]+ tests? from .* ran\./ { ran = $2; summary = 1; next }
/^\[  PASSED  \] [0-9]+ test/ { passed = $4; next }
current != "" && !/: Skipped$/ && !/^$/ { msg = (msg == "" ? $0 : msg " " $0) }
END {
    flush_binary()
    for (i = 1; i <= nbin; i++) if (!seen[order[i]]) {
        printf "  %-28s never started\n", order[i]; T++; F++
    }
    if (!done) print "  the run did not complete (guest crashed or timed out): see the console log"
    if (nfail) { print "failed tests:"; for (i = 1; i <= nfail; i++) print "  " failures[i] }
    if (nskip) { print "skipped tests:"; for (i = 1; i <= nskip; i++) print "  " skiplist[i] }
    if (!done && F == 0) F = 1
    print "TOTAL", T, P, F, S
}
