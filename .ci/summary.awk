# Reads the output of `cargo test --no-fail-fast` and prints one honest closing line:
#   tests: N passed, N failed
# A test binary counts its own `test result:` figures; a binary that cargo reports as failed
# (`error: test failed, to rerun pass ...`: it crashed, was killed, failed to run, or failed
# after its summary) without a failed test in its summary counts as one failed test, and so
# does a binary that started but printed no summary. `-v status=N` is cargo's exit status:
# when it is not 0 and nothing else was counted (e.g. the build failed), that is one failure.
function close_binary() {
    if (open) {
        if (!summarized || (marked && binary_failed == 0)) f += 1
    }
    open = 0; summarized = 0; marked = 0; binary_failed = 0
}
/^ *(Running|Doc-tests) / { close_binary(); open = 1; started += 1; next }
/^test result:/ {
    summarized = 1
    for (i = 1; i <= NF; i++) {
        if ($i ~ /^passed;?$/) p += $(i-1)
        if ($i ~ /^failed;?$/) { f += $(i-1); binary_failed += $(i-1) }
    }
    next
}
/^error: (test|doctest) failed, to rerun pass / {
    if (open) { marked = 1 } else { f += 1 }
    next
}
END {
    close_binary()
    if (status != 0 && f == 0) f = 1
    printf "tests: %d passed, %d failed\n", p, f
}
