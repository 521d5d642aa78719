/* bcryptprimitives.dll for Wine 8, which lacks it: Rust's std (windows-gnu, Rust >= 1.78)
 * imports ProcessPrng from it. Forwarded to advapi32's RtlGenRandom (SystemFunction036),
 * which Wine has. Built by scripts/wine-diff.sh with mingw-w64; used only under Wine. */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, n))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
