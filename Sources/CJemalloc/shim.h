#ifndef IMGCACHE_CJEMALLOC_SHIM_H
#define IMGCACHE_CJEMALLOC_SHIM_H
// jemalloc is linked as the process's malloc: glibc's arenas fragment under the server's load
// (RSS rose 0.2 MB a minute in an hour's soak while the heap in use stayed flat; see
// docs/performance.md). Only mallctl is declared, for the allocator's figures in /metrics:
// jemalloc.h would declare malloc and free a second time beside Glibc's.
#include <stddef.h>
int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen);
#endif
