// Command capi is built with -buildmode=c-shared into libtinympcache.so.
// (placeholder: the real exports land shortly)
package main

import "C"

//export tmc_free_placeholder
func tmc_free_placeholder() {}

func main() {}
