#ifndef IMGCACHE_CAVIF_SHIM_H
#define IMGCACHE_CAVIF_SHIM_H
#include <avif/avif.h>
#endif
