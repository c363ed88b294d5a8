/*
 * fuzz_check.h — CHECK(cond): the fuzz targets' assertion.  A failed
 * check is a bug the fuzzer found (the engine accepted bytes it should
 * have refused, or returned something other than what was written), so
 * it aborts with the condition's text, and libFuzzer saves the input.
 */
#ifndef FUZZ_CHECK_H
#define FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                         \
    do {                                                                    \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, \
                    #cond);                                                 \
            abort();                                                        \
        }                                                                   \
    } while (0)

#endif
