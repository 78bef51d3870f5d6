/* Fast libFuzzer target: zstd-compressed containers (a tar or a raw
 * stream inside), the part fuzz-container-fast leaves out.  Input: a
 * mode byte (bit 7: the source hands out 512 bytes at a time), then the
 * zstd frame without its 4-byte magic, which the harness puts back.
 * See fuzz-container-fast.c. */
#define VS_FUZZ_ZSTD 1
#include "fuzz-container-fast.c"
