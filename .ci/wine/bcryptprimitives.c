/* ProcessPrng, the one function of bcryptprimitives.dll that Go >= 1.22's
   runtime needs, over advapi32's RtlGenRandom (SystemFunction036), for a
   wine (8.0) that lacks it. Test prefixes only; no C runtime. */
#include <stddef.h>

__declspec(dllimport) unsigned char __stdcall SystemFunction036(void *buffer, unsigned long length);

int __stdcall _DllMainCRTStartup(void *dll, unsigned long reason, void *reserved) { return 1; }

__declspec(dllexport) int __stdcall ProcessPrng(unsigned char *data, size_t size) {
    while (size > 0) {
        unsigned long n = size > 0x40000000 ? 0x40000000 : (unsigned long)size;
        if (!SystemFunction036(data, n)) return 0;
        data += n;
        size -= n;
    }
    return 1;
}
