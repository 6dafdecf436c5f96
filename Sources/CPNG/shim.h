#ifndef IMGCACHE_CPNG_SHIM_H
#define IMGCACHE_CPNG_SHIM_H
#include <png.h>
#endif
