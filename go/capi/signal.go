package main

/*
#include <stdlib.h>

typedef int (*tmc_signal_check_fn)(void);

static tmc_signal_check_fn signal_check;

static void set_signal_check(tmc_signal_check_fn f) { signal_check = f; }

static int call_signal_check(void) { return signal_check ? signal_check() : 0; }

// try_malloc is malloc: cgo's C.malloc crashes the process when malloc
// fails, and a size the server chose must not do that.
static void *try_malloc(size_t n) { return malloc(n ? n : 1); }
*/
import "C"

import "unsafe"

// signalCheck asks the caller's signal check (tmc_set_signal_check)
// whether a signal that interrupted a wait should end the call.
func signalCheck() bool { return C.call_signal_check() != 0 }

// setSignalCheck installs the caller's signal check, an int (*)(void)
// (NULL for none).
func setSignalCheck(f unsafe.Pointer) { C.set_signal_check(C.tmc_signal_check_fn(f)) }

// tryMalloc returns n bytes of C memory, or nil if malloc fails.
func tryMalloc(n int) unsafe.Pointer { return C.try_malloc(C.size_t(n)) }
